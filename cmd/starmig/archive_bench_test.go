package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/verify"
)

// BenchmarkArchive measures, in one run on one generated STAR1
// (STARMIG_BENCH_PERSONS, default 100 000 persons) against the test MinIO:
//
//   - starmig archive end to end (read STAR1, encode, compress, encrypt,
//     hash, upload with Object Lock), as a separate process whose peak RSS
//     is measured, in stored bytes per second;
//
//   - a plain minio-go PutObject of the same number of bytes;
//
//   - the time to retrieve one person (in process: catalog, signatures,
//     index, blocks), over several persons, and the share of the archive
//     it read.
//
//   - verify full and a 5% sample against a plain parallel read of the same
//     objects, and against the hash ceiling: both digests on every core
//     over bytes in memory, which bounds any verification that hashes
//     every byte.
//
//   - the same archive, PutObject, retrieval, plain read and full
//     verification again through a link of STARMIG_BENCH_LINK_MBIT megabits
//     per second each way (default 100, 0 skips it) and a round trip of
//     STARMIG_BENCH_LINK_RTT_MS (default 40): storage abroad, as the archive
//     is used.
//
//     go run ./internal/testenv/withservices -- go test -run '^$' -bench Archive -benchtime 1x -timeout 2h ./cmd/starmig
func BenchmarkArchive(b *testing.B) {
	persons, dir, bin := benchSetup(b)
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "star1.db")
	if out, err := exec.Command(bin, "gen", "-q", "--out", db, "--persons", strconv.Itoa(persons), "--seed", "1", "--as-of", "2026-11-01").CombinedOutput(); err != nil {
		b.Fatalf("gen: %v %s", err, out)
	}
	keys := filepath.Join(dir, "keys")
	if out, err := exec.Command(bin, "keys", "gen", "--out", keys).CombinedOutput(); err != nil {
		b.Fatalf("keys: %v %s", err, out)
	}
	codes := benchCodes(b, db, 5)
	ctx := context.Background()
	s3 := testenv.MinIO(b)
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		to := s3Bucket(b, true)
		st, archiveSecs, peak := benchArchiveRun(b, bin, db, to, keys, os.Environ())
		putSecs := benchPut(b, client, st.Bytes, 1)
		store, err := archive.OpenStore(to, os.Getenv)
		if err != nil {
			b.Fatal(err)
		}
		pub, _ := archive.ReadSigningPub(filepath.Join(keys, archive.SignPubFile))
		total, worst, read := benchRetrieve(b, store, keys, codes)
		// Verification: full, and a 5% sample, against a plain parallel read
		// of the same objects.
		plainSecs, plainBytes := parallelRead(b, store, nil, 8)
		start := time.Now()
		rep, err := verify.Verify(ctx, verify.Options{Store: store, Pub: pub, Level: verify.Full, Parallel: 8})
		fullSecs := time.Since(start).Seconds()
		if err != nil || !rep.OK() {
			b.Fatalf("verify full: %v %v", err, rep.Findings)
		}
		start = time.Now()
		rep5, err := verify.Verify(ctx, verify.Options{Store: store, Pub: pub, Level: verify.Sample, Percent: 5, Seed: 1, Parallel: 8})
		sampleSecs := time.Since(start).Seconds()
		if err != nil || !rep5.OK() {
			b.Fatalf("verify sample: %v", err)
		}
		b.ReportMetric(float64(plainBytes)/1e6/plainSecs, "plain-read-MB/s")
		b.ReportMetric(float64(rep.BytesRead)/1e6/fullSecs, "verify-full-MB/s")
		b.ReportMetric(100*(float64(rep.BytesRead)/fullSecs)/(float64(plainBytes)/plainSecs), "verify-full-%-of-plain-read")
		b.ReportMetric(float64(rep5.BytesRead)/1e6/sampleSecs, "verify-sample5-MB/s")
		plain5Secs, plain5Bytes := parallelRead(b, store, rep5.Sampled, 8)
		b.ReportMetric(100*(float64(rep5.BytesRead)/sampleSecs)/(float64(plain5Bytes)/plain5Secs), "verify-sample5-%-of-plain-read")
		ceiling := hashCeiling(plainBytes)
		b.ReportMetric(ceiling, "hash-both-all-cores-MB/s")
		b.ReportMetric(100*float64(rep.BytesRead)/1e6/fullSecs/ceiling, "verify-full-%-of-hash-ceiling")
		b.ReportMetric(sampleSecs, "verify-sample5-s")

		mb := float64(st.Bytes) / 1e6
		b.ReportMetric(mb/archiveSecs, "archive-MB/s")
		b.ReportMetric(mb/putSecs, "putobject-MB/s")
		b.ReportMetric(100*putSecs/archiveSecs, "archive-%-of-putobject")
		b.ReportMetric(float64(st.Rows)/archiveSecs, "star1-rows/s")
		b.ReportMetric(mb, "archive-MB")
		b.ReportMetric(peak, "peak-MiB")
		b.ReportMetric(float64(total.Milliseconds())/float64(len(codes)), "retrieve-mean-ms")
		b.ReportMetric(float64(worst.Milliseconds()), "retrieve-max-ms")
		b.ReportMetric(100*float64(read)/float64(st.Bytes), "retrieve-max-read-%")
		if frac := float64(read) / float64(st.Bytes); frac > 0.05 {
			b.Errorf("a retrieval read %.1f%% of the archive", 100*frac)
		}
		if mbit := benchLinkMbit(b); mbit > 0 {
			overLink(b, bin, db, keys, s3, mbit, codes)
		}
	}
}

