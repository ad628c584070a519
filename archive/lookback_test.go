package archive

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLookBackBeyondOneWindow: the earlier runs are searched lookBack at
// a time, side by side, yet the answer is the one a search newest first,
// one run after another, gives: the newest earlier run that holds the
// rows, also when it lies past the first window and when older runs in
// its window hold rows too; and with every run asked for, each earlier
// run once, newest first. Every run read is named for the audit.
func TestLookBackBeyondOneWindow(t *testing.T) {
	ctx := context.Background()
	path := star1(t, 120)
	root := t.TempDir()
	st, err := NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var codes []string
	rows, err := db.Query("SELECT DISTINCT ISIKUKOOD FROM ISIK WHERE length(ISIKUKOOD) = 11 ORDER BY ISIKUKOOD LIMIT 3")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		codes = append(codes, c)
	}
	rows.Close()
	if len(codes) != 3 {
		t.Fatalf("codes %v", codes)
	}
	// early leaves STAR1 after the first run, late after run lookBack-1:
	// with lookBack+3 runs, the search from the newest finds early in its
	// second window, late in its first, beside the older runs holding it.
	early, late, kept := codes[0], codes[1], codes[2]
	total := lookBack + 3
	var written []string // run names, oldest first
	for i := range total {
		cfg := small(config(st, k))
		cfg.Now = now.Add(time.Duration(i) * time.Hour)
		written = append(written, archiveSTAR1(t, path, cfg).Run)
		gone, ok := map[int]string{0: early, lookBack - 2: late}[i]
		if !ok {
			continue
		}
		if _, err := db.Exec("DELETE FROM ISIK WHERE ISIKUKOOD = ?", gone); err != nil {
			t.Fatal(err)
		}
	}
	cats, err := LatestCatalogs(ctx, st, k.pub, "")
	if err != nil || len(cats) != 1 || cats[0].Run != written[total-1] {
		t.Fatalf("newest %v %v", cats, err)
	}
	r := NewReader(st, k.pub, k.identities, k.index)
	search := func(code string, all bool) ([]*Found, []*Catalog) {
		t.Helper()
		found, err := r.Retrieve(ctx, cats, PersonByCode(code))
		if err != nil {
			t.Fatal(err)
		}
		found, read, err := r.RetrieveEarlier(ctx, found, PersonByCode(code), LookBack{All: all})
		if err != nil {
			t.Fatal(err)
		}
		return found, read
	}
	runsOf := func(found []*Found) string {
		var out []string
		for _, f := range found {
			if f.Unread != "" {
				out = append(out, f.Run+":unread")
				continue
			}
			out = append(out, fmt.Sprintf("%s:%t", f.Run, f.Rows() > 0))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		code string
		in   int // the newest run that holds the person
		read int // earlier runs read
	}{
		{early, 0, total - 1},
		{late, lookBack - 2, lookBack},
	} {
		found, read := search(tc.code, false)
		want := fmt.Sprintf("%s:false %s:true", written[total-1], written[tc.in])
		if got := runsOf(found); got != want {
			t.Errorf("person in runs up to %d: %s, want %s", tc.in, got, want)
		} else if found[1].Newest != written[total-1] || len(found[1].Tables["ISIK"]) == 0 {
			t.Errorf("person in runs up to %d: earlier run %+v", tc.in, found[1])
		}
		if len(read) != tc.read {
			t.Errorf("person in runs up to %d: %d earlier runs read, want %d", tc.in, len(read), tc.read)
		}
	}
	found, read := search(kept, true)
	var want []string
	for i := total - 1; i >= 0; i-- {
		want = append(want, written[i]+":true")
	}
	if got := runsOf(found); got != strings.Join(want, " ") || len(read) != total-1 {
		t.Errorf("every run: %s (%d read), want %s", got, len(read), strings.Join(want, " "))
	}

	// Two earlier runs that cannot be read as written: one's catalog is
	// changed, the other's ISIK files have a byte flipped. The search
	// stops there, unless told to list them and go on; one it does not
	// reach does not matter.
	bad := []int{total - 2, total - 4}
	catalog := filepath.Join(root, filepath.FromSlash(RunPrefix("all", written[bad[0]])+CatalogFile))
	body, err := os.ReadFile(catalog)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, catalog, bytes.Replace(body, []byte(`"batch"`), []byte(`"Batch"`), 1))
	isik, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(RunPrefix("all", written[bad[1]])), "*", "data", "ISIK", "*"))
	if len(isik) == 0 {
		t.Fatal("no ISIK file")
	}
	for _, f := range isik {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body[len(body)/2] ^= 1
		replaceFile(t, f, body)
	}
	newest, err := r.Retrieve(ctx, cats, PersonByCode(kept))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.RetrieveEarlier(ctx, newest, PersonByCode(kept), LookBack{All: true}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("every run, two of them damaged: %v, want %v", err, ErrBadSignature)
	}
	found, read, err = r.RetrieveEarlier(ctx, newest, PersonByCode(kept), LookBack{All: true, SkipUnreadable: true})
	for _, i := range bad {
		want[total-1-i] = written[i] + ":unread"
	}
	if got := runsOf(found); err != nil || got != strings.Join(want, " ") || len(read) != total-2 {
		t.Errorf("every run, two of them damaged, skipping them: %s (%d read) %v, want %s", got, len(read), err, strings.Join(want, " "))
	} else if !strings.Contains(found[total-1-bad[1]].Unread, "data/ISIK/") || found[total-1-bad[1]].Newest != written[total-1] {
		t.Errorf("the run left out: %+v", found[total-1-bad[1]])
	}
	// early is in no run after the first: the search lists the run whose
	// catalog it could not read on its way there. The other damaged run
	// holds no block of early's, and reads as written for this query.
	newest, err = r.Retrieve(ctx, cats, PersonByCode(early))
	if err != nil {
		t.Fatal(err)
	}
	found, _, err = r.RetrieveEarlier(ctx, newest, PersonByCode(early), LookBack{SkipUnreadable: true})
	if got, want := runsOf(found), fmt.Sprintf("%s:false %s:unread %s:true", written[total-1], written[bad[0]], written[0]); err != nil || got != want {
		t.Errorf("a person only the first run holds, skipping: %s %v, want %s", got, err, want)
	}
}

