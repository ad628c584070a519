package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/internal/words"
)

func TestRetrievalFolderIsNewOrEmpty(t *testing.T) {
	t.Chdir(t.TempDir())
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	first, err := retrievalFolder("", now)
	if err != nil || first != "retrieval-20261121T100000Z" {
		t.Fatalf("default folder: %q %v", first, err)
	}
	os.Mkdir(first, 0o700)
	// A second retrieval in the same second gets a folder of its own.
	if second, err := retrievalFolder("", now); err != nil || second != first+"-2" {
		t.Errorf("second default folder: %q %v", second, err)
	}
	// A chosen folder may be new or empty.
	if out, err := retrievalFolder("new", now); err != nil || out != "new" {
		t.Errorf("new folder: %q %v", out, err)
	}
	if out, err := retrievalFolder(first, now); err != nil || out != first {
		t.Errorf("empty folder: %q %v", out, err)
	}
	// Not one that holds something, nor a file.
	os.WriteFile(filepath.Join(first, "retrieval.json"), []byte("{}"), 0o600)
	if _, err := retrievalFolder(first, now); err == nil {
		t.Error("a folder holding a retrieval was accepted")
	}
	if _, err := retrievalFolder(filepath.Join(first, "retrieval.json"), now); err == nil {
		t.Error("a file was accepted as the folder")
	}
}

