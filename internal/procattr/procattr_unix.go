//go:build unix && !linux

package procattr

import "syscall"

// Child starts a server in a process group of its own, so that a Ctrl-C
// meant for starmig does not reach it before starmig stops it in order.
// Only Linux can send a signal when starmig dies, so here a server
// outlives a starmig killed with SIGKILL.
func Child(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
