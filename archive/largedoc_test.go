package archive

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

// Documents larger than a block (a scanned file, say) go through the
// pipeline one at a time and are compressed straight into their payload
// file (streamBlock); the last, of rowBudget or more, is encoded straight
// into it (streamRow). They come back byte for byte, by file and through
// the index (each in one request, largeBlock), and the bag stays valid.
func TestLargeDocumentsComeBackWhole(t *testing.T) {
	path := star1(t, 60)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// Random bytes, which do not compress: the worst case for memory.
	sizes := map[int64]int{}
	rows, err := db.Query(`SELECT DOKUMENT_ID, MENETLUS_ID FROM DOKUMENT ORDER BY DOKUMENT_ID LIMIT 3`)
	if err != nil {
		t.Fatal(err)
	}
	var docs, proceedings []int64
	for rows.Next() {
		var d, m int64
		if err := rows.Scan(&d, &m); err != nil {
			t.Fatal(err)
		}
		docs, proceedings = append(docs, d), append(proceedings, m)
	}
	rows.Close()
	for i, d := range docs {
		sizes[d] = streamBlock + 1 + i*(3<<20)/2
		if i == len(docs)-1 {
			sizes[d] = rowBudget + 1
		}
		if _, err := db.Exec(`UPDATE DOKUMENT SET SISU = randomblob(?) WHERE DOKUMENT_ID = ?`, sizes[d], d); err != nil {
			t.Fatal(err)
		}
	}
	// And an application whose text (a CLOB) is a block of its own, with
	// escapes throughout and random, so that its stored block is large
	// too: it is unescaped where it stands in its line.
	var application, applicant int64
	if err := db.QueryRow(`SELECT POORDUMINE_ID, ISIK_ID FROM POORDUMINE ORDER BY POORDUMINE_ID LIMIT 1`).Scan(&application, &applicant); err != nil {
		t.Fatal(err)
	}
	letters := []rune("abcdefghijklmnopqrsšzžtuvwõäöüxyABCDEFGHIJKLMNOPQRSŠZŽTUVWÕÄÖÜXY0123456789 .,;\"\\\r\n\t")
	rng := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	for sb.Len() <= rowBudget {
		sb.WriteRune(letters[rng.IntN(len(letters))])
	}
	text := sb.String()
	if _, err := db.Exec(`UPDATE POORDUMINE SET SISU = ? WHERE POORDUMINE_ID = ?`, text, application); err != nil {
		t.Fatal(err)
	}
	want := map[int64][]byte{}
	for _, d := range docs {
		var b []byte
		if err := db.QueryRow(`SELECT SISU FROM DOKUMENT WHERE DOKUMENT_ID = ?`, d).Scan(&b); err != nil || len(b) != sizes[d] {
			t.Fatalf("document %d: %d bytes, %v", d, len(b), err)
		}
		want[d] = b
	}
	db.Close()

	k := testKeys(t)
	root := t.TempDir()
	st, _ := NewFileStore(root)
	archiveSTAR1(t, path, small(config(st, k)))
	holdsEveryRow(t, st, k, path)

	ctx := context.Background()
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cats[0].Bundles {
		problems, err := ValidateBag(download(t, st, e))
		if err != nil || len(problems) > 0 {
			t.Fatalf("bundle %s is not a valid bag: %v %v", e.ID, err, problems)
		}
	}
	// Through the index, which reads only the blocks that hold the
	// proceeding and checks each against the digest its writer recorded.
	sisu := extract.Positions["DOKUMENT"]["SISU"]
	r := NewReader(st, k.pub, k.identities, k.index)
	for i, d := range docs {
		before := r.requests.Load()
		found, err := r.Retrieve(ctx, cats, ProceedingByID(proceedings[i]))
		if err != nil {
			t.Fatal(err)
		}
		// A document's block comes in one request, not one per 64 KiB
		// chunk of age (which would be 16 to 64 here); the rest are the
		// bundles' index lookups and the proceeding's other blocks.
		if n := r.requests.Load() - before; n > 20 {
			t.Errorf("document %d of %d bytes: %d requests", d, sizes[d], n)
		}
		var got []byte
		for _, f := range found {
			for _, row := range f.Tables["DOKUMENT"] {
				if row[0] == d {
					got, _ = row[sisu].([]byte)
				}
			}
		}
		if !bytes.Equal(got, want[d]) {
			t.Errorf("document %d: retrieved %d bytes, STAR1 holds %d, or they differ", d, len(got), len(want[d]))
		}
	}

	found, err := r.Retrieve(ctx, cats, PersonByID(applicant))
	if err != nil {
		t.Fatal(err)
	}
	var gotText string
	for _, f := range found {
		for _, row := range f.Tables["POORDUMINE"] {
			if row[0] == application {
				gotText, _ = row[extract.Positions["POORDUMINE"]["SISU"]].(string)
			}
		}
	}
	if gotText != text {
		t.Errorf("application %d: retrieved %d bytes of text, STAR1 holds %d, or they differ", application, len(gotText), len(text))
	}

	// With a spool, the documents wait on disk, encrypted, instead of in
	// memory; the JSON written from them is the same.
	spool, err := NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rs := NewReader(st, k.pub, k.identities, k.index)
	rs.Spool = spool
	for i, d := range docs {
		held, err := r.Retrieve(ctx, cats, ProceedingByID(proceedings[i]))
		if err != nil {
			t.Fatal(err)
		}
		found, err := rs.Retrieve(ctx, cats, ProceedingByID(proceedings[i]))
		if err != nil {
			t.Fatal(err)
		}
		spooled := 0
		for _, f := range found {
			for _, row := range f.Tables["DOKUMENT"] {
				sd, ok := row[sisu].(*SpooledDocument)
				if !ok {
					if b, _ := row[sisu].([]byte); len(b) >= spoolMin {
						t.Errorf("document %v of %d bytes not spooled", row[0], len(b))
					}
					continue
				}
				spooled++
				raw, err := os.ReadFile(sd.path)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(raw, want[d][:64]) {
					t.Errorf("document %d is in the spool in clear", d)
				}
				var got bytes.Buffer
				if _, err := sd.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), want[d]) {
					t.Errorf("document %d: spooled %d bytes, STAR1 holds %d, or they differ (%v)", d, got.Len(), len(want[d]), err)
				}
			}
		}
		if spooled != 1 {
			t.Errorf("proceeding %d: %d documents spooled, want 1", proceedings[i], spooled)
		}
		var a, b bytes.Buffer
		if err := (&RetrievalResult{Runs: []RunRows{RowsOf(held[0])}}).WriteJSON(&a); err != nil {
			t.Fatal(err)
		}
		if err := (&RetrievalResult{Runs: []RunRows{RowsOf(found[0])}}).WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("proceeding %d: the JSON from the spool (%d bytes) differs from the JSON of the rows held (%d)", proceedings[i], b.Len(), a.Len())
		}
	}
	if err := spool.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spool.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the spool's folder is still there after Close: %v", err)
	}

	// Restored, they are the documents STAR1 holds: read into buffers of
	// their lines' size, and each written before the next is read.
	dsn := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := NewReader(st, k.pub, k.identities, nil).Restore(ctx, conn, cats[0], RestoreOptions{Schema: "large_documents"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DOKUMENT", "POORDUMINE"} {
		tab, _ := extract.TableByName(name)
		if got, want := restoredRows(t, dsn, "large_documents", tab), sourceRowsAs(t, path, tab, true); !slices.Equal(got, want) {
			t.Errorf("restored %s: %d rows differ from STAR1's %d", name, len(got), len(want))
		}
	}

	// A byte changed in the middle of a document's stored block is found
	// by the block's digest, before anything is decoded from it: the
	// error names the block, not what the decompressor made of it.
	for _, e := range cats[0].Bundles {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.contents.Files {
			if f.Table != "DOKUMENT" || !slices.ContainsFunc(f.Blocks, func(blk [5]int64) bool { return blk[1] > largeBlock }) {
				continue
			}
			for _, blk := range f.Blocks {
				if blk[1] <= largeBlock {
					continue
				}
				i := slices.Index(docs, blk[3]) // the block's first and only row
				if i < 0 {
					t.Fatalf("a block of %d bytes starts at document %d, not one made large", blk[1], blk[3])
				}
				rewriteStream(t, filepath.Join(root, filepath.FromSlash(e.Prefix+f.Path)), k, func(stream []byte) {
					stream[blk[0]+blk[1]/2] ^= 0x55
				})
				_, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, ProceedingByID(proceedings[i]))
				if !errors.Is(err, ErrBlockDigest) {
					t.Fatalf("a changed byte in a document's block: %v, want %v", err, ErrBlockDigest)
				}
				return
			}
		}
	}
	t.Fatal("no document's block found to change")
}

