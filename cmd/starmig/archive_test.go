package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
)

// s3Bucket makes a MinIO bucket and points the STARMIG_S3_* variables at it.
func s3Bucket(t testing.TB, lock bool) string {
	s3 := testenv.MinIO(t)
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Name("cmd-")
	if err := client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{ObjectLocking: lock}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STARMIG_S3_ENDPOINT", "http://"+s3.Endpoint)
	t.Setenv("STARMIG_S3_ACCESS_KEY", s3.AccessKey)
	t.Setenv("STARMIG_S3_SECRET_KEY", s3.SecretKey)
	return "s3://" + name + "/star1"
}

func TestMigrateArchiveRetrieveRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 3)
	keys := genKeys(t, dir)
	secretKey, _ := os.ReadFile(filepath.Join(keys, "identity.txt"))
	to := s3Bucket(t, true)
	target := star2(t)
	code, out, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "all", "--as-of", "2026-11-01", "--archive", to, "--keys", keys, "--retention", "10y", "--json")
	if code != 0 {
		t.Fatalf("migrate --archive: exit %d: %s", code, stderr)
	}
	var sum struct {
		Archive archive.Stats `json:"archive"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Archive.Rows == 0 {
		t.Fatalf("migrate --archive output: %v %s", err, out)
	}
	// Monitoring reads the fields by their names: one style throughout.
	var fields struct {
		Tables  map[string]map[string]any `json:"tables"`
		Archive map[string]any            `json:"archive"`
	}
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	for what, obj := range map[string]map[string]any{"tables.ISIK": fields.Tables["ISIK"], "archive": fields.Archive} {
		if len(obj) == 0 {
			t.Errorf("migrate --json has no %s", what)
		}
		for k := range obj {
			if k != strings.ToLower(k) {
				t.Errorf("migrate --json: %s.%s is not in the snake case of the other fields", what, k)
			}
		}
	}
	// Retrieval by personal code: JSON, Markdown, documents, on record.
	code, out, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db),
		"--reason", "test of retrieval", "--operator", "archivist-1", "--out", filepath.Join(dir, "r1"), "--json")
	if code != 0 {
		t.Fatalf("retrieve: exit %d: %s", code, stderr)
	}
	var res archive.RetrievalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Found || len(res.Runs[0].Tables["ISIK"]) == 0 {
		t.Fatalf("retrieve output: %v %s", err, out)
	}
	for _, f := range []string{"retrieval.json", "retrieval.md", "retrieval.html"} {
		if _, err := os.Stat(filepath.Join(dir, "r1", f)); err != nil {
			t.Error(err)
		}
	}
	// The page holds the person's rows in tables, and links the documents.
	if page, err := os.ReadFile(filepath.Join(dir, "r1", "retrieval.html")); err != nil ||
		!strings.Contains(string(page), "<td>"+firstCode(t, db)+"</td>") || (len(res.Docs) > 0 && !strings.Contains(string(page), `<a href="documents/`)) {
		t.Errorf("retrieval.html: %v\n%s", err, page)
	}
	// Spaces around the code, as pasted from a letter, find the same rows.
	code, out, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", " "+firstCode(t, db)+"\t",
		"--reason", "test of retrieval", "--out", filepath.Join(dir, "r1-pasted"), "--json")
	var pasted archive.RetrievalResult
	if err := json.Unmarshal([]byte(out), &pasted); code != 0 || err != nil || !pasted.Found || len(pasted.Runs[0].Tables["ISIK"]) != len(res.Runs[0].Tables["ISIK"]) {
		t.Errorf("retrieve with spaces around the code: exit %d, %v: %s %s", code, err, out, stderr)
	}
	if code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", "  ", "--reason", "none"); code != exitUsage {
		t.Errorf("retrieve --person of spaces: exit %d: %s", code, stderr)
	}
	// A folder that holds a retrieval already is refused, before anything
	// is read or put on record: the two would be mixed.
	if code, _, stderr := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", firstCode(t, db),
		"--reason", "again", "--out", filepath.Join(dir, "r1")); code != exitUsage || !strings.Contains(stderr, "is not empty (documents, retrieval.html, retrieval.json") {
		t.Errorf("retrieve into a used folder: exit %d: %s", code, stderr)
	}
	// A code not in the archive says so, and is on record too.
	code, out, stderr = run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", "39901019999",
		"--reason", "a code that is not there", "--out", filepath.Join(dir, "r2"))
	if code != 0 || !strings.Contains(out, "holds no rows") {
		t.Fatalf("absent code: exit %d: %s %s", code, out, stderr)
	}
	if !strings.Contains(out, "39901019999 is not a valid personal code (check digit is 9, want 2): mistyped?") {
		t.Errorf("absent code with a wrong check digit: no hint: %s", out)
	}
	// No reason, no retrieval.
	if code, _, _ := run(t, ctx, "retrieve", "--archive", to, "--keys", keys, "--person", "39901019999"); code != exitUsage {
		t.Errorf("retrieve without a reason: exit %d", code)
	}
	ids, _ := archive.ReadIdentities(filepath.Join(keys, "identity.txt"), nil)
	st, _ := archive.OpenStore(to, os.Getenv)
	entries, err := archive.ReadAudit(ctx, st, ids)
	if err != nil || len(entries) != 3 {
		t.Fatalf("audit: %d entries, %v", len(entries), err)
	}
	if e := entries[0]; e.Operator != "archivist-1" || e.Reason != "test of retrieval" || !e.Found || e.Rows == 0 || e.Action != "retrieve" {
		t.Errorf("first audit entry: %+v", e)
	}
	if e := entries[2]; e.Found || !strings.Contains(e.Query, "39901019999") {
		t.Errorf("third audit entry: %+v", e)
	}
	// The audit entries are locked like the bundles.
	st.List(ctx, archive.AuditPrefix, func(o archive.ObjectInfo) error {
		if o.Mode != "COMPLIANCE" {
			t.Errorf("audit entry %s not locked: %+v", o.Key, o)
		}
		return nil
	})
	// The operators' verification, with the public key only: clean.
	for _, level := range []string{"list", "sample", "full"} {
		code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", filepath.Join(keys, "signing.pub"), "--level", level,
			"--report", filepath.Join(dir, "verify-"+level+".md"))
		if code != 0 || !strings.Contains(out, "No findings") {
			t.Fatalf("verify %s: exit %d: %s %s", level, code, out, stderr)
		}
	}
	// Restore into PostgreSQL. A mistyped or empty --kov is refused first.
	restoreTo := testenv.Postgres(t)
	for kov, want := range map[string]string{"9999": "--kov 9999: not a municipality code", ",": `--kov ",": no code in it`} {
		if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", restoreTo, "--kov", kov); code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("restore --kov %s: exit %d: %s", kov, code, stderr)
		}
	}
	code, out, stderr = run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", restoreTo, "--json")
	if code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	var rs archive.RestoreStats
	if err := json.Unmarshal([]byte(out), &rs); err != nil || rs.Tables["ISIK"].Rows == 0 {
		t.Fatalf("restore output: %v %s", err, out)
	}
	// No key material in any output.
	for _, s := range []string{out, stderr} {
		if strings.Contains(s, "AGE-SECRET-KEY") || strings.Contains(s, strings.TrimSpace(string(secretKey))) {
			t.Fatal("a secret key was printed")
		}
	}
}

