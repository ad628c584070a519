package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// TestKeyFileErrorsNameTheFileOnce checks that a key file that is
// missing, is a folder, or holds something else is named once, with what
// it should hold, and that the error never quotes the file's content.
func TestKeyFileErrorsNameTheFileOnce(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("AGE-SECRET-KEY-NOT-REALLY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	readers := map[string]func(string) error{
		"recipients":         func(p string) error { _, err := ReadRecipients(p); return err },
		"identity":           func(p string) error { _, err := ReadIdentities(p, nil); return err },
		"signing key":        func(p string) error { _, err := ReadSigningKey(p); return err },
		"signing public key": func(p string) error { _, err := ReadSigningPub(p); return err },
		"index key":          func(p string) error { _, err := ReadIndexKey(p); return err },
	}
	for what, read := range readers {
		for path, want := range map[string]string{
			missing:                          "keys: " + what + " " + missing + " does not exist",
			dir:                              "keys: " + what + " " + dir + " is a folder: want the key file",
			junk:                             junk,
			filepath.Join(junk, "index.key"): "keys: " + what + " " + filepath.Join(junk, "index.key") + ": " + junk + " is a file, not a folder",
		} {
			err := read(path)
			if err == nil {
				t.Errorf("%s %s: read", what, path)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, want) || strings.Count(msg, path) != 1 {
				t.Errorf("%s %s: %q, want it to say %q and name the file once", what, path, msg, want)
			}
			if strings.Contains(msg, "NOT-REALLY") {
				t.Errorf("%s %s: %q quotes the file's content", what, path, msg)
			}
		}
	}
}

// TestKeysAreNotWrittenBelowAFile: keys gen --out naming a file, or a
// folder below one, names that file.
func TestKeysAreNotWrittenBelowAFile(t *testing.T) {
	_, file := testenv.FileInTempDir(t)
	for _, dir := range []string{file, filepath.Join(file, "keys")} {
		want := "keys: " + file + " is a file, not a folder"
		if err := GenerateKeys(dir); err == nil || err.Error() != want {
			t.Errorf("GenerateKeys(%s): %v, want %q", dir, err, want)
		}
	}
}

// TestFileStoreNamesAMissingFolder checks that a store folder that is not
// there, or is a file, is named once by every reader and by the writer's
// check.
func TestFileStoreNamesAMissingFolder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for root, want := range map[string]string{
		filepath.Join(dir, "missing"): "archive: store folder " + filepath.Join(dir, "missing") + " does not exist",
		file:                          "archive: store folder " + file + " is a file, not a folder",
	} {
		s, err := NewFileStore(root)
		if err != nil {
			t.Fatal(err)
		}
		for what, err := range map[string]error{
			"List": s.List(ctx, "batches/", func(ObjectInfo) error { return nil }),
			"Dirs": s.Dirs(ctx, "batches/", func(string) error { return nil }),
		} {
			if err == nil || err.Error() != want {
				t.Errorf("%s of %s: %v, want %q", what, root, err, want)
			}
		}
	}
	s, err := NewFileStore(filepath.Join(file, "below"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "archive: store folder " + filepath.Join(file, "below") + ": " + file + " is a file, not a folder"; fmt.Sprint(s.CheckWritable(ctx)) != want {
		t.Errorf("CheckWritable below a file: %v, want %q", s.CheckWritable(ctx), want)
	}
}
