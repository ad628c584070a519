package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/archive"
)

// roleFolder copies the named key files of a full key set into a folder of
// their own, as they are handed out to one role.
func roleFolder(t *testing.T, full string, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(full, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestKeysGenSaysWhoGetsWhich: keys gen tells the custodian which files
// each role gets, the very folders TestEachRoleNeedsOnlyItsKeys runs each
// role's commands with.
func TestKeysGenSaysWhoGetsWhich(t *testing.T) {
	code, out, stderr := run(t, context.Background(), "keys", "gen", "--out", filepath.Join(t.TempDir(), "keys"))
	for _, want := range []string{
		"writers (archive, migrate --archive):    recipient.txt, signing.key, index.key\n",
		"archivists (retrieve, restore, audit):   identity.txt, index.key, signing.pub\n",
		"operators abroad (verify):               signing.pub\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("keys gen: exit %d, %s%s; want it to say %q", code, out, stderr, want)
		}
	}
}

// TestEachRoleNeedsOnlyItsKeys hands the keys out by role, as keys gen
// says, and runs each role's command with --keys on its folder: writers
// (recipient, signing key, index key) archive, archivists (identity, index
// key, public key) retrieve, operators abroad (public key) verify. Then the
// same with each key given by its STARMIG_* variable and no folder. A key
// a command needs and cannot find is an error naming it.
func TestEachRoleNeedsOnlyItsKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 100, 4)
	full := genKeys(t, dir)
	// The folders keys gen tells the custodian to hand out.
	writer := roleFolder(t, full, archive.Roles[0].KeyFiles...)
	archivist := roleFolder(t, full, archive.Roles[1].KeyFiles...)
	operator := roleFolder(t, full, archive.Roles[2].KeyFiles...)
	auditor := roleFolder(t, full, archive.IdentityFile)
	code := firstCode(t, db)

	to := "file://" + filepath.Join(dir, "archive")
	steps := [][]string{
		{"archive", "--source", "sqlite:" + db, "--to", to, "--batch", "all", "--keys", writer},
		{"retrieve", "--archive", to, "--keys", archivist, "--person", code, "--reason", "role test", "--out", filepath.Join(dir, "r1")},
		{"verify", "--archive", to, "--keys", operator, "--level", "full"},
		{"audit", "--archive", to, "--keys", auditor},
	}
	for _, args := range steps {
		if c, _, stderr := run(t, ctx, append(args, "-q")...); c != 0 {
			t.Errorf("%s with the %s's folder: exit %d: %s", args[0], args[0], c, stderr)
		}
	}

	// Each key by its variable, no folder.
	recipient, err := os.ReadFile(filepath.Join(full, archive.RecipientFile))
	if err != nil {
		t.Fatal(err)
	}
	to2 := "file://" + filepath.Join(dir, "archive2")
	t.Setenv("STARMIG_RECIPIENT", strings.TrimSpace(lastLine(string(recipient))))
	t.Setenv("STARMIG_SIGN_KEY", filepath.Join(full, archive.SignKeyFile))
	t.Setenv("STARMIG_INDEX_KEY", filepath.Join(full, archive.IndexKeyFile))
	t.Setenv("STARMIG_SIGN_PUB", filepath.Join(full, archive.SignPubFile))
	t.Setenv("STARMIG_IDENTITY", filepath.Join(full, archive.IdentityFile))
	steps = [][]string{
		{"archive", "--source", "sqlite:" + db, "--to", to2, "--batch", "all"},
		{"retrieve", "--archive", to2, "--person", code, "--reason", "role test", "--out", filepath.Join(dir, "r2")},
		{"verify", "--archive", to2, "--level", "full"},
		{"audit", "--archive", to2},
	}
	for _, args := range steps {
		if c, _, stderr := run(t, ctx, append(args, "-q")...); c != 0 {
			t.Errorf("%s with keys from the environment: exit %d: %s", args[0], c, stderr)
		}
	}

	// An archivist's folder has no signing key: a writer cannot work from
	// it, and is told which key is missing.
	for _, k := range []string{"STARMIG_RECIPIENT", "STARMIG_SIGN_KEY", "STARMIG_INDEX_KEY", "STARMIG_SIGN_PUB", "STARMIG_IDENTITY"} {
		t.Setenv(k, "")
	}
	c, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", "file://"+filepath.Join(dir, "archive3"), "--batch", "all", "--keys", archivist, "-q")
	if c == 0 || !strings.Contains(stderr, "recipient") {
		t.Errorf("archive with an archivist's folder: exit %d, %q; want an error naming the missing recipient", c, stderr)
	}
	c, _, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", operator, "--person", code, "--reason", "role test", "-q")
	if c == 0 || !strings.Contains(stderr, archive.IdentityFile) {
		t.Errorf("retrieve with an operator's folder: exit %d, %q; want an error naming %s", c, stderr, archive.IdentityFile)
	}
}