// benchCodes picks personal codes of persons with payments, spread over
// STAR1.
func benchCodes(b *testing.B, db string, n int) []string {
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT i.ISIKUKOOD FROM ISIK i WHERE length(i.ISIKUKOOD) = 11 AND i.ISIK_ID % 997 = 1
	   AND EXISTS (SELECT 1 FROM MENETLUS m JOIN OTSUS o ON o.MENETLUS_ID = m.MENETLUS_ID WHERE m.ISIK_ID = i.ISIK_ID)
	 ORDER BY i.ISIK_ID LIMIT ?`, n)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		out = append(out, strings.TrimSpace(c))
	}
	if len(out) == 0 {
		b.Fatal("no persons to retrieve")
	}
	return out
}

type randomReader struct{ src rand.Source }

func (r *randomReader) Read(p []byte) (int, error) {
	var v uint64
	for i := range p {
		if i%8 == 0 {
			v = r.src.Uint64()
		}
		p[i] = byte(v >> (8 * (i % 8)))
	}
	return len(p), nil
}

// hashCeiling is how fast this machine computes both manifest digests
// (SHA-256 and SHA-512) over n bytes in memory on every core, with nothing
// else to do: no verification that hashes every byte can be faster.
func hashCeiling(n int64) float64 {
	buf := make([]byte, 1<<20)
	procs := runtime.GOMAXPROCS(0)
	per := n / int64(procs)
	var wg sync.WaitGroup
	start := time.Now()
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := archive.NewDigester()
			for d.Len() < per {
				d.Write(buf)
			}
			d.Sum()
		}()
	}
	wg.Wait()
	return float64(per*int64(procs)) / 1e6 / time.Since(start).Seconds()
}

// parallelRead reads the objects (every object of the store when keys is
// nil) with n readers and nothing else: the baseline of verification.
func parallelRead(b *testing.B, st archive.Store, keys []string, n int) (float64, int64) {
	ctx := context.Background()
	if keys == nil {
		if err := st.List(ctx, "", func(o archive.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	work := make(chan string)
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for k := range work {
				rc, err := st.Get(ctx, k)
				if err != nil {
					b.Error(err)
					continue
				}
				m, _ := io.CopyBuffer(io.Discard, rc, buf)
				rc.Close()
				total.Add(m)
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	return time.Since(start).Seconds(), total.Load()
}

// benchLinkMbit is the speed of the long-distance link the benchmark puts
// in front of MinIO for its second part: STARMIG_BENCH_LINK_MBIT megabits
// per second in each direction, 100 by default, 0 to skip that part.
func benchLinkMbit(b *testing.B) int64 { return benchEnvInt(b, "STARMIG_BENCH_LINK_MBIT", 100) }

// benchEnvInt reads a whole number, at least 0, from the environment.
func benchEnvInt(b *testing.B, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a whole number, 0 or more", name, s)
	}
	return n
}

// overLink measures what the archive is built for: storage abroad, behind
// a link slower and farther than loopback. Through a proxy that carries
// mbit megabits per second each way, with a round trip of
// STARMIG_BENCH_LINK_RTT_MS (default 40) milliseconds, it archives the same
// STAR1 again and puts the same number of bytes with one plain PutObject;
// then it retrieves the persons, reads every object plainly and verifies in
// full, all through the link.
func overLink(b *testing.B, bin, db, keys string, s3 testenv.S3, mbit int64, codes []string) {
	ctx := context.Background()
	rtt := time.Duration(benchEnvInt(b, "STARMIG_BENCH_LINK_RTT_MS", 40)) * time.Millisecond
	link := testenv.Link(b, s3.Endpoint, mbit*1_000_000/8, rtt/2)
	to := s3Bucket(b, true)
	st, archiveSecs, _ := benchArchiveRun(b, bin, db, to, keys, append(os.Environ(), "STARMIG_S3_ENDPOINT=http://"+link))
	client, err := minio.New(link, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	putSecs := benchPut(b, client, st.Bytes, 3)
	store, err := archive.OpenStore(to, func(k string) string {
		if k == "STARMIG_S3_ENDPOINT" {
			return "http://" + link
		}
		return os.Getenv(k)
	})
	if err != nil {
		b.Fatal(err)
	}
	pub, _ := archive.ReadSigningPub(filepath.Join(keys, archive.SignPubFile))
	total, worst, _ := benchRetrieve(b, store, keys, codes)
	readSecs, readBytes := parallelRead(b, store, nil, 8)
	start := time.Now()
	rep, err := verify.Verify(ctx, verify.Options{Store: store, Pub: pub, Level: verify.Full, Parallel: 8})
	fullSecs := time.Since(start).Seconds()
	if err != nil || !rep.OK() {
		b.Fatalf("verify full over the link: %v %v", err, rep.Findings)
	}
	mb := float64(st.Bytes) / 1e6
	b.ReportMetric(float64(mbit), "link-Mbit/s")
	b.ReportMetric(float64(rtt.Milliseconds()), "link-rtt-ms")
	b.ReportMetric(float64(total.Milliseconds())/float64(len(codes)), "link-retrieve-mean-ms")
	b.ReportMetric(float64(worst.Milliseconds()), "link-retrieve-max-ms")
	b.ReportMetric(mb/archiveSecs, "link-archive-MB/s")
	b.ReportMetric(mb/putSecs, "link-putobject-MB/s")
	b.ReportMetric(100*putSecs/archiveSecs, "link-archive-%-of-putobject")
	b.ReportMetric(float64(rep.BytesRead)/1e6/fullSecs, "link-verify-full-MB/s")
	b.ReportMetric(100*(float64(rep.BytesRead)/fullSecs)/(float64(readBytes)/readSecs), "link-verify-full-%-of-plain-read")
}

// benchArchiveRun runs starmig archive of db to the store at to, as its
// own process with env, and returns what it wrote, how long it took and
// its peak RSS in MiB.
func benchArchiveRun(b *testing.B, bin, db, to, keys string, env []string) (archive.Stats, float64, float64) {
	cmd := exec.Command(bin, "archive", "--json", "-q", "--source", "sqlite:"+db, "--to", to, "--batch", "bench", "--keys", keys)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.Output()
	secs := time.Since(start).Seconds()
	if err != nil {
		b.Fatalf("archive to %s: %v\n%s", to, err, out)
	}
	var st archive.Stats
	if err := json.Unmarshal(out, &st); err != nil {
		b.Fatal(err)
	}
	return st, secs, peakMiB(cmd.ProcessState)
}

// benchPut times one plain PutObject of n pseudo-random bytes (from seed)
// into a new bucket without Object Lock.
func benchPut(b *testing.B, client *minio.Client, n int64, seed uint64) float64 {
	ctx := context.Background()
	plain := testenv.Name("plain-")
	if err := client.MakeBucket(ctx, plain, minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := client.PutObject(ctx, plain, "blob", io.LimitReader(&randomReader{rand.NewPCG(seed, seed+1)}, n), n, minio.PutObjectOptions{}); err != nil {
		b.Fatal(err)
	}
	return time.Since(start).Seconds()
}

// benchRetrieve retrieves each person, in process, from the catalogs on:
// the total and the longest time, and the most bytes one retrieval read.
func benchRetrieve(b *testing.B, store archive.Store, keys string, codes []string) (total, worst time.Duration, read int64) {
	ctx := context.Background()
	pub, _ := archive.ReadSigningPub(filepath.Join(keys, archive.SignPubFile))
	ids, _ := archive.ReadIdentities(filepath.Join(keys, archive.IdentityFile), nil)
	ik, _ := archive.ReadIndexKey(filepath.Join(keys, archive.IndexKeyFile))
	for _, code := range codes {
		start := time.Now()
		cats, err := archive.LatestCatalogs(ctx, store, pub, "bench")
		if err != nil {
			b.Fatal(err)
		}
		r := archive.NewReader(store, pub, ids, ik)
		found, err := r.Retrieve(ctx, cats, archive.PersonByCode(code))
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if found[0].Rows() == 0 {
			b.Fatalf("person %s not found", code)
		}
		total += d
		worst = max(worst, d)
		read = max(read, r.BytesRead())
	}
	return total, worst, read
}
