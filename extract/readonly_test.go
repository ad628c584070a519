//go:build unix

package extract

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// envReadOnly names the STAR1 stand-in that TestReadOnlyStandInChild
// reads, in the process TestAReadOnlyStandInIsRead starts.
const envReadOnly = "STARMIG_TEST_READONLY_STAR1"

// TestAReadOnlyStandInIsRead: a STAR1 stand-in in WAL mode, as gen writes
// it, handed over read-only (a copy on read-only media, or made read-only
// for everyone so that nothing changes it) is read as it is. SQLite reads
// a file in WAL mode with a shared-memory file beside it; where it cannot
// make one it said "attempt to write a readonly database", although
// starmig only reads. Where the file could still change (another user may
// write it), or a -wal file beside it holds changes, starmig says to copy
// it to a folder that can be written. Each case runs as a user that may
// not write the folder: as root, the nobody user, since root may write
// anywhere.
func TestAReadOnlyStandInIsRead(t *testing.T) {
	want := isikRows(t, "sqlite:"+sampleCopy(t))
	// A folder that the other user can reach.
	top, err := os.MkdirTemp("", "starmig-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(top, func(p string, _ os.DirEntry, _ error) error { return os.Chmod(p, 0o755) })
		os.RemoveAll(top)
	})
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	child := childTest(t, top)

	place := func(name string, fileMode, dirMode os.FileMode, wal []byte) string {
		t.Helper()
		dir := filepath.Join(top, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "star1.db")
		copyInto(t, sampleCopy(t), path)
		if wal != nil {
			if err := os.WriteFile(path+"-wal", wal, 0o444); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(path, fileMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, dirMode); err != nil {
			t.Fatal(err)
		}
		return path
	}

	readOnly := place("readonly", 0o444, 0o555, nil)
	if out, err := child(readOnly); err != nil || strings.TrimSpace(out) != strconv.Itoa(want) {
		t.Errorf("a stand-in read-only for everyone: %v: %s; want %d persons", err, out, want)
	}
	// Another user may write the file: it may change while read.
	writable := place("writable", 0o666, 0o755, nil)
	if out, err := child(writable); err == nil || !strings.Contains(out, "copy the file") || !strings.Contains(out, writable) {
		t.Errorf("a stand-in others may write: %v: %s; want it refused with advice", err, out)
	}
	// A -wal file with changes not yet in the file itself.
	pending := place("pending", 0o444, 0o555, []byte("not empty"))
	if out, err := child(pending); err == nil || !strings.Contains(out, "-wal file") {
		t.Errorf("a read-only stand-in with a -wal file: %v: %s; want it refused with advice", err, out)
	}
}

// TestReadOnlyStandInChild reads the stand-in envReadOnly names and
// prints its number of persons, or the error; it runs only in the process
// TestAReadOnlyStandInIsRead starts.
func TestReadOnlyStandInChild(t *testing.T) {
	path := os.Getenv(envReadOnly)
	if path == "" {
		t.Skip("run by TestAReadOnlyStandInIsRead")
	}
	n, err := countIsik("sqlite:" + path)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(n)
	os.Exit(0)
}

// childTest returns a function that runs TestReadOnlyStandInChild on a
// path, as a user that may not write where the test does: as root, the
// nobody user, from a copy of the test binary in top.
func childTest(t *testing.T, top string) func(path string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("as root the test runs its reader as nobody: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		bin := filepath.Join(top, "extract.test")
		copyInto(t, self, bin)
		if err := os.Chmod(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		self = bin
	}
	return func(path string) (string, error) {
		cmd := exec.Command(self, "-test.run=^TestReadOnlyStandInChild$")
		cmd.Env = append(os.Environ(), envReadOnly+"="+path, "HOME="+top, "TMPDIR="+top)
		cmd.Dir = top
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

func isikRows(t *testing.T, url string) int {
	t.Helper()
	n, err := countIsik(url)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countIsik counts the persons of a snapshot of the source url.
func countIsik(url string) (int, error) {
	ctx := context.Background()
	src, err := Open(ctx, url)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	var n int
	err = snap.Query(ctx, "SELECT COUNT(*) FROM ISIK", func(v []any) error {
		n, err = strconv.Atoi(fmt.Sprint(v[0]))
		return err
	})
	return n, err
}
