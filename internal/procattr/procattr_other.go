//go:build !unix

package procattr

import "syscall"

// Child returns no attributes: on this system a server shares starmig's
// console, and a Ctrl-C stops both.
func Child(syscall.Signal) *syscall.SysProcAttr { return nil }
