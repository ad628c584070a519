package archive

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// TestABlinkingLinkIsReadThrough drops connections to the storage in the
// middle of a listing's, a restore's and a retrieval's reads, as a long
// link abroad resets one now and then: each read asks for the rest of its
// object or listing again, and all three give what they give over a link
// that drops nothing.
func TestABlinkingLinkIsReadThrough(t *testing.T) {
	st, _ := bucket(t, true)
	k := testKeys(t)
	path := star1(t, 300)
	archiveSTAR1(t, path, small(config(st, k)))
	code := richPerson(t, path)
	s3 := testenv.MinIO(t)
	ctx := context.Background()
	through := func(b *testenv.Blinks) *Reader {
		far, err := NewS3Store(S3Config{Endpoint: b.Addr, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: st.cfg.Bucket, Prefix: "star1"})
		if err != nil {
			t.Fatal(err)
		}
		return NewReader(far, k.pub, k.identities, k.index)
	}
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
