package archive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/synth"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

var (
	now    = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	retain = time.Date(2036, 11, 21, 0, 0, 0, 0, time.UTC)
	asOf   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
)

type keys struct {
	dir        string
	recipients []age.Recipient
	identities []age.Identity
	sign       ed25519.PrivateKey
	pub        SigningKeys
	index      []byte
}

func testKeys(t testing.TB) keys { return testKeysBy(t, GenerateKeys) }

// testKeysBy reads the key set that generate writes.
func testKeysBy(t testing.TB, generate func(dir string) error) keys {
	t.Helper()
	dir := t.TempDir()
	if err := generate(dir); err != nil {
		t.Fatal(err)
	}
	var k keys
	var err error
	k.dir = dir
	if k.recipients, err = ReadRecipients(filepath.Join(dir, RecipientFile)); err != nil {
		t.Fatal(err)
	}
	if k.identities, err = ReadIdentities(filepath.Join(dir, IdentityFile), nil); err != nil {
		t.Fatal(err)
	}
	if k.sign, err = ReadSigningKey(filepath.Join(dir, SignKeyFile)); err != nil {
		t.Fatal(err)
	}
	if k.pub, err = ReadSigningPub(filepath.Join(dir, SignPubFile)); err != nil {
		t.Fatal(err)
	}
	if k.index, err = ReadIndexKey(filepath.Join(dir, IndexKeyFile)); err != nil {
		t.Fatal(err)
	}
	return k
}

// star1 generates a STAR1 with every quirk raised so each one shows in a
// small file.
func star1(t testing.TB, persons int) string {
	return star1Docs(t, persons, 400)
}

// star1Docs is star1 with documents of about docSize bytes.
func star1Docs(t testing.TB, persons, docSize int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "star1.db")
	r := synth.DefaultRates()
	r.Mojibake, r.NUL, r.Orphan, r.Unmapped, r.DST = 0.05, 0.05, 0.01, 0.01, 0.05
	if _, err := synth.Generate(context.Background(), path, synth.Options{Persons: persons, Seed: 7, AsOf: asOf, Rates: r, DocSize: docSize}); err != nil {
		t.Fatal(err)
	}
	return path
}

func config(st Store, k keys) Config {
	return Config{
		Store: st, Batch: "all", Recipients: k.recipients, SignKey: k.sign, IndexKey: k.index,
		RetainUntil: retain, Now: now, Source: "test",
	}
}

// openSnap opens a snapshot of the STAR1 file, closed with the test.
func openSnap(t testing.TB, path string) extract.Snapshot {
	t.Helper()
	snap, done := testenv.Snapshot(t, "sqlite:"+path)
	t.Cleanup(done)
	return snap
}

