package archive

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/starmig/starmig/internal/testenv"
)

// faultyLink stands between starmig and MinIO and spoils some object
// uploads the way a long link abroad does: the server says it is busy, the
// connection breaks in the middle of the body, or the upload gets through
// and the answer is lost on the way back. After the first answer it lost,
// the link is down for the requests that ask what the key holds, longer
// than the client's own retries.
type faultyLink struct {
	target *url.URL
	every  int // spoil one upload in every so many

	// cutRetention cuts off the first answer to each key's retention
	// lookup in the middle of its body.
	cutRetention bool

	// loseCompletions is how many completions of an upload in parts the
	// link makes and then loses the answer of.
	loseCompletions int

	mu       sync.Mutex
	puts     int
	faults   map[string]int
	downFor  map[string]int  // key path → asks of it the link drops
	cut      map[string]bool // key paths whose retention answer was cut off
	lostOnce bool
}

const (
	faultBusy         = "503 SlowDown"
	faultBrokenUpload = "connection broken during the upload"
	faultLostAnswer   = "upload stored, answer lost"
	faultLostCheck    = "asking what the key holds, after a lost answer: connection broken"
	faultCutAnswer    = "retention answer cut off in its body"

	faultLostCompletion = "upload in parts completed, answer lost"
)

func (f *faultyLink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault := ""
	if r.Method == http.MethodHead {
		f.mu.Lock()
		down := f.downFor[r.URL.Path] > 0
		if down {
			f.downFor[r.URL.Path]--
			f.faults[faultLostCheck]++
		}
		f.mu.Unlock()
		if down {
			hangUp(w)
			return
		}
	}
	// Object uploads only: a PUT with a key after the bucket.
	if r.Method == http.MethodPut && f.every > 0 && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
		f.mu.Lock()
		f.puts++
		if f.puts%f.every == 0 {
			fault = []string{faultBusy, faultBrokenUpload, faultLostAnswer}[(f.puts/f.every)%3]
			f.faults[fault]++
		}
		f.mu.Unlock()
	}
	if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
		f.mu.Lock()
		if f.loseCompletions > 0 {
			f.loseCompletions--
			fault = faultLostCompletion
			f.faults[fault]++
		}
		f.mu.Unlock()
	}
	switch fault {
	case faultBusy:
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return
	case faultBrokenUpload:
		_, _ = io.CopyN(io.Discard, r.Body, 100)
		hangUp(w)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = f.target.Scheme, f.target.Host
	// The Host header stays the one the client signed.
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		hangUp(w)
		return
	}
	defer resp.Body.Close()
	if fault == faultLostCompletion {
		_, _ = io.Copy(io.Discard, resp.Body)
		hangUp(w)
		return
	}
	if fault == faultLostAnswer {
		_, _ = io.Copy(io.Discard, resp.Body)
		f.mu.Lock()
		if !f.lostOnce {
			// More than one ask's retries in the client (about 7),
			// fewer than all of Put's attempts'.
			f.lostOnce, f.downFor[r.URL.Path] = true, 15
		}
		f.mu.Unlock()
		hangUp(w)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if f.cutRetention && r.Method == http.MethodGet && r.URL.Query().Has("retention") {
		f.mu.Lock()
		first := !f.cut[r.URL.Path]
		if first {
			f.cut[r.URL.Path] = true
			f.faults[faultCutAnswer]++
		}
		f.mu.Unlock()
		if first {
			body, _ := io.ReadAll(resp.Body)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection closes, the answer half sent
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// TestUploadsSurviveAFaultyLink writes an archive to MinIO through a link
// that spoils one object upload in five. Each upload is retried until it is
// stored; one whose answer was lost is found stored with the same bytes and
// counted as written, not refused as an existing key, also when asking
// what the key holds fails for a while. The archive then holds every row
// of STAR1, and every object has exactly one version.
func TestUploadsSurviveAFaultyLink(t *testing.T) {
	direct, client := bucket(t, true)
	s3 := testenv.MinIO(t)
	link := &faultyLink{target: &url.URL{Scheme: "http", Host: s3.Endpoint}, every: 5, faults: map[string]int{}, downFor: map[string]int{}}
	srv := httptest.NewServer(link)
	defer srv.Close()
	viaLink, err := NewS3Store(S3Config{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
		Bucket: direct.cfg.Bucket, Prefix: direct.cfg.Prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := star1(t, 200)
	k := testKeys(t)
	stats := archiveSTAR1(t, path, small(config(viaLink, k)))

	link.mu.Lock()
	t.Logf("%d uploads through the link for %d bundles, faults %v", link.puts, stats.Bundles, link.faults)
	for _, f := range []string{faultBusy, faultBrokenUpload, faultLostAnswer, faultLostCheck} {
		if link.faults[f] == 0 {
			t.Errorf("the link never made the fault %q; the test wants each", f)
		}
	}
	link.mu.Unlock()

	holdsEveryRow(t, direct, k, path)
	versions := map[string]int{}
	for o := range client.ListObjects(context.Background(), direct.cfg.Bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		versions[o.Key]++
	}
	for key, n := range versions {
		if n != 1 {
			t.Errorf("%s: %d versions, want 1", key, n)
		}
	}
	if len(versions) == 0 {
		t.Fatal("the bucket is empty")
	}
}

// TestPlainHTTPEndpointSaysHow: an endpoint given without its scheme is
// reached over https; when it speaks plain http, the error says how to
// reach it instead of only Go's "server gave HTTP response to HTTPS client".
func TestPlainHTTPEndpointSaysHow(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cfg, err := S3ConfigFromEnv(func(name string) string {
		return map[string]string{"STARMIG_S3_ENDPOINT": host, "STARMIG_S3_ACCESS_KEY": "reader", "STARMIG_S3_SECRET_KEY": "not-a-real-secret"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bucket = "archive"
	st, err := NewS3Store(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CheckWritable(context.Background())
	if err == nil || !strings.Contains(err.Error(), "http://"+host+" in STARMIG_S3_ENDPOINT") || !strings.Contains(err.Error(), "STARMIG_S3_INSECURE=1") {
		t.Errorf("CheckWritable: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-a-real-secret") {
		t.Errorf("the error shows the secret key: %v", err)
	}
}