// TestBatchesAreOneHistoryOfSTAR1: every archive run holds all of STAR1,
// whichever batch wrote it, so a retrieval answers from the newest run of
// any batch (not once per batch), looks back through the other batches'
// runs for rows STAR1 no longer holds, and a restore without --batch takes
// the newest run.
func TestBatchesAreOneHistoryOfSTAR1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 5)
	keys := genKeys(t, dir)
	to := "file://" + filepath.Join(dir, "archive")
	archiveAs := func(batch string) {
		t.Helper()
		if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", batch, "--keys", keys, "-q"); code != 0 {
			t.Fatalf("archive --batch %s: exit %d: %s", batch, code, stderr)
		}
	}
	person := firstCode(t, db)
	retrieve := func(out string, extra ...string) archive.RetrievalResult {
		t.Helper()
		args := append([]string{"retrieve", "--archive", to, "--keys", keys, "--person", person, "--reason", "court request",
			"--out", filepath.Join(dir, out), "--json"}, extra...)
		code, stdout, stderr := run(t, ctx, args...)
		var res archive.RetrievalResult
		if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil {
			t.Fatalf("retrieve %v: exit %d, %v: %s", extra, code, err, stderr)
		}
		return res
	}
	archiveAs("tallinn")
	archiveAs("tartu")
	only := retrieve("tallinn", "--batch", "tallinn")
	res := retrieve("newest")
	if len(res.Runs) != 1 || res.Runs[0].Batch != "tartu" || len(res.Runs[0].Tables["ISIK"]) == 0 ||
		len(res.Runs[0].Tables["ISIK"]) != len(only.Runs[0].Tables["ISIK"]) || len(res.Runs[0].Tables["MENETLUS"]) != len(only.Runs[0].Tables["MENETLUS"]) {
		t.Fatalf("two batches: the person's rows came from %s, want once, from the newest run (batch tartu)", runsOf(res))
	}

	// STAR1 deletes the person outright; a third batch's run no longer
	// holds them, the run of batch tartu before it does.
	src, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Exec("DELETE FROM ISIK WHERE ISIKUKOOD = ?", person); err != nil {
		t.Fatal(err)
	}
	archiveAs("parnu")
	res = retrieve("after-delete")
	if len(res.Runs) != 2 || res.Runs[0].Batch != "parnu" || len(res.Runs[0].Tables) != 0 ||
		res.Runs[1].Batch != "tartu" || res.Runs[1].NewestRun != res.Runs[0].Run || len(res.Runs[1].Tables["ISIK"]) == 0 || !res.Earlier {
		t.Errorf("deleted from STAR1: %s, want none in batch parnu's run, then the earlier run of batch tartu", runsOf(res))
	}

	code, out, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", testenv.Postgres(t))
	if code != 0 || !strings.Contains(out, "Restored batch parnu run ") || !strings.Contains(out, "the other batches of the archive (tallinn, tartu) hold earlier runs") {
		t.Errorf("restore without --batch: exit %d\n%s%s", code, out, stderr)
	}

	// A damaged catalog of an earlier run is no reason not to restore the
	// newest; a damaged catalog of the newest says how to take another.
	damage := func(batch string) {
		t.Helper()
		cats, _ := filepath.Glob(filepath.Join(dir, "archive", "batches", batch, "*", archive.CatalogFile))
		if len(cats) != 1 {
			t.Fatalf("batch %s: catalogs %v", batch, cats)
		}
		body, err := os.ReadFile(cats[0])
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(cats[0], 0o644)
		if err := os.WriteFile(cats[0], bytes.Replace(body, []byte(`"batch"`), []byte(`"Batch"`), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damage("tallinn")
	if code, out, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", testenv.Postgres(t), "--schema", "despite_tallinn"); code != 0 || !strings.Contains(out, "Restored batch parnu run ") {
		t.Errorf("restore with batch tallinn's catalog damaged: exit %d\n%s%s", code, out, stderr)
	}
	if again := retrieve("despite-tallinn"); runsOf(again) != runsOf(res) {
		t.Errorf("retrieval with batch tallinn's catalog damaged: %s, want %s", runsOf(again), runsOf(res))
	}
	damage("parnu")
	if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", testenv.Postgres(t), "--schema", "newest_damaged"); code != exitError ||
		!strings.Contains(stderr, "signature does not verify") || !strings.Contains(stderr, "--batch takes the newest run of another: tallinn, tartu") {
		t.Errorf("restore with the newest run's catalog damaged: exit %d: %s", code, stderr)
	}
}

// runsOf names the runs of a retrieval with their row counts, for a
// failure message.
func runsOf(res archive.RetrievalResult) string {
	var b strings.Builder
	for _, r := range res.Runs {
		n := 0
		for _, rows := range r.Tables {
			n += len(rows)
		}
		fmt.Fprintf(&b, "[batch %s run %s newest %q: %d rows] ", r.Batch, r.Run, r.NewestRun, n)
	}
	return b.String()
}

func TestArchiveRefusesBucketWithoutLock(t *testing.T) {
	ctx := context.Background()
	keys := genKeys(t, t.TempDir())
	to := s3Bucket(t, false)
	code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", to, "--batch", "all", "--keys", keys)
	if code != exitError || !strings.Contains(stderr, "Object Lock") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func firstCode(t *testing.T, db string) string {
	code, err := demoPerson(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestVerifyExitCodes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := genKeys(t, dir)
	arch := filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", "file://"+arch, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	pub := filepath.Join(keys, "signing.pub")
	code, out, stderr := run(t, ctx, "verify", "--archive", "file://"+arch, "--sign-pub", pub, "--level", "full")
	if code != 0 || !strings.Contains(out, ": 1 run, 1 bundle, ") {
		t.Fatalf("clean: exit %d %s %s", code, out, stderr)
	}
	// The sample's flags are checked with the level, not ignored.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sample", "0"}, "--sample 0: want a percentage above 0 and at most 100"},
		{[]string{"--sample", "150"}, "--sample 150: want a percentage"},
		{[]string{"--level", "list", "--sample", "5"}, "not of --level list"},
		{[]string{"--level", "full", "--budget", "1MiB"}, "not of --level full"},
		{[]string{"--sample", "5", "--budget", "1MiB"}, "give one"},
		{[]string{"--parallel", "0"}, "--parallel 0: want at least 1"},
		{[]string{"--grace", "-1h"}, "--grace -1h0m0s: want 0 or more"},
		{[]string{"--seed", "-4"}, "--seed -4"},
	} {
		code, _, stderr := run(t, ctx, append([]string{"verify", "--archive", "file://" + arch, "--sign-pub", pub}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("verify %v: exit %d: %s; want exit %d saying %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
	// --sample or --budget alone means level sample.
	for _, size := range [][]string{{"--sample", "20"}, {"--budget", "1MiB"}} {
		code, out, stderr := run(t, ctx, append([]string{"verify", "--archive", "file://" + arch, "--sign-pub", pub}, size...)...)
		if code != 0 || !strings.Contains(out, "Verification (sample)") || strings.Contains(out, " 0 hashed") {
			t.Errorf("verify %v: exit %d: %s %s; want a sample", size, code, out, stderr)
		}
	}
	// A missing object: exit 4, the object named, counted as one finding.
	var victim string
	filepath.Walk(arch, func(p string, fi os.FileInfo, err error) error {
		if strings.HasSuffix(p, "bag-info.txt") && victim == "" {
			victim = p
		}
		return nil
	})
	os.Remove(victim)
	code, out, _ = run(t, ctx, "verify", "--archive", "file://"+arch, "--sign-pub", pub, "--json")
	rel, _ := filepath.Rel(arch, victim)
	if code != exitVerification || !strings.Contains(out, filepath.ToSlash(rel)) {
		t.Fatalf("missing object: exit %d: %s", code, out)
	}
	if _, out, stderr := run(t, ctx, "verify", "--archive", "file://"+arch, "--sign-pub", pub); !strings.Contains(out, "\n1 finding:\n") || !strings.Contains(stderr, "1 finding in the archive") {
		t.Errorf("one missing object, told as: %s %s", out, stderr)
	}
	// The report to file: HTML when its name says so, naming the object.
	page := filepath.Join(t.TempDir(), "reports", "verify.html")
	if code, _, stderr := run(t, ctx, "verify", "--archive", "file://"+arch, "--sign-pub", pub, "--report", page); code != exitVerification {
		t.Fatalf("verify --report %s: exit %d: %s", page, code, stderr)
	}
	if b, err := os.ReadFile(page); err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), "<table>") ||
		!strings.Contains(string(b), filepath.ToSlash(rel)) {
		t.Errorf("HTML report: %v\n%s", err, b)
	}
	// Unreachable storage: exit 1, and it says so.
	t.Setenv("STARMIG_S3_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("STARMIG_S3_ACCESS_KEY", "a")
	t.Setenv("STARMIG_S3_SECRET_KEY", "b")
	code, _, stderr = run(t, ctx, "verify", "--archive", "s3://nowhere/x", "--sign-pub", pub)
	if code != exitError || !strings.Contains(stderr, "could not run") || strings.Contains(stderr, "missing") {
		t.Fatalf("unreachable: exit %d: %s", code, stderr)
	}
}

// A table of STAR1 that STAR1.md does not describe is read by no command,
// so an archive run that would leave out one holding rows is refused,
// before anything is written, until the engineer names it with
// --skip-table; the catalog then records it with its rows.
func TestATableSTAR1MdDoesNotDescribeIsLeftOutOnlyKnowingly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 30, 5)
	keys := genKeys(t, dir)
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE ISIK_VANA (ISIK_ID INTEGER, NIMI TEXT)",
		"INSERT INTO ISIK_VANA VALUES (1, 'Mari'), (2, 'Jaan')",
		"CREATE TABLE TYHI (X TEXT)",
	} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	sdb.Close()
	folder := filepath.Join(dir, "archive")
	archiveArgs := []string{"archive", "--source", "sqlite:" + db, "--to", "file://" + folder, "--batch", "all", "--keys", keys, "-q"}
	target := star2(t)
	migrateArgs := []string{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "all", "--as-of", "2026-11-01", "--archive", "file://" + folder, "--keys", keys, "-q"}

	for _, args := range [][]string{archiveArgs, migrateArgs} {
		code, _, stderr := run(t, ctx, args...)
		if code != exitError || !strings.Contains(stderr, "STAR1 holds tables that STAR1.md does not describe: ISIK_VANA (2 rows).") ||
			!strings.Contains(stderr, "--skip-table") || strings.Contains(stderr, "TYHI") {
			t.Errorf("%s: exit %d, %s; want exit %d naming ISIK_VANA, not the empty TYHI, and --skip-table", args[0], code, stderr, exitError)
		}
		for _, skip := range [][2]string{{"isik", "STAR1.md describes that table"}, {"ISIK_VAN", "STAR1 holds no such table (tables STAR1.md does not describe: ISIK_VANA, TYHI)"}} {
			code, _, stderr := run(t, ctx, append(args, "--skip-table", "ISIK_VANA", "--skip-table", skip[0])...)
			if code != exitUsage || !strings.Contains(stderr, "--skip-table "+skip[0]+": "+skip[1]) {
				t.Errorf("%s --skip-table %s: exit %d, %s; want exit %d saying %q", args[0], skip[0], code, stderr, exitUsage, skip[1])
			}
		}
	}
	if _, err := os.Stat(folder); !os.IsNotExist(err) {
		t.Errorf("refused runs wrote to the archive folder: %v", err)
	}
	var runs int
	if err := testenv.Connect(t, target).QueryRow(ctx, "SELECT count(*) FROM migration.run").Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != 0 {
		t.Errorf("refused migrations started %d runs in STAR2", runs)
	}

	code, stdout, stderr := run(t, ctx, append(archiveArgs[:len(archiveArgs)-1], "--skip-table", "isik_vana")...)
	want := "Left out of the archive, as STAR1.md does not describe them (recorded in the catalog): ISIK_VANA (2 rows), TYHI (0 rows)."
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("archive --skip-table isik_vana: exit %d, %s%s; want it to say %q", code, stdout, stderr, want)
	}
	t.Setenv("STARMIG_SKIP_TABLES", " ISIK_VANA ")
	code, stdout, stderr = run(t, ctx, migrateArgs[:len(migrateArgs)-1]...)
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("migrate with $STARMIG_SKIP_TABLES: exit %d, %s%s; want it to say %q", code, stdout, stderr, want)
	}
	catalogs, _ := filepath.Glob(filepath.Join(folder, "batches", "all", "*", "catalog.json"))
	if len(catalogs) != 2 {
		t.Fatalf("catalogs %v, want two", catalogs)
	}
	checkLeftOut := func(catalogs []string) {
		t.Helper()
		for _, p := range catalogs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var cat archive.Catalog
			if err := json.Unmarshal(b, &cat); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(cat.LeftOut); got != "[ISIK_VANA (2 rows) TYHI (0 rows)]" {
				t.Errorf("%s: left_out %s", p, got)
			}
		}
	}
	checkLeftOut(catalogs)
	// In a crisis, the restore says what the archive does not hold.
	code, stdout, stderr = run(t, ctx, "restore", "--archive", "file://"+folder, "--keys", keys, "--to", target, "--batch", "all")
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("restore: exit %d, %s%s; want it to say %q", code, stdout, stderr, want)
	}
	// An archive written from the restore, once STAR1 is gone, leaves the
	// same tables out, and says so, without --skip-table.
	restored := target + "&schema=star1_archive"
	if !strings.Contains(target, "?") {
		restored = target + "?schema=star1_archive"
	}
	again := filepath.Join(dir, "again")
	t.Setenv("STARMIG_SKIP_TABLES", "")
	code, stdout, stderr = run(t, ctx, "archive", "--source", restored, "--to", "file://"+again, "--batch", "crisis", "--keys", keys)
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("archive from the restore: exit %d, %s%s; want it to say %q", code, stdout, stderr, want)
	}
	if catalogs, _ = filepath.Glob(filepath.Join(again, "batches", "crisis", "*", "catalog.json")); len(catalogs) != 1 {
		t.Fatalf("catalogs of the archive from the restore: %v, want one", catalogs)
	}
	checkLeftOut(catalogs)
	// So does a retrieval: the record may have rows in ISIK_VANA.
	out := filepath.Join(dir, "r")
	code, stdout, stderr = run(t, ctx, "retrieve", "--archive", "file://"+folder, "--keys", keys, "--person", firstCode(t, db), "--reason", "test", "--out", out)
	if want := "left out tables STAR1.md does not describe: ISIK_VANA (2 rows). Rows of this record in them"; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("retrieve: exit %d, %s%s; want it to say %q", code, stdout, stderr, want)
	}
	report, err := os.ReadFile(filepath.Join(out, "retrieval.md"))
	if want := "It left out ISIK_VANA (2 rows): STAR1.md does not describe them"; err != nil || !strings.Contains(string(report), want) {
		t.Errorf("retrieval.md does not say %q: %v\n%s", want, err, report)
	}
	b, err := os.ReadFile(filepath.Join(out, "retrieval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res archive.RetrievalResult
	if err := json.Unmarshal(b, &res); err != nil || len(res.Runs) == 0 || fmt.Sprint(res.Runs[0].LeftOut) != "[ISIK_VANA (2 rows) TYHI (0 rows)]" {
		t.Errorf("retrieval.json: %v, runs %+v", err, res.Runs)
	}
}

// TestArchiveRefusesAFolderInsideAnArchive: a run's URL copied from a
// listing and given as --to would lock an archive inside the archive for
// its retention, and the folder above it a second archive. Each is a
// usage error, and nothing is written.
func TestArchiveRefusesAFolderInsideAnArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := genKeys(t, dir)
	to := "file://" + filepath.Join(dir, "arch")
	archiveTo := func(to string) (int, string) {
		code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", to, "--batch", "all", "--keys", keys, "--quiet")
		return code, stderr
	}
	if code, stderr := archiveTo(to); code != 0 {
		t.Fatalf("archive: exit %d: %s", code, stderr)
	}
	inside := to + "/batches/all"
	code, stderr := archiveTo(inside)
	want := "archive: " + inside + " is the folder batches/all inside the archive " + to + ": an archive written there would be locked inside that one; give the archive's own URL, " + to + ", or a folder outside it"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("archive --to a folder inside an archive: exit %d, %s; want exit %d and %q", code, stderr, exitUsage, want)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "arch", "batches", "all"))
	if err != nil || len(entries) != 1 {
		t.Errorf("the archive's batch folder holds %v (%v), want its one run", entries, err)
	}
	// So is the folder above it, for a first run.
	code, stderr = archiveTo("file://" + dir)
	want = "archive: file://" + dir + " holds no archive run, and the folder below it holds the archive " + to + ": a run written here would start a second archive"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("archive --to the folder above an archive: exit %d, %s; want exit %d and %q", code, stderr, exitUsage, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "batches")); err == nil {
		t.Error("the refused run wrote into the folder above the archive")
	}
	// migrate --archive is refused so before it reads STAR1: no batch,
	// no run in the bookkeeping.
	target := star2(t)
	db := genSTAR1(t, dir, 50, 2)
	code, _, stderr = run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "all", "--as-of", "2026-11-01", "--archive", inside, "--keys", keys, "-q")
	if want := "is the folder batches/all inside the archive " + to; code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("migrate --archive a folder inside an archive: exit %d, %s; want exit %d and %q", code, stderr, exitUsage, want)
	}
	code, out, _ := run(t, ctx, "status", "--target", target, "--json")
	var res statusResult
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || len(res.Batches) != 0 {
		t.Errorf("after the refused migrate, status: exit %d, %v: %s", code, err, out)
	}
}

