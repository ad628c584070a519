package archive

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

// TestRestoreSkipsWhatItCannotRead damages an archive run as a crisis
// might find it: one payload file cut short, and one bundle whose tag
// manifest signature is gone. A restore refuses the run; a restore with
// SkipUnreadable restores everything else, exactly, names what it left
// out with its rows, keeps that list in the schema, and the schema is
// then refused as a STAR1 to migrate from. A fault of the storage is not
// damage, and still stops it.
func TestRestoreSkipsWhatItCannotRead(t *testing.T) {
	root := t.TempDir()
	st, err := NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	path := star1(t, 900)
	// Eight times the payments, so that a file of them is of more than
	// one age chunk.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := db.Exec(`INSERT INTO MAKSE SELECT MAKSE_ID + (SELECT max(MAKSE_ID) FROM MAKSE), OTSUS_ID, SUMMA, VALUUTA, MAKSE_KP, SAAJA_IBAN, STAATUS FROM MAKSE`); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	k, cats := archiveInMiBs(t, st, path)
	ctx := context.Background()
	cat := cats[0]
	if len(cat.Bundles) < 3 {
		t.Fatalf("%d bundles, want 3 or more", len(cat.Bundles))
	}
	r := NewReader(st, k.pub, k.identities, nil)
	// A file of decisions (money: OTSUS.SUMMA) is cut short, in a bundle
	// other than the one whose signature goes.
	var b *Bundle
	var cut *fileInfo
	for i, e := range cat.Bundles {
		if i == 1 || cut != nil {
			continue
		}
		if b, err = r.OpenBundle(ctx, e); err != nil {
			t.Fatal(err)
		}
		for _, f := range b.contents.Files {
			if f.Table == "OTSUS" && !f.Reference && f.Rows > 10 {
				cut = f
				break
			}
		}
	}
	if cut == nil {
		t.Fatal("no OTSUS payload file of over 10 rows")
	}
	file := filepath.Join(root, filepath.FromSlash(b.Entry.Prefix+cut.Path))
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, file, body[:len(body)*2/3])
	gone := cat.Bundles[1]
	if err := os.Remove(filepath.Join(root, filepath.FromSlash(gone.Prefix+TagSignature))); err != nil {
		t.Fatal(err)
	}
	// A file of payments, of more than one age chunk, has a byte flipped
	// in its first chunk, as bit rot would: the blocks of that chunk are
	// lost, with the money the bundle's contents say they hold, and the
	// rest of the file restores.
	var flipped *fileInfo
	var flippedIn *Bundle
	for i, e := range cat.Bundles {
		if i == 1 || flipped != nil {
			continue
		}
		fb, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fb.contents.Files {
			if f.Table == "MAKSE" && !f.Reference && len(f.Blocks) >= 3 && f.Stored > ageChunk+4096 {
				flipped, flippedIn = f, fb
				break
			}
		}
	}
	if flipped == nil {
		t.Fatal("no payload file of payments of more than one age chunk")
	}
	flippedPath := filepath.Join(root, filepath.FromSlash(flippedIn.Entry.Prefix+flipped.Path))
	if body, err = os.ReadFile(flippedPath); err != nil {
		t.Fatal(err)
	}
	body[2000] ^= 0x10
	replaceFile(t, flippedPath, body)

	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	exists := func(schema string) bool {
		var found bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&found); err != nil {
			t.Fatal(err)
		}
		return found
	}
	if _, err := r.Restore(ctx, conn, cat, RestoreOptions{Schema: "refused"}); err == nil || exists("refused") {
		t.Fatalf("restore of a damaged run: %v; want it refused, with nothing restored", err)
	}

	prog, progDone := countedProgress(t)
	rs, err := r.Restore(ctx, conn, cat, RestoreOptions{Schema: "what_reads", SkipUnreadable: true, Progress: prog})
	if err != nil {
		t.Fatal(err)
	}
	progDone()
	left := map[string]int64{}
	var wantUnread []Unread
	wantUnread = append(wantUnread, Unread{Bundle: b.Entry.ID, File: cut.Path, Table: cut.Table, Rows: cut.Rows})
	for _, name := range slices.Sorted(maps.Keys(gone.Tables)) {
		if n := gone.Tables[name].Rows; n > 0 {
			wantUnread = append(wantUnread, Unread{Bundle: gone.ID, Table: name, Rows: n})
		}
	}
	slices.SortFunc(wantUnread, func(x, y Unread) int { return strings.Compare(x.Bundle+x.File+x.Table, y.Bundle+y.File+y.Table) })
	var got []Unread
	var lost int64
	for _, u := range rs.Unread {
		if u.File != flipped.Path {
			got = append(got, u)
			continue
		}
		if !strings.Contains(u.Reason, flipped.Path+" block 0: ") || !strings.HasPrefix(u.Reason, "blocks 0 to ") {
			t.Errorf("left out of the file with a byte flipped: %+v; want a block named", u)
		}
		if u.Money["SUMMA"] == "" {
			t.Errorf("left out of the file with a byte flipped: %+v; want the money of its rows said", u)
		}
		lost += u.Rows
		left[u.Table] += u.Rows
	}
	if lost == 0 || lost >= flipped.Rows {
		t.Errorf("%d of the %d rows of %s, with a byte flipped in its first chunk, left out; want its first blocks only", lost, flipped.Rows, flipped.Path)
	}
	for i := range got {
		if !strings.Contains(got[i].Reason, got[i].Bundle) {
			t.Errorf("left out %+v: the reason does not name the bundle", got[i])
		}
		got[i].Reason, got[i].Money = "", nil
		left[got[i].Table] += got[i].Rows
	}
	slices.SortFunc(got, func(x, y Unread) int { return strings.Compare(x.Bundle+x.File+x.Table, y.Bundle+y.File+y.Table) })
	if !slices.EqualFunc(got, wantUnread, func(x, y Unread) bool { return fmt.Sprint(x) == fmt.Sprint(y) }) {
		t.Errorf("left out:\n got %+v\nwant %+v", got, wantUnread)
	}
	// The money of a bundle left out whole is the catalog's, that of a
	// file or its blocks the bundle's contents': every table's sums are
	// checked, and what was restored and what was left out add up to the
	// catalog's.
	if len(rs.MoneyUnchecked) != 0 {
		t.Errorf("money unchecked for %v, want none", rs.MoneyUnchecked)
	}
	for _, tab := range extract.Tables {
		want := map[string]mapping.Cents{}
		for _, e := range cat.Bundles {
			for col, v := range e.Tables[tab.Name].Money {
				c, err := mapping.ParseSum(v)
				if err != nil {
					t.Fatal(err)
				}
				want[col] += c
			}
		}
		if tab.Name == "OTSUS" && want["SUMMA"] == 0 {
			t.Fatal("the decisions hold no money")
		}
		got := map[string]mapping.Cents{}
		for col, v := range rs.Tables[tab.Name].Money {
			if got[col], err = mapping.ParseSum(v); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range rs.Unread {
			if u.Table != tab.Name {
				continue
			}
			if u.File == cut.Path && u.Money["SUMMA"] == "" {
				t.Errorf("left out %+v: no money said for the rows of a file of decisions", u)
			}
			for col, v := range u.Money {
				c, err := mapping.ParseSum(v)
				if err != nil {
					t.Fatal(err)
				}
				got[col] += c
			}
		}
		for col, w := range want {
			if got[col] != w {
				t.Errorf("%s.%s: %s restored and left out, the catalog says %s", tab.Name, col, got[col], w)
			}
		}
	}
	var listed int64
	if err := conn.QueryRow(ctx, "SELECT sum(rows) FROM what_reads."+extract.PostgresUnreadTable).Scan(&listed); err != nil {
		t.Fatal(err)
	}
	// The money left out is kept with the parts.
	var keptMoney string
	if err := conn.QueryRow(ctx, "SELECT coalesce(sum((money->>'SUMMA')::numeric), 0)::text FROM what_reads."+extract.PostgresUnreadTable+" WHERE table_name = 'MAKSE'").Scan(&keptMoney); err != nil {
		t.Fatal(err)
	}
	var leftMoney mapping.Cents
	for _, u := range rs.Unread {
		if u.Table == "MAKSE" {
			c, err := mapping.ParseSum(u.Money["SUMMA"])
			if err != nil {
				t.Fatal(err)
			}
			leftMoney += c
		}
	}
	if kept, err := mapping.ParseSum(keptMoney); err != nil || kept != leftMoney || leftMoney == 0 {
		t.Errorf("restore_unread keeps %s of the payments' money left out, the restore left out %s", keptMoney, leftMoney)
	}
	var total int64
	for _, n := range left {
		total += n
	}
	if listed != total || total == 0 {
		t.Errorf("restore_unread holds %d rows, the restore left out %d", listed, total)
	}

	// Read as STAR1, the schema is refused, naming what it lacks.
	srcURL := testenv.WithSchema(dsn, "what_reads")
	src, err := extract.Open(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := src.Begin(ctx); err == nil {
		snap.Close()
		t.Error("a restore that left rows out was read as STAR1")
	} else if !strings.Contains(err.Error(), "--skip-unreadable") || !strings.Contains(err.Error(), "rows of "+cut.Table) {
		t.Errorf("a restore that left rows out, read as STAR1: %v", err)
	}
	src.Close()
	// Every row it restored is STAR1's, and it restored all but what it
	// left out.
	if _, err := conn.Exec(ctx, "DROP TABLE what_reads."+extract.PostgresUnreadTable); err != nil {
		t.Fatal(err)
	}
	for _, tab := range extract.Tables {
		source := sourceRowsAs(t, path, tab, true)
		slices.Sort(source)
		restored := restoredRows(t, dsn, "what_reads", tab)
		if int64(len(restored)) != int64(len(source))-left[tab.Name] || rs.Tables[tab.Name].Rows != int64(len(restored)) {
			t.Errorf("%s: %d rows restored (%d reported), STAR1 has %d, %d left out", tab.Name, len(restored), rs.Tables[tab.Name].Rows, len(source), left[tab.Name])
		}
		for _, row := range restored {
			if _, ok := slices.BinarySearch(source, row); !ok {
				t.Errorf("%s: restored row not in STAR1: %s", tab.Name, row)
				break
			}
		}
	}

	// The storage failing is no damage to skip.
	faulty := &unansweringStore{Store: st, fail: cat.Bundles[2].Prefix + "data/"}
	_, err = NewReader(faulty, k.pub, k.identities, nil).Restore(ctx, conn, cat, RestoreOptions{Schema: "storage_fails", SkipUnreadable: true})
	if err == nil || !strings.Contains(err.Error(), "connection reset") || exists("storage_fails") {
		t.Errorf("restore --skip-unreadable over failing storage: %v; want it stopped, with nothing restored", err)
	}
	// Nor is an identity the run was not encrypted to: every bundle would
	// be left out, and an empty schema restored.
	other := testKeys(t)
	_, err = NewReader(st, k.pub, other.identities, nil).Restore(ctx, conn, cat, RestoreOptions{Schema: "wrong_identity", SkipUnreadable: true})
	var notOurs *age.NoIdentityMatchError
	if !errors.As(err, &notOurs) || exists("wrong_identity") {
		t.Errorf("restore --skip-unreadable with another identity: %v; want it stopped, with nothing restored", err)
	}
}

// unansweringStore fails every Get of a key under fail, as storage that
// stops answering would.
type unansweringStore struct {
	Store
	fail string
}

func (s *unansweringStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, s.fail) {
		return nil, errors.New("read tcp 127.0.0.1:9000: connection reset by peer")
	}
	return s.Store.Get(ctx, key)
}

