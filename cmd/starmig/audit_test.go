package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/archive"
)

// TestAuditCommand: whoever oversees the archivists reads the audit log
// with the decryption identity alone: every retrieval with who, when, what
// and why, chosen by day, operator or query.
func TestAuditCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 100, 6)
	keys := genKeys(t, dir)
	to := "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive: exit %d: %s", code, stderr)
	}
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
	for _, args := range [][]string{{"--since", "21.11.2026"}, {"--since", "2026-11-02", "--until", "2026-11-01"}} {
		if code, _, stderr := audit(args...); code != exitUsage {
			t.Errorf("audit %v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
	// Another identity cannot read what was put on record.
	other := filepath.Join(dir, "other")
	if code, _, stderr := run(t, ctx, "keys", "gen", "--out", other, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := run(t, ctx, "audit", "--archive", to, "--identity", filepath.Join(other, archive.IdentityFile)); code != exitError || !strings.Contains(stderr, "audit entry") {
		t.Errorf("audit with another identity: exit %d: %s", code, stderr)
	}
}
