package archive

import (
	"errors"
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
	full := &fs.PathError{Op: "write", Path: "/mnt/tiny/starmig-archive-1", Err: syscall.ENOSPC}
	err := w.spoolFull(errors.Join(errors.New("archive: spooling data/DOKUMENT/0001.jsonl.gz.age"), full))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%v: no longer an ENOSPC", err)
	}
	for _, want := range []string{"no space left on device", "the spool folder /mnt/tiny is full", "230 MiB", "set TMPDIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: does not say %q", err, want)
		}
	}
	other := &fs.PathError{Op: "write", Path: "/mnt/tiny/starmig-archive-1", Err: syscall.EIO}
	if err := w.spoolFull(other); err != error(other) {
		t.Errorf("another error became %v", err)
	}
}