// TestRestoreLeavesOutWholeAFileAlteredBeforeEncryption: a payload file
// whose plaintext was altered before it was encrypted reads as written,
// block by block, since its blocks' digests were taken after the change;
// only the file's plaintext digest tells. SkipUnreadable leaves it out
// whole instead of restoring its blocks one by one.
func TestRestoreLeavesOutWholeAFileAlteredBeforeEncryption(t *testing.T) {
	path := star1(t, 100)
	k := testKeys(t)
	conn := testenv.Connect(t, testenv.Postgres(t))
	ctx := context.Background()
	// The money of the file left out is the bundle's contents' (taken
	// before the file was altered) and checked; a bundle written before it
	// kept that leaves the table's money unchecked.
	for _, old := range []bool{false, true} {
		st, err := NewFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := small(config(st, k))
		cfg.withoutBlockMoney = old
		altered := ""
		cfg.TamperPlaintext = func(file string, plain []byte) {
			if altered == "" && strings.HasPrefix(file, "data/MAKSE/") {
				if i := bytes.Index(plain, []byte(`"SUMMA":"`)); i >= 0 {
					plain[i+9] = '9'
					altered = file
				}
			}
		}
		archiveSTAR1(t, path, cfg)
		cats, err := LatestCatalogs(ctx, st, k.pub, "all")
		if err != nil || altered == "" {
			t.Fatal(err, altered)
		}
		schema := fmt.Sprintf("altered_%t", old)
		rs, err := NewReader(st, k.pub, k.identities, nil).Restore(ctx, conn, cats[0], RestoreOptions{Schema: schema, SkipUnreadable: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs.Unread) != 1 || rs.Unread[0].File != altered || !strings.Contains(rs.Unread[0].Reason, ErrPlainDigest.Error()) {
			t.Fatalf("left out %+v; want %s whole, for its plaintext digest", rs.Unread, altered)
		}
		b, err := NewReader(st, k.pub, k.identities, nil).OpenBundle(ctx, *bundleOf(cats[0], rs.Unread[0].Bundle))
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := b.File(altered); rs.Unread[0].Rows != f.Rows {
			t.Errorf("%d rows left out, the file holds %d", rs.Unread[0].Rows, f.Rows)
		}
		var wantUnchecked []string
		if old {
			wantUnchecked = []string{"MAKSE"}
		}
		if !slices.Equal(rs.MoneyUnchecked, wantUnchecked) || (rs.Unread[0].Money == nil) != old {
			t.Errorf("written without block money %t: money unchecked for %v, money left out %v; want %v unchecked", old, rs.MoneyUnchecked, rs.Unread[0].Money, wantUnchecked)
		}
	}
}

// bundleOf is the entry of a bundle in a catalog, nil if it has none.
func bundleOf(c *Catalog, id string) *BundleEntry {
	for i := range c.Bundles {
		if c.Bundles[i].ID == id {
			return &c.Bundles[i]
		}
	}
	return nil
}

// TestRestoreTakesCodeTablesFromAReferenceCopy: KOV and KLASSIFIKAATOR
// travel whole in every bundle as reference copies. With their own
// payload files gone, and the first reference copy of KOV damaged, a
// restore that skips what it cannot read takes them from the next copy
// that reads as written, and leaves nothing out.
func TestRestoreTakesCodeTablesFromAReferenceCopy(t *testing.T) {
	root := t.TempDir()
	st, err := NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	path, k, cats, _, _ := retrievable(t, st)
	cat := cats[0]
	if len(cat.Bundles) < 3 {
		t.Fatalf("%d bundles, want 3 or more", len(cat.Bundles))
	}
	ctx := context.Background()
	r := NewReader(st, k.pub, k.identities, nil)
	removed := 0
	for _, e := range cat.Bundles {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.Files() {
			if !f.Reference && (f.Table == "KOV" || f.Table == "KLASSIFIKAATOR") {
				if err := os.Remove(filepath.Join(root, filepath.FromSlash(e.Prefix+f.Path))); err != nil {
					t.Fatal(err)
				}
				removed++
			}
		}
	}
	if removed != 2 {
		t.Fatalf("%d payload files of KOV and KLASSIFIKAATOR, want 2", removed)
	}
	first := filepath.Join(root, filepath.FromSlash(cat.Bundles[0].Prefix+"data/reference/KOV.jsonl.gz.age"))
	body, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 1
	replaceFile(t, first, body)

	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	if _, err := r.Restore(ctx, conn, cat, RestoreOptions{Schema: "no_codes"}); err == nil {
		t.Fatal("restore without KOV's payload: no error")
	}
	prog, progDone := countedProgress(t)
	rs, err := r.Restore(ctx, conn, cat, RestoreOptions{Schema: "codes_from_copies", SkipUnreadable: true, Progress: prog})
	if err != nil {
		t.Fatal(err)
	}
	progDone()
	want := []string{
		"KLASSIFIKAATOR from the reference copy in bundle " + cat.Bundles[0].ID,
		"KOV from the reference copy in bundle " + cat.Bundles[1].ID,
	}
	if len(rs.Unread) != 0 || !slices.Equal(rs.FromCopy, want) {
		t.Errorf("left out %+v, from copies %q; want nothing left out, and %q", rs.Unread, rs.FromCopy, want)
	}
	for _, name := range []string{"KOV", "KLASSIFIKAATOR"} {
		tab, _ := extract.TableByName(name)
		source := sourceRowsAs(t, path, tab, true)
		restored := restoredRows(t, dsn, "codes_from_copies", tab)
		slices.Sort(source)
		slices.Sort(restored)
		if !slices.Equal(source, restored) {
			t.Errorf("%s: %d rows restored, STAR1 has %d, not the same", name, len(restored), len(source))
		}
	}
}

// countedProgress gives a restore's Progress, and a check, once it is
// over, that the count never went back or past its total and ended at
// it: a row left out, or restored from a reference copy, is counted once.
func countedProgress(t *testing.T) (func(rows, total int64), func()) {
	t.Helper()
	var last, total int64 = -1, -1
	var calls int
	return func(rows, tot int64) {
			calls++
			if rows < last || rows > tot || (total >= 0 && tot != total) {
				t.Errorf("progress %d of %d after %d of %d", rows, tot, last, total)
			}
			last, total = rows, tot
		}, func() {
			t.Helper()
			if calls == 0 || last != total {
				t.Errorf("progress ended at %d of %d after %d reports; want it at its total", last, total, calls)
			}
		}
}

// TestRestoreLeavesOutOnlyTheRowOfABadValue: an archive written before
// extraction checked the stand-in's dates may hold a DATE that does not
// exist. Its file reads as written, so restore --skip-unreadable leaves
// out that row alone, with its money, and keeps it as the archive holds
// it in restore_unread; the rest of the file is restored and the money
// still adds up to the catalog's. Without the flag the restore stops,
// naming the row.
func TestRestoreLeavesOutOnlyTheRowOfABadValue(t *testing.T) {
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := star1(t, 300)
	k := testKeys(t)
	cfg := small(config(st, k))
	ctx := context.Background()
	snap := openSnap(t, path)
	tab, _ := extract.TableByName("MAKSE")
	date := extract.Positions["MAKSE"]["MAKSE_KP"]
	var bad extract.Row // the row given the bad date, as written
	w, err := NewWriter(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(ctx, badDate{Snapshot: snap, bad: &bad, date: date}, w, nil); err != nil {
		w.Abort(err)
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if bad == nil {
		t.Fatal("no payment with an amount to give a bad date")
	}
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(st, k.pub, k.identities, nil)
	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	want := fmt.Sprintf("MAKSE %v: MAKSE_KP %q is not a DATE", bad[0], bad[date])
	if _, err := r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "bad_value_refused"}); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("restore over a bad DATE: %v; want %q in it", err, want)
	}
	rs, err := r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "bad_value", SkipUnreadable: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Unread) != 1 || rs.Unread[0].Rows != 1 || rs.Unread[0].Table != "MAKSE" || !strings.Contains(rs.Unread[0].Reason, want) ||
		rs.Unread[0].Money["SUMMA"] != bad[extract.Positions["MAKSE"]["SUMMA"]] || len(rs.MoneyUnchecked) != 0 {
		t.Fatalf("left out %+v, money unchecked %v; want the row of MAKSE %v alone, with its amount", rs.Unread, rs.MoneyUnchecked, bad[0])
	}
	var line string
	if err := conn.QueryRow(ctx, "SELECT line FROM bad_value."+extract.PostgresUnreadTable).Scan(&line); err != nil {
		t.Fatal(err)
	}
	if wantLine := strings.TrimSuffix(string(lineOf(t, tab, bad)), "\n"); line != wantLine {
		t.Errorf("restore_unread keeps the row as\n%s\nwant\n%s", line, wantLine)
	}
	// Read as STAR1 the schema is refused, as it lacks a row; counted, it
	// holds every other payment.
	var restored int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM bad_value.makse").Scan(&restored); err != nil {
		t.Fatal(err)
	}
	if source := sourceRowsAs(t, path, tab, true); restored != len(source)-1 {
		t.Errorf("%d payments restored, STAR1 has %d; want all but one", restored, len(source))
	}
}

