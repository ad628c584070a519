package pathcheck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/starmig/starmig/internal/pathcheck"
	"github.com/starmig/starmig/internal/testenv"
)

// TestPathsThatCannotBeMade checks what each check refuses, naming the
// part of the path at fault, and what it takes; none makes anything.
func TestPathsThatCannotBeMade(t *testing.T) {
	dir, file := testenv.FileInTempDir(t)
	below := file + " is a file, not a folder"
	for _, c := range []struct {
		check func(string) error
		path  string
		want  string
	}{
		{pathcheck.NewFile, dir, dir + " is a folder: want a file name"},
		{pathcheck.NewFile, filepath.Join(file, "r.md"), below},
		{pathcheck.NewFile, filepath.Join(file, "a", "r.html"), below},
		{pathcheck.NewFile, filepath.Join(dir, "new", "r.md"), ""},
		{pathcheck.NewFile, file, ""},
		{pathcheck.Folder, file, below},
		{pathcheck.Folder, filepath.Join(file, "keys"), below},
		{pathcheck.Folder, filepath.Join(dir, "new", "keys"), ""},
		{pathcheck.Folder, dir, ""},
		{pathcheck.Below, file, ""},
		{pathcheck.Below, filepath.Join(file, "x", "y"), below},
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
	dir, file := testenv.FileInTempDir(t)
	below := filepath.Join(file, "x")
	_, err := os.Stat(below)
	if got, want := fmt.Sprint(pathcheck.Reason(below, err)), file+" is a file, not a folder"; got != want {
		t.Errorf("Reason(%s) = %q, want %q", below, got, want)
	}
	_, err = os.ReadFile(dir)
	if got := fmt.Sprint(pathcheck.Reason(dir, err)); got != "is a directory" {
		t.Errorf("Reason(%s) = %q, want the operating system's words alone", dir, got)
	}
}
