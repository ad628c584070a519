package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

// BenchmarkMigrate compares, in one run on one generated STAR1
// (STARMIG_BENCH_PERSONS, default 100 000 persons):
//
//   - starmig migrate end to end (plan, load, bookkeeping, reconciliation),
//     as a separate process whose peak RSS is measured;
//   - pgloader loading the same SQLite file raw into PostgreSQL (no mapping,
//     no checks);
//   - a plain server-side COPY FROM of the final STAR2 rows into an empty
//     STAR2 schema.
//
// Run it under withservices:
//
//	go run ./internal/testenv/withservices -- go test -run '^$' -bench Migrate -benchtime 1x -timeout 2h ./cmd/starmig
func BenchmarkMigrate(b *testing.B) {
	testenv.PostgresServer(b)
	persons, dir, bin := benchSetup(b)
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the server reads the COPY files
		b.Fatal(err)
	}
	db := filepath.Join(dir, "star1.db")
	out, err := exec.Command(bin, "gen", "--json", "--out", db, "--persons", strconv.Itoa(persons), "--seed", "1", "--as-of", "2026-11-01").Output()
	if err != nil {
		b.Fatalf("gen: %v", err)
	}
	var g genResult
	if err := json.Unmarshal(out, &g); err != nil {
		b.Fatal(err)
	}
	star1Rows := g.Total
	ctx := context.Background()

	for range b.N {
		// starmig migrate, end to end.
		dsn := schemaDB(b)
		cmd := exec.Command(bin, "migrate", "--json", "--source", "sqlite:"+db, "--target", dsn,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "bench", "--as-of", "2026-11-01")
		start := time.Now()
		out, err := cmd.Output()
		starmigSecs := time.Since(start).Seconds()
		if err != nil {
			b.Fatalf("migrate: %v\n%s", err, out)
		}
		var sum batch.Summary
		if err := json.Unmarshal(out, &sum); err != nil {
			b.Fatal(err)
		}
		var star2Rows int64
		for _, s := range sum.Tables {
			star2Rows += s.Outcomes["loaded"]
		}
		cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		peak := peakMiB(cmd.ProcessState)

		// The final STAR2 rows, then a plain server-side COPY FROM of them.
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		tables := append([]string{"municipality", "classifier"}, star2Tables()...)
		for _, t := range tables {
			f, err := os.Create(filepath.Join(dir, t+".copy"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := conn.PgConn().CopyTo(ctx, f, "COPY star2."+t+" TO STDOUT"); err != nil {
				b.Fatal(err)
			}
			f.Close()
			os.Chmod(f.Name(), 0o644)
		}
		conn.Close(ctx)
		plain := schemaDB(b)
		pconn, err := pgx.Connect(ctx, plain)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for _, t := range tables {
			if _, err := pconn.Exec(ctx, fmt.Sprintf("COPY star2.%s FROM '%s'", t, filepath.Join(dir, t+".copy"))); err != nil {
				b.Fatalf("COPY FROM %s: %v", t, err)
			}
		}
		copySecs := time.Since(start).Seconds()
		pconn.Close(ctx)

		// pgloader, raw.
		pgloaderSecs := runPgloader(b, db)

		b.ReportMetric(float64(star1Rows)/starmigSecs, "starmig-star1-rows/s")
		b.ReportMetric(float64(star2Rows)/starmigSecs, "starmig-star2-rows/s")
		b.ReportMetric(float64(star2Rows)/copySecs, "copy-star2-rows/s")
		if pgloaderSecs > 0 {
			b.ReportMetric(float64(star1Rows)/pgloaderSecs, "pgloader-star1-rows/s")
		}
		b.ReportMetric(peak, "starmig-peak-MiB")
		// starmig's own CPU, steadier than the time on a shared machine,
		// judges a change to starmig.
		b.ReportMetric(cpu, "starmig-cpu-s")
		b.Logf("STAR1 %d rows, STAR2 %d rows; starmig %.1fs (%.1fs of its own CPU), plain COPY %.1fs, pgloader %.1fs; starmig at %.0f%% of COPY (STAR2 rows/s), peak RSS %.0f MiB",
			star1Rows, star2Rows, starmigSecs, cpu, copySecs, pgloaderSecs, 100*copySecs/starmigSecs, peak)
	}
}

// runPgloader loads the SQLite file raw into a fresh database with
// pgloader and returns the seconds it took, or 0 when there is no
// comparison: pgloader not installed, or failing three times. With its
// default of 100 000 rows read ahead per table, Debian's pgloader (a
// 1 GiB Lisp heap) exhausts its heap on this file more often than not and
// stops in its debugger, "Heap exhausted, game over"; 10 000 rows ahead
// load it whole, no slower (by hand: 14.4 s). A failure says nothing of
// starmig, so it is tried again on a new database rather than losing the
// run's other figures.
func runPgloader(b *testing.B, db string) float64 {
	if _, err := exec.LookPath("pgloader"); err != nil {
		b.Log("pgloader not installed (apt-get install pgloader): no comparison")
		return 0
	}
	for try := 1; try <= 3; try++ {
		raw := testenv.Postgres(b)
		start := time.Now()
		out, err := exec.Command("pgloader", "--quiet", "--with", "prefetch rows = 10000", "sqlite://"+db, raw).CombinedOutput()
		if err == nil {
			return time.Since(start).Seconds()
		}
		b.Logf("pgloader, try %d of 3: %v\n%s", try, err, lastLines(out, 5))
	}
	b.Log("pgloader failed three times: no comparison")
	return 0
}

// lastLines is the last n lines of out.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func star2Tables() []string {
	var out []string
	for _, t := range mapping.Tables {
		out = append(out, t.Star2)
	}
	return out
}

// schemaDB is a fresh database with the STAR2 schema applied.
func schemaDB(b *testing.B) string {
	dsn := testenv.Postgres(b)
	if code, _, stderr := run(b, context.Background(), "schema", "apply", "--quiet", "--target", dsn); code != 0 {
		b.Fatal(stderr)
	}
	return dsn
}

// benchSetup reads the benchmark size (STARMIG_BENCH_PERSONS, default
// 100 000 persons), makes a working folder and builds the binary into it.
func benchSetup(b *testing.B) (persons int, dir, bin string) {
	persons = 100_000
	if s := os.Getenv("STARMIG_BENCH_PERSONS"); s != "" {
		var err error
		if persons, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "starmig-bench-")
	if err != nil {
		b.Fatal(err)
	}
	bin = filepath.Join(dir, "starmig")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		b.Fatalf("build: %v\n%s", err, out)
	}
	return persons, dir, bin
}
