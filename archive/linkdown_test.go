package archive

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/starmig/starmig/internal/testenv"
)

// TestLinkDownIsNotDamage cuts the link to the storage in the middle of a
// retrieval that searches every earlier run and of a restore, both told to
// leave out what they cannot read. Neither may take the cut for damage and
// answer from what it read: both stop with an error of the storage, and
// the restore leaves no schema.
func TestLinkDownIsNotDamage(t *testing.T) {
	f := newFarArchive(t, 2)
	k, code := f.k, f.code
	s3 := testenv.MinIO(t)
	ctx := context.Background()
	through := func(c *testenv.Cut) *Reader { return f.through(t, c.Addr) }

	retrieve := func(r *Reader) ([]*Found, error) {
		cats, err := LatestCatalogs(ctx, r.store, k.pub, "all")
		if err != nil {
			return nil, err
		}
		found, err := r.Retrieve(ctx, cats, PersonByCode(code))
		if err != nil {
			return nil, err
		}
		found, _, err = r.RetrieveEarlier(ctx, found, PersonByCode(code), LookBack{All: true, SkipUnreadable: true})
		return found, err
	}
	whole := testenv.CutAfter(t, s3.Endpoint, -1)
	found, err := retrieve(through(whole))
	if err != nil || len(found) != 2 || found[0].Rows() == 0 || found[0].Rows() != found[1].Rows() {
		t.Fatalf("retrieval through the whole link: %v, %v", found, err)
	}
	for i := int64(1); i < 8; i++ {
		cut := testenv.CutAfter(t, s3.Endpoint, whole.Bytes()*i/8)
		found, err := retrieve(through(cut))
		if err == nil || !StorageFault(err) {
			var unread []string
			for _, f := range found {
				unread = append(unread, f.Unread)
			}
			t.Errorf("retrieval, link down after %d of %d bytes: %v (unread %q); want an error of the storage", cut.Bytes(), whole.Bytes(), err, unread)
		}
	}

	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	restore := func(r *Reader, schema string) error {
		cats, err := LatestCatalogs(ctx, r.store, k.pub, "all")
		if err != nil {
			return err
		}
		_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: schema, SkipUnreadable: true})
		return err
	}
	whole = testenv.CutAfter(t, s3.Endpoint, -1)
	if err := restore(through(whole), "whole"); err != nil {
		t.Fatalf("restore through the whole link: %v", err)
	}
	for i := int64(1); i < 4; i++ {
		cut := testenv.CutAfter(t, s3.Endpoint, whole.Bytes()*i/4)
		schema := "cut" + string(rune('0'+i))
		err := restore(through(cut), schema)
		if err == nil || !StorageFault(err) {
			t.Errorf("restore, link down after %d of %d bytes: %v; want an error of the storage", cut.Bytes(), whole.Bytes(), err)
		}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
			t.Errorf("the restore cut off left schema %s (%v)", schema, err)
		}
	}
}

