package archive

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/starmig/starmig/extract"
)

// randomRow is a row of t with values of every shape appendRow writes:
// NULLs, integers to the ends of int64, text with quotes, backslashes,
// control characters, letters beyond ASCII and bytes that are not UTF-8,
// and documents of any bytes, empty ones included.
func randomRow(rng *rand.Rand, t extract.Table) extract.Row {
	pieces := []string{"a", "Õ", "ž", "𝄞", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "/", "\xff", "\xc3", " ", "{", "}", ",", "null", "\\u00e9"}
	r := make(extract.Row, len(t.Columns))
	for i, c := range t.Columns {
		if rng.IntN(6) == 0 {
			continue
		}
		switch c.Kind {
		case extract.Integer:
			switch rng.IntN(5) {
			case 0:
				r[i] = int64(math.MaxInt64)
			case 1:
				r[i] = int64(math.MinInt64)
			default:
				r[i] = rng.Int64N(2e12) - 1e12
			}
		case extract.BLOB:
			b := make([]byte, rng.IntN(40))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			r[i] = b
		default:
			var s string
			for range rng.IntN(12) {
				s += pieces[rng.IntN(len(pieces))]
			}
			r[i] = s
		}
	}
	return r
}

// lineOf is row as one payload line, without its line break.
func lineOf(tb testing.TB, tab extract.Table, row extract.Row) []byte {
	tb.Helper()
	line, err := appendRow(nil, tab, row)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSuffix(line, []byte("\n"))
}

// TestCanonicalRowAsTheJSONParser decodes rows as appendRow writes them
// without the JSON parser, and checks that the result is the parser's.
func TestCanonicalRowAsTheJSONParser(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var fast, all int
	for _, tab := range extract.Tables {
		for range 2000 {
			line := lineOf(t, tab, randomRow(rng, tab))
			want, err := decodeJSONRow(tab, line)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			got, ok := decodeCanonicalRow(tab, line, false)
			all++
			if !ok {
				// Only an integer of 19 digits is left to the parser.
				if !bytes.Contains(line, []byte("922337203685477580")) {
					t.Errorf("not taken as canonical: %s", line)
				}
				continue
			}
			fast++
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Fatalf("%s:\n got %#v\nwant %#v", line, got, want)
			}
			owned, ok := decodeCanonicalRow(tab, bytes.Clone(line), true)
			if !ok || fmt.Sprintf("%#v", owned) != fmt.Sprintf("%#v", want) {
				t.Fatalf("%s, owned:\n got %#v\nwant %#v", line, owned, want)
			}
		}
	}
	if fast < all/2 {
		t.Errorf("only %d of %d lines decoded without the parser", fast, all)
	}
}

// Lines in another shape than appendRow's go to the JSON parser, and so
// decode (or fail) as they always did.
func TestOtherLinesGoToTheJSONParser(t *testing.T) {
	tab, _ := extract.TableByName("ISIK")
	if len(tab.Columns) == 0 || tab.Columns[0].Kind != extract.Integer {
		t.Fatal("ISIK does not begin with its id")
	}
	canon := extract.Row{}
	for _, c := range tab.Columns {
		switch c.Kind {
		case extract.Integer:
			canon = append(canon, int64(1))
		default:
			canon = append(canon, "x")
		}
	}
	line := lineOf(t, tab, canon)
	first := tab.Columns[0].Name
	variants := [][]byte{
		append([]byte("{ "), line[1:]...),                         // a space
		append(append([]byte{}, line...), ' '),                    // a trailing space
		bytes.Replace(line, []byte(`"x"`), []byte(`"\u0078"`), 1), // an escape appendRow does not write
		bytes.Replace(line, []byte(`"x"`), []byte(`"\/"`), 1),
		bytes.Replace(line, []byte(`"x"`), []byte(`"\u00E9"`), 1),
		bytes.Replace(line, []byte(`"x"`), []byte(`"a\qb"`), 1), // not JSON
		bytes.Replace(line, []byte(`"x"`), []byte("\"a\x01b\""), 1),
		bytes.Replace(line, []byte(`"x"`), []byte("\"\xff\""), 1), // not UTF-8
		bytes.Replace(line, []byte(`"x"`), []byte(`{"bytes":"/w=="}`), 1),
		bytes.Replace(line, []byte(`"x"`), []byte(`{"bytes":"/w"}`), 1),
		bytes.Replace(line, []byte(`"x"`), []byte(`7`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1`), []byte(`"`+first+`":01`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1`), []byte(`"`+first+`":1.0`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1`), []byte(`"`+first+`":-0`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1`), []byte(`"`+first+`":1e3`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1`), []byte(`"`+first+`":"1"`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1`), []byte(`"`+first+`":nullx`), 1),
		bytes.Replace(line, []byte(`"`+first+`":1,`), nil, 1), // a column missing
		[]byte(`{}`), []byte(``), []byte(`null`),
		// Escaped text before a value only the parser reads: decoding in
		// place must leave the line as it was for the parser.
		bytes.Replace(bytes.Replace(line, []byte(`"x"`), []byte(`"a\"b\nc"`), 1), []byte(`"x"}`), []byte(`"x\u00E9"}`), 1),
	}
	for _, v := range variants {
		if bytes.Equal(v, line) {
			t.Fatalf("a variant is the canonical line: %s", v)
		}
		want, wantErr := decodeJSONRow(tab, v)
		got, gotErr := decodeRow(tab, v)
		if (wantErr == nil) != (gotErr == nil) || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Errorf("%s: got %#v, %v; the parser gives %#v, %v", v, got, gotErr, want, wantErr)
		}
		got, gotErr = decodeOwnedRow(tab, bytes.Clone(v))
		if (wantErr == nil) != (gotErr == nil) || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Errorf("%s, owned: got %#v, %v; the parser gives %#v, %v", v, got, gotErr, want, wantErr)
		}
	}
}