// TestArchiveLinkDownInAMigration cuts the link to the storage abroad in
// the middle of `migrate --archive`: the run stops with exit 1 and says
// the storage failed. Run again with the link back, the batch completes
// with a whole archive run, and the archive verifies clean: the run that
// was cut off is accounted for, not a finding.
func TestArchiveLinkDownInAMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 7)
	keys := genKeys(t, dir)
	to := s3Bucket(t, true)
	s3 := testenv.MinIO(t)
	whole := testenv.CutAfter(t, s3.Endpoint, -1)
	t.Setenv("STARMIG_S3_ENDPOINT", "http://"+whole.Addr)
	if code, _, stderr := run(t, ctx, "archive", "-q", "--source", "sqlite:"+db, "--to", to+"-measure", "--batch", "all", "--keys", keys); code != 0 {
		t.Fatalf("archive through the whole link: exit %d: %s", code, stderr)
	}
	dsn := star2(t)
	migrate := func() (int, string) {
		code, _, stderr := run(t, ctx, "migrate", "-q", "--source", "sqlite:"+db, "--target", dsn, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "all", "--as-of", "2026-11-01", "--archive", to, "--keys", keys)
		return code, stderr
	}
	cut := testenv.CutAfter(t, s3.Endpoint, whole.Bytes()/2)
	t.Setenv("STARMIG_S3_ENDPOINT", "http://"+cut.Addr)
	// The link stays down: a write that waited for it (10 minutes by
	// default) would only make the test wait.
	t.Setenv("STARMIG_WAIT_FOR_STORAGE", "0")
	code, stderr := migrate()
	t.Logf("cut after %d of %d bytes: exit %d: %s", cut.Bytes(), whole.Bytes(), code, stderr)
	if code != exitError || !strings.Contains(stderr, "archive: put ") || !strings.Contains(stderr, "an archive run it started is left unfinished, and the next run writes its archive run anew") {
		t.Errorf("migrate --archive with the link cut: exit %d: %s", code, stderr)
	}
	t.Setenv("STARMIG_S3_ENDPOINT", "http://"+s3.Endpoint)
	if code, stderr := migrate(); code != 0 {
		t.Fatalf("migrate --archive with the link back: exit %d: %s", code, stderr)
	}
	pub := filepath.Join(keys, "signing.pub")
	if code, out, stderr := run(t, ctx, "verify", "--archive", to, "--sign-pub", pub, "--level", "full"); code != 0 {
		t.Errorf("verify full after the run cut off and the one that completed: exit %d: %s%s", code, out, stderr)
	}
}
