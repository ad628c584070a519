package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/sse"

	"github.com/starmig/starmig/internal/minioserver"
	"github.com/starmig/starmig/internal/testenv"
)

// storeContract is the one suite every Store passes (the contract in
// store.go).
func storeContract(t *testing.T, st Store) {
	ctx := context.Background()
	if err := st.CheckWritable(ctx); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(48 * time.Hour)
	body := []byte("0123456789abcdef")
	if err := st.Put(ctx, "b/r/0001/data/x", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatal(err)
	}
	// Never replaced.
	err := st.Put(ctx, "b/r/0001/data/x", strings.NewReader("other bytes"), 11, until)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second put of a key: %v, want ErrExists", err)
	}
	// Other bytes of the same size are refused too.
	err = st.Put(ctx, "b/r/0001/data/x", strings.NewReader("0123456789abcdeF"), int64(len(body)), until)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("put of other bytes of the same size: %v, want ErrExists", err)
	}
	// The very same bytes again, as a retried write whose answer was lost:
	// accepted, and still one version.
	if err := st.Put(ctx, "b/r/0001/data/x", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatalf("put of the same bytes again: %v", err)
	}
	if info, err := st.Stat(ctx, "b/r/0001/data/x"); err != nil || info.Versions != 1 {
		t.Fatalf("after the same bytes again: %+v %v, want one version", info, err)
	}
	rc, err := st.Get(ctx, "b/r/0001/data/x")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("after a refused overwrite the object holds %q", got)
	}
	// Random access.
	for _, size := range []int64{-1, int64(len(body))} {
		obj, err := st.Open(ctx, "b/r/0001/data/x", size)
		if err != nil {
			t.Fatal(err)
		}
		if obj.Size() != int64(len(body)) {
			t.Fatalf("size %d", obj.Size())
		}
		p := make([]byte, 4)
		if n, err := obj.ReadAt(p, 10); n != 4 || err != nil || string(p) != "abcd" {
			t.Fatalf("ReadAt: %d %v %q", n, err, p)
		}
		obj.Close()
	}
	// Missing is ErrNotExist, for every way of asking.
	if _, err := st.Get(ctx, "b/r/nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Get missing: %v", err)
	}
	if _, err := st.Open(ctx, "b/r/nope", -1); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open missing: %v", err)
	}
	// With a size, missing may show only at the first read.
	if obj, err := st.Open(ctx, "b/r/nope", 8); !errors.Is(err, ErrNotExist) {
		if err != nil {
			t.Errorf("Open missing with a size: %v", err)
		} else if _, err := obj.ReadAt(make([]byte, 4), 0); !errors.Is(err, ErrNotExist) {
			t.Errorf("ReadAt of a missing key opened with a size: %v", err)
		}
	}
	if _, err := st.Stat(ctx, "b/r/nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat missing: %v", err)
	}
	// Stat and List.
	if err := st.Put(ctx, "b/r/0001/bagit.txt", bytes.NewReader(bagitDeclaration), int64(len(bagitDeclaration)), until); err != nil {
		t.Fatal(err)
	}
	info, err := st.Stat(ctx, "b/r/0001/data/x")
	if err != nil || info.Size != int64(len(body)) || info.Versions != 1 {
		t.Fatalf("Stat: %+v %v", info, err)
	}
	if st.Locks() && (info.Mode != "COMPLIANCE" || info.RetainUntil.Before(until.Add(-time.Second))) {
		t.Fatalf("locked store: %+v", info)
	}
	// Modified is when the key was written, by the store's clock (here on
	// the same machine as the test).
	if d := time.Since(info.Modified); d < -time.Minute || d > time.Minute {
		t.Errorf("Stat: written at %s, %s from now", info.Modified, d)
	}
	var keys []string
	if err := st.List(ctx, "b/r/", func(o ObjectInfo) error {
		keys = append(keys, o.Key)
		if d := time.Since(o.Modified); d < -time.Minute || d > time.Minute {
			t.Errorf("List: %s written at %s, %s from now", o.Key, o.Modified, d)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !strings.Contains(strings.Join(keys, " "), "b/r/0001/bagit.txt") {
		t.Fatalf("List: %v", keys)
	}
	sizes := map[string]int64{}
	if err := st.Keys(ctx, "b/r/", func(k string, size int64) error { sizes[k] = size; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes["b/r/0001/data/x"] != int64(len(body)) || sizes["b/r/0001/bagit.txt"] != int64(len(bagitDeclaration)) {
		t.Fatalf("Keys: %v", sizes)
	}
	keys = nil
	if err := st.List(ctx, "elsewhere/", func(o ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil || len(keys) != 0 {
		t.Fatalf("List of an empty prefix: %v %v", keys, err)
	}
	// Dirs: the folders directly under a prefix, once each, not the keys.
	if err := st.Put(ctx, "b/r2/0001/data/y", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "b/top", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatal(err)
	}
	dirs := func(prefix string) []string {
		t.Helper()
		var out []string
		if err := st.Dirs(ctx, prefix, func(name string) error { out = append(out, name); return nil }); err != nil {
			t.Fatalf("Dirs %q: %v", prefix, err)
		}
		slices.Sort(out)
		return out
	}
	for prefix, want := range map[string][]string{
		"": {"b"}, "b/": {"r", "r2"}, "b/r/": {"0001"}, "b/r/0001/": {"data"}, "b/r/0001/data/": nil, "elsewhere/": nil,
	} {
		if got := dirs(prefix); !slices.Equal(got, want) {
			t.Errorf("Dirs %q: %q, want %q", prefix, got, want)
		}
	}
	if err := st.Dirs(ctx, "b/r", func(string) error { return nil }); err == nil {
		t.Error("Dirs of a prefix without a final / succeeded")
	}
	// A short reader is an error, not a short object.
	if err := st.Put(ctx, "b/r/short", strings.NewReader("abc"), 10, until); err == nil {
		t.Error("put of fewer bytes than announced succeeded")
	}
	// An archive one folder below the store is found, for a URL given
	// one folder too high.
	if below, err := archivesBelow(ctx, st); err != nil || len(below) != 0 {
		t.Errorf("archives below a store of none: %q, %v", below, err)
	}
	if err := st.Put(ctx, "prod/"+BatchesPrefix+"all/r/"+CatalogFile, bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatal(err)
	}
	if below, err := archivesBelow(ctx, st); err != nil || !slices.Equal(below, []string{st.String() + "/prod"}) {
		t.Errorf("archives below: %q, %v; want %s/prod", below, err, st)
	}
	// A URL pointing inside that archive (a run's, copied from a
	// listing) names the archive it is in; one inside a folder that
	// holds no archive names nothing.
	if err := st.Put(ctx, "other/"+AuditPrefix+"2026/e", bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"prod/batches/all/r": "it is the folder batches/all/r inside the archive " + st.String() + "/prod: give that archive's URL, with --batch all",
		"prod/batches":       "it is the folder batches inside the archive " + st.String() + "/prod: give that archive's URL",
		"prod/audit/2026":    "it is the folder audit/2026 inside the archive " + st.String() + "/prod: give that archive's URL",
		"other/audit/2026":   "",
	} {
		got, err := Elsewhere(ctx, within(t, st, path), true)
		if err != nil || got != want {
			t.Errorf("where else than %s: %q, %v; want %q", path, got, err, want)
		}
	}
	// A command without --batch is not told to give one.
	if got, err := Elsewhere(ctx, within(t, st, "prod/batches/all"), false); err != nil || strings.Contains(got, "--batch") {
		t.Errorf("where else, for a command without --batch: %q, %v", got, err)
	}
	// An archive run into a folder inside that archive is refused before
	// anything is written.
	_, err = NewWriter(ctx, config(within(t, st, "prod/batches/all"), testKeys(t)))
	want := "is the folder batches/all inside the archive " + st.String() + "/prod: an archive written there would be locked inside that one"
	if !errors.As(err, new(*InsideArchiveError)) || !strings.Contains(err.Error(), want) {
		t.Errorf("an archive run inside an archive: %v; want %q", err, want)
	}
	if keys := keysUnder(t, st, "prod/"); len(keys) != 1 {
		t.Errorf("the refused run wrote into the archive: %q", keys)
	}
	// So is a first run into the folder above it.
	_, err = NewWriter(ctx, config(st, testKeys(t)))
	want = "holds no archive run, and the folder below it holds the archive " + st.String() + "/prod: a run written here would start a second archive"
	if !errors.As(err, new(*AboveArchiveError)) || !strings.Contains(err.Error(), want) {
		t.Errorf("a first archive run above an archive: %v; want %q", err, want)
	}
	if keys := keysUnder(t, st, BatchesPrefix); len(keys) != 0 {
		t.Errorf("the refused run wrote: %q", keys)
	}
	// An archive two folders below is found too (s3://bucket for
	// s3://bucket/star1/prod), but not one three below, nor one inside
	// an archive, and the nearer level is named alone.
	deep := within(t, st, "deep")
	for _, key := range []string{
		"deep/star1/prod/" + BatchesPrefix + "all/r/" + CatalogFile,
		"deep/star1/notes/readme",
		"deep/a/b/c/" + BatchesPrefix + "all/r/" + CatalogFile,
		"x/y/" + BatchesPrefix + "all/r/" + CatalogFile,
	} {
		if err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), until); err != nil {
			t.Fatal(err)
		}
	}
	if below, err := archivesBelow(ctx, deep); err != nil || !slices.Equal(below, []string{deep.String() + "/star1/prod"}) {
		t.Errorf("archives two below: %q, %v; want %s/star1/prod", below, err, deep)
	}
	if got, err := Elsewhere(ctx, deep, true); err != nil || !strings.Contains(got, deep.String()+"/star1/prod, holds an archive") {
		t.Errorf("where else than two folders above an archive: %q, %v", got, err)
	}
	_, err = NewWriter(ctx, config(deep, testKeys(t)))
	if !errors.As(err, new(*AboveArchiveError)) || !strings.Contains(err.Error(), "holds the archive "+deep.String()+"/star1/prod:") {
		t.Errorf("a first archive run two folders above an archive: %v", err)
	}
	if below, err := archivesBelow(ctx, within(t, st, "deep/a")); err != nil || !slices.Equal(below, []string{st.String() + "/deep/a/b/c"}) {
		t.Errorf("archives two below deep/a: %q, %v", below, err)
	}
	// An archive's own folder is not searched for archives below it.
	if err := st.Put(ctx, "prod/old/"+BatchesPrefix+"all/r/"+CatalogFile, bytes.NewReader(body), int64(len(body)), until); err != nil {
		t.Fatal(err)
	}
	if below, err := archivesBelow(ctx, within(t, st, "prod")); err != nil || len(below) != 0 {
		t.Errorf("archives below an archive: %q, %v; want none", below, err)
	}
	if below, err := archivesBelow(ctx, within(t, st, "")); err != nil || !slices.Equal(below, []string{st.String() + "/prod"}) {
		t.Errorf("archives below the store, one and two folders down: %q, %v; want the nearer alone", below, err)
	}
}

// keysUnder lists the keys of st under prefix.
func keysUnder(t *testing.T, st Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := st.Keys(context.Background(), prefix, func(key string, _ int64) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// within is the store at path inside st.
func within(t *testing.T, st Store, path string) Store {
	t.Helper()
	switch s := st.(type) {
	case *FileStore:
		return &FileStore{root: filepath.Join(s.root, filepath.FromSlash(path)), named: s.named}
	case *S3Store:
		cfg := s.cfg
		cfg.Prefix = strings.Trim(cfg.Prefix+"/"+path, "/")
		return &S3Store{client: s.client, cfg: cfg, first: map[string]string{}}
	}
	t.Fatalf("no store within a %T", st)
	return nil
}

func TestFileStoreContract(t *testing.T) {
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storeContract(t, st)
}

// TestFileStoreLeavesNoTemporaryFiles passes the contract with the
// temporary files of both kinds, nameless (Linux) and named (elsewhere),
// and checks that neither leaves a file behind and every object is
// read-only. TestResumeAfterKill checks the same after a writer is killed
// half-way through a Put.
func TestFileStoreLeavesNoTemporaryFiles(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			root := t.TempDir()
			st, err := NewFileStore(root)
			if err != nil {
				t.Fatal(err)
			}
			st.named = named
			if err := st.CheckWritable(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !named && runtime.GOOS == "linux" {
				f, err := createNameless(filepath.Join(root, fileTmp))
				if err != nil {
					t.Fatalf("no nameless file on Linux: %v", err)
				}
				f.Close()
			}
			storeContract(t, st)
			if left, err := os.ReadDir(filepath.Join(root, fileTmp)); err != nil || len(left) > 0 {
				t.Errorf("temporary files left: %v %v", left, err)
			}
			err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if fi, err := d.Info(); err != nil || fi.Mode().Perm() != 0o444 {
					t.Errorf("%s: mode %v (%v), want read-only", path, fi.Mode(), err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestS3StoreContract(t *testing.T) {
	st, _ := bucket(t, true)
	storeContract(t, st)
}

func TestS3StoreRefusesBucketWithoutLock(t *testing.T) {
	st, _ := bucket(t, false)
	err := st.CheckWritable(context.Background())
	if !errors.Is(err, ErrNoLock) || !strings.Contains(err.Error(), "Object Lock") {
		t.Fatalf("bucket without lock: %v", err)
	}
	k := testKeys(t)
	if _, err := NewWriter(context.Background(), config(st, k)); !errors.Is(err, ErrNoLock) {
		t.Fatalf("writer on a bucket without lock: %v", err)
	}
}

func TestS3StoreUnreachable(t *testing.T) {
	st, err := NewS3Store(S3Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Stat(context.Background(), "k")
	if err == nil || errors.Is(err, ErrNotExist) {
		t.Fatalf("unreachable store: %v, want an error that is not ErrNotExist", err)
	}
}

// TestS3StoreNamesAMissingBucket: every way into a bucket that does not
// exist says so in the same words, for the readers as for the writer.
func TestS3StoreNamesAMissingBucket(t *testing.T) {
	s3 := testenv.MinIO(t)
	name := testenv.Name("gone-")
	st, err := NewS3Store(S3Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: name, Prefix: "star1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := "bucket " + name + " does not exist"
	for what, err := range map[string]error{
		"CheckWritable": st.CheckWritable(ctx),
		"Stat":          func() error { _, err := st.Stat(ctx, "batches/b/catalog.json"); return err }(),
		"Get":           func() error { _, err := st.Get(ctx, "batches/b/catalog.json"); return err }(),
		"Keys":          st.Keys(ctx, "batches/", func(string, int64) error { return nil }),
		"Dirs":          st.Dirs(ctx, "batches/", func(string) error { return nil }),
		"List":          st.List(ctx, "batches/", func(ObjectInfo) error { return nil }),
	} {
		if err == nil || !strings.Contains(err.Error(), want) || errors.Is(err, ErrNotExist) {
			t.Errorf("%s: %v; want %q", what, err, want)
		}
	}
}

// TestS3StoreSaysWhichCredentialsWereRefused: an unknown access key or a
// wrong secret is named as refused credentials, with the variables that
// give them, and so is a session token the storage does not know (the
// token of temporary credentials that expired), by the writer's check
// and by the readers alike.
func TestS3StoreSaysWhichCredentialsWereRefused(t *testing.T) {
	s3 := testenv.MinIO(t)
	good, _ := bucket(t, true)
	ctx := context.Background()
	refused := "the storage refused the credentials; check STARMIG_S3_ACCESS_KEY and STARMIG_S3_SECRET_KEY"
	access, secret, _ := testenv.MinIOSession(t, "")
	for _, c := range []struct{ access, secret, token, want string }{
		{"nobody-" + testenv.Name(""), s3.SecretKey, "", refused},
		{s3.AccessKey, "not-the-secret", "", refused},
		{access, secret, "not-the-token", "the storage refused the session token of temporary credentials, which expire; check STARMIG_S3_SESSION_TOKEN"},
	} {
		st, err := NewS3Store(S3Config{Endpoint: s3.Endpoint, AccessKey: c.access, SecretKey: c.secret, SessionToken: c.token, Bucket: good.cfg.Bucket, Prefix: "star1"})
		if err != nil {
			t.Fatal(err)
		}
		for what, err := range map[string]error{
			"CheckWritable": st.CheckWritable(ctx),
			"Get":           func() error { _, err := st.Get(ctx, "batches/b/catalog.json"); return err }(),
			"Keys":          st.Keys(ctx, "batches/", func(string, int64) error { return nil }),
		} {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s with access key %s: %v; want %q", what, c.access, err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), "not-the-secret") || strings.Contains(err.Error(), "not-the-token") || strings.Contains(err.Error(), secret)) {
				t.Errorf("%s: the error shows the secret: %v", what, err)
			}
		}
	}
}

// TestS3ListReturnsWhenCancelled: a listing whose context is cancelled
// while it runs (a writer's run failing while it checks a write) returns
// the cancellation; it used to wait, now and then, for the retention of
// a key its lister had queued and then dropped.
func TestS3ListReturnsWhenCancelled(t *testing.T) {
	st, _ := bucket(t, true)
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	for i := range 150 {
		body := []byte(strings.Repeat("x", i))
		if err := st.Put(ctx, fmt.Sprintf("many/%03d", i), bytes.NewReader(body), int64(len(body)), until); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 40 {
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			n := 0
			done <- st.List(lctx, "many/", func(ObjectInfo) error {
				if n++; n == 1+round%5 {
					cancel()
				}
				return nil
			})
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("round %d: a cancelled listing returned %v", round, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: a cancelled listing has not returned in 30 s", round)
		}
		cancel()
	}
}

func TestOpenStoreNamesWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "demo", "archive"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, c := range []struct{ raw, want string }{
		{"file://elsewhere/x", `store URL "file://elsewhere/x": a file URL names a local folder, file:///path`},
		{"file://", `store URL "file://" has no folder`},
		{"file://user:hunter2@host/x", `a file URL names a local folder, file:///path`},
		{"s3://user:hunter2@ho st/x", `store URL "s3://user:**redacted**@ho st/x": invalid character " " in host name`},
		{"s3:///prod", `store URL "s3:///prod" has no bucket: want s3://bucket/prefix`},
		{"ftp://host/x", `store URL "ftp://host/x": want file:///path or s3://bucket/prefix`},
		// A local folder given as a path is named by its URL, and not
		// taken: a bucket's name without s3:// looks the same.
		{"demo/archive", `store URL "demo/archive": want file:///path or s3://bucket/prefix; the local folder demo/archive is file://` + filepath.ToSlash(filepath.Join(dir, "demo", "archive"))},
		{"star1-archive/prod", `store URL "star1-archive/prod": want file:///path or s3://bucket/prefix`},
		// # and ? end a URL's path: unescaped in a name, the rest would be
		// dropped, and the archive go to another folder or prefix.
		{"file:///srv/odd dir#1/archive", `store URL "file:///srv/odd dir#1/archive": a URL's path ends at # or ?, so "#1/archive" would be left out of the folder; write # as %23 and ? as %3F in a name`},
		{"s3://star1-archive/prod?v2", `so "?v2" would be left out of the prefix; write # as %23 and ? as %3F in a name`},
	} {
		st, err := OpenStore(c.raw, func(string) string { return "" })
		if err == nil || !strings.HasSuffix(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("OpenStore(%q) = %v, %v; want %q", c.raw, st, err, c.want)
		}
	}
}

// TestAFolderWithAnOddNameIsItsURL: a folder whose name holds what a URL
// escapes is opened by its escaped file URL, and the store names itself
// by that URL, which opens the same folder again.
func TestAFolderWithAnOddNameIsItsURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir #1 100%")
	raw := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	if !strings.Contains(raw, "odd%20dir%20%231%20100%25") {
		t.Fatalf("test URL %s is not escaped", raw)
	}
	st, err := OpenStore(raw, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if folder, ok := st.(*FileStore); !ok || folder.root != dir {
		t.Fatalf("OpenStore(%s) = %#v, want the folder %s", raw, st, dir)
	}
	if st.String() != raw {
		t.Errorf("the store names itself %s, want %s", st.String(), raw)
	}
	if err := st.(*FileStore).CheckWritable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the folder was not made where the URL says: %v", err)
	}
}

// TestAClockTooFarOffIsNamed: a storage that finds the request's time too
// far from its own (15 minutes on S3) says so in words that do not say
// whose clock to set; starmig names this machine's. The test cannot move
// MinIO's clock or its own, so it gives refused the storage's answer.
func TestAClockTooFarOffIsNamed(t *testing.T) {
	err := (&S3Store{}).refused(minio.ErrorResponse{Code: "RequestTimeTooSkewed", Message: "The difference between the request time and the server's time is too large."})
	if !strings.Contains(err.Error(), "this machine's clock is too far from the storage's; set it right (NTP)") {
		t.Errorf("refused: %v", err)
	}
}

// TestS3StoreContractOnABucketEncryptedByKMS: a bucket whose objects the
// storage encrypts with a KMS key by default (SSE-KMS, as sites that
// require encryption at rest set them) gives objects ETags that are not
// the MD5 of their bytes. A write retried after its answer was lost was
// then taken for an overwrite with other bytes, and stopped the run.
func TestS3StoreContractOnABucketEncryptedByKMS(t *testing.T) {
	st, client := bucket(t, true)
	if err := client.SetBucketEncryption(context.Background(), st.cfg.Bucket, sse.NewConfigurationSSEKMS(minioserver.KMSKey)); err != nil {
		t.Fatal(err)
	}
	storeContract(t, st)
}