// FuzzCanonicalRow: whatever a line holds, a row decoded without the JSON
// parser is the row the parser gives.
func FuzzCanonicalRow(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	tab, _ := extract.TableByName("DOKUMENT")
	for range 20 {
		f.Add(lineOf(f, tab, randomRow(rng, tab)))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		// A line decoded in place is changed only once it has decoded.
		owned := bytes.Clone(line)
		ownedRow, ownedOK := decodeCanonicalRow(tab, owned, true)
		if !ownedOK && !bytes.Equal(owned, line) {
			t.Fatalf("%q refused, but changed to %q", line, owned)
		}
		got, ok := decodeCanonicalRow(tab, line, false)
		if ok != ownedOK || (ok && fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", ownedRow)) {
			t.Fatalf("%q: owned %#v, %v; not owned %#v, %v", line, ownedRow, ownedOK, got, ok)
		}
		if !ok {
			return
		}
		want, err := decodeJSONRow(tab, line)
		if err != nil {
			t.Fatalf("%q decoded without the parser, which refuses it: %v", line, err)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", line, got, want)
		}
	})
}

// BenchmarkDecodeRow decodes rows shaped like STAR1's with and without the
// JSON parser.
//
//	go test -run '^$' -bench DecodeRow$ -benchmem ./archive
func BenchmarkDecodeRow(b *testing.B) {
	tab, _ := extract.TableByName("TOIMING")
	row := make(extract.Row, len(tab.Columns))
	for i, c := range tab.Columns {
		switch c.Kind {
		case extract.Integer:
			row[i] = int64(1234567 + i)
		case extract.Date:
			row[i] = "2019-05-04 13:20:00"
		case extract.Decimal:
			row[i] = "1234.50"
		default:
			row[i] = "Kodukülastus, arutati \"toetuse\" vajadust"
		}
	}
	line := lineOf(b, tab, row)
	b.Run("canonical", func(b *testing.B) {
		for range b.N {
			if _, ok := decodeCanonicalRow(tab, line, false); !ok {
				b.Fatal("not canonical")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for range b.N {
			if _, err := decodeJSONRow(tab, line); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodeBase64InPlace: base64 decoded over itself gives what
// decodeBase64 gives, value or refusal (at the same byte), for lengths
// around its pieces, padding at the end, and faults anywhere: a byte
// outside the alphabet, padding or a line break before the end, a length
// not divisible by 4.
func TestDecodeBase64InPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const piece = 64 << 10
	for _, n := range []int{0, 1, 2, 3, piece/4*3 - 1, piece / 4 * 3, piece/4*3 + 1, 2 * piece, 3*piece/4*3 + 2} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		good := base64.StdEncoding.AppendEncode(nil, raw)
		variants := [][]byte{good}
		for _, at := range []int{0, len(good) / 2, piece - 1, piece, piece + 1, len(good) - 3, len(good) - 1} {
			if at < 0 || at >= len(good) {
				continue
			}
			for _, c := range []byte{'!', '=', '\n', '\r', '"'} {
				v := bytes.Clone(good)
				v[at] = c
				variants = append(variants, v)
			}
		}
		if len(good) > 0 {
			variants = append(variants, good[:len(good)-1], append(bytes.Clone(good), 'A'))
		}
		for _, v := range variants {
			want, wantErr := decodeBase64(bytes.Clone(v))
			in := bytes.Clone(v)
			got, gotErr := decodeBase64InPlace(in)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || wantErr == nil && !bytes.Equal(got, want) {
				t.Errorf("%d bytes, %.20q…: got %d bytes, %v; decodeBase64 gives %d bytes, %v", n, v, len(got), gotErr, len(want), wantErr)
			}
			if wantErr == nil && len(got) > 0 && &got[0] != &in[0] {
				t.Errorf("%d bytes: decoded into a new buffer, not over the base64", n)
			}
			if wantErr == nil && !bytes.Equal(want, raw) && bytes.Equal(v, good) {
				t.Errorf("%d bytes: the base64 of the value decodes to something else", n)
			}
		}
	}
}

// TestOwnedRowTakesItsLine: a document's row decoded from a line it owns
// is the row decodeRow gives, and its value is the start of its base64
// in that line, not a copy.
func TestOwnedRowTakesItsLine(t *testing.T) {
	tab, _ := extract.TableByName("DOKUMENT")
	rng := rand.New(rand.NewPCG(7, 8))
	doc := make([]byte, bigLine+5)
	for i := range doc {
		doc[i] = byte(rng.Uint32())
	}
	row := make(extract.Row, len(tab.Columns))
	row[0], row[1], row[2], row[4], row[5] = int64(7), int64(8), "a \"b\".pdf", doc, "2020-01-02 03:04:05"
	line := bytes.TrimSuffix(lineOf(t, tab, row), []byte("\n"))
	want, err := decodeRow(tab, line)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeOwnedRow(tab, line)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) || !bytes.Equal(got[4].([]byte), doc) {
		t.Fatalf("the owned line decodes to another row")
	}
	at := bytes.Index(lineOf(t, tab, row), []byte(`"SISU":"`)) + len(`"SISU":"`)
	if &got[4].([]byte)[0] != &line[at] {
		t.Errorf("the document was copied out of its line")
	}
	bad := bytes.Replace(bytes.TrimSuffix(lineOf(t, tab, row), []byte("\n")), []byte(`"SISU":"`), []byte(`"SISU":"!`), 1)
	if _, err := decodeOwnedRow(tab, bad); err == nil || !strings.Contains(err.Error(), "DOKUMENT.SISU value !") {
		t.Errorf("a bad document: %v, want an error naming DOKUMENT.SISU and its start", err)
	}
}

// TestOwnedTextStaysInItsLine decodes a large CLOB with escapes: from a
// line of its own it is unescaped where it stands, and from a shared line
// it takes one buffer of its size.
func TestOwnedTextStaysInItsLine(t *testing.T) {
	tab, _ := extract.TableByName("POORDUMINE")
	var sb strings.Builder
	for sb.Len() < 8<<20 {
		sb.WriteString("Taotleja soovib \"koduteenust\";\r\n\tõde külastab\\kord nädalas\x01.\n")
	}
	text := sb.String()
	row := extract.Row{int64(7), int64(8), "0784", "EPOST", text, "2020-01-02 03:04:05"}
	line := lineOf(t, tab, row)
	var got extract.Row
	allocated := func(decode func(extract.Table, []byte) (extract.Row, error), line []byte) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := decode(tab, line)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%#v", r) != fmt.Sprintf("%#v", row) {
			t.Fatalf("the CLOB decodes to another row")
		}
		got = r
		return after.TotalAlloc - before.TotalAlloc
	}
	if n := allocated(decodeRow, bytes.Clone(line)); n > uint64(len(text))+1<<20 {
		t.Errorf("decoding from a shared line allocated %d bytes for %d of text", n, len(text))
	}
	owned := bytes.Clone(line)
	if n := allocated(decodeOwnedRow, owned); n > 1<<20 {
		t.Errorf("decoding from an owned line allocated %d bytes for %d of text", n, len(text))
	}
	at := bytes.Index(line, []byte(`"SISU":"`)) + len(`"SISU":"`)
	if unsafe.StringData(got[4].(string)) != &owned[at] {
		t.Errorf("the text was copied out of its line")
	}
}
