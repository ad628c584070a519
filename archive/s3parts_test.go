package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/starmig/starmig/internal/testenv"
)

// randomBody is size bytes no compression or deduplication makes smaller.
func randomBody(seed uint64, size int) []byte {
	rnd := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

// storedIs fails the test unless key holds body.
func storedIs(t *testing.T, st *S3Store, key string, body []byte) {
	t.Helper()
	got, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(got)
	got.Close()
	if err != nil || !bytes.Equal(stored, body) {
		t.Fatalf("the stored object is not the one written (%d bytes, %v)", len(stored), err)
	}
}

// nearStore is a store of direct's bucket and prefix reached at addr, with
// parts of 5 MiB (the smallest S3 takes).
func nearStore(t *testing.T, direct *S3Store, addr string) *S3Store {
	t.Helper()
	s3 := testenv.MinIO(t)
	st, err := NewS3Store(S3Config{Endpoint: addr, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: direct.cfg.Bucket, Prefix: direct.cfg.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	st.partSize = 5 << 20
	return st
}

// TestALinkThatBreaksUploadsWritesInParts writes a 23 MiB object over a
// link that drops the connection of a request each time 7 MiB have gone
// up since the last drop: no request of the whole object gets through
// it. The object goes up in parts of 5 MiB, each sent again alone when
// its connection breaks, so it is stored whole, locked, in one version,
// and what the link carried is the object and the parts it broke, not
// the object again for each break. Written again, the same bytes are
// taken as the write whose answer was lost (by the parts' ETag), other
// bytes are refused as an existing key, and no upload is left open.
func TestALinkThatBreaksUploadsWritesInParts(t *testing.T) {
	direct, client := bucket(t, true)
	s3 := testenv.MinIO(t)
	link := testenv.BlinkUpEvery(t, s3.Endpoint, 7<<20)
	st := nearStore(t, direct, link.Addr)
	ctx := context.Background()
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	body := randomBody(1, 23<<20)

	if err := st.Put(ctx, "b/data/big", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatalf("put over a link that breaks uploads: %v", err)
	}
	dropped, sent := link.Dropped(), link.Sent()
	t.Logf("%d connections dropped, %.1f MiB sent for %.1f MiB", dropped, float64(sent)/(1<<20), float64(len(body))/(1<<20))
	if dropped < 2 {
		t.Errorf("the link dropped %d connections; the test wants it to break the upload", dropped)
	}
	// Each break costs at most the part it broke, and each request its
	// headers.
	if max := int64(len(body)) + dropped*(5<<20) + 1<<20; sent > max {
		t.Errorf("the link carried %d bytes for an object of %d and %d breaks, more than %d: parts were sent again whole", sent, len(body), dropped, max)
	}

	storedIs(t, direct, "b/data/big", body)
	info, err := direct.Stat(ctx, "b/data/big")
	if err != nil {
		t.Fatal(err)
	}
	if info.Versions != 1 || info.Mode != string(minio.Compliance) || !info.RetainUntil.Equal(until) {
		t.Errorf("stored as %+v, want one version in COMPLIANCE until %s", info, until)
	}
	head, err := client.StatObject(ctx, direct.cfg.Bucket, direct.full("b/data/big"), minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := partsETag(bytes.NewReader(body), int64(len(body)), 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if head.ETag != want {
		t.Errorf("the storage's ETag is %s, partsETag says %s", head.ETag, want)
	}

	// Again, straight to the storage: the same bytes are the write whose
	// answer was lost; other bytes are an existing key.
	near := nearStore(t, direct, s3.Endpoint)
	if err := near.Put(ctx, "b/data/big", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Errorf("the same bytes again: %v", err)
	}
	other := bytes.Clone(body)
	other[len(other)-1] ^= 1
	if err := near.Put(ctx, "b/data/big", bytes.NewReader(other), int64(len(other)), until); !errors.Is(err, ErrExists) {
		t.Errorf("other bytes under the key: %v, want ErrExists", err)
	}
	if info, err := direct.Stat(ctx, "b/data/big"); err != nil || info.Versions != 1 {
		t.Errorf("after the writes again: %+v %v, want one version", info, err)
	}
	noUploadOpen(t, client, direct, "b/data/big")
}

// TestTheCompletionsAnswerLost loses the answer to the completion of an
// upload in parts: the client asks again and finds the upload gone, or
// the key written. The write is taken as done, not refused.
func TestTheCompletionsAnswerLost(t *testing.T) {
	direct, client := bucket(t, true)
	s3 := testenv.MinIO(t)
	link := &faultyLink{target: &url.URL{Scheme: "http", Host: s3.Endpoint}, faults: map[string]int{}, downFor: map[string]int{}, loseCompletions: 1}
	srv := httptest.NewServer(link)
	defer srv.Close()
	st := nearStore(t, direct, strings.TrimPrefix(srv.URL, "http://"))
	ctx := context.Background()
	body := randomBody(2, 11<<20)
	if err := st.Put(ctx, "b/data/big", bytes.NewReader(body), int64(len(body)), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("put whose completion's answer was lost: %v", err)
	}
	if link.faults[faultLostCompletion] != 1 {
		t.Errorf("faults %v, want one lost completion", link.faults)
	}
	if info, err := direct.Stat(ctx, "b/data/big"); err != nil || info.Versions != 1 || info.Size != int64(len(body)) {
		t.Errorf("stored %+v %v, want one version of %d bytes", info, err, len(body))
	}
	noUploadOpen(t, client, direct, "b/data/big")
}

// noUploadOpen fails the test when an upload in parts to key is open.
// MinIO lists the uploads of one key only, not of a prefix.
func noUploadOpen(t *testing.T, client *minio.Client, st *S3Store, key string) {
	t.Helper()
	for up := range client.ListIncompleteUploads(context.Background(), st.cfg.Bucket, st.full(key), true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		t.Errorf("an upload is left open: %s (%s)", up.Key, up.UploadID)
	}
}

// cancelAt is a body that cancels its write when it is read at or past
// an offset: a run stopped (Ctrl-C) in the middle of an upload in parts.
type cancelAt struct {
	*bytes.Reader
	at     int64
	cancel context.CancelFunc
}

func (c cancelAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.at {
		c.cancel()
	}
	return c.Reader.ReadAt(p, off)
}

// TestAnUploadGivenUpLeavesNoParts stops a write in parts after its first
// part: the upload is abandoned, so no parts stay in the bucket, and the
// key holds nothing.
func TestAnUploadGivenUpLeavesNoParts(t *testing.T) {
	direct, client := bucket(t, true)
	s3 := testenv.MinIO(t)
	st := nearStore(t, direct, s3.Endpoint)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := randomBody(3, 12<<20)
	err := st.Put(ctx, "b/data/big", cancelAt{bytes.NewReader(body), 5 << 20, cancel}, int64(len(body)), time.Now().Add(time.Hour))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a put stopped in the middle: %v, want context.Canceled", err)
	}
	noUploadOpen(t, client, direct, "b/data/big")
	if _, err := direct.Stat(context.Background(), "b/data/big"); !errors.Is(err, ErrNotExist) {
		t.Errorf("the key after a put stopped in the middle: %v, want ErrNotExist", err)
	}
}

// TestAWriteWaitsOutAnOutage takes the link to the storage down for 25 s
// in the middle of a write in parts, longer than five tries last. With
// a write wait of a minute the write asks on until the link is back, and
// the object is stored whole, in one version, with no upload left open.
func TestAWriteWaitsOutAnOutage(t *testing.T) {
	direct, client := bucket(t, true)
	s3 := testenv.MinIO(t)
	out := testenv.OutageAfter(t, s3.Endpoint, 7<<20, 25*time.Second)
	st := nearStore(t, direct, out.Addr)
	st.SetWriteWait(time.Minute)
	ctx := context.Background()
	body := randomBody(4, 12<<20)
	start := time.Now()
	if err := st.Put(ctx, "b/data/big", bytes.NewReader(body), int64(len(body)), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("a write through an outage of 25 s: %v", err)
	}
	t.Logf("stored %s after it began", time.Since(start).Round(time.Second))
	if !out.Began() {
		t.Fatal("the link never went down")
	}
	storedIs(t, direct, "b/data/big", body)
	if info, err := direct.Stat(ctx, "b/data/big"); err != nil || info.Versions != 1 {
		t.Errorf("stored %+v %v, want one version", info, err)
	}
	noUploadOpen(t, client, direct, "b/data/big")
}

// TestAWriteThatGivesUpSaysSo: a request that keeps failing for the
// link's sake is asked five times (with no wait for the storage set) and
// then given up, and the error says so, as engineers are told to expect
// ("gave up after … attempts"), for every request of a write: a single
// put, the start of an upload in parts, each part, and the check after.
// Before, only a single put and a completion said it; a part quoted the
// network's error alone.
func TestAWriteThatGivesUpSaysSo(t *testing.T) {
	s := &S3Store{pause: time.Millisecond}
	down := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	asked := 0
	err := s.tryAgain(context.Background(), func() error { asked++; return down })
	if asked != 5 || !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "gave up after 5 attempts, 0s of pauses: dial tcp: connection refused") {
		t.Errorf("asked %d times: %v; want 5, saying it gave up", asked, err)
	}
	// What is not the link's fault is not asked again, and says nothing
	// of giving up.
	asked = 0
	refused := minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403, Message: "Access Denied."}
	if err := s.tryAgain(context.Background(), func() error { asked++; return refused }); asked != 1 || strings.Contains(err.Error(), "gave up") {
		t.Errorf("a refusal: asked %d times: %v; want once, as it is", asked, err)
	}
	// With a wait for the storage, the pauses go on until it is spent.
	s.SetWriteWait(100 * time.Millisecond)
	asked = 0
	err = s.tryAgain(context.Background(), func() error { asked++; return down })
	if asked != 7 || !strings.Contains(err.Error(), "gave up after 7 attempts, 100ms of pauses") {
		t.Errorf("with a wait of 100 ms: asked %d times: %v", asked, err)
	}
}