// TestDemoRunsAgain: the README's first command works, and works again in
// the same folder (its retrieval folder is its own to replace).
func TestDemoRunsAgain(t *testing.T) {
	testenv.PostgresServer(t) // the demo starts a server of its own from the same binaries
	dir := filepath.Join(t.TempDir(), "demo")
	for i := range 2 {
		code, out, stderr := run(t, context.Background(), "demo", "--dir", dir, "--persons", "300", "--as-of", "2026-11-01")
		if code != 0 || !strings.Contains(out, "Retrieved person with personal code") {
			t.Fatalf("demo, run %d: exit %d: %s %s", i+1, code, out, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "retrieval", "retrieval.md")); err != nil {
		t.Error(err)
	}
}

// TestRetrieveLargeDocument: a proceeding's large document is handed out
// whole, as a file and in the JSON, through the spool that keeps it out of
// memory; the spool is gone afterwards, and --json prints retrieval.json.
// Runs (here of three batches, asked for with --all-runs) that hold the
// same document share its file; one that holds another version of it
// (STAR1 changed it between the runs) has its own.
func TestRetrieveLargeDocument(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 5)
	keys := genKeys(t, dir)
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var doc, proceeding int64
	var name string
	if err := conn.QueryRow(`SELECT DOKUMENT_ID, MENETLUS_ID, FAILINIMI FROM DOKUMENT ORDER BY DOKUMENT_ID LIMIT 1`).Scan(&doc, &proceeding, &name); err != nil {
		t.Fatal(err)
	}
	to := "file://" + filepath.Join(dir, "archive")
	want := map[string][]byte{} // batch → the document it holds
	for _, batch := range []string{"first", "second", "third"} {
		if batch != "third" {
			if _, err := conn.Exec(`UPDATE DOKUMENT SET SISU = randomblob(3 << 20) WHERE DOKUMENT_ID = ?`, doc); err != nil {
				t.Fatal(err)
			}
		}
		var content []byte
		if err := conn.QueryRow(`SELECT SISU FROM DOKUMENT WHERE DOKUMENT_ID = ?`, doc).Scan(&content); err != nil {
			t.Fatal(err)
		}
		want[batch] = content
		if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", batch, "--keys", keys, "-q"); code != 0 {
			t.Fatalf("archive: exit %d: %s", code, stderr)
		}
	}
	// A retrieval that fails leaves no folder (and no spool) behind.
	failed := filepath.Join(dir, "failed")
	if code, _, _ := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--batch", "none", "--proceeding", strconv.FormatInt(proceeding, 10),
		"--reason", "no such batch", "--out", failed); code == 0 {
		t.Error("retrieve from a batch that is not there succeeded")
	}
	if _, err := os.Stat(failed); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed retrieval left %s: %v", failed, err)
	}
	out := filepath.Join(dir, "case")
	code, stdout, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--proceeding", strconv.FormatInt(proceeding, 10),
		"--reason", "large document", "--out", out, "--json", "--all-runs")
	if code != 0 {
		t.Fatalf("retrieve: exit %d: %s", code, stderr)
	}
	saved, err := os.ReadFile(filepath.Join(out, "retrieval.json"))
	if err != nil || stdout != string(saved) {
		t.Errorf("--json printed %d bytes, retrieval.json holds %d (%v)", len(stdout), len(saved), err)
	}
	var res struct {
		Out  string `json:"out"`
		Runs []struct {
			Batch  string `json:"batch"`
			Tables map[string][]struct {
				ID   int64           `json:"DOKUMENT_ID"`
				SISU json.RawMessage `json:"SISU"` // another document may be text
			} `json:"tables"`
		} `json:"runs"`
		Docs []archive.DocFile `json:"documents"`
	}
	if err := json.Unmarshal(saved, &res); err != nil || len(res.Runs) != 3 || res.Out != out {
		t.Fatalf("retrieval.json: %v, %d runs, out %q", err, len(res.Runs), res.Out)
	}
	for _, r := range res.Runs {
		found := false
		for _, row := range r.Tables["DOKUMENT"] {
			var sisu []byte
			if row.ID == doc {
				found = json.Unmarshal(row.SISU, &sisu) == nil && bytes.Equal(sisu, want[r.Batch])
			}
		}
		if !found {
			t.Errorf("retrieval.json, batch %s: document %d not as STAR1 held it then", r.Batch, doc)
		}
	}
	files := map[string]string{} // batch → file
	for _, d := range res.Docs {
		if d.ID != doc {
			continue
		}
		files[d.Batch] = d.File
		if got, err := os.ReadFile(filepath.Join(out, d.File)); err != nil || !bytes.Equal(got, want[d.Batch]) {
			t.Errorf("batch %s: %s holds %d bytes, not the %d of its document (%v)", d.Batch, d.File, len(got), len(want[d.Batch]), err)
		}
	}
	if len(files) != 3 || files["second"] != files["third"] || files["first"] == files["second"] {
		t.Errorf("document files by batch: %v; want the second and third to share one and the first its own", files)
	}
	// The summary counts files, not a document once per run that holds it.
	again := filepath.Join(dir, "case-again")
	code, stdout, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--proceeding", strconv.FormatInt(proceeding, 10),
		"--reason", "large document", "--out", again, "--all-runs")
	written, _ := os.ReadDir(filepath.Join(again, "documents"))
	if want := " and " + words.Count(len(written), "document file") + " of "; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("summary: exit %d, want %q in\n%s%s", code, want, stdout, stderr)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		// Personal data, for the archivist alone.
		if fi, err := e.Info(); err != nil {
			t.Error(err)
		} else if e.Type().IsRegular() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
		if strings.HasPrefix(e.Name(), ".starmig-spool") {
			t.Errorf("the spool %s is left in the retrieval folder", e.Name())
		}
	}
}

// TestCodeHint: a retrieval by personal code that finds nothing says what
// may be wrong with the code as typed, and nothing when it looks right.
func TestCodeHint(t *testing.T) {
	for code, want := range map[string]string{
		"51403310004":    "",
		"514 0331 0004":  `"514 0331 0004" has spaces or dashes inside, and personal codes are held as 11 digits: try --person 51403310004.`,
		"5140331-0004":   "try --person 51403310004.",
		"51403310005":    "51403310005 is not a valid personal code (check digit is 5, want 4): mistyped?",
		"51413310004":    "encodes impossible date 2014-13-31",
		"91403310004":    "first digit 9 encodes no century",
		"FI-123456-789A": "", // a foreign identifier may have any shape
		"1234":           "",
		"":               "",
	} {
		got := codeHint(code)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("codeHint(%q) = %q, want %q in it", code, got, want)
		}
	}
}
