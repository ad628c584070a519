package procattr

import "syscall"

// Child starts a server in a process group of its own, so that a Ctrl-C
// meant for starmig does not reach it before starmig stops it in order,
// and sends it sig when starmig dies without stopping it.
func Child(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
