package archive

import (
	"bytes"
	"context"
	"database/sql"
	"testing"

	"github.com/starmig/starmig/extract"
)

// Documents larger than a block (a scanned file, say) go through the
// pipeline one at a time and are compressed straight into their payload
// file (streamBlock). They come back byte for byte, by file and through
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
		if _, err := db.Exec(`UPDATE DOKUMENT SET SISU = randomblob(?) WHERE DOKUMENT_ID = ?`, sizes[d], d); err != nil {
			t.Fatal(err)
		}
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
	st, _ := NewFileStore(t.TempDir())
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
		found, err := r.Retrieve(ctx, cats, Query{Proceeding: proceedings[i]})
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
}
