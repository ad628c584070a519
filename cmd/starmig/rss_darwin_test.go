package main

import (
	"os"
	"syscall"
)

// peakMiB is the peak RSS of a process that has ended, in MiB (macOS
// counts it in bytes).
func peakMiB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / (1 << 20)
	}
	return 0
}
