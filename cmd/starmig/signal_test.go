package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalsCancelCleanly sends SIGINT and SIGTERM to a running starmig
// process: it stops, says so, exits 130 and leaves no partial output.
func TestSignalsCancelCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildStarmig(t, dir)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		out := filepath.Join(dir, sig.String()+".db")
		cmd := exec.Command(bin, "gen", "--quiet", "--out", out, "--persons", "5000000")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until it is writing, then interrupt.
		deadline := time.Now().Add(20 * time.Second)
		for {
			if m, _ := filepath.Glob(out + "*"); len(m) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		_ = cmd.Process.Signal(sig)
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
			t.Errorf("%v: exit %d (%v), want %d; stderr %q", sig, code, err, exitInterrupted, stderr.String())
		}
		if !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%v: stderr %q does not say it was interrupted", sig, stderr.String())
		}
		if m, _ := filepath.Glob(out + "*"); len(m) > 0 {
			t.Errorf("%v: left %v", sig, m)
		}
	}
}
