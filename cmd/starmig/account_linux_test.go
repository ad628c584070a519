package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/starmig/starmig/archive"
)

// TestARetrievalUnderAnUnlistedUIDIsOnRecord: starmig run in a container
// under a uid that /etc/passwd does not list, with no USER or HOME (as
// OpenShift runs images), wrote audit entries with an empty operator and
// OS user: a retrieval on record by no one. The entry now names the uid.
func TestARetrievalUnderAnUnlistedUIDIsOnRecord(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs starmig under another uid, which needs root")
	}
	uid := 1000620000
	for ; uid < 1000620100; uid++ {
		if _, err := user.LookupId(strconv.Itoa(uid)); err != nil {
			break
		}
	}
	top, err := os.MkdirTemp("", "starmig-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	ctx := context.Background()
	db, keys, to := folderArchive(t, top, 60, 3)
	bin := buildStarmig(t, top)
	// The other account reads the keys and the archive and writes its
	// audit folder, as it would own them in its container.
	if err := filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db),
		"--reason", "check", "--out", filepath.Join(top, "out"), "-q")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + top}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("retrieve as uid %d: %v\n%s", uid, err, out)
	}
	code, out, stderr := run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
	var entries []archive.AuditRecord
	if err := json.Unmarshal([]byte(out), &entries); code != 0 || err != nil || len(entries) != 1 {
		t.Fatalf("audit: exit %d, %v: %s%s", code, err, out, stderr)
	}
	want := "uid " + strconv.Itoa(uid)
	if e := entries[0]; e.Operator != want || e.OSUser != want {
		t.Errorf("audit entry of a retrieval as uid %d: operator %q, OS user %q; want %q for both", uid, e.Operator, e.OSUser, want)
	}
	if code, out, _ := run(t, ctx, "audit", "--archive", to, "--keys", keys); code != 0 || !strings.Contains(out, "retrieve "+want+" on ") {
		t.Errorf("audit: exit %d, want %q in\n%s", code, "retrieve "+want+" on ", out)
	}
}