// TestAKeyFileUnderAnotherNameIsNamed: a key file handed over through
// Windows may come as Identity.txt or signing.pub.txt (an editor adds
// .txt, and Windows hides the extension); the error names that file. A
// key of the same name and another kind (signing.key, the secret half,
// beside a missing signing.pub) is never offered in its place.
func TestAKeyFileUnderAnotherNameIsNamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	full := genKeys(t, dir)
	to := "file://" + filepath.Join(dir, "archive")
	handed := filepath.Join(dir, "handed")
	if err := os.Mkdir(handed, 0o700); err != nil {
		t.Fatal(err)
	}
	copyKey := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(full, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(handed, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyKey(archive.SignPubFile, archive.SignPubFile+".txt")
	copyKey(archive.IdentityFile, "Identity.txt")
	copyKey(archive.IndexKeyFile, archive.IndexKeyFile)
	copyKey(archive.SignKeyFile, archive.SignKeyFile)

	_, _, stderr := run(t, ctx, "verify", "--archive", to, "--keys", handed)
	if want := "(the folder has signing.pub.txt: rename it signing.pub if it is that key)"; !strings.Contains(stderr, want) {
		t.Errorf("verify: %q, want it to say %q", stderr, want)
	}
	if err := os.Rename(filepath.Join(handed, archive.SignPubFile+".txt"), filepath.Join(handed, archive.SignPubFile)); err != nil {
		t.Fatal(err)
	}
	_, _, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", handed, "--person", "39901019999", "--reason", "names")
	if want := "(the folder has Identity.txt: file names are case-sensitive here)"; !strings.Contains(stderr, want) {
		t.Errorf("retrieve: %q, want it to say %q", stderr, want)
	}
	if err := os.Remove(filepath.Join(handed, archive.SignPubFile)); err != nil {
		t.Fatal(err)
	}
	_, _, stderr = run(t, ctx, "verify", "--archive", to, "--keys", handed)
	if !strings.Contains(stderr, "signing.pub does not exist") || strings.Contains(stderr, "the folder has") {
		t.Errorf("verify beside signing.key: %q, want signing.pub named missing and nothing offered", stderr)
	}
}

// lastLine is the last non-empty, non-comment line of a key file.
func lastLine(s string) string {
	var last string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			last = l
		}
	}
	return last
}

// TestSigningPubKeysFromSeveralFiles: --sign-pub repeated reads every
// file, and a file may hold several keys; the keys of a broken file are
// refused naming the file and the block.
func TestSigningPubKeysFromSeveralFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := archive.GenerateKeys(dir); err != nil {
			t.Fatal(err)
		}
	}
	pa, pb := filepath.Join(a, archive.SignPubFile), filepath.Join(b, archive.SignPubFile)
	k := keyFlags{signPubs: []string{pa, pb}}
	keys, err := k.readSigningPub()
	if err != nil || len(keys) != 2 {
		t.Fatalf("two files: %d keys, %v", len(keys), err)
	}
	ring := filepath.Join(t.TempDir(), "ring.pub")
	ba, _ := os.ReadFile(pa)
	bb, _ := os.ReadFile(pb)
	if err := os.WriteFile(ring, append(ba, bb...), 0o644); err != nil {
		t.Fatal(err)
	}
	k = keyFlags{signPubs: []string{ring}}
	one, err := k.readSigningPub()
	if err != nil || len(one) != 2 || one.IDs() != keys.IDs() {
		t.Fatalf("one file of two keys: %v, %v; want %s", one.IDs(), err, keys.IDs())
	}
	priv, _ := os.ReadFile(filepath.Join(a, archive.SignKeyFile))
	if err := os.WriteFile(ring, append(ba, priv...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := k.readSigningPub(); err == nil || !strings.Contains(err.Error(), ring) || !strings.Contains(err.Error(), "PEM block 2 is a PRIVATE KEY") {
		t.Errorf("a private key among the public ones: %v", err)
	}
}

// TestIndexKeysFromSeveralFiles: retrieve's --index-key repeated reads
// each file; given once, or not at all, it reads the one key as before.
func TestIndexKeysFromSeveralFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := archive.GenerateKeys(dir); err != nil {
			t.Fatal(err)
		}
	}
	pa, pb := filepath.Join(a, archive.IndexKeyFile), filepath.Join(b, archive.IndexKeyFile)
	var k keyFlags
	keys, err := k.readIndexKeys([]string{pa, pb})
	if err != nil || len(keys) != 2 || archive.IndexKeyID(keys[0]) == archive.IndexKeyID(keys[1]) {
		t.Fatalf("two files: %d keys, %v", len(keys), err)
	}
	k = keyFlags{dir: b}
	one, err := k.readIndexKeys(nil)
	if err != nil || len(one) != 1 || archive.IndexKeyID(one[0]) != archive.IndexKeyID(keys[1]) {
		t.Fatalf("from the keys folder: %d keys, %v", len(one), err)
	}
	if _, err := k.readIndexKeys([]string{pa, filepath.Join(a, "missing.key")}); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Errorf("a missing file: %v", err)
	}
}
