package mapping

import (
	"encoding/binary"
	"fmt"
	"mime"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/starmig/starmig/extract"
)

// FuzzMapRow feeds every table's mapping rows of any values extraction can
// hand it: ids of any size, money of any scale and sign, dates with
// impossible months and days, text with invalid UTF-8, NULs and broken
// encodings, NULL in any column. A row must never panic the mapping. It
// is either mapped, into as many values as its STAR2 table has columns and
// text PostgreSQL accepts, or it breaks a named rule with a reason, so
// that the load can quarantine it with that reason. Its corrections can
// always be stored, and pass 1, which reads the row without its LOBs and
// free text, finds the same rule and amount as the load.
//
//	go test -run '^$' -fuzz FuzzMapRow -fuzztime 60s ./mapping
func FuzzMapRow(f *testing.F) {
	maps, err := LoadFolder("../testdata/mappings")
	if err != nil {
		f.Fatal(err)
	}
	var codes []string // every code the mapping folder knows, to reach past the classifier checks
	for k := range maps.Municipalities {
		codes = append(codes, k)
	}
	for k := range maps.Classifiers {
		codes = append(codes, k[1])
	}
	dictionary := append(codes, "", " ", "EUR", "EEK", "eur", "J", "N", "1", "0",
		"37605030299", "47101010033", "60001019906", "3760503029", "EE382200221020145685", "EE38 2200 2210 2014 5685",
		"Jüri", "JÃ¼ri", "Ã\x83Â¼", "õunapuu", "otsus.pdf", "application/pdf", "\x00", "\xff\xfe",
		"%PDF-1.4\n", "2016-03-27 03:30:00", "2024-10-27 03:30:00", "1900-01-01 00:00:00")
	for i := range Tables {
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), []byte("\x01\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"))
		f.Add(uint8(i), []byte(strings.Repeat("\x02\x05", 20)))
		f.Add(uint8(i), []byte(strings.Repeat("\x03\x10\xc3\x28\x00", 12)))
	}
	cfg := &Config{Mappings: maps, AsOf: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, table uint8, data []byte) {
		mt := Tables[int(table)%len(Tables)]
		st, err := extract.TableByName(mt.Star1)
		if err != nil {
			t.Fatal(err)
		}
		in := fuzzInput(data)
		row := make(extract.Row, len(st.Columns))
		for i, c := range st.Columns {
			row[i] = in.value(c.Kind, dictionary)
		}
		res := mt.Map(row, Refs{}, cfg)
		for _, c := range res.Corrections {
			if c.Column == "" || c.Rule == "" {
				t.Errorf("%s %v: a correction without column or rule: %+v", mt.Star1, row, c)
			}
			if !storable(c.Original) || !storable(c.Corrected) {
				t.Errorf("%s %v: correction %+v, which the bookkeeping's text refuses", mt.Star1, row, c)
			}
		}
		// Pass 1 maps the row without its LOBs and free text (see
		// internal/batch's narrow): it must find the same rule and amount.
		narrow := slices.Clone(row)
		for i, c := range st.Columns {
			if c.Kind == extract.CLOB || c.Kind == extract.BLOB || slices.Contains(FreeText[st.Name], c.Name) {
				narrow[i] = nil
			}
		}
		planned := mt.Map(narrow, Refs{}, cfg)
		if planned.Rule != res.Rule || planned.Detail != res.Detail || !reflect.DeepEqual(planned.AmountEUR, res.AmountEUR) {
			t.Errorf("%s %v: pass 1 finds rule %q (%s), amount %v; the load %q (%s), amount %v",
				mt.Star1, row, planned.Rule, planned.Detail, planned.AmountEUR, res.Rule, res.Detail, res.AmountEUR)
		}
		if res.Rule != "" {
			if res.Detail == "" {
				t.Errorf("%s %v: breaks rule %s with no reason", mt.Star1, row, res.Rule)
			}
			return
		}
		if len(res.Values) != len(mt.Columns) {
			t.Fatalf("%s %v: %d values for the %d columns of %s", mt.Star1, row, len(res.Values), len(mt.Columns), mt.Star2)
		}
		// Text that is not UTF-8 in STAR1 reaches STAR2 as it is, where
		// the database refuses the row and the load quarantines it with
		// that error (docs/decisions.md); the mapping itself never makes
		// such text.
		for _, v := range row {
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				return
			}
		}
		for i, v := range res.Values {
			if s, ok := v.(string); ok && !storable(s) {
				t.Errorf("%s %v: %s.%s = %q, which PostgreSQL's text refuses", mt.Star1, row, mt.Star2, mt.Columns[i], s)
			}
		}
	})
}

// storable says whether PostgreSQL text (UTF-8) can hold s.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// fuzzInput turns fuzz bytes into STAR1 values as extraction decodes them.
type fuzzInput []byte

