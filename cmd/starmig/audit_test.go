package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
)

// TestAuditCommand: whoever oversees the archivists reads the audit log
// with the decryption identity alone: every retrieval with who, when, what
// and why, chosen by day, operator or query.
func TestAuditCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 100, 6)
	person := firstCode(t, db)
	for i, r := range []struct{ operator, person, reason string }{
		{"mari.archive", person, "court request 2026/17"},
		{"jaan.archive", "39901019999", "request of the person's guardian"},
	} {
		if code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", r.person, "--reason", r.reason,
			"--operator", r.operator, "--out", filepath.Join(dir, "r", string(rune('a'+i))), "-q"); code != 0 {
			t.Fatalf("retrieve: exit %d: %s", code, stderr)
		}
	}
	audit := func(args ...string) (int, string, string) {
		return run(t, ctx, append([]string{"audit", "--archive", to, "--identity", filepath.Join(keys, archive.IdentityFile)}, args...)...)
	}
	code, out, stderr := audit()
	for _, want := range []string{
		"Audit log of " + to + ": 2 entries.",
		"retrieve mari.archive",
		"person with personal code " + person + ": ",
		"why: court request 2026/17",
		"person with personal code 39901019999: nothing found",
		"why: request of the person's guardian",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("audit: exit %d, want %q in\n%s%s", code, want, out, stderr)
		}
	}
	var entries []archive.AuditRecord
	code, out, _ = audit("--operator", "jaan.archive", "--json")
	if err := json.Unmarshal([]byte(out), &entries); code != 0 || err != nil || len(entries) != 1 || entries[0].Reason != "request of the person's guardian" ||
		entries[0].Found || !strings.HasPrefix(entries[0].Key, archive.AuditPrefix) {
		t.Errorf("audit --operator --json: exit %d, %v: %s", code, err, out)
	}
	if code, out, _ = audit("--query", person); code != 0 || !strings.Contains(out, "1 entry of the 2 read.") || !strings.Contains(out, "mari.archive") {
		t.Errorf("audit --query: exit %d\n%s", code, out)
	}
	if code, out, _ = audit("--since", "2099-01-01"); code != 0 || !strings.Contains(out, ": 0 entries.") {
		t.Errorf("audit --since a later day: exit %d\n%s", code, out)
	}
	// The folder above the archive holds no audit log: it is named, not
	// read as one of no entries.
	code, out, stderr = run(t, ctx, "audit", "--archive", "file://"+dir, "--keys", keys)
	if want := "holds no archive, and so no audit log; the folder below, " + to + ", holds an archive"; code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("audit of the folder above the archive: exit %d, %s%s; want %q", code, out, stderr, want)
	}
	// Nor is a folder that holds nothing (a mistyped URL).
	code, out, stderr = run(t, ctx, "audit", "--archive", "file://"+t.TempDir(), "--keys", keys)
	if want := "holds no archive, and so no audit log; is --archive the archive's URL?"; code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("audit of an empty folder: exit %d, %s%s; want %q", code, out, stderr, want)
	}
	// Nor is the archive's audit folder, given as the archive.
	code, out, stderr = run(t, ctx, "audit", "--archive", to+"/audit", "--keys", keys)
	if want := "; it is the folder audit inside the archive " + to + ": give that archive's URL"; code != exitError || !strings.HasSuffix(strings.TrimSpace(stderr), want) {
		t.Errorf("audit of the archive's audit folder: exit %d, %s%s; want it to end %q", code, out, stderr, want)
	}
	for _, args := range [][]string{{"--since", "21.11.2026"}, {"--since", "2026-11-02", "--until", "2026-11-01"}} {
		if code, _, stderr := audit(args...); code != exitUsage {
			t.Errorf("audit %v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
	// Another identity cannot read what was put on record: each entry is
	// listed as unreadable, with why, and the command exits 4.
	other := filepath.Join(dir, "other")
	if code, _, stderr := run(t, ctx, "keys", "gen", "--out", other, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr = run(t, ctx, "audit", "--archive", to, "--identity", filepath.Join(other, archive.IdentityFile))
	if code != exitVerification || strings.Count(out, "UNREADABLE "+archive.AuditPrefix) != 2 || !strings.Contains(out, "encrypted to no identity given") ||
		!strings.Contains(stderr, "2 objects under audit/ cannot be read") {
		t.Errorf("audit with another identity: exit %d\n%s%s", code, out, stderr)
	}
	// A damaged object under audit/ does not hide the entries beside it,
	// and no filter leaves it out.
	damaged := filepath.Join(strings.TrimPrefix(to, "file://"), archive.AuditPrefix, "2026", "20261122T010000.000000000Z-000000000000.json.age")
	if err := os.MkdirAll(filepath.Dir(damaged), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, []byte("age-encryption.org/v1\n-> X25519 broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = audit("--operator", "mari.archive")
	if code != exitVerification || !strings.Contains(out, "retrieve mari.archive") || !strings.Contains(out, "UNREADABLE "+archive.AuditPrefix+"2026/20261122T010000") ||
		strings.Contains(out, "jaan.archive") || !strings.Contains(stderr, "1 object under audit/ cannot be read") {
		t.Errorf("audit with a damaged entry: exit %d\n%s%s", code, out, stderr)
	}
}

// TestRestoreIsOnRecordOnlyWhenItHappens: a restore refused (a mistyped
// --kov) or failed (its schema exists) leaves no entry saying it restored
// anything; the one that happened is on record with the rows it restored.
func TestRestoreIsOnRecordOnlyWhenItHappens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, keys, to := folderArchive(t, dir, 100, 8)
	target := testenv.Postgres(t)
	restore := func(args ...string) (int, string, string) {
		return run(t, ctx, append([]string{"restore", "--archive", to, "--keys", keys, "--to", target, "--reason", "crisis drill"}, args...)...)
	}
	if code, _, stderr := restore("--kov", "9999"); code != exitUsage {
		t.Fatalf("restore --kov 9999: exit %d: %s", code, stderr)
	}
	code, out, stderr := restore("--json")
	var rs archive.RestoreStats
	if err := json.Unmarshal([]byte(out), &rs); code != 0 || err != nil {
		t.Fatalf("restore: exit %d, %v: %s", code, err, stderr)
	}
	var rows int
	for _, s := range rs.Tables {
		rows += int(s.Rows)
	}
	if code, _, stderr := restore(); code != exitError || !strings.Contains(stderr, "already exists") {
		t.Fatalf("restore into the same schema again: exit %d: %s", code, stderr)
	}
	var entries []archive.AuditRecord
	code, out, _ = run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
	if err := json.Unmarshal([]byte(out), &entries); code != 0 || err != nil {
		t.Fatalf("audit: exit %d, %v: %s", code, err, out)
	}
	if len(entries) != 1 || entries[0].Action != "restore" || entries[0].Rows != rows || entries[0].Reason != "crisis drill" {
		t.Fatalf("after one restore and two refused: %d audit entries %+v, want one restore of %d rows", len(entries), entries, rows)
	}
	if q := entries[0].Query; !strings.HasPrefix(q, "batch ") || !strings.HasSuffix(q, ", all municipalities, into schema star1_archive") {
		t.Errorf("a restore of all municipalities is on record as %q", q)
	}
	if code, out, _ = run(t, ctx, "audit", "--archive", to, "--keys", keys); code != 0 || !strings.Contains(out, fmt.Sprintf(": %d rows restored", rows)) {
		t.Errorf("audit does not give the rows restored:\n%s", out)
	}

	// A payload file damaged: the restore is refused, and not on record;
	// with --skip-unreadable it restores the rest, lists the file with its
	// rows, says so in its entry, and exits 4.
	var victim string
	filepath.WalkDir(filepath.Join(dir, "archive"), func(p string, d fs.DirEntry, err error) error {
		if victim == "" && strings.Contains(filepath.ToSlash(p), "/data/MAKSE/") {
			victim = p
		}
		return err
	})
	body, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(victim, 0o644)
	if err := os.WriteFile(victim, body[:len(body)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	file := victim[strings.Index(filepath.ToSlash(victim), "/data/")+1:]
	if code, _, stderr := restore("--schema", "damaged"); code != exitError || !strings.Contains(stderr, file) {
		t.Fatalf("restore of a damaged archive: exit %d: %s; want exit %d naming %s", code, stderr, exitError, file)
	}
	code, out, stderr = restore("--schema", "what_reads", "--skip-unreadable")
	if code != exitVerification || !strings.Contains(out, "Left out as unreadable") || !strings.Contains(out, file) ||
		!strings.Contains(out, "what_reads.restore_unread") || !strings.Contains(stderr, "restore left out 1 part of the archive run") ||
		!regexp.MustCompile(`rows of MAKSE \(SUMMA -?\d+\.\d\d\): `).MatchString(out) || !strings.Contains(out, "Row counts and money sums are checked") {
		t.Fatalf("restore --skip-unreadable: exit %d:\n%s\n%s", code, out, stderr)
	}
	entries = nil
	_, out, _ = run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 2 || !strings.Contains(entries[1].Query, "leaving out 1 part it could not read") {
		t.Errorf("after a restore that left a file out: %v %+v", err, entries)
	}
}

// TestKeyHolderVerificationIsOnRecord: a key holder's check decrypts
// payloads, and a restore drill loads them into a database: both are
// reads of the archive, and every read is on record. The operators' check,
// without the identity, reads no personal data and writes nothing.
func TestKeyHolderVerificationIsOnRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, keys, to := folderArchive(t, dir, 100, 9)
	if code, _, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", filepath.Join(keys, archive.SignPubFile), "--level", "full"); code != 0 {
		t.Fatalf("operators' verify: exit %d: %s", code, stderr)
	}
	// With a password in the URL (the test server does not ask for it):
	// it must not reach the audit log.
	drill := strings.Replace(testenv.Postgres(t), "://postgres@", "://postgres:drill-s3cret@", 1)
	if !strings.Contains(drill, "drill-s3cret") {
		t.Fatalf("no user in the test database's URL %s", drill)
	}
	code, _, stderr := run(t, ctx, "verify", "--archive", to, "--keys", keys, "--identity", filepath.Join(keys, archive.IdentityFile),
		"--sample", "50", "--seed", "3", "--restore-drill", drill, "--operator", "mari.archive", "--reason", "yearly drill 2026")
	if code != 0 {
		t.Fatalf("key holder's verify: exit %d: %s", code, stderr)
	}
	var entries []archive.AuditRecord
	code, out, _ := run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
	if err := json.Unmarshal([]byte(out), &entries); code != 0 || err != nil {
		t.Fatalf("audit: exit %d, %v: %s", code, err, out)
	}
	if len(entries) != 1 {
		t.Fatalf("%d audit entries after an operators' check and a key holder's, want 1: %+v", len(entries), entries)
	}
	e := entries[0]
	if e.Action != "verify" || e.Operator != "mari.archive" || e.Reason != "yearly drill 2026" || len(e.Runs) != 1 ||
		!strings.Contains(e.Query, "level sample (50 %, seed 3), restore drill into postgres://") {
		t.Errorf("audit entry of the key holder's check: %+v", e)
	}
	if strings.Contains(out, "drill-s3cret") || strings.Contains(stderr, "drill-s3cret") {
		t.Errorf("the drill database's password is on record or printed: %s", e.Query)
	}
}

// TestTerminalShowsWhatItIsNotTold: an error that quotes a path typed
// with a control sequence, and an audit entry whose reason holds one, are
// printed with the sequence written out, not sent to the terminal.
func TestTerminalShowsWhatItIsNotTold(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 100, 13)
	code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", filepath.Join(dir, "k\x1b[31m"), "--person", "1", "--reason", "x")
	if code != exitError || strings.ContainsRune(stderr, 0x1b) || !strings.Contains(stderr, `k\x1b[31m`) {
		t.Errorf("an error quoting a path with an escape: exit %d: %q", code, stderr)
	}
	if code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db),
		"--reason", "court\x1b[2J request\nfile 17", "--out", filepath.Join(dir, "r"), "-q"); code != 0 {
		t.Fatalf("retrieve: exit %d: %s", code, stderr)
	}
	code, out, stderr := run(t, ctx, "audit", "--archive", to, "--keys", keys)
	if code != 0 || strings.ContainsRune(out, 0x1b) || !strings.Contains(out, `why: court\x1b[2J request\nfile 17`) {
		t.Errorf("audit listing of a reason with an escape and a line break: exit %d:\n%q%s", code, out, stderr)
	}
}
