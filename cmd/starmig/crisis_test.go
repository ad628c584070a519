package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/testenv"
)

// TestSTAR2IsRebuiltFromTheArchive is the crisis at home: STAR1 is gone,
// and STAR2 with it. The archive abroad is restored into PostgreSQL, and
// the restored STAR1 is migrated again. STAR2 and its bookkeeping come out
// exactly as a migration from STAR1 itself made them, text PostgreSQL
// cannot hold (NUL, bytes that are not UTF-8) included, in free text and
// in codes, and the deep
// reconciliation against the restored STAR1 holds.
func TestSTAR2IsRebuiltFromTheArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 150, 31, "--rate-nul", "0.2")
	// One case plan's goals are not UTF-8 at all.
	w, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`UPDATE JUHTUMIPLAAN SET EESMARGID = CAST(X'4162FF6320C3A4' AS TEXT) WHERE PLAAN_ID = (SELECT MIN(PLAAN_ID) FROM JUHTUMIPLAAN)`); err != nil {
		t.Fatal(err)
	}
	// Codes with a NUL or a byte that is not UTF-8: one mapped in the form
	// reports show it, municipalities left unmapped. The pre-flight and
	// the reconciliation read them by SQL, without exact_text.
	for _, q := range []string{
		`UPDATE MENETLUS SET LIIK = 'TOETUS' || char(0) WHERE MENETLUS_ID = (SELECT MIN(MENETLUS_ID) FROM MENETLUS WHERE LIIK = 'TOETUS')`,
		`UPDATE MENETLUS SET KOV_KOOD = KOV_KOOD || char(0) WHERE MENETLUS_ID = (SELECT MAX(MENETLUS_ID) FROM MENETLUS)`,
		`UPDATE ISIK SET KOV_KOOD = CAST(X'3031FE' AS TEXT) WHERE ISIK_ID = (SELECT MIN(ISIK_ID) FROM ISIK)`,
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	cls, err := os.OpenFile(filepath.Join(dir, "mappings", "classifiers.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cls.WriteString(`MENETLUSE_LIIK,TOETUS\u0000,proceeding_type,benefit,Benefit` + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := cls.Close(); err != nil {
		t.Fatal(err)
	}
	keys := genKeys(t, dir)
	to := "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive: exit %d: %s", code, stderr)
	}
	crisis := testenv.Postgres(t)
	if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", crisis, "--reason", "crisis", "-q"); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	conn, err := pgx.Connect(ctx, crisis)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exact int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM star1_archive.exact_text").Scan(&exact); err != nil || exact < 2 {
		t.Fatalf("the restore holds %d values in exact_text (%v): the test needs text PostgreSQL cannot hold", exact, err)
	}

	restored := crisis + "&schema=star1_archive"
	if !strings.Contains(crisis, "?") {
		restored = crisis + "?schema=star1_archive"
	}
	migrate := func(source string) string {
		target := star2(t)
		if code, _, stderr := run(t, ctx, "migrate", "--source", source, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "all", "--as-of", "2026-11-01", "-q"); code != 0 {
			t.Fatalf("migrate from %s: exit %d: %s", source, code, stderr)
		}
		return target
	}
	fromSTAR1, fromArchive := migrate("sqlite:"+db), migrate(restored)
	digest := func(target string) map[string]string {
		c, err := pgx.Connect(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		d := testenv.STAR2Digest(t, c)
		for name, q := range map[string]string{
			"quarantine": "SELECT md5(string_agg(concat_ws('|', star1_table, star1_id, rule, detail, original), ',' ORDER BY star1_table, star1_id)) FROM migration.quarantine",
			"correction": "SELECT md5(string_agg(c::text, ',' ORDER BY c::text)) FROM (SELECT star1_table, star1_id, column_name, original, corrected, rule FROM migration.correction) c",
		} {
			var h string
			if err := c.QueryRow(ctx, q).Scan(&h); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			d[name] = h
		}
		return d
	}
	before := digest(fromSTAR1)
	testenv.SameDigest(t, "STAR2 migrated from the restored archive", before, digest(fromArchive))
	// Once STAR1 is switched off, a batch migrated from it is run again
	// from the restored archive (a mapping added later, say): the same
	// rows are the same rows, whatever text each database gives money in.
	code, out, stderr := run(t, ctx, "migrate", "--source", restored, "--target", fromSTAR1, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "all", "--as-of", "2026-11-01", "--json")
	var sum batch.Summary
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil {
		t.Fatalf("migrate again from the restored archive: exit %d, %v: %s", code, err, stderr)
	}
	for name, s := range sum.Tables {
		if s.Inserted+s.Updated+s.Conflicts+s.Gone != 0 {
			t.Errorf("%s, run again from the restored archive: %+v, want every row unchanged", name, *s)
		}
	}
	testenv.SameDigest(t, "STAR2 after a run again from the restored archive", before, digest(fromSTAR1))
	if code, out, stderr := run(t, ctx, "reconcile", "--source", restored, "--target", fromArchive, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "all", "--deep"); code != 0 {
		t.Errorf("reconcile --deep against the restored archive: exit %d\n%s%s", code, out, stderr)
	}

	// A restore of chosen municipalities lacks rows its own rows depend on
	// (decisions in force elsewhere, relations to other persons): read as
	// STAR1 it would load another batch than STAR1 gives, so it is refused.
	var kov string
	if err := conn.QueryRow(ctx, "SELECT kov_kood FROM star1_archive.menetlus GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").Scan(&kov); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", crisis, "--kov", kov, "--schema", "part", "--reason", "crisis", "-q"); code != 0 {
		t.Fatalf("restore --kov %s: exit %d: %s", kov, code, stderr)
	}
	part := strings.Replace(restored, "schema=star1_archive", "schema=part", 1)
	code, _, stderr = run(t, ctx, "migrate", "--source", part, "--target", star2(t), "--mappings", filepath.Join(dir, "mappings"), "--batch", "part", "--kov", kov, "-q")
	if code != exitError || !strings.Contains(stderr, "restore of municipalities "+kov+" only") || !strings.Contains(stderr, "restore without --kov") {
		t.Errorf("migrate from a restore of municipality %s: exit %d: %s", kov, code, stderr)
	}

	// A schema the database does not hold is named, with where to look.
	wrong := strings.Replace(restored, "schema=star1_archive", "schema=star1_archiv", 1)
	code, _, stderr = run(t, ctx, "migrate", "--source", wrong, "--target", fromArchive, "--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "-q")
	if code != exitError || !strings.Contains(stderr, `no schema "star1_archiv"`) || !strings.Contains(stderr, "?schema=") {
		t.Errorf("migrate from a schema that is not there: exit %d: %s", code, stderr)
	}
}

// TestRestoreRefusedByTheDatabaseSaysRunAgain: a restore that the
// database refuses (here: a role that may not create a schema) fails
// with the database's error and says that nothing was restored and the
// same command is to be run again; it does not blame the archive.
func TestRestoreRefusedByTheDatabaseSaysRunAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, keys, to := folderArchive(t, dir, 100, 9)
	norights := testenv.RoleWithoutCreate(t, testenv.Postgres(t))
	code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", norights, "--reason", "crisis", "-q")
	for _, want := range []string{"(SQLSTATE 42501)", "Nothing was restored", "run the same command again"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("restore as a role without CREATE: exit %d, %q; want exit 1 saying %q", code, stderr, want)
		}
	}
}
