package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// TestAPostQuantumArchive: an archive kept abroad for decades is what a
// quantum computer of the future would decrypt first, and age 1.3 has a
// post-quantum recipient for it (ML-KEM-768 with X25519, age1pq1…). An
// archive run took one from a recipients file and wrote it, but every
// retrieval and restore of it then failed: their audit entries are
// encrypted to the recipients the catalog names, which were read as X25519
// only ("malformed recipient … invalid type age1pq"). keys gen
// --post-quantum now writes such a key set, and with it an archive on
// MinIO is written, retrieved, restored, verified with the identity and its
// audit log read. A run given both kinds at once, which age refuses to
// encrypt to, is refused before anything is read (exit 2). An archive that
// moves from X25519 keys to post-quantum ones keeps one audit log: an
// archivist holding both identities retrieves, and the entry goes to the
// post-quantum recipients.
func TestAPostQuantumArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 120, 23)
	classic := genKeys(t, dir)
	pq := filepath.Join(dir, "pq-keys")
	if code, out, stderr := run(t, ctx, "keys", "gen", "--out", pq, "--post-quantum"); code != 0 {
		t.Fatalf("keys gen --post-quantum: exit %d: %s%s", code, out, stderr)
	}
	for file, prefix := range map[string]string{"recipient.txt": "age1pq1", "identity.txt": "# public key: age1pq1"} {
		if b, err := os.ReadFile(filepath.Join(pq, file)); err != nil || !strings.HasPrefix(string(b), prefix) {
			t.Fatalf("%s of keys gen --post-quantum: %.40q, %v", file, b, err)
		}
	}
	to := s3Bucket(t, true)
	archive := func(keys string, extra ...string) (int, string) {
		t.Helper()
		code, _, stderr := run(t, ctx, append([]string{"archive", "--source", "sqlite:" + db, "--to", to, "--batch", "all", "--keys", keys, "-q"}, extra...)...)
		return code, stderr
	}
	if code, stderr := archive(classic); code != 0 {
		t.Fatalf("archive with X25519 keys: exit %d: %s", code, stderr)
	}
	if code, stderr := archive(pq); code != 0 {
		t.Fatalf("archive with post-quantum keys: exit %d: %s", code, stderr)
	}
	code, stderr := archive(pq, "--recipients-file", filepath.Join(pq, "recipient.txt"), "--recipient", strings.TrimSpace(readFile(t, filepath.Join(classic, "recipient.txt"))))
	if code != exitUsage || !strings.Contains(stderr, "can't mix post-quantum and classic recipients") || !strings.Contains(stderr, "give post-quantum recipients (age1pq1…) only") {
		t.Errorf("archive to both kinds of recipient: exit %d: %s", code, stderr)
	}

	// The archivist holds both identities (and the operators both signing
	// keys: each key set has its own).
	both := filepath.Join(dir, "identities.txt")
	if err := os.WriteFile(both, []byte(readFile(t, filepath.Join(classic, "identity.txt"))+readFile(t, filepath.Join(pq, "identity.txt"))), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", pq, "--identity", both, "--person", firstCode(t, db),
		"--reason", "post-quantum test", "--out", filepath.Join(dir, "retrieved"), "--json")
	var got struct {
		Found bool
		Runs  []struct{ Tables map[string][]json.RawMessage }
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || !got.Found || len(got.Runs) == 0 || len(got.Runs[0].Tables["ISIK"]) == 0 {
		t.Fatalf("retrieve from the post-quantum run: exit %d, %v: %.300s%s", code, err, out, stderr)
	}
	if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", pq, "--to", testenv.Postgres(t), "--reason", "post-quantum test", "-q"); code != 0 {
		t.Errorf("restore of the post-quantum run: exit %d: %s", code, stderr)
	}
	if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--identity", both, "--level", "full",
		"--sign-pub", filepath.Join(classic, "signing.pub"), "--sign-pub", filepath.Join(pq, "signing.pub")); code != 0 {
		t.Errorf("verify --level full with both identities: exit %d: %s%s", code, out, stderr)
	}
	code, out, stderr = run(t, ctx, "audit", "--archive", to, "--identity", filepath.Join(pq, "identity.txt"), "--json")
	var entries []struct{ Action, Reason string }
	if err := json.Unmarshal([]byte(out), &entries); code != 0 || err != nil || len(entries) < 3 {
		t.Errorf("audit with the post-quantum identity alone: exit %d, %v, %d entries: %s%s", code, err, len(entries), out, stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
