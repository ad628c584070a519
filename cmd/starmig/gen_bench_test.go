package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkGen runs the starmig binary's gen as a separate process, so that
// its peak resident memory is measured alone, at 100 000 and 1 000 000
// persons. It reports rows/s and peak RSS in MiB; memory must not grow
// with the number of persons.
//
//	go test -run '^$' -bench Gen -benchtime 1x ./cmd/starmig
func BenchmarkGen(b *testing.B) {
	bin := buildStarmig(b, b.TempDir())
	sizes := []int{100_000, 1_000_000}
	if s := os.Getenv("STARMIG_BENCH_PERSONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sizes = []int{n}
	}
	for _, persons := range sizes {
		b.Run("persons="+strconv.Itoa(persons), func(b *testing.B) {
			dir := b.TempDir()
			var rows int64
			var peak float64
			b.ResetTimer()
			for range b.N {
				cmd := exec.Command(bin, "gen", "--json", "--out", filepath.Join(dir, "star1.db"),
					"--persons", strconv.Itoa(persons), "--seed", "1", "--as-of", "2026-11-01")
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("gen: %v", err)
				}
				var res genResult
				if err := json.Unmarshal(out, &res); err != nil {
					b.Fatal(err)
				}
				rows += res.Total
				peak = max(peak, peakMiB(cmd.ProcessState))
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(peak, "peak-MiB")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}