// archivedFolder writes an archive run of the STAR1 file at path into a
// new folder store, with the settings config gives, adjusted by adjust if
// it is not nil, and returns the store and the run's catalogs.
func archivedFolder(t testing.TB, path string, k keys, adjust func(Config) Config) (*FileStore, []*Catalog) {
	t.Helper()
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(st, k)
	if adjust != nil {
		cfg = adjust(cfg)
	}
	archiveSTAR1(t, path, cfg)
	cats, err := LatestCatalogs(context.Background(), st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	return st, cats
}

// archiveSTAR1 writes an archive run of the STAR1 file at path.
func archiveSTAR1(t testing.TB, path string, cfg Config) Stats {
	t.Helper()
	ctx := context.Background()
	snap := openSnap(t, path)
	w, err := NewWriter(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(ctx, snap, w, nil); err != nil {
		w.Abort(err)
		t.Fatal(err)
	}
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sourceRows reads every row of a STAR1 table as canonical text lines.
func sourceRows(t testing.TB, path string, table extract.Table) []string {
	return sourceRowsAs(t, path, table, false)
}

// sourceRowsAs reads rows with money as numeric(12,2) text when asked:
// the same NUMBER value, in the form PostgreSQL gives it back.
func sourceRowsAs(t testing.TB, path string, table extract.Table, numeric bool) []string {
	t.Helper()
	return rowsAs(t, "sqlite:"+path, table, numeric)
}

// rowsAs is sourceRowsAs of the source at url. Its snapshot ends before it
// returns: a test may drop what it read.
func rowsAs(t testing.TB, url string, table extract.Table, numeric bool) []string {
	t.Helper()
	ctx := context.Background()
	snap, done := testenv.Snapshot(t, url)
	defer done()
	var out []string
	if err := snap.Scan(ctx, table, nil, nil, func(r extract.Row) error {
		for i, c := range table.Columns {
			if s, ok := r[i].(string); ok && numeric && c.Kind == extract.Decimal {
				cents, err := mapping.ParseCents(s)
				if err != nil {
					return err
				}
				r[i] = cents.String()
			}
		}
		b, err := appendRow(nil, table, r)
		out = append(out, string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRowFormatRoundTrip(t *testing.T) {
	tab, _ := extract.TableByName("DOKUMENT")
	row := extract.Row{int64(7), int64(9), "a \"b\"\n\x00\t\\.png", "\xff\xfe bad", []byte{0, 1, 2, 255}, "2011-03-27 03:30:00"}
	b, err := appendRow(nil, tab, row)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeRow(tab, bytes.TrimSuffix(b, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%q", back) != fmt.Sprintf("%q", row) {
		t.Fatalf("round trip:\n got %q\nwant %q", back, row)
	}
	if _, err := decodeRow(tab, []byte(`{"DOKUMENT_ID":"x"}`)); err == nil || !strings.Contains(err.Error(), "DOKUMENT") {
		t.Fatalf("bad row error: %v", err)
	}
	// A reader that is not starmig may write base64 with JSON escapes
	// ("\/" for "/"); the document is the same.
	row[4] = []byte{0xff, 0xff, 0xff, 0xfb, 0xef, 0xbe}
	b, _ = appendRow(nil, tab, row)
	if !bytes.Contains(b, []byte(`"////++++"`)) {
		t.Fatalf("document's base64 not as the test expects: %s", b)
	}
	escaped := bytes.Replace(b, []byte(`"////++++"`), []byte(`"\/\/\/\/++\u002b+"`), 1)
	for _, line := range [][]byte{b, escaped} {
		back, err := decodeRow(tab, bytes.TrimSuffix(line, []byte("\n")))
		if err != nil || !bytes.Equal(back[4].([]byte), row[4].([]byte)) {
			t.Errorf("%s: document %v, %v", line, back[4], err)
		}
	}
	bad := bytes.Replace(b, []byte(`"////++++"`), []byte(`"////+++"`), 1)
	if _, err := decodeRow(tab, bytes.TrimSuffix(bad, []byte("\n"))); err == nil || !strings.Contains(err.Error(), "DOKUMENT.SISU") {
		t.Errorf("a document that is not base64: %v", err)
	}
}

// A line holding a large document is decoded without the JSON parser
// going over the document (decodeBigRow), with the same result as the
// parser's, whatever the other columns hold.
func TestBigRowDecodedAsByTheJSONParser(t *testing.T) {
	tab, _ := extract.TableByName("DOKUMENT")
	doc := make([]byte, bigLine)
	for i := range doc {
		doc[i] = byte(i * 7)
	}
	big := strings.Repeat("x", bigLine)
	for _, row := range []extract.Row{
		{int64(7), int64(9), `a "SISU":"QUJD" b`, "application/pdf", doc, "2011-03-27 03:30:00"},
		{int64(7), int64(9), `,"SISU":"`, "\xff\xfe", doc, nil},
		{int64(7), int64(9), big, "text/plain", []byte("small"), "2011-03-27 03:30:00"},
		{int64(7), int64(9), big, "text/plain", nil, nil},
		{int64(7), nil, `"SISU":"` + big, nil, doc, nil},
	} {
		line := lineOf(t, tab, row)
		want, err := decodeJSONRow(tab, line)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRow(tab, line)
		if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", row) {
			t.Errorf("row with %.20q: decoded differently from the parser (%v)", row[2], err)
		}
	}
	// Base64 with a JSON escape, or not base64: the parser's path and
	// errors.
	line, _ := appendRow(nil, tab, extract.Row{int64(7), int64(9), "a", "b", doc, nil})
	escaped := bytes.Replace(line, []byte(`"SISU":"`), []byte(`"SISU":"\u0041`), 1)
	if _, err := decodeRow(tab, escaped); err == nil || !strings.Contains(err.Error(), "DOKUMENT.SISU") {
		t.Errorf("escaped base64 of another length: %v", err)
	}
	bad := bytes.Replace(line, []byte(`"SISU":"`), []byte(`"SISU":"*`), 1)
	if _, err := decodeRow(tab, bytes.TrimSuffix(bad, []byte("\n"))); err == nil || !strings.Contains(err.Error(), "DOKUMENT.SISU") {
		t.Errorf("a large document that is not base64: %v", err)
	}
}

func TestKeysGen(t *testing.T) {
	k := testKeys(t)
	for name, mode := range map[string]os.FileMode{IdentityFile: 0o600, SignKeyFile: 0o600, IndexKeyFile: 0o600, RecipientFile: 0o644, SignPubFile: 0o644} {
		fi, err := os.Stat(filepath.Join(k.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if err := GenerateKeys(k.dir); err == nil {
		t.Error("key generation overwrote existing keys")
	}
	// One key file left in a folder: nothing is written beside it, so no
	// new recipient stands next to an identity that cannot open its files.
	dir := t.TempDir()
	identity, err := os.ReadFile(filepath.Join(k.dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, IdentityFile), identity, 0o600)
	err = GenerateKeys(dir)
	if err == nil || !strings.Contains(err.Error(), IdentityFile+" already exists") {
		t.Errorf("key generation beside an identity: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("key generation beside an identity wrote %d files", len(entries)-1)
	}
	if len(k.pub) != 1 || !k.sign.Public().(ed25519.PublicKey).Equal(k.pub[0]) {
		t.Error("signing.pub is not the public half of signing.key")
	}
}

// An amount that is not one stops the run with an error naming the row,
// the column and the value, from a later call or from Close, and leaves no
// catalog: nothing looks whole.
func TestBadAmountStopsTheRunNamingTheRow(t *testing.T) {
	ctx := context.Background()
	k := testKeys(t)
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(ctx, config(st, k))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := extract.TableByName("MAKSE")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Table(tab); err != nil {
		t.Fatal(err)
	}
	row := func(id int64, amount string) extract.Row {
		r := make(extract.Row, len(tab.Columns))
		r[0] = id
		for i, c := range tab.Columns {
			if c.Kind == extract.Decimal {
				r[i] = amount
			}
		}
		return r
	}
	for i := range int64(1000) {
		amount := "12.50"
		if i == 300 {
			amount = "12,50x"
		}
		if err = w.Row(row(i, amount)); err != nil {
			break
		}
	}
	if err == nil {
		_, err = w.Close()
	} else {
		w.Abort(err)
	}
	if err == nil || !strings.Contains(err.Error(), "MAKSE 300") || !strings.Contains(err.Error(), `"12,50x"`) {
		t.Fatalf("error %v, want one naming MAKSE 300 and its amount", err)
	}
	runs, err := ListRuns(ctx, st, "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Complete {
			t.Fatalf("run %s looks whole", r.Run)
		}
	}
}

// Two runs of a batch started in the same second (or with a clock set
// back) keep the order they were written in: the newest run, the one
// retrieval and restore read, is the last written.
func TestRunsInTheSameSecondKeepTheirOrder(t *testing.T) {
	path := star1(t, 20)
	k := testKeys(t)
	st, _ := NewFileStore(t.TempDir())
	var runs []string
	for range 3 {
		runs = append(runs, archiveSTAR1(t, path, small(config(st, k))).Run)
	}
	if !slices.IsSorted(runs) || runs[0] == runs[1] || runs[1] == runs[2] {
		t.Errorf("runs of one second in the order written: %v", runs)
	}
	cats, err := LatestCatalogs(context.Background(), st, k.pub, "all")
	if err != nil || len(cats) != 1 || cats[0].Run != runs[2] {
		t.Fatalf("newest run: %v %v, want %s", cats, err, runs[2])
	}
	for _, c := range []struct {
		runs      []string
		run, want string
	}{
		{nil, "20261121T100000Z-00aa00", "20261121T100000Z-00aa00"},
		{[]string{"20261121T095959Z-ffffff"}, "20261121T100000Z-00aa00", "20261121T100000Z-00aa00"},
		{[]string{"20261121T100000Z-00ab00", "20261121T100000Z-000001"}, "20261121T100000Z-00aa00", "20261121T100000Z-00ab01"},
		{[]string{"20261121T100002Z-00000f"}, "20261121T100000Z-00aa00", "20261121T100002Z-000010"},
		{[]string{"20261121T100000Z-ffffff"}, "20261121T100000Z-00aa00", ""},
	} {
		var refs []RunRef
		for _, r := range c.runs {
			refs = append(refs, RunRef{Batch: "all", Run: r})
		}
		got, err := after(refs, c.run)
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("after(%v, %s) = %q, %v; want %q", c.runs, c.run, got, err, c.want)
		}
	}
}

// BenchmarkDecodeBigRow: a row with a 16 MiB document, through
// decodeBigRow and through the JSON parser alone.
func BenchmarkDecodeBigRow(b *testing.B) {
	tab, _ := extract.TableByName("DOKUMENT")
	doc := make([]byte, 16<<20)
	for i := range doc {
		doc[i] = byte(i * 7)
	}
	line, _ := appendRow(nil, tab, extract.Row{int64(7), int64(9), "scan.pdf", "application/pdf", doc, "2011-03-27 03:30:00"})
	for name, decode := range map[string]func(extract.Table, []byte) (extract.Row, error){"cut": decodeRow, "parser": decodeJSONRow} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for range b.N {
				if _, err := decode(tab, line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writes records what writeRow writes, one Write at a time.
type writes struct {
	all     bytes.Buffer
	largest int
	fail    error
}

func (p *writes) Write(b []byte) (int, error) {
	if p.fail != nil {
		return 0, p.fail
	}
	p.largest = max(p.largest, len(b))
	return p.all.Write(b)
}

// writeRow writes a row as appendRow makes it, with its large values in
// pieces, never whole: base64 that joins without padding, escapes that
// fall on a piece's edge, text that is not UTF-8.
func TestWriteRowAsAppendRow(t *testing.T) {
	tab, _ := extract.TableByName("DOKUMENT")
	doc := make([]byte, 8*streamPiece+2)
	for i := range doc {
		doc[i] = byte(i * 7)
	}
	// Escapes and a two-byte character across the edges of the pieces.
	text := []byte(strings.Repeat("ab", 5*streamPiece))
	text[streamPiece-1], text[streamPiece], text[2*streamPiece-1] = '"', '\n', 0xc3
	text[2*streamPiece] = 0xb5
	valid := string(text)
	invalid := valid + "\xff"
	for _, n := range []int{largeValue - 1, largeValue, largeValue + 1, streamPiece, len(doc)} {
		for _, row := range []extract.Row{
			{int64(7), int64(9), "a", "application/pdf", doc[:n], "2011-03-27 03:30:00"},
			{int64(7), nil, valid[:n], "\xff\xfe", nil, nil},
			{int64(7), int64(9), valid, invalid[len(invalid)-n:], doc[:n], nil},
			{int64(7), int64(9), invalid, "text/plain", []byte{}, nil},
		} {
			want, err := appendRow(nil, tab, row)
			if err != nil {
				t.Fatal(err)
			}
			var p writes
			got, _, err := writeRow(&p, tab, row, nil)
			if err != nil || got != int64(len(want)) || !bytes.Equal(p.all.Bytes(), want) {
				t.Fatalf("%d-byte values: wrote %d bytes (%v), appendRow makes %d, or they differ", n, got, err, len(want))
			}
			// At most two values under largeValue, whole, and a piece.
			if p.largest > 4*largeValue {
				t.Errorf("%d-byte values: one write of %d bytes", n, p.largest)
			}
		}
	}
	// The writer's error comes back; a value that cannot be archived is
	// named as appendRow names it.
	fail := errors.New("disk full")
	if _, _, err := writeRow(&writes{fail: fail}, tab, extract.Row{int64(7), int64(9), "a", "b", doc, nil}, nil); !errors.Is(err, fail) {
		t.Errorf("a failing writer: %v", err)
	}
	if _, _, err := writeRow(&writes{}, tab, extract.Row{int64(7), int64(9), 1.5, "b", doc, nil}, nil); err == nil || !strings.Contains(err.Error(), "DOKUMENT.FAILINIMI") {
		t.Errorf("a float: %v", err)
	}
}
