package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/load"
)

// TestResumeAfterKill kills `starmig migrate --archive` with SIGKILL at
// several points, runs the same batch again, and checks that it ends with
// exactly the STAR2 contents and outcomes of an uninterrupted run, and with
// an archive whose signed catalog holds every STAR1 row and passes a full
// verification.
func TestResumeAfterKill(t *testing.T) {
	testenv.PostgresServer(t)
	dir := t.TempDir()
	bin := buildStarmig(t, dir)
	db := filepath.Join(dir, "star1.db")
	out, err := exec.Command(bin, "gen", "--json", "--out", db, "--persons", "3000", "--seed", "31", "--as-of", "2026-11-01", "--doc-size", "400").Output()
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	var star1 genResult
	if err := json.Unmarshal(out, &star1); err != nil {
		t.Fatal(err)
	}
	keys := genKeys(t, dir)
	migrate := func(dsn, arch string, env ...string) (*os.ProcessState, string) {
		return runBinary(bin, env, "migrate", "--quiet", "--source", "sqlite:"+db, "--target", dsn,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01",
			"--archive", "file://"+arch, "--keys", keys)
	}
	fresh := func() (string, *pgx.Conn) {
		dsn := testenv.Postgres(t)
		conn := testenv.Connect(t, dsn)
		if code, _, stderr := run(t, context.Background(), "schema", "apply", "--quiet", "--target", dsn); code != 0 {
			t.Fatal(stderr)
		}
		return dsn, conn
	}
	refDSN, refConn := fresh()
	if st, out := migrate(refDSN, t.TempDir()); st.ExitCode() != 0 {
		t.Fatalf("uninterrupted run: %s", out)
	}
	want := testenv.STAR2Digest(t, refConn)

	// plan-copy kills the run after a chunk of its plan is copied, while
	// STAR1 is still read; outcomes, after one step of the outcome rules,
	// while the next may be running on the run's second session (which the
	// server then cancels). archive-put kills a write to the archive folder
	// half-way (an early and a later one); archive-sign, a run whose
	// catalog is stored and not yet signed.
	for _, point := range []string{"extract:20000", "plan-copy:7", "outcomes:2", "copy:1", "copy:9", "bookkeeping:14", "archive-put:3", "archive-put:15", "archive-sign:1", "reconcile:1"} {
		t.Run(strings.ReplaceAll(point, ":", "-"), func(t *testing.T) {
			dsn, conn := fresh()
			arch := t.TempDir()
			spool := t.TempDir() // where the archive writer spools payload files
			st, out := migrate(dsn, arch, faultpoint.Env+"="+point, "TMPDIR="+spool)
			mustBeKilled(t, st, point, out)
			for _, dir := range []string{spool, filepath.Join(arch, ".starmig-tmp")} {
				if left, _ := os.ReadDir(dir); len(left) > 0 {
					t.Errorf("the killed run left %d files in %s, %s first", len(left), dir, left[0].Name())
				}
			}
			if st, out := migrate(dsn, arch); st.ExitCode() != 0 {
				t.Fatalf("the run after the kill: %s", out)
			}
			testenv.SameDigest(t, "after a kill at "+point, want, testenv.STAR2Digest(t, conn))
			wholeArchive(t, arch, keys, star1.Rows)
			var states string
			if err := conn.QueryRow(context.Background(), "SELECT string_agg(state, ',' ORDER BY id) FROM migration.run").Scan(&states); err != nil || states != "failed,completed" {
				t.Errorf("runs: %q %v, want the killed one failed and the second completed", states, err)
			}
			var work int
			if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'migration_work_%'").Scan(&work); err != nil || work != 0 {
				t.Errorf("%d work schemas left behind (%v)", work, err)
			}
		})
	}
}

// wholeArchive checks that the archive folder's signed catalog of batch
// "all" holds rows rows of each STAR1 table, and that a full verification
// finds nothing.
func wholeArchive(t *testing.T, arch, keys string, rows map[string]int64) {
	t.Helper()
	ctx := context.Background()
	pub := filepath.Join(keys, "signing.pub")
	if code, out, stderr := run(t, ctx, "verify", "--archive", "file://"+arch, "--sign-pub", pub, "--level", "full"); code != 0 {
		t.Errorf("verify full: exit %d: %s %s", code, out, stderr)
	}
	key, err := archive.ReadSigningPub(pub)
	if err != nil {
		t.Fatal(err)
	}
	st, err := archive.NewFileStore(arch)
	if err != nil {
		t.Fatal(err)
	}
	cats, err := archive.LatestCatalogs(ctx, st, key, "all")
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range rows {
		if got := cats[0].Tables[table].Rows; got != n {
			t.Errorf("archive: %s has %d rows, STAR1 %d", table, got, n)
		}
	}
}

