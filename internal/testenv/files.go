package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// FileInTempDir makes a temporary folder that holds one empty file, named
// file, for the tests of a path with a file where a folder should be. It
// returns both.
func FileInTempDir(t testing.TB) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}
