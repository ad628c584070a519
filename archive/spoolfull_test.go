package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestASpoolWithoutRoomSaysWhatToDo: payload files wait for their upload
// in the spool folder (TMPDIR), under no name. When it fills, the
// system's error names a file nobody can find there; the error says which
// folder is full, how much it needs and how to move it, and stays an
// ENOSPC for callers. Other errors pass unchanged. By hand:
// `TMPDIR=/mnt/tiny starmig archive ...` with a 1 MiB tmpfs there.
func TestASpoolWithoutRoomSaysWhatToDo(t *testing.T) {
	w := &Writer{cfg: Config{Spool: "/mnt/tiny"}}
	saysWhatToDo(t, w.spoolFull, errors.Join(errors.New("archive: spooling data/DOKUMENT/0001.jsonl.gz.age"),
		&fs.PathError{Op: "write", Path: "/mnt/tiny/starmig-archive-1", Err: syscall.ENOSPC}),
		"no space left on device", "the spool folder /mnt/tiny is full", "230 MiB", "set TMPDIR")
}

// TestAFullArchiveFolderSaysWhatToDo: a folder store (file://) whose disk
// fills stopped the run with the system's "no space left on device" on a
// file with no name ("…/.starmig-tmp/(nameless)"); the error now says
// that the archive folder is full, what to do, and that running again
// completes the run. By hand: an archive into a 3 MiB tmpfs, then the
// same command once the tmpfs is made larger, and verify --level full.
func TestAFullArchiveFolderSaysWhatToDo(t *testing.T) {
	s := &FileStore{root: "/mnt/archive"}
	saysWhatToDo(t, s.full, fmt.Errorf("archive: put batches/b1/r/0001/data/DOKUMENT/0001.jsonl.gz.age: %w",
		&fs.PathError{Op: "write", Path: "/mnt/archive/.starmig-tmp/(nameless)", Err: syscall.ENOSPC}),
		"no space left on device", "the archive folder /mnt/archive has no room left", "run the command again", "completed by the next run")
}

// saysWhatToDo checks that explain keeps full an ENOSPC and adds each of
// want to it, and passes another error, and none, unchanged.
func saysWhatToDo(t *testing.T, explain func(error) error, full error, want ...string) {
	t.Helper()
	err := explain(full)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%v: no longer an ENOSPC", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q: does not say %q", err, w)
		}
	}
	other := &fs.PathError{Op: "write", Path: "/mnt/x", Err: syscall.EIO}
	if err := explain(other); err != error(other) {
		t.Errorf("another error became %v", err)
	}
	if err := explain(nil); err != nil {
		t.Errorf("no error became %v", err)
	}
}
