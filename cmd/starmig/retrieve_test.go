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
	"slices"
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

// TestRetrieveQueryTakesEveryIDOfSTAR1: --isik-id and --proceeding take
// any id NUMBER(12) holds, 0 and negative ones too (STAR1 rows with such
// ids are archived like any other), and refuse what is not such an id.
func TestRetrieveQueryTakesEveryIDOfSTAR1(t *testing.T) {
	for _, c := range []struct {
		o    retrieveOptions
		want archive.Query
		err  string
	}{
		{retrieveOptions{isikID: "42"}, archive.PersonByID(42), ""},
		{retrieveOptions{isikID: "0"}, archive.PersonByID(0), ""},
		{retrieveOptions{isikID: " -7 "}, archive.PersonByID(-7), ""},
		{retrieveOptions{proceeding: "-999999999999"}, archive.ProceedingByID(-999999999999), ""},
		{retrieveOptions{proceeding: "999999999999"}, archive.ProceedingByID(999999999999), ""},
		{retrieveOptions{person: " 37605030299 "}, archive.PersonByCode("37605030299"), ""},
		{retrieveOptions{proceeding: "1000000000000"}, archive.Query{}, `--proceeding "1000000000000": want a whole number of at most 12 digits`},
		{retrieveOptions{isikID: "4.5"}, archive.Query{}, `--isik-id "4.5": want a whole number`},
		{retrieveOptions{isikID: "x"}, archive.Query{}, `--isik-id "x": want a whole number`},
		{retrieveOptions{person: "  "}, archive.Query{}, `--person "  ": want a personal code`},
		{retrieveOptions{isikID: "1", proceeding: "1"}, archive.Query{}, "give exactly one of"},
		{retrieveOptions{}, archive.Query{}, "give exactly one of"},
	} {
		q, err := retrieveQuery(&c.o)
		if c.err == "" && (err != nil || q != c.want) {
			t.Errorf("%+v: %+v, %v; want %+v", c.o, q, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || exitCode(err) != exitUsage) {
			t.Errorf("%+v: %v (exit %d); want a usage error saying %q", c.o, err, exitCode(err), c.err)
		}
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
	conn, doc, proceeding := firstDocument(t, db)
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
		"51403310004":     "",
		"514 0331 0004":   `"514 0331 0004" has spaces or dashes inside, and personal codes are held as 11 digits: try --person 51403310004.`,
		"5140331-0004":    "try --person 51403310004.",
		"51403310005":     "51403310005 is not a valid personal code (check digit is 5, want 4): mistyped?",
		"51413310004":     "encodes impossible date 2014-13-31",
		"91403310004":     "first digit 9 encodes no century",
		"FI-123456-789A":  "", // a foreign identifier may have any shape
		"lv-161239-20362": `"lv-161239-20362" has small letters, and codes are matched exactly as STAR1 holds them: if it was entered in capitals, as foreign identifiers mostly are, try --person LV-161239-20362.`,
		"5140331000":      "5140331000 has 10 digits, and personal codes have 11: mistyped?",
		"514033100044":    "514033100044 has 12 digits",
		"514 0331 000":    "5140331000 has 10 digits",
		"1234":            "",
		"":                "",
	} {
		got := codeHint(code)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("codeHint(%q) = %q, want %q in it", code, got, want)
		}
	}
}

