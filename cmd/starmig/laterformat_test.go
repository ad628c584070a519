package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
)

// TestARunOfALaterFormatIsNotDamage: an archive is kept for decades, and
// the operators abroad may verify it with an older starmig than the one
// that wrote its newest run. A catalog signed by a key they trust, in a
// format their starmig does not read, was reported as a finding, "catalog
// does not verify" (exit 4): damage, where nothing is wrong but the
// reader's age. verify, retrieve and restore now stop with exit 1, naming
// the format, the build that wrote it, and their own.
func TestARunOfALaterFormatIsNotDamage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 60, 3)
	cats, err := filepath.Glob(filepath.Join(strings.TrimPrefix(to, "file://"), archive.BatchesPrefix, "*", "*", archive.CatalogFile))
	if err != nil || len(cats) != 1 {
		t.Fatalf("catalogs: %v %v", cats, err)
	}
	key, err := archive.ReadSigningKey(filepath.Join(keys, archive.SignKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cats[0])
	if err != nil {
		t.Fatal(err)
	}
	// A later writer: another format, and a field of another type.
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c["format"], c["writer"], c["bundles"] = "starmig-catalog/2", "starmig v9.1.0, go1.40.0", map[string]any{"list": c["bundles"]}
	if b, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{cats[0]: b, cats[0] + ".sig": ed25519.Sign(key, b)} {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	want := `catalog.json is in format "starmig-catalog/2", written by starmig v9.1.0, go1.40.0; this starmig (`
	for _, args := range [][]string{
		{"verify", "--archive", to, "--keys", keys},
		{"verify", "--archive", to, "--keys", keys, "--level", "full", "--identity", filepath.Join(keys, archive.IdentityFile)},
		{"retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db), "--reason", "x", "--out", filepath.Join(dir, "out"), "-q"},
		{"retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db), "--reason", "x", "--out", filepath.Join(dir, "out2"), "-q", "--skip-unreadable"},
		{"restore", "--archive", to, "--keys", keys, "--to", testenv.Postgres(t), "--reason", "x", "-q"},
	} {
		code, out, stderr := run(t, ctx, args...)
		if code != exitError || !strings.Contains(stderr, want) || !strings.Contains(stderr, `reads only "starmig-catalog/1"`) || strings.Contains(out+stderr, "does not verify") {
			t.Errorf("%s: exit %d, want %d and %q , not a finding:\n%s%s", strings.Join(args[:2], " "), code, exitError, want, out, stderr)
		}
	}
}
