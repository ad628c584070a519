// Package pathcheck names the part of a path that stops a command from
// making a file or folder there, before the command does its work: the
// operating system's "mkdir /a/b: not a directory" does not say that /a
// is a file.
package pathcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Below checks that the folders above path, as far as they exist, are
// folders: the nearest of them that exists must not be a file. It makes
// nothing, and says nothing about path itself.
func Below(path string) error {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s is a file, not a folder", dir)
		case err == nil:
			return nil
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return err
		case filepath.Dir(dir) == dir:
			return nil
		}
	}
}

// NewFile checks that a file can be made or replaced at path: path is not
// a folder, and Below(path).
func NewFile(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a folder: want a file name", path)
	}
	return Below(path)
}

// Folder checks that path is a folder or can be made one: path is not a
// file, and Below(path).
func Folder(path string) error {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is a file, not a folder", path)
	}
	return Below(path)
}

// Reason says why path cannot be read or made, without repeating the
// path an *fs.PathError holds: a file on the way to it (Below), or the
// operating system's reason alone ("permission denied").
func Reason(path string, err error) error {
	if below := Below(path); below != nil {
		return below
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Lookalike is a file of path's folder that may have been meant for it,
// "" when there is none: the same name in other capitals (otherCase; file
// names are case-sensitive here, not on Windows), the same name with one
// more extension (.txt added by an editor on Windows, which hides known
// extensions: identity.txt.txt), or, with otherExt, the same name with
// another extension (a spreadsheet's classifiers.xlsx). Key files share
// their names (signing.key, signing.pub), so their callers leave otherExt
// out.
func Lookalike(path string, otherExt bool) (name string, otherCase bool) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return "", false
	}
	base := filepath.Base(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.EqualFold(n, base):
			return n, true
		case len(n) > len(base) && strings.EqualFold(n[:len(base)+1], base+"."),
			otherExt && strings.EqualFold(strings.TrimSuffix(n, filepath.Ext(n)), stem):
			return n, false
		}
	}
	return "", false
}
