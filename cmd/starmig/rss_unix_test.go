//go:build unix && !darwin

package main

import (
	"os"
	"syscall"
)

// peakMiB is the peak RSS of a process that has ended, in MiB (the kernel
// counts it in KiB here).
func peakMiB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}