// A document of rowBudget or more is encoded straight into the
// compressor, never into a block beside the document: archiving it
// allocates a small part of its size, where its block alone would be a
// third larger than the document.
func TestDocumentIsNotCopiedIntoItsBlock(t *testing.T) {
	w, st, k := documentWriter(t)
	doc := make([]byte, 2*rowBudget)
	if _, err := crand.Read(doc); err != nil {
		t.Fatal(err)
	}
	row := extract.Row{int64(7), int64(9), "scan.pdf", "application/pdf", doc, "2011-03-27 03:30:00"}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// Row returns once the document is written (hand waits for it).
	if err := w.Row(row); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(doc))/4 {
		t.Errorf("archiving a document of %d MiB allocated %d MiB", len(doc)>>20, n>>20)
	}
	// And it is whole in its payload file.
	got := readDocuments(t, firstBundle(t, w, st, k))
	var d []byte
	if len(got) == 1 {
		d, _ = got[0][4].([]byte)
	}
	if len(got) != 1 || !bytes.Equal(d, doc) || got[0][2] != "scan.pdf" {
		t.Fatalf("%d rows read back, or the document differs", len(got))
	}
}

// A payload file read whole (a restore) reads each document that is a
// block of its own into one buffer of its line's size, told by its
// block's trailer, and decodes it there: among small rows, documents come
// back whole and in order, and reading allocates their lines and the
// ciphertext age decrypts, where a buffer doubled up to each line and a
// copy of each document allocated twice as much more.
func TestReadFileReadsADocumentOnce(t *testing.T) {
	w, st, k := documentWriter(t)
	var want []extract.Row
	docBytes := 0
	for i := range 7 {
		var doc []byte
		switch i {
		case 1, 4, 5:
			doc = make([]byte, rowBudget+i)
			if _, err := crand.Read(doc); err != nil {
				t.Fatal(err)
			}
			docBytes += len(doc)
		default:
			doc = []byte(fmt.Sprintf("small %d", i))
		}
		row := extract.Row{int64(10 + i), int64(9), fmt.Sprintf("%d.pdf", i), nil, doc, "2011-03-27 03:30:00"}
		if err := w.Row(row); err != nil {
			t.Fatal(err)
		}
		want = append(want, row)
	}
	b := firstBundle(t, w, st, k)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := readDocuments(t, b)
	runtime.ReadMemStats(&after)
	if len(got) != len(want) {
		t.Fatalf("%d rows read back, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d differs", i)
		}
	}
	// What is read: each document's line, a third larger than it, and the
	// ciphertext, which age decrypts into a new buffer for each chunk.
	var stored int64
	for _, f := range b.Files() {
		if f.Table == "DOKUMENT" {
			stored += b.size(f.Path)
		}
	}
	lines := int64(docBytes) * 4 / 3
	if n := int64(after.TotalAlloc - before.TotalAlloc); n > lines+stored+16<<20 {
		t.Errorf("reading %d MiB of documents (lines of %d MiB, %d MiB stored) allocated %d MiB", docBytes>>20, lines>>20, stored>>20, n>>20)
	}
}

