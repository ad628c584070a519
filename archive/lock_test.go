package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestS3ArchiveIsLockedAndNeverOverwritten(t *testing.T) {
	path := star1(t, 150)
	k := testKeys(t)
	st, client := bucket(t, true)
	ctx := context.Background()
	archiveSTAR1(t, path, small(config(st, k)))
	n := 0
	err := st.List(ctx, "", func(o ObjectInfo) error {
		n++
		if o.Mode != "COMPLIANCE" || !o.RetainUntil.Equal(retain) || o.Versions != 1 {
			t.Errorf("%s: mode %q until %v, %d versions; want COMPLIANCE until %v, 1 version", o.Key, o.Mode, o.RetainUntil, o.Versions, retain)
		}
		return nil
	})
	if err != nil || n < 20 {
		t.Fatalf("%d objects: %v", n, err)
	}
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	key := cats[0].Bundles[0].Prefix + TagManifest512
	// Deleting the version is refused, even with governance bypass.
	for obj := range client.ListObjects(ctx, st.cfg.Bucket, minio.ListObjectsOptions{Prefix: st.full(key), WithVersions: true}) {
		for _, bypass := range []bool{false, true} {
			if err := client.RemoveObject(ctx, st.cfg.Bucket, obj.Key, minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: bypass}); err == nil {
				t.Fatalf("deleting locked version of %s succeeded", key)
			}
		}
	}
	// Overwriting the key is refused, and the object is unchanged.
	before, _ := readAll(ctx, st, key, 1<<20)
	if err := st.Put(ctx, key, strings.NewReader("forged"), 6, retain); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
	after, _ := readAll(ctx, st, key, 1<<20)
	if !bytes.Equal(before, after) {
		t.Fatal("the object changed")
	}
	if info, _ := st.Stat(ctx, key); info.Versions != 1 {
		t.Fatalf("%d versions after a refused overwrite", info.Versions)
	}
}

// failingStore fails every Put after the first n.
type failingStore struct {
	Store
	n atomic.Int64
}

func (f *failingStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64, until time.Time) error {
	if f.n.Add(-1) < 0 {
		return errors.New("network is down")
	}
	return f.Store.Put(ctx, key, r, size, until)
}

func TestInterruptedRunIsCompletedByTheNextAndAccounted(t *testing.T) {
	path := star1(t, 200)
	k := testKeys(t)
	st, _ := NewFileStore(t.TempDir())
	ctx := context.Background()
	fs := &failingStore{Store: st}
	fs.n.Store(15)
	cfg := small(config(fs, k))
	w, err := NewWriter(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := openSnap(t, path)
	err = WriteAll(ctx, src, w, nil)
	if err == nil {
		_, err = w.Close()
	} else {
		w.Abort(err)
	}
	if err == nil || !strings.Contains(err.Error(), "network is down") {
		t.Fatalf("interrupted run: %v", err)
	}
	runs, _ := ListRuns(ctx, st, "all")
	if len(runs) != 1 || runs[0].Complete {
		t.Fatalf("after the interruption: %+v", runs)
	}
	if _, err := LatestCatalogs(ctx, st, k.pub, "all"); err == nil {
		t.Fatal("an interrupted run looks whole")
	}
	var left []string
	st.List(ctx, RunPrefix("all", runs[0].Run), func(o ObjectInfo) error { left = append(left, o.Key); return nil })
	// The next run completes the work and accounts for what was left.
	archiveSTAR1(t, path, small(config(st, k)))
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	if cats[0].Run == runs[0].Run || len(cats[0].Abandoned) != len(left) {
		t.Fatalf("new run %s accounts for %d objects of the interrupted run, which left %d", cats[0].Run, len(cats[0].Abandoned), len(left))
	}
}
