package archive

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/starmig/starmig/internal/testenv"
)

// BenchmarkRetrieveLooksBack times retrievals that search earlier runs,
// over a link to MinIO like the one to the archive abroad
// (STARMIG_BENCH_LINK_MBIT, default 100 Mbit/s each way, and
// STARMIG_BENCH_LINK_RTT_MS, default 40 ms): a person STAR1 deleted after
// the first of STARMIG_BENCH_RUNS runs (default 8), found only in that
// first run, and a person in every run retrieved with every run asked for.
//
//	go run ./internal/testenv/withservices -- go test -run '^$' -bench RetrieveLooksBack -benchtime 5x ./archive
func BenchmarkRetrieveLooksBack(b *testing.B) {
	env := func(name string, def int) int {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				b.Fatalf("%s=%q: want a whole number above 0", name, v)
			}
			return n
		}
		return def
	}
	runs := env("STARMIG_BENCH_RUNS", 8)
	mbit := env("STARMIG_BENCH_LINK_MBIT", 100)
	rtt := time.Duration(env("STARMIG_BENCH_LINK_RTT_MS", 40)) * time.Millisecond
	ctx := context.Background()
	path := star1(b, 300)
	st, _ := bucket(b, true)
	k := testKeys(b)
	code := richPerson(b, path)
	db, other := otherPerson(b, path, code)
	for i := range runs {
		cfg := small(config(st, k))
		cfg.Now = now.Add(time.Duration(i) * time.Hour)
		archiveSTAR1(b, path, cfg)
		if i == 0 {
			if _, err := db.Exec("DELETE FROM ISIK WHERE ISIKUKOOD = ?", code); err != nil {
				b.Fatal(err)
			}
		}
	}
	s3 := testenv.MinIO(b)
	far := st.cfg
	far.Endpoint = testenv.Link(b, s3.Endpoint, int64(mbit)*1_000_000/8, rtt/2)
	retrieve := func(code string, all bool) (time.Duration, []*Found) {
		// A new store and reader for each retrieval: nothing learnt by
		// an earlier one is reused, as with separate starmig commands.
		start := time.Now()
		store, err := NewS3Store(far)
		if err != nil {
			b.Fatal(err)
		}
		cats, err := LatestCatalogs(ctx, store, k.pub, "")
		if err != nil {
			b.Fatal(err)
		}
		r := NewReader(store, k.pub, k.identities, k.index)
		found, err := r.Retrieve(ctx, cats, PersonByCode(code))
		if err != nil {
			b.Fatal(err)
		}
		found, _, err = r.RetrieveEarlier(ctx, found, PersonByCode(code), LookBack{All: all})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), found
	}
	var back, every time.Duration
	b.ResetTimer()
	for range b.N {
		d, found := retrieve(code, false)
		if len(found) != 2 || found[1].Rows() == 0 {
			b.Fatalf("deleted person: %d results, want the newest run's none and the first run's rows", len(found))
		}
		back += d
		d, found = retrieve(other, true)
		if len(found) != runs {
			b.Fatalf("every run: %d results, want %d", len(found), runs)
		}
		every += d
	}
	b.ReportMetric(float64(back.Milliseconds())/float64(b.N), "found-in-first-run-ms")
	b.ReportMetric(float64(every.Milliseconds())/float64(b.N), "all-runs-ms")
	b.ReportMetric(float64(runs), "runs")
	b.ReportMetric(float64(mbit), "link-Mbit/s")
	b.ReportMetric(float64(rtt.Milliseconds()), "link-rtt-ms")
}
