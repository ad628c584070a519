package archive

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

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
			got, ok := decodeCanonicalRow(tab, line)
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
		got, ok := decodeCanonicalRow(tab, line)
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
			if _, ok := decodeCanonicalRow(tab, line); !ok {
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