// documentWriter is a writer to a new folder store, at table DOKUMENT.
func documentWriter(t *testing.T) (*Writer, Store, keys) {
	t.Helper()
	k := testKeys(t)
	st, _ := NewFileStore(t.TempDir())
	w, err := NewWriter(context.Background(), config(st, k))
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := extract.TableByName("DOKUMENT")
	if err := w.Table(tab); err != nil {
		t.Fatal(err)
	}
	return w, st, k
}

// firstBundle closes w and opens the first bundle of the run it wrote.
func firstBundle(t *testing.T, w *Writer, st Store, k keys) *Bundle {
	t.Helper()
	ctx := context.Background()
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewReader(st, k.pub, k.identities, k.index).OpenBundle(ctx, cats[0].Bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readDocuments reads the DOKUMENT rows of b's payload files in order.
func readDocuments(t *testing.T, b *Bundle) []extract.Row {
	t.Helper()
	var got []extract.Row
	for _, f := range b.Files() {
		if f.Table == "DOKUMENT" {
			if err := b.ReadFile(context.Background(), f.Path, func(r extract.Row) error { got = append(got, slices.Clone(r)); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}

// A row that shares its block with a large one (an application's text of
// a few MiB, under rowBudget) is decoded in the block's plaintext; taken
// by a retrieval, it is copied out of it, so that what is found does not
// hold the other person's text until the retrieval's output is written.
func TestARowTakenFromALargeBlockHoldsNoneOfIt(t *testing.T) {
	path := star1(t, 60)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var big, owner int64
	// The second application, of a person other than the first's.
	if err := db.QueryRow(`SELECT POORDUMINE_ID, ISIK_ID FROM POORDUMINE
		WHERE ISIK_ID <> (SELECT ISIK_ID FROM POORDUMINE ORDER BY POORDUMINE_ID LIMIT 1)
		ORDER BY POORDUMINE_ID LIMIT 1`).Scan(&big, &owner); err != nil {
		t.Fatal(err)
	}
	letters := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;")
	rng := rand.New(rand.NewPCG(7, 8))
	text := make([]byte, 4<<20)
	for i := range text {
		text[i] = letters[rng.IntN(len(letters))]
	}
	if _, err := db.Exec(`UPDATE POORDUMINE SET SISU = ? WHERE POORDUMINE_ID = ?`, string(text), big); err != nil {
		t.Fatal(err)
	}
	db.Close()
	k := testKeys(t)
	st, cats := archivedFolder(t, path, k, small)
	ctx := context.Background()

	// Another person's application in the large application's block.
	isik := extract.Positions["POORDUMINE"]["ISIK_ID"]
	other := int64(-1)
	r := NewReader(st, k.pub, k.identities, k.index)
	for _, e := range cats[0].Bundles {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range b.contents.Files {
			if f.Table != "POORDUMINE" || f.Reference {
				continue
			}
			for j := range f.Blocks {
				_, rows, err := b.readBlock(ctx, i, j)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(rows, func(row extract.Row) bool { return row[0] == big }) {
					continue
				}
				for _, row := range rows {
					if p, ok := row[isik].(int64); ok && p != owner {
						other = p
					}
				}
			}
		}
	}
	if other < 0 {
		t.Fatalf("no other person's application shares a block with application %d", big)
	}

	// What a retrieval of person holds once it has ended, and what it
	// allocated on the way.
	retrieve := func(person int64) (found []*Found, held, allocated int64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		found, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByID(person))
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(found) == 0 || len(found[0].Tables["POORDUMINE"]) == 0 {
			t.Fatalf("person %d: no application found", person)
		}
		return found, int64(after.HeapAlloc) - int64(before.HeapAlloc), int64(after.TotalAlloc - before.TotalAlloc)
	}
	retrieve(other) // what is set up once
	found, held, otherAlloc := retrieve(other)
	if held > 1<<20 {
		t.Errorf("person %d's records hold %d bytes after the retrieval; the large application's block is %d", other, held, len(text))
	}
	runtime.KeepAlive(found)
	// The large application itself keeps the block's memory: a copy of
	// it would allocate its size once more than reading the block does.
	found, _, ownerAlloc := retrieve(owner)
	if ownerAlloc-otherAlloc > 2<<20 {
		t.Errorf("retrieving person %d allocated %d bytes, person %d (the same block) %d: the large application was copied", owner, ownerAlloc, other, otherAlloc)
	}
	runtime.KeepAlive(found)
}