// TestRetrievalSkipsARunItCannotRead: a retrieval stops on a run it
// cannot read as written, and says how to go on; --skip-unreadable lists
// that run, gives the rows of the newest earlier run that can be read,
// puts the run left out on record, and exits 4.
func TestRetrievalSkipsARunItCannotRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 200, 12)
	runsDir := filepath.Join(dir, "archive", "batches", "all")
	runNames := func() []string {
		t.Helper()
		entries, err := os.ReadDir(runsDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	first := runNames()[0]
	// Run names begin with the second they were written in.
	for time.Now().UTC().Format("20060102T150405Z") <= first[:16] {
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("second archive run: exit %d: %s", code, stderr)
	}
	names := runNames()
	if len(names) != 2 || names[0] != first {
		t.Fatalf("runs %v", names)
	}
	second := names[1]
	person := firstCode(t, db)
	retrieve := func(out string, extra ...string) (int, archive.RetrievalResult, string) {
		t.Helper()
		args := append([]string{"retrieve", "--archive", to, "--keys", keys, "--person", person, "--reason", "crisis",
			"--out", filepath.Join(dir, out), "--json"}, extra...)
		code, stdout, stderr := run(t, ctx, args...)
		var res archive.RetrievalResult
		if code == 0 || code == exitVerification {
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("retrieve %s: exit %d, %v: %s", out, code, err, stderr)
			}
		}
		return code, res, stderr
	}
	code, clean, stderr := retrieve("clean")
	if code != 0 || len(clean.Runs) != 1 || clean.Runs[0].Run != second || len(clean.Runs[0].Tables["ISIK"]) == 0 {
		t.Fatalf("clean archive: exit %d, %s: %s", code, runsOf(clean), stderr)
	}

	// Every ISIK payload file of the newest run has a byte flipped.
	damage := func(glob string) {
		t.Helper()
		files, _ := filepath.Glob(glob)
		if len(files) == 0 {
			t.Fatalf("nothing matches %s", glob)
		}
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			body[len(body)/2] ^= 1
			os.Chmod(f, 0o644)
			if err := os.WriteFile(f, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every payload file of another table of the person's rows: the
	// newest run is read without the bundles that hold them, and gives
	// the rest; the earlier run, read whole, follows it.
	var other string
	for name := range clean.Runs[0].Tables {
		if name != "ISIK" && (other == "" || name < other) {
			other = name
		}
	}
	if other == "" {
		t.Fatalf("the person has rows of ISIK only: %s", runsOf(clean))
	}
	otherFiles := filepath.Join(runsDir, second, "*", "data", other, "*")
	damage(otherFiles)
	code, part, stderr := retrieve("part", "--skip-unreadable")
	if code != exitVerification || !strings.Contains(stderr, "retrieve left out 1 archive run it could not read, in whole or in part") ||
		part.Unread != 1 || !part.Found || len(part.Runs) != 2 || part.Runs[0].Run != second || len(part.Runs[0].UnreadParts) == 0 ||
		!strings.Contains(part.Runs[0].Unread, "data/"+other+"/") || len(part.Runs[0].Tables[other]) != 0 ||
		part.Runs[1].Run != first || part.Runs[1].Unread != "" || len(part.Runs[1].Tables[other]) != len(clean.Runs[0].Tables[other]) {
		t.Fatalf("%s damaged, --skip-unreadable: exit %d, %s: %s", other, code, runsOf(part), stderr)
	}
	if got, want := len(part.Runs[0].Tables["ISIK"]), len(clean.Runs[0].Tables["ISIK"]); got != want {
		t.Errorf("%s damaged: %d ISIK rows from the newest run, want %d", other, got, want)
	}
	// Only the damaged files are left out, not their bundles.
	for _, p := range part.Runs[0].UnreadParts {
		if !strings.HasPrefix(p, "all/"+second+"/") || !strings.Contains(p, "/data/"+other+"/") {
			t.Errorf("part left out %q is not a file of %s of run %s", p, other, second)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "part", "retrieval.md"))
	if err != nil || !bytes.Contains(md, []byte("**This run was read without ")) || !bytes.Contains(md, []byte(part.Runs[0].UnreadParts[0])) {
		t.Errorf("retrieval.md of a run read in part: %v\n%s", err, md)
	}
	damage(otherFiles) // flipped back

	damage(filepath.Join(runsDir, second, "*", "data", "ISIK", "*"))
	if code, _, stderr := retrieve("stopped"); code != exitError || !strings.Contains(stderr, "data/ISIK/") ||
		!strings.Contains(stderr, "not as written") || !strings.Contains(stderr, "--skip-unreadable leaves out what cannot be read") {
		t.Fatalf("damaged newest run: exit %d: %s; want exit %d naming the file and the flag", code, stderr, exitError)
	}
	code, res, stderr := retrieve("skipped", "--skip-unreadable")
	if code != exitVerification || !strings.Contains(stderr, "retrieve left out 1 archive run it could not read") || res.Unread != 1 || !res.Found || !res.Earlier ||
		len(res.Runs) != 2 || res.Runs[0].Run != second || !strings.Contains(res.Runs[0].Unread, "data/ISIK/") || len(res.Runs[0].Tables) != 0 ||
		res.Runs[1].Run != first || res.Runs[1].NewestRun != second || res.Runs[1].Unread != "" {
		t.Fatalf("--skip-unreadable: exit %d, %s, %+v: %s", code, runsOf(res), res, stderr)
	}
	// STAR1 did not change between the runs: the earlier run gives the
	// rows the newest gave before it was damaged.
	for name, rows := range clean.Runs[0].Tables {
		if got := res.Runs[1].Tables[name]; len(got) != len(rows) || string(got[0]) != string(rows[0]) {
			t.Errorf("%s from the earlier run: %d rows, want %d", name, len(got), len(rows))
		}
	}
	md, err = os.ReadFile(filepath.Join(dir, "skipped", "retrieval.md"))
	if err != nil || !bytes.Contains(md, []byte("**1 run searched could not be read as written, in whole or in part (below).**")) ||
		!bytes.Contains(md, []byte("## Batch all, archive run "+second+"\n\n**This run was read without ")) ||
		!bytes.Contains(md, []byte("## Batch all, earlier archive run "+first)) {
		t.Errorf("retrieval.md: %v\n%s", err, md)
	}
	code, out, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", person, "--reason", "crisis",
		"--out", filepath.Join(dir, "text"), "--skip-unreadable")
	if code != exitVerification || !strings.Contains(out, "Left out as unreadable") || !strings.Contains(out, "batch all run "+second+", read without all/"+second+"/") {
		t.Errorf("--skip-unreadable, as text: exit %d:\n%s%s", code, out, stderr)
	}
	var entries []archive.AuditRecord
	_, out, _ = run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 4 ||
		!strings.Contains(entries[2].Query, "leaving out 1 run it could not read: all/"+second+" in part, without all/"+second+"/") || !slices.Contains(entries[2].Runs, "all/"+second) {
		t.Errorf("audit entries: %v %+v", err, entries)
	}

	// A newest run whose catalog cannot be read is searched past the same
	// way.
	damage(filepath.Join(runsDir, second, archive.CatalogFile))
	code, res, stderr = retrieve("no-catalog", "--skip-unreadable")
	if code != exitVerification || len(res.Runs) != 2 || res.Runs[0].Run != second || !strings.Contains(res.Runs[0].Unread, "signature does not verify") ||
		res.Runs[1].Run != first || len(res.Runs[1].Tables["ISIK"]) != len(clean.Runs[0].Tables["ISIK"]) {
		t.Fatalf("newest catalog damaged, --skip-unreadable: exit %d, %s: %s", code, runsOf(res), stderr)
	}

	// Every run read only in part, and no rows in the parts read: the
	// retrieval still searched, is put on record, and says the rows may
	// be in the parts left out.
	damage(filepath.Join(runsDir, first, "*", "data", "ISIK", "*"))
	damage(filepath.Join(runsDir, second, archive.CatalogFile)) // flipped back
	code, res, stderr = retrieve("in-part", "--skip-unreadable")
	if code != exitVerification || res.Found || res.Unread != 2 || res.Audit == "" || len(res.Runs) != 2 ||
		len(res.Runs[0].UnreadParts) == 0 || len(res.Runs[1].UnreadParts) == 0 {
		t.Fatalf("every run read in part: exit %d, %s, %+v: %s", code, runsOf(res), res, stderr)
	}
	md, err = os.ReadFile(filepath.Join(dir, "in-part", "retrieval.md"))
	if err != nil || !bytes.Contains(md, []byte("**No archive run that could be read holds rows for this ")) {
		t.Errorf("retrieval.md of runs read in part with no rows: %v\n%s", err, md)
	}
	code, out, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", person, "--reason", "crisis",
		"--out", filepath.Join(dir, "in-part-text"), "--skip-unreadable")
	if code != exitVerification || !strings.Contains(out, "No archive run that could be read holds rows for ") ||
		!strings.Contains(out, "batch all run "+first+", read without all/"+first+"/") {
		t.Errorf("every run read in part, as text: exit %d:\n%s%s", code, out, stderr)
	}

	// With no run that can be read, there is nothing to give.
	damage(filepath.Join(runsDir, second, archive.CatalogFile))
	damage(filepath.Join(runsDir, first, archive.CatalogFile))
	if code, _, stderr := retrieve("none", "--skip-unreadable"); code != exitError || strings.Contains(stderr, "%!") ||
		!strings.Contains(stderr, "no archive run searched could be read as written (all/"+second+", all/"+first+"); the newest: ") {
		t.Errorf("every run damaged: exit %d: %s", code, stderr)
	}
}