// TestABlinkingLinkIsReadThrough drops connections to the storage in the
// middle of a listing's, a restore's and a retrieval's reads, as a long
// link abroad resets one now and then: each read asks for the rest of its
// object or listing again, and all three give what they give over a link
// that drops nothing.
func TestABlinkingLinkIsReadThrough(t *testing.T) {
	f := newFarArchive(t, 1)
	k, code := f.k, f.code
	s3 := testenv.MinIO(t)
	ctx := context.Background()
	through := func(b *testenv.Blinks) *Reader { return f.through(t, b.Addr) }
	keys := func(b *testenv.Blinks) []string {
		t.Helper()
		var out []string
		if err := through(b).store.Keys(ctx, "", func(key string, size int64) error {
			out = append(out, fmt.Sprint(key, " ", size))
			return nil
		}); err != nil {
			t.Fatalf("listing: %v", err)
		}
		return out
	}
	whole := testenv.BlinkAt(t, s3.Endpoint)
	wantKeys := keys(whole)
	n := whole.Bytes()
	blinking := testenv.BlinkAt(t, s3.Endpoint, n/2)
	if got := keys(blinking); !slices.Equal(got, wantKeys) || blinking.Dropped() != 1 {
		t.Errorf("listing over a blinking link: %d keys, the link dropped %d; want %d keys, 1 dropped", len(got), blinking.Dropped(), len(wantKeys))
	}

	dirs := func(b *testenv.Blinks) []string {
		t.Helper()
		var out []string
		if err := through(b).store.Dirs(ctx, "batches/all/", func(name string) error {
			out = append(out, name)
			return nil
		}); err != nil {
			t.Fatalf("listing the runs: %v", err)
		}
		return out
	}
	whole = testenv.BlinkAt(t, s3.Endpoint)
	wantDirs := dirs(whole)
	n = whole.Bytes()
	// In the answer's body, not its headers, which the client asks for
	// again itself.
	blinking = testenv.BlinkAt(t, s3.Endpoint, n-20)
	if got := dirs(blinking); !slices.Equal(got, wantDirs) || len(got) == 0 || blinking.Dropped() != 1 {
		t.Errorf("runs listed over a blinking link: %q, the link dropped %d; want %q, 1 dropped", got, blinking.Dropped(), wantDirs)
	}

	// List asks each key's retention: small answers, which the client
	// reads after its own retries are over. The link cuts off the first
	// answer for every key in the middle.
	list := func(st Store) ([]string, error) {
		var out []string
		err := st.List(ctx, "", func(info ObjectInfo) error {
			out = append(out, fmt.Sprint(info))
			return nil
		})
		slices.Sort(out)
		return out, err
	}
	wantInfos, err := list(f.st)
	if err != nil {
		t.Fatal(err)
	}
	link := &faultyLink{target: &url.URL{Scheme: "http", Host: s3.Endpoint}, cutRetention: true, faults: map[string]int{}, cut: map[string]bool{}}
	srv := httptest.NewServer(link)
	defer srv.Close()
	got, err := list(f.through(t, strings.TrimPrefix(srv.URL, "http://")).store)
	if err != nil || !slices.Equal(got, wantInfos) || link.faults[faultCutAnswer] != len(wantInfos) {
		t.Errorf("List over a link that cut off %d answers: %v; %d objects, want %d", link.faults[faultCutAnswer], err, len(got), len(wantInfos))
	}

	conn := testenv.Connect(t, testenv.Postgres(t))
	restore := func(r *Reader, schema string) map[string]Sum {
		t.Helper()
		cats, err := LatestCatalogs(ctx, r.store, k.pub, "all")
		if err != nil {
			t.Fatal(err)
		}
		stats, err := r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: schema})
		if err != nil {
			t.Fatalf("restore into %s: %v", schema, err)
		}
		return stats.Tables
	}
	retrieve := func(r *Reader) map[string][]string {
		t.Helper()
		cats, err := LatestCatalogs(ctx, r.store, k.pub, "all")
		if err != nil {
			t.Fatal(err)
		}
		found, err := r.Retrieve(ctx, cats, PersonByCode(code))
		if err != nil || len(found) != 1 || found[0].Rows() == 0 {
			t.Fatalf("retrieval: %v, %v", found, err)
		}
		out := map[string][]string{}
		for table, rows := range found[0].Tables {
			for _, r := range rows {
				out[table] = append(out[table], fmt.Sprint(r))
			}
		}
		return out
	}

	whole = testenv.BlinkAt(t, s3.Endpoint)
	want := restore(through(whole), "whole")
	n = whole.Bytes()
	blinking = testenv.BlinkAt(t, s3.Endpoint, n/4, n/2, n*3/4)
	if got := restore(through(blinking), "blinking"); !reflect.DeepEqual(got, want) {
		t.Errorf("restore over a blinking link: %v, want %v", got, want)
	}
	if blinking.Dropped() != 3 {
		t.Errorf("the link dropped %d connections of the restore, want 3", blinking.Dropped())
	}

	whole = testenv.BlinkAt(t, s3.Endpoint)
	wantRows := retrieve(through(whole))
	n = whole.Bytes()
	blinking = testenv.BlinkAt(t, s3.Endpoint, n/3, n*2/3)
	if got := retrieve(through(blinking)); !maps.EqualFunc(got, wantRows, func(a, b []string) bool { return reflect.DeepEqual(a, b) }) {
		t.Errorf("retrieval over a blinking link: %d tables, want %d", len(got), len(wantRows))
	}
	if blinking.Dropped() != 2 {
		t.Errorf("the link dropped %d connections of the retrieval, want 2", blinking.Dropped())
	}
}

