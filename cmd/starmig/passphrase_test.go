package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
)

// TestRetrievalWithAnIdentityUnderAPassphrase: an archivist keeps the
// identity file encrypted with a passphrase (age -p, armored). A retrieval
// and a key holder's verification read it with the passphrase in
// STARMIG_IDENTITY_PASSPHRASE (a terminal asks for it otherwise); without
// a terminal or the variable, the command says which to give. The
// passphrase is never printed.
func TestRetrievalWithAnIdentityUnderAPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 60, 5)
	plain, err := os.ReadFile(filepath.Join(keys, archive.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	const pass = "correct horse battery"
	identity := filepath.Join(dir, "identity.txt.age")
	if err := os.WriteFile(identity, testenv.UnderPassphrase(t, plain, pass, true), 0o600); err != nil {
		t.Fatal(err)
	}
	retrieve := []string{"retrieve", "--archive", to, "--keys", keys, "--identity", identity, "--person", firstCode(t, db), "--reason", "passphrase", "-q"}
	t.Setenv("STARMIG_IDENTITY_PASSPHRASE", pass)
	if code, out, stderr := run(t, ctx, append(retrieve, "--out", filepath.Join(dir, "r1"))...); code != 0 || strings.Contains(out+stderr, pass) {
		t.Fatalf("retrieve with the passphrase: exit %d: %s%s", code, out, stderr)
	}
	if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--keys", keys, "--identity", identity, "-q"); code != 0 || strings.Contains(out+stderr, pass) {
		t.Errorf("verify with the passphrase: exit %d: %s%s", code, out, stderr)
	}
	t.Setenv("STARMIG_IDENTITY_PASSPHRASE", "wrong")
	code, _, stderr := run(t, ctx, append(retrieve, "--out", filepath.Join(dir, "r2"))...)
	if want := "the passphrase given is not the one it is encrypted with"; code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("retrieve with another passphrase: exit %d, %s; want exit %d and %q", code, stderr, exitError, want)
	}
	os.Unsetenv("STARMIG_IDENTITY_PASSPHRASE")
	code, _, stderr = run(t, ctx, append(retrieve, "--out", filepath.Join(dir, "r3"))...)
	if want := "no terminal to ask for it on: set STARMIG_IDENTITY_PASSPHRASE"; code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("retrieve without a passphrase: exit %d, %s; want exit %d and %q", code, stderr, exitError, want)
	}
}