// countingKeys counts the keys a store's listings visit.
type countingKeys struct {
	Store
	keys atomic.Int64
}

func (c *countingKeys) Keys(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return c.Store.Keys(ctx, prefix, func(k string, n int64) error { c.keys.Add(1); return fn(k, n) })
}

func (c *countingKeys) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	return c.Store.List(ctx, prefix, func(o ObjectInfo) error { c.keys.Add(1); return fn(o) })
}

// TestListRunsListsNoBundle: finding the runs visits each run's catalog
// files and nothing of its bundles, so a retrieval's first step costs the
// same however large the runs are. An interrupted run (no signature) is
// listed, not complete.
func TestListRunsListsNoBundle(t *testing.T) {
	ctx := context.Background()
	path := star1(t, 120)
	fs, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t)
	for i := range 3 {
		cfg := small(config(fs, k))
		cfg.Now = now.Add(time.Duration(i) * time.Hour)
		if i == 2 {
			cfg.Batch = "other"
		}
		archiveSTAR1(t, path, cfg)
	}
	// An interrupted run: a bundle file, no catalog.
	body := strings.NewReader("x")
	if err := fs.Put(ctx, RunPrefix("all", "20261121T230000Z-000000")+"0001/bagit.txt", body, 1, now); err != nil {
		t.Fatal(err)
	}
	var objects int
	fs.Keys(ctx, BatchesPrefix, func(string, int64) error { objects++; return nil })
	st := &countingKeys{Store: fs}
	runs, err := ListRuns(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s %t", r.Batch, r.Complete))
	}
	if strings.Join(got, ", ") != "all true, all true, all false, other true" {
		t.Errorf("runs: %v", got)
	}
	if n := st.keys.Load(); n != 6 {
		t.Errorf("ListRuns visited %d keys of the %d stored, want the 6 catalog files", n, objects)
	}
	st.keys.Store(0)
	if runs, err := ListRuns(ctx, st, "other"); err != nil || len(runs) != 1 || st.keys.Load() != 2 {
		t.Errorf("runs of one batch: %v %v, %d keys visited", runs, err, st.keys.Load())
	}
}