// TestAListingThroughALinkThatBreaksEveryPage lists 1 200 keys, each in
// a folder of its own, over a link that drops an answer's connection each
// time 40 kB have come through since the last drop. A page of the
// storage's own 1 000 keys is several times that and never got through;
// the listings ask for smaller pages after each break, and hand on every
// key and every folder once.
func TestAListingThroughALinkThatBreaksEveryPage(t *testing.T) {
	direct, client := bucket(t, false)
	ctx := context.Background()
	const n = 1200
	names := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				if _, err := client.PutObject(ctx, direct.cfg.Bucket, direct.full(fmt.Sprintf("p/r%04d/x", i)), strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range n {
		names <- i
	}
	close(names)
	wg.Wait()

	s3 := testenv.MinIO(t)
	link := testenv.BlinkDownEvery(t, s3.Endpoint, 40_000)
	far := nearStore(t, direct, link.Addr)
	keys := map[string]int{}
	if err := far.Keys(ctx, "p/", func(key string, _ int64) error { keys[key]++; return nil }); err != nil {
		t.Fatalf("keys over a link that breaks every page: %v", err)
	}
	dirs := map[string]int{}
	if err := far.Dirs(ctx, "p/", func(name string) error { dirs[name]++; return nil }); err != nil {
		t.Fatalf("folders over a link that breaks every page: %v", err)
	}
	t.Logf("%d connections dropped", link.Dropped())
	if link.Dropped() < 2 {
		t.Errorf("the link dropped %d connections; the test wants it to break listings", link.Dropped())
	}
	if len(keys) != n || len(dirs) != n {
		t.Errorf("%d keys and %d folders handed on, want %d of each", len(keys), len(dirs), n)
	}
	for k, c := range keys {
		if c != 1 {
			t.Errorf("key %s handed on %d times", k, c)
		}
	}
	for d, c := range dirs {
		if c != 1 {
			t.Errorf("folder %s handed on %d times", d, c)
		}
	}
}

// learnFails is a folder store whose listing of a run for its readers
// (S3Store.Learn) meets a link that is down.
type learnFails struct{ *FileStore }

func (learnFails) Learn(context.Context, string) error {
	return fmt.Errorf("Get \"http://127.0.0.1:1/\": dial tcp 127.0.0.1:1: connect: connection refused")
}

// TestALinkDownWhileARunIsListedIsTheStorages: reading a catalog also
// lists its run, on S3, to learn the first version of each key. Where the
// link went down during that listing, the error was not marked as the
// storage's, and a retrieval told to leave out what it cannot read left
// the run out as unreadable and answered from the others
// (TestLinkDownIsNotDamage met it now and then).
func TestALinkDownWhileARunIsListedIsTheStorages(t *testing.T) {
	k := testKeys(t)
	st, cats := archivedFolder(t, star1(t, 30), k, nil)
	_, _, err := ReadCatalog(context.Background(), learnFails{st}, k.pub, cats[0].Batch, cats[0].Run)
	if err == nil || !StorageFault(err) || Unreadable(err) {
		t.Errorf("catalog read while its run's listing failed: %v; want an error of the storage", err)
	}
}
