package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starmig/starmig/internal/testenv"
)

// BenchmarkLargeDocuments measures the peak memory of every command that
// reads or writes documents, with large ones: random bytes, which do not
// compress, of STARMIG_BENCH_DOC_MB MiB each (default 64), in one open
// proceeding, so that they are loaded into STAR2 as well as archived. It
// runs migrate, reconcile --deep, archive, restore and the retrieval of
// that proceeding on a small generated STAR1 with one such document, then
// with STARMIG_BENCH_DOCS of them (default 16). Memory must not grow with
// the number of documents, only with the size of the largest.
//
//	go run ./internal/testenv/withservices -- go test -run '^$' -bench LargeDocuments -benchtime 1x ./cmd/starmig
func BenchmarkLargeDocuments(b *testing.B) {
	testenv.PostgresServer(b)
	_, dir, bin := benchSetup(b)
	defer os.RemoveAll(dir)
	size, many := benchInt(b, "STARMIG_BENCH_DOC_MB", 64)<<20, benchInt(b, "STARMIG_BENCH_DOCS", 16)
	base := filepath.Join(dir, "base.db")
	if out, err := exec.Command(bin, "gen", "--quiet", "--out", base, "--persons", "2000", "--seed", "1", "--as-of", "2026-11-01").CombinedOutput(); err != nil {
		b.Fatalf("gen: %v\n%s", err, out)
	}
	keys := filepath.Join(dir, "keys")
	if out, err := exec.Command(bin, "keys", "gen", "--quiet", "--out", keys).CombinedOutput(); err != nil {
		b.Fatalf("keys gen: %v\n%s", err, out)
	}
	for range b.N {
		for _, docs := range []int{1, many} {
			db := filepath.Join(dir, fmt.Sprintf("docs%d.db", docs))
			star1, err := os.ReadFile(base) // a small STAR1
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(db, star1, 0o600); err != nil {
				b.Fatal(err)
			}
			proceeding := setLargeDocumentsApart(b, db, docs, size)
			var line string
			measure := func(name string, args ...string) {
				cmd := exec.Command(bin, args...)
				start := time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", args[0], err, out)
				}
				secs := time.Since(start).Seconds()
				peak := peakMiB(cmd.ProcessState)
				b.ReportMetric(peak, fmt.Sprintf("%s-peak-MiB-%ddocs", name, docs))
				b.ReportMetric(secs, fmt.Sprintf("%s-s-%ddocs", name, docs))
				line += fmt.Sprintf(", %s %.0f MiB in %.1f s", name, peak, secs)
			}
			target := schemaDB(b)
			archive := "file://" + filepath.Join(dir, fmt.Sprintf("archive%d", docs))
			measure("migrate", "migrate", "--quiet", "--source", "sqlite:"+db, "--target", target,
				"--mappings", filepath.Join(dir, "mappings"), "--batch", "bench", "--as-of", "2026-11-01")
			measure("deep", "reconcile", "--quiet", "--deep", "--source", "sqlite:"+db, "--target", target,
				"--mappings", filepath.Join(dir, "mappings"), "--batch", "bench")
			measure("archive", "archive", "--quiet", "--source", "sqlite:"+db, "--to", archive,
				"--batch", "bench", "--keys", keys, "--retention", "10y")
			measure("restore", "restore", "--quiet", "--archive", archive, "--keys", keys, "--to", testenv.Postgres(b))
			measure("retrieve", "retrieve", "--quiet", "--archive", archive, "--keys", keys, "--proceeding", strconv.FormatInt(proceeding, 10),
				"--reason", "benchmark", "--operator", "bench", "--out", filepath.Join(dir, fmt.Sprintf("retrieval%d", docs)))
			b.Logf("%d documents of %d MiB, peak RSS%s", docs, size>>20, line)
			os.Remove(db)
			os.RemoveAll(filepath.Join(dir, fmt.Sprintf("retrieval%d", docs)))
		}
	}
}

func benchInt(b *testing.B, env string, def int) int {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", env, s)
	}
	return n
}

// setLargeDocumentsApart runs setLargeDocuments in a process of its own
// (this test binary, running TestSetLargeDocuments). SQLite's memory for
// the documents would otherwise raise this process's peak RSS, and a
// child's peak as the kernel reports it is never less than its parent's
// at the time it was started (os/exec starts children with CLONE_VM):
// every command would seem to take at least that much.
func setLargeDocumentsApart(b *testing.B, path string, n, size int) int64 {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSetLargeDocuments$")
	cmd.Env = append(os.Environ(), "STARMIG_SET_DOCS="+fmt.Sprintf("%s,%d,%d", path, n, size))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("setting large documents: %v\n%s", err, out)
	}
	var proceeding int64
	if _, err := fmt.Sscanf(string(out), "proceeding %d", &proceeding); err != nil {
		b.Fatalf("setting large documents: %q: %v", out, err)
	}
	return proceeding
}

// TestSetLargeDocuments is BenchmarkLargeDocuments' helper process, and
// does nothing unless STARMIG_SET_DOCS is set (PATH,N,SIZE).
func TestSetLargeDocuments(t *testing.T) {
	args := os.Getenv("STARMIG_SET_DOCS")
	if args == "" {
		t.Skip("BenchmarkLargeDocuments' helper process")
	}
	var path string
	var n, size int
	if parts := strings.Split(args, ","); len(parts) != 3 {
		t.Fatalf("STARMIG_SET_DOCS=%q: want PATH,N,SIZE", args)
	} else {
		path = parts[0]
		if _, err := fmt.Sscanf(parts[1]+" "+parts[2], "%d %d", &n, &size); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("proceeding %d\n", setLargeDocuments(t, path, n, size))
}

// setLargeDocuments gives n documents size random bytes each and puts
// them in one open proceeding, which it returns.
func setLargeDocuments(b testing.TB, path string, n, size int) int64 {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var proceeding int64
	if err := db.QueryRow(`SELECT min(d.MENETLUS_ID) FROM DOKUMENT d JOIN MENETLUS m ON m.MENETLUS_ID = d.MENETLUS_ID
		WHERE m.STAATUS = 'A'`).Scan(&proceeding); err != nil {
		b.Fatal(err)
	}
	res, err := db.Exec(`UPDATE DOKUMENT SET SISU = randomblob(?), MENETLUS_ID = ? WHERE DOKUMENT_ID IN (
		SELECT DOKUMENT_ID FROM DOKUMENT ORDER BY MENETLUS_ID <> ?, DOKUMENT_ID LIMIT ?)`, size, proceeding, proceeding, n)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := res.RowsAffected(); got != int64(n) {
		b.Fatalf("%d large documents, want %d", got, n)
	}
	return proceeding
}
