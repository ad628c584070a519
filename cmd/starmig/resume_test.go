package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/testenv"
)

// TestResumeAfterKill kills `starmig migrate --archive` with SIGKILL at
// several points, runs the same batch again, and checks that it ends with
// exactly the STAR2 contents and outcomes of an uninterrupted run, and with
// an archive whose signed catalog holds every STAR1 row and passes a full
// verification.
func TestResumeAfterKill(t *testing.T) {
	testenv.PostgresServer(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "starmig")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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
		cmd := exec.Command(bin, "migrate", "--quiet", "--source", "sqlite:"+db, "--target", dsn,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01",
			"--archive", "file://"+arch, "--keys", keys)
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState, string(out)
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

	// archive-put kills a write to the archive folder half-way (an early
	// and a later one); archive-sign, a run whose catalog is stored and not
	// yet signed.
	for _, point := range []string{"extract:20000", "copy:1", "copy:9", "bookkeeping:14", "archive-put:3", "archive-put:15", "archive-sign:1", "reconcile:1"} {
		t.Run(strings.ReplaceAll(point, ":", "-"), func(t *testing.T) {
			dsn, conn := fresh()
			arch := t.TempDir()
			spool := t.TempDir() // where the archive writer spools payload files
			st, out := migrate(dsn, arch, faultpoint.Env+"="+point, "TMPDIR="+spool)
			ws, _ := st.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the run was not killed at %s: %v\n%s", point, st, out)
			}
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
