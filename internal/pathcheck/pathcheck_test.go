package pathcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestPathsThatCannotBeMade checks what each check refuses, naming the
// part of the path at fault, and what it takes; none makes anything.
func TestPathsThatCannotBeMade(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	below := file + " is a file, not a folder"
	for _, c := range []struct {
		check func(string) error
		path  string
		want  string
	}{
		{NewFile, dir, dir + " is a folder: want a file name"},
		{NewFile, filepath.Join(file, "r.md"), below},
		{NewFile, filepath.Join(file, "a", "r.html"), below},
		{NewFile, filepath.Join(dir, "new", "r.md"), ""},
		{NewFile, file, ""},
		{Folder, file, below},
		{Folder, filepath.Join(file, "keys"), below},
		{Folder, filepath.Join(dir, "new", "keys"), ""},
		{Folder, dir, ""},
		{Below, file, ""},
		{Below, filepath.Join(file, "x", "y"), below},
	} {
		err := c.check(c.path)
		if got := fmt.Sprint(err); c.want == "" && err != nil || c.want != "" && got != c.want {
			t.Errorf("check of %s = %v, want %q", c.path, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("a check made a folder")
	}
}