// TestRetrieveADocumentWithTheLongestName: FAILINIMI holds up to 255
// characters, which with the id before it is more than a file system
// takes; the retrieval failed whole ("file name too long"). The document
// is now written under a shortened name, byte for byte.
func TestRetrieveADocumentWithTheLongestName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 40, 9)
	keys := genKeys(t, dir)
	conn, doc, proceeding := firstDocument(t, db)
	name := string([]rune(strings.Repeat("otsus_õppetoetus_", 15))[:251]) + ".pdf" // 255 characters
	if _, err := conn.Exec(`UPDATE DOKUMENT SET FAILINIMI = ? WHERE DOKUMENT_ID = ?`, name, doc); err != nil {
		t.Fatal(err)
	}
	var content []byte
	if err := conn.QueryRow(`SELECT SISU FROM DOKUMENT WHERE DOKUMENT_ID = ?`, doc).Scan(&content); err != nil {
		t.Fatal(err)
	}
	to := "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "case")
	if code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--proceeding", strconv.FormatInt(proceeding, 10),
		"--reason", "a long name", "--out", out, "-q"); code != 0 {
		t.Fatalf("retrieve: exit %d: %s", code, stderr)
	}
	file := filepath.Join(out, "documents", archive.DocumentName(doc, name))
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("%s: %d bytes (%v), want the document's %d", file, len(got), err, len(content))
	}
	if page, err := os.ReadFile(filepath.Join(out, "retrieval.md")); err != nil || !strings.Contains(string(page), name) {
		t.Errorf("retrieval.md does not give the whole name: %v", err)
	}
}

// firstDocument opens the STAR1 at db for the test and gives the id and
// the proceeding of its first document that has content.
func firstDocument(t *testing.T, db string) (conn *sql.DB, doc, proceeding int64) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.QueryRow(`SELECT DOKUMENT_ID, MENETLUS_ID FROM DOKUMENT WHERE length(SISU) > 0 ORDER BY DOKUMENT_ID LIMIT 1`).Scan(&doc, &proceeding); err != nil {
		t.Fatal(err)
	}
	return conn, doc, proceeding
}
