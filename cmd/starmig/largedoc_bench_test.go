package main

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// BenchmarkLargeDocuments measures the peak memory of migrate and of
// archive with large documents: random bytes, which do not compress, of
// STARMIG_BENCH_DOC_MB MiB each (default 64), in documents of open
// proceedings, so that they are loaded into STAR2 as well as archived. It
// runs each command on a small generated STAR1 with one such document, then
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
			copyFile(b, base, db)
			setLargeDocuments(b, db, docs, size)
			peak := func(args ...string) float64 {
				cmd := exec.Command(bin, args...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", args[0], err, out)
				}
				ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				return float64(ru.Maxrss) / 1024
			}
			mig := peak("migrate", "--quiet", "--source", "sqlite:"+db, "--target", schemaDB(b),
				"--mappings", filepath.Join(dir, "mappings"), "--batch", "bench", "--as-of", "2026-11-01")
			arch := peak("archive", "--quiet", "--source", "sqlite:"+db, "--to", "file://"+filepath.Join(dir, fmt.Sprintf("archive%d", docs)),
				"--batch", "bench", "--keys", keys, "--retention", "10y")
			b.ReportMetric(mig, fmt.Sprintf("migrate-peak-MiB-%ddocs", docs))
			b.ReportMetric(arch, fmt.Sprintf("archive-peak-MiB-%ddocs", docs))
			b.Logf("%d documents of %d MiB: peak RSS migrate %.0f MiB, archive %.0f MiB", docs, size>>20, mig, arch)
			os.Remove(db)
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

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// setLargeDocuments gives n documents of open proceedings size random bytes.
func setLargeDocuments(b *testing.B, path string, n, size int) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE DOKUMENT SET SISU = randomblob(?) WHERE DOKUMENT_ID IN (
		SELECT d.DOKUMENT_ID FROM DOKUMENT d JOIN MENETLUS m ON m.MENETLUS_ID = d.MENETLUS_ID
		WHERE m.STAATUS = 'A' ORDER BY d.DOKUMENT_ID LIMIT ?)`, size, n)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := res.RowsAffected(); got != int64(n) {
		b.Fatalf("%d large documents, want %d", got, n)
	}
}