// buildStarmig builds the starmig binary into dir and returns its path.
func buildStarmig(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "starmig")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestResumeARerunAfterKill kills a re-run of a batch, over a STAR1 that
// changed since the first run and a STAR2 changed in the meantime, with
// SIGKILL at several points, and runs it again; then the same for the run
// that applies the engineer's decisions on its conflicts. Each must end as
// an uninterrupted run does: the same STAR2 contents and outcomes, the
// same open conflicts and decisions, and the same findings of the deep
// reconciliation.
func TestResumeARerunAfterKill(t *testing.T) {
	testenv.PostgresServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildStarmig(t, dir)
	first := genSTAR1(t, dir, 3000, 37)
	changed := filepath.Join(dir, "star1-changed.db")
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// STAR1 goes on taking writes: edits, new rows, soft deletes and their
	// undoing, outright deletes, moves between municipalities, a code no
	// mapping knows, personal codes corrected and copied, money changed.
	s1, err := sql.Open("sqlite", changed)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE ISIK SET AADRESS = 'Uus tee ' || ISIK_ID, MUUDETUD = '2026-10-20 10:00:00' WHERE ISIK_ID % 25 = 0`,
		`UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID % 301 = 1`,
		`UPDATE ISIK SET KUSTUTATUD = 'E' WHERE KUSTUTATUD = 'J' AND ISIK_ID % 3 = 0`,
		`UPDATE ISIK SET KOV_KOOD = (SELECT MIN(KOV_KOOD) FROM MENETLUS) WHERE ISIK_ID % 193 = 2`,
		`UPDATE ISIK SET KOV_KOOD = '9999' WHERE ISIK_ID % 401 = 3`,
		`UPDATE ISIK SET ISIKUKOOD = (SELECT MIN(ISIKUKOOD) FROM ISIK i WHERE i.ISIK_ID > ISIK.ISIK_ID) WHERE ISIK_ID % 601 = 4`,
		`UPDATE MENETLUS SET VASTUTAJA = 'kadri.kask' WHERE MENETLUS_ID % 19 = 0`,
		`UPDATE MENETLUS SET STAATUS = 'L', LOPP_KP = '2015-01-01 00:00:00' WHERE MENETLUS_ID % 151 = 5`,
		`INSERT INTO MENETLUS SELECT MENETLUS_ID + 900000, NULL, ISIK_ID, KOV_KOOD, 'TEENUS', 'A', '2026-10-29 00:00:00', NULL, 'jaan.saar', NULL FROM MENETLUS WHERE MENETLUS_ID % 23 = 0`,
		`DELETE FROM TOIMING WHERE TOIMING_ID % 41 = 0`,
		`DELETE FROM MENETLUS WHERE MENETLUS_ID % 173 = 6`,
		`UPDATE MAKSE SET SUMMA = round(SUMMA + 1, 2) WHERE MAKSE_ID % 43 = 0`,
	} {
		if _, err := s1.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s1.Close()

	migrate := func(dsn, db string, env ...string) (*os.ProcessState, string) {
		return runBinary(bin, env, "migrate", "--quiet", "--source", "sqlite:"+db, "--target", dsn,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01")
	}
	// base is STAR2 after the first run, changed since: rows STAR1
	// changed too (conflicts), amounts, rows deleted.
	base := star2(t)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := migrate(base, first); st.ExitCode() != 0 {
		t.Fatalf("first run: %s", out)
	}
	for _, q := range []string{
		`UPDATE star2.person p SET address = 'Set in STAR2' FROM migration.row_map rm
		  WHERE rm.star1_table = 'ISIK' AND rm.star2_id = p.id AND rm.star1_id % 50 IN (0, 1)`,
		`UPDATE star2.proceeding p SET responsible_user = 'tiina.social' FROM migration.row_map rm
		  WHERE rm.star1_table = 'MENETLUS' AND rm.star2_id = p.id AND rm.star1_id % 38 = 0`,
		`UPDATE star2.payment p SET amount_eur = p.amount_eur + 0.01 FROM migration.row_map rm
		  WHERE rm.star1_table = 'MAKSE' AND rm.star2_id = p.id AND rm.star1_id % 59 = 0`,
		`DELETE FROM star2.activity a USING migration.row_map rm
		  WHERE rm.star1_table = 'TOIMING' AND rm.star2_id = a.id AND rm.star1_id % 83 = 0`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx) // base is copied for each case
	// after is what the engineer sees once the re-run has completed.
	type after struct {
		digest    map[string]string
		conflicts []string
		findings  string
	}
	openConflicts := func(t *testing.T, dsn string) []load.Conflict {
		t.Helper()
		code, out, stderr := run(t, ctx, "resolve", "--target", dsn, "--batch", "all", "--list", "--json")
		if code != 0 {
			t.Fatalf("resolve --list: exit %d: %s", code, stderr)
		}
		var open []load.Conflict
		if err := json.Unmarshal([]byte(out), &open); err != nil {
			t.Fatal(err)
		}
		return open
	}
	look := func(t *testing.T, dsn string, conn *pgx.Conn) after {
		t.Helper()
		a := after{digest: testenv.STAR2Digest(t, conn)}
		for _, c := range openConflicts(t, dsn) {
			a.conflicts = append(a.conflicts, fmt.Sprintf("%s:%d %s %s %s %s", c.Table, c.Star1ID, c.Star2ID, c.Kind, c.Detail, c.Decision))
		}
		code, out, stderr := run(t, ctx, "reconcile", "--source", "sqlite:"+changed, "--target", dsn,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--deep", "--json")
		if code != 0 && code != 3 {
			t.Fatalf("reconcile --deep: exit %d: %s", code, stderr)
		}
		var rep struct {
			Findings []batch.Finding `json:"findings"`
			More     int64           `json:"findings_not_listed"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		// A finding names the run that left a row; a killed run is one
		// run more.
		runNo := regexp.MustCompile(`\(run [0-9]+\)`)
		var found []string
		for _, f := range rep.Findings {
			found = append(found, fmt.Sprintf("%s:%d %s %s", f.Table, f.Star1ID, f.Kind, runNo.ReplaceAllString(f.Detail, "(run N)")))
		}
		a.findings = strings.Join(found, "\n") + fmt.Sprintf("\nand %d more", rep.More)
		return a
	}
	// killed runs the batch over the changed STAR1 on copies of the
	// database template: once uninterrupted, and once for each case killed
	// at its points (one run each) and then run again.
	killed := func(t *testing.T, template string, cases [][]string) {
		refDSN := testenv.PostgresCopy(t, template)
		refConn := testenv.Connect(t, refDSN)
		st, out := migrate(refDSN, changed)
		// The run's own reconciliation names what STAR2 changed alone
		// (exit 3).
		exit := st.ExitCode()
		if exit != 0 && exit != 3 {
			t.Fatalf("uninterrupted run: exit %d: %s", exit, out)
		}
		want := look(t, refDSN, refConn)
		if len(want.conflicts) == 0 && !strings.Contains(want.findings, "\n") {
			t.Fatal("the run left no conflict and no finding to compare")
		}
		t.Logf("an uninterrupted run (exit %d) leaves %d open conflicts and %d lines of deep findings", exit, len(want.conflicts), strings.Count(want.findings, "\n"))
		for _, points := range cases {
			point := strings.Join(points, ",")
			t.Run(strings.NewReplacer(":", "-", ",", "-then-").Replace(point), func(t *testing.T) {
				dsn := testenv.PostgresCopy(t, template)
				conn := testenv.Connect(t, dsn)
				for _, p := range points {
					st, out := migrate(dsn, changed, faultpoint.Env+"="+p)
					mustBeKilled(t, st, p, out)
				}
				if st, out := migrate(dsn, changed); st.ExitCode() != exit {
					t.Fatalf("the run after the kill: exit %d, want %d as uninterrupted: %s", st.ExitCode(), exit, out)
				}
				got := look(t, dsn, conn)
				testenv.SameDigest(t, "after a kill at "+point, want.digest, got.digest)
				if a, b := strings.Join(want.conflicts, "\n"), strings.Join(got.conflicts, "\n"); a != b {
					t.Errorf("open conflicts after a kill at %s:\n%s\nwant, as after an uninterrupted run:\n%s", point, b, a)
				}
				if got.findings != want.findings {
					t.Errorf("deep findings after a kill at %s:\n%s\nwant, as after an uninterrupted run:\n%s", point, got.findings, want.findings)
				}
			})
		}
	}
	// The re-run writes STAR2 in 10 transactions here; bookkeeping:10
	// kills it in the last. The last case kills the run after the kill
	// too.
	t.Run("re-run", func(t *testing.T) {
		killed(t, base, [][]string{{"extract:20000"}, {"plan-copy:7"}, {"outcomes:2"}, {"copy:1"}, {"copy:4"}, {"bookkeeping:1"}, {"bookkeeping:6"}, {"bookkeeping:10"}, {"reconcile:1"}, {"bookkeeping:6", "copy:2"}})
	})

	// The engineer decides on the conflicts of the re-run: STAR1's
	// version of some rows, STAR2's of the rest. The next run applies the
	// decisions.
	decided := testenv.PostgresCopy(t, base)
	if st, out := migrate(decided, changed); st.ExitCode() != 3 {
		t.Fatalf("re-run: exit %d, want 3 for the rows STAR2 changed alone: %s", st.ExitCode(), out)
	}
	take := []string{"resolve", "--target", decided, "--batch", "all", "--take-star1", "--reason", "STAR1 is right", "--operator", "mari.migration"}
	for _, c := range openConflicts(t, decided) {
		if c.Kind == load.ChangedOnBothSides && c.Star1ID%2 == 0 {
			take = append(take, "--row", fmt.Sprintf("%s:%d", c.Table, c.Star1ID))
		}
	}
	if len(take) < 15 {
		t.Fatalf("only %d rows changed on both sides to take from STAR1", (len(take)-9)/2)
	}
	for _, args := range [][]string{take, {"resolve", "--target", decided, "--batch", "all", "--all", "--keep-star2", "--reason", "STAR2 is right", "--operator", "mari.migration"}} {
		if code, _, stderr := run(t, ctx, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args[:5], " "), code, stderr)
		}
	}
	// That run writes in 3 transactions here.
	t.Run("after-decisions", func(t *testing.T) {
		killed(t, decided, [][]string{{"extract:20000"}, {"bookkeeping:1"}, {"bookkeeping:3"}, {"reconcile:1"}, {"bookkeeping:2", "bookkeeping:1"}})
	})
}

