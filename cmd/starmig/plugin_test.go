//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
)

// TestAnArchiveForAKeyInHardware: the archivists' identity is held in
// hardware, behind an age plugin (age-plugin-yubikey and the like), which
// asks for its PIN on the terminal. The archive is written to the plugin's
// recipient; a retrieval asks for the PIN on the archivist's terminal;
// without a terminal, or with a wrong PIN, it stops saying the key could
// not be used, not that the archive is damaged, and asks once, not once
// for each file. A restore, a key holder's verification and the audit
// log read through the plugin too.
func TestAnArchiveForAKeyInHardware(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 150, 29)
	keys := genKeys(t, dir)
	recipient, identity := testenv.AgePlugin(t)
	for name, key := range map[string]string{archive.RecipientFile: recipient, archive.IdentityFile: identity} {
		if err := os.WriteFile(filepath.Join(keys, name), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	to := "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive to the plugin's recipient: exit %d: %s", code, stderr)
	}

	const pin = "492817"
	t.Setenv("STARMIG_TEST_AGE_PLUGIN_PIN", pin)
	bin := buildStarmig(t, dir)
	retrieve := func(out string) *exec.Cmd {
		return exec.Command(bin, "retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db), "--reason", "hardware key", "--out", filepath.Join(dir, out), "-q")
	}
	// On the archivist's terminal, the PIN is asked for and typed.
	for _, typed := range []string{pin, "000000"} {
		cmd := retrieve("r-" + typed)
		tty, err := pty.Start(cmd)
		if err != nil {
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		screen := answerPrompt(t, tty, "Enter the PIN of the test key:", typed)
		err = cmd.Wait()
		tty.Close()
		if strings.Contains(screen, typed) {
			t.Errorf("the PIN was echoed:\n%s", screen)
		}
		if n := strings.Count(screen, "Enter the PIN"); n != 1 {
			t.Errorf("the PIN was asked for %d times; want once:\n%s", n, screen)
		}
		_, statErr := os.Stat(filepath.Join(dir, "r-"+typed, "retrieval.json"))
		switch {
		case typed == pin && (err != nil || statErr != nil):
			t.Errorf("retrieve with the PIN typed: %v, %v:\n%s", err, statErr, screen)
		case typed != pin && (err == nil || !strings.Contains(screen, "the identity of age-plugin-starmigtest could not be used: starmigtest plugin: wrong PIN")):
			t.Errorf("retrieve with a wrong PIN: %v:\n%s", err, screen)
		}
	}

	// Without a terminal to ask on, as from a scheduler.
	cmd := retrieve("r-none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil || !strings.Contains(stderr.String(), "the identity of age-plugin-starmigtest could not be used") ||
		strings.Contains(stderr.String(), "--skip-unreadable") || strings.Contains(stderr.String(), "not as written") {
		t.Errorf("retrieve without a terminal: %v: %s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "could not read value"); n != 1 {
		t.Errorf("retrieve without a terminal asked %d times; want once:\n%s", n, stderr.String())
	}

	// A key that asks for no PIN reads the rest in process.
	os.Unsetenv("STARMIG_TEST_AGE_PLUGIN_PIN")
	if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", testenv.Postgres(t), "--reason", "hardware key", "-q"); code != 0 {
		t.Errorf("restore through the plugin: exit %d: %s", code, stderr)
	}
	if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--keys", keys, "--identity", filepath.Join(keys, archive.IdentityFile), "--level", "full"); code != 0 {
		t.Errorf("verify --level full through the plugin: exit %d: %s%s", code, out, stderr)
	}
	code, out, stderr2 := run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
	var entries []struct{ Action, Reason string }
	if err := json.Unmarshal([]byte(out), &entries); code != 0 || err != nil || len(entries) < 3 {
		t.Errorf("audit through the plugin: exit %d, %v, %d entries: %s%s", code, err, len(entries), out, stderr2)
	}
}

// answerPrompt reads the terminal until prompt shows, types answer, and
// returns what the terminal showed until the command ended.
func answerPrompt(t *testing.T, tty *os.File, prompt, answer string) string {
	t.Helper()
	var screen strings.Builder
	shown := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(tty)
		once := false
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			screen.WriteByte(b)
			if !once && strings.Contains(screen.String(), prompt) {
				once = true
				close(shown)
			}
		}
	}()
	select {
	case <-shown:
		// The prompt shows before the terminal stops echoing.
		for end := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if st.Lflag&unix.ECHO == 0 || time.Now().After(end) {
				break
			}
		}
		if _, err := io.WriteString(tty, answer+"\r"); err != nil {
			t.Fatal(err)
		}
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the prompt %q never showed:\n%s", prompt, screen.String())
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("stuck:\n%q", screen.String())
	}
	return screen.String()
}
