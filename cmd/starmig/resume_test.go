package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/testenv"
)

// TestResumeAfterKill kills `starmig migrate` with SIGKILL at several
// points, runs the same batch again, and checks that it ends with exactly
// the STAR2 contents and outcomes of an uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	testenv.PostgresServer(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "starmig")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "star1.db")
	if out, err := exec.Command(bin, "gen", "--quiet", "--out", db, "--persons", "3000", "--seed", "31", "--as-of", "2026-11-01", "--doc-size", "400").CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	migrate := func(dsn string, env ...string) (*os.ProcessState, string) {
		cmd := exec.Command(bin, "migrate", "--quiet", "--source", "sqlite:"+db, "--target", dsn,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01")
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState, string(out)
	}
	fresh := func() (string, *pgx.Conn) {
		dsn := testenv.Postgres(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if code, _, stderr := run(t, context.Background(), "schema", "apply", "--quiet", "--target", dsn); code != 0 {
			t.Fatal(stderr)
		}
		return dsn, conn
	}
	refDSN, refConn := fresh()
	if st, out := migrate(refDSN); st.ExitCode() != 0 {
		t.Fatalf("uninterrupted run: %s", out)
	}
	want := testenv.STAR2Digest(t, refConn)

	for _, point := range []string{"extract:20000", "copy:1", "copy:9", "bookkeeping:14", "reconcile:1"} {
		t.Run(strings.ReplaceAll(point, ":", "-"), func(t *testing.T) {
			dsn, conn := fresh()
			st, out := migrate(dsn, faultpoint.Env+"="+point)
			ws, _ := st.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the run was not killed at %s: %v\n%s", point, st, out)
			}
			if st, out := migrate(dsn); st.ExitCode() != 0 {
				t.Fatalf("the run after the kill: %s", out)
			}
			testenv.SameDigest(t, "after a kill at "+point, want, testenv.STAR2Digest(t, conn))
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