// badDate gives the first payment with an amount that is not the
// first of its file a MAKSE_KP that does not exist, as an archive run
// written before extraction checked the stand-in's dates could hold, and
// keeps the row it changed in bad.
type badDate struct {
	extract.Snapshot
	bad  *extract.Row
	date int
}

func (s badDate) Scan(ctx context.Context, t extract.Table, columns, orderBy []string, fn func(extract.Row) error) error {
	n := 0
	return s.Snapshot.Scan(ctx, t, columns, orderBy, func(r extract.Row) error {
		if n++; t.Name == "MAKSE" && *s.bad == nil && n > 10 && r[extract.Positions["MAKSE"]["SUMMA"]] != nil {
			r[s.date] = "2020-13-01 00:00:00"
			*s.bad = slices.Clone(r)
		}
		return fn(r)
	})
}

// TestRestoreKeepsTheBlocksBeforeAFault: age cannot open for random
// access a file cut short, added to, or whose last chunk is damaged, but
// its chunks before the fault still read as written from its start. A
// restore that skips what it cannot read keeps their blocks and leaves
// out the rest of the file, with its money; every table still adds up to
// the catalog's.
func TestRestoreKeepsTheBlocksBeforeAFault(t *testing.T) {
	root := t.TempDir()
	st, err := NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	k, cats := archiveInMiBs(t, st, star1(t, 900))
	ctx := context.Background()
	r := NewReader(st, k.pub, k.identities, nil)
	type fault struct {
		name   string
		damage func([]byte) []byte
	}
	faults := []fault{
		{"cut short", func(b []byte) []byte { return b[:len(b)*3/4] }},
		{"added to", func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0x5a}, 100)...) }},
		{"its last chunk damaged", func(b []byte) []byte { b[len(b)-5] ^= 1; return b }},
	}
	damaged := map[string]*fileInfo{} // bundle id + path → file
	for _, e := range cats[0].Bundles {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.contents.Files {
			if len(damaged) == len(faults) || f.Reference || f.Stored < ageChunk+8192 || len(f.BlockDigests) != len(f.Blocks) {
				continue
			}
			file := filepath.Join(root, filepath.FromSlash(e.Prefix+f.Path))
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			replaceFile(t, file, faults[len(damaged)].damage(body))
			damaged[e.ID+" "+f.Path] = f
		}
	}
	if len(damaged) < len(faults) {
		t.Fatalf("%d payload files of more than one age chunk, want %d", len(damaged), len(faults))
	}
	conn := testenv.Connect(t, testenv.Postgres(t))
	rs, err := r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "before_faults", SkipUnreadable: true})
	if err != nil {
		t.Fatal(err)
	}
	lost := map[string]int64{}
	for _, u := range rs.Unread {
		f := damaged[u.Bundle+" "+u.File]
		if f == nil {
			t.Errorf("left out %+v, which was not damaged", u)
			continue
		}
		if !strings.HasPrefix(u.Reason, "blocks ") && !strings.Contains(u.Reason, " block ") {
			t.Errorf("left out %+v: want the blocks named", u)
		}
		lost[u.Bundle+" "+u.File] += u.Rows
	}
	for key, f := range damaged {
		if n := lost[key]; n == 0 || n >= f.Rows {
			t.Errorf("%s: %d of its %d rows left out; want the rows after the fault only", key, n, f.Rows)
		}
	}
	if len(rs.MoneyUnchecked) != 0 {
		t.Errorf("money unchecked for %v", rs.MoneyUnchecked)
	}
}

// archiveInMiBs archives the STAR1 at path into st in bundles and payload
// files of up to 1 MiB before compression, so that some files are of more
// than one age chunk, and returns the keys and the run's catalogs.
func archiveInMiBs(t *testing.T, st Store, path string) (keys, []*Catalog) {
	t.Helper()
	k := testKeys(t)
	cfg := small(config(st, k))
	cfg.PartSize, cfg.BundleSize = 1<<20, 1<<20
	archiveSTAR1(t, path, cfg)
	cats, err := LatestCatalogs(context.Background(), st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	return k, cats
}
