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

// TestReasonDoesNotRepeatThePath: the reason for a path below a file is
// that file; for any other failure, the operating system's words without
// the path.
func TestReasonDoesNotRepeatThePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	below := filepath.Join(file, "x")
	_, err := os.Stat(below)
	if got, want := fmt.Sprint(Reason(below, err)), file+" is a file, not a folder"; got != want {
		t.Errorf("Reason(%s) = %q, want %q", below, got, want)
	}
	_, err = os.ReadFile(dir)
	if got := fmt.Sprint(Reason(dir, err)); got != "is a directory" {
		t.Errorf("Reason(%s) = %q, want the operating system's words alone", dir, got)
	}
}