func (in *fuzzInput) byte() byte {
	if len(*in) == 0 {
		return 0
	}
	b := (*in)[0]
	*in = (*in)[1:]
	return b
}

func (in *fuzzInput) bytes(n int) []byte {
	n = min(n, len(*in))
	b := (*in)[:n]
	*in = (*in)[n:]
	return b
}

func (in *fuzzInput) value(k extract.Kind, dictionary []string) any {
	sel := in.byte()
	if sel == 0 {
		return nil
	}
	switch k {
	case extract.Integer:
		switch sel % 3 {
		case 0:
			var b [8]byte
			copy(b[:], in.bytes(8))
			return int64(binary.LittleEndian.Uint64(b[:]))
		case 1:
			return -int64(in.byte())
		}
		return int64(in.byte())
	case extract.Decimal:
		var b strings.Builder
		if sel%2 == 0 {
			b.WriteByte('-')
		}
		for range int(in.byte() % 16) {
			b.WriteByte('0' + in.byte()%10)
		}
		if sel%3 == 0 {
			b.WriteByte('.')
			for range int(in.byte() % 5) {
				b.WriteByte('0' + in.byte()%10)
			}
		}
		d, err := extract.NormalizeDecimal(b.String())
		if err != nil {
			return nil // extraction stops on it with its own error
		}
		return d
	case extract.Date:
		if sel%4 == 0 {
			return dictionary[int(in.byte())%len(dictionary)]
		}
		n := func(max int) int { return int(binary.LittleEndian.Uint16(append(in.bytes(2), 0, 0))) % max }
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", n(10000), n(100), n(100), n(100), n(100), n(100))
	case extract.BLOB:
		return append([]byte{}, in.bytes(int(in.byte()))...)
	}
	if sel%2 == 0 {
		return dictionary[int(in.byte())%len(dictionary)]
	}
	return string(in.bytes(int(in.byte() % 64)))
}

// FuzzLoadFolder feeds the two mapping files any bytes, as a spreadsheet
// or a hand edit might leave them. LoadFolder must not panic: it loads the
// folder or says what is wrong, naming the file.
//
//	go test -run '^$' -fuzz FuzzLoadFolder -fuzztime 60s ./mapping
func FuzzLoadFolder(f *testing.F) {
	f.Add(munHeader+"0784,0784,Tallinn\n", clsHeader+"KANAL,FAKS,channel,paper,Paper\n")
	f.Add(munHeader+"0784,0784,Tallinn\ngarbage\"line\n", clsHeader)
	f.Add("\ufeffstar1_code;star2_code;star2_name\n0784;0784;Tallinn\n", clsHeader+"KANAL,\"FAKS\",channel,paper,\"Paper, old\"\n")
	f.Add(munHeader+"0784,0784,P\xe4rnu\n,,\n", clsHeader+"\n\n")
	f.Fuzz(func(t *testing.T, municipalities, classifiers string) {
		_, err := LoadFolder(writeFolder(t, municipalities, classifiers))
		if err != nil && !strings.Contains(err.Error(), ".csv") {
			t.Errorf("error %q names no mapping file", err)
		}
	})
}

// FuzzMediaType feeds rule 14 content that is, or once was, a ZIP file of
// a known format, cut and changed anywhere. Reading inside a broken ZIP
// must never panic, and the rule must give either the type STAR1 holds,
// unchanged, or a media type STAR2 can take.
//
//	go test -run '^$' -fuzz FuzzMediaType -fuzztime 60s ./mapping
func FuzzMediaType(f *testing.F) {
	types := `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`
	for _, z := range [][]byte{
		zipOf(f, "[Content_Types].xml", types, "word/document.xml", "<w:document/>"),
		zipOf(f, "mimetype", "application/vnd.oasis.opendocument.text", "content.xml", "<office:document-content/>"),
		zipOf(f, "mimetype", "application/vnd.etsi.asic-e+zip", "avaldus.pdf", "%PDF-1.4"),
		zipOf(f, "avaldus.pdf", "%PDF-1.4"),
	} {
		for _, given := range []string{"", "application/msword", "application/zip", "application/pdf", "text/plain; charset=utf-8", "x"} {
			f.Add(given, z)
		}
	}
	f.Fuzz(func(t *testing.T, given string, content []byte) {
		got, changed := MediaType(given, content)
		if again, changedAgain := MediaType(given, content); again != got || changedAgain != changed {
			t.Fatalf("MediaType(%q) = %q %v, then %q %v", given, got, changed, again, changedAgain)
		}
		if !changed {
			if got != given {
				t.Fatalf("MediaType(%q) = %q, unchanged", given, got)
			}
			return
		}
		if _, _, err := mime.ParseMediaType(got); err != nil || !utf8.ValidString(got) {
			t.Fatalf("MediaType(%q) = %q, not a media type: %v", given, got, err)
		}
	})
}