// TestRestoreAfterKill kills a restore with SIGKILL in the middle of a
// payload file's COPY, and after it is put on record but before it is
// committed, and runs it again: the killed restore leaves no schema, and
// the one run again gives the same tables as a restore not interrupted.
// An entry of the audit log is an access to personal data: a restore
// killed after its entry was written stays on record, since it read the
// archive, and the one run again is on record too.
func TestRestoreAfterKill(t *testing.T) {
	testenv.PostgresServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildStarmig(t, dir)
	_, keys, to := folderArchive(t, dir, 300, 5)
	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	restore := func(schema string, env ...string) (*os.ProcessState, string) {
		return runBinary(bin, env, "restore", "--quiet", "--archive", to, "--keys", keys, "--to", dsn, "--schema", schema, "--reason", "crisis drill")
	}
	if st, out := restore("uninterrupted"); st.ExitCode() != 0 {
		t.Fatalf("uninterrupted restore: %s", out)
	}
	want := schemaDigest(t, conn, "uninterrupted")
	entries := func() int {
		var recs []archive.AuditRecord
		code, out, _ := run(t, ctx, "audit", "--archive", to, "--keys", keys, "--json")
		if err := json.Unmarshal([]byte(out), &recs); code != 0 || err != nil {
			t.Fatalf("audit: exit %d, %v: %s", code, err, out)
		}
		return len(recs)
	}
	before := entries()
	for _, c := range []struct {
		point  string
		record int // audit entries the killed restore leaves
	}{{"restore-row:3000", 0}, {"restore-commit:1", 1}} {
		t.Run(strings.ReplaceAll(c.point, ":", "-"), func(t *testing.T) {
			schema := strings.NewReplacer("-", "_", ":", "_").Replace(c.point)
			st, out := restore(schema, faultpoint.Env+"="+c.point)
			mustBeKilled(t, st, c.point, out)
			var exists bool
			if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
				t.Errorf("the killed restore left schema %s (%v)", schema, err)
			}
			if got := entries(); got != before+c.record {
				t.Errorf("the killed restore left %d audit entries, want %d", got-before, c.record)
			}
			if st, out := restore(schema); st.ExitCode() != 0 {
				t.Fatalf("the restore after the kill: %s", out)
			}
			testenv.SameDigest(t, "a restore after a kill at "+c.point, want, schemaDigest(t, conn, schema))
			before = entries()
		})
	}
}

// schemaDigest gives each table of a schema its row count and a digest of
// its rows.
func schemaDigest(t *testing.T, conn *pgx.Conn, schema string) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("tables of %s: %v %v", schema, tables, err)
	}
	d := map[string]string{}
	for _, table := range tables {
		var s string
		q := fmt.Sprintf("SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM %s t", pgx.Identifier{schema, table}.Sanitize())
		if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		d[table] = s
	}
	return d
}

// mustBeKilled fails the test unless the process ended by SIGKILL, as the
// fault point armed makes it.
func mustBeKilled(t *testing.T, st *os.ProcessState, point, out string) {
	t.Helper()
	if ws, _ := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("not killed at %s: %v\n%s", point, st, out)
	}
}

// runBinary runs the built starmig with args and, added to the test's
// environment, env (a fault point to arm); it returns how the process
// ended and its output.
func runBinary(bin string, env []string, args ...string) (*os.ProcessState, string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState, string(out)
}
