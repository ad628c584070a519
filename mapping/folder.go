package mapping

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/words"
)

// Municipality is a STAR2 municipality a STAR1 code maps to.
type Municipality struct{ Code, Name string }

// Classifier is a STAR2 classifier a STAR1 code maps to.
type Classifier struct{ Kind, Code, Name string }

// Mappings are the analysts' mapping decisions: data, not code (STAR2.md,
// Mapping tables).
type Mappings struct {
	Municipalities map[string]Municipality  // STAR1 KOV code -> STAR2
	Classifiers    map[[2]string]Classifier // (STAR1 class, code) -> STAR2
}

// Municipality maps a STAR1 municipality code. A code with a NUL or
// bytes that are not UTF-8 is mapped by its extract.Visible form, as reports
// show it and as a mapping file can hold it.
func (m *Mappings) Municipality(code string) (Municipality, bool) {
	v, ok := m.Municipalities[extract.Visible(code)]
	return v, ok
}

// Classifier maps a STAR1 code of a code list, by its Visible form as
// Municipality does.
func (m *Mappings) Classifier(class, code string) (Classifier, bool) {
	v, ok := m.Classifiers[[2]string{class, extract.Visible(code)}]
	return v, ok
}

// LoadFolder reads municipalities.csv and classifiers.csv from dir. Every
// error names the file, the line and the value at fault.
func LoadFolder(dir string) (*Mappings, error) {
	m := &Mappings{Municipalities: map[string]Municipality{}, Classifiers: map[[2]string]Classifier{}}
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mapping: folder %s does not exist", dir)
	} else if err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("mapping: %s is a file: want the folder holding municipalities.csv and classifiers.csv", dir)
	}
	err := readCSV(filepath.Join(dir, "municipalities.csv"), []string{"star1_code", "star2_code", "star2_name"}, func(line int, r []string) error {
		// A STAR1 code may be a broken one (STAR1 holds "078"), mapped on
		// purpose; STAR2's codes are EHAK codes, and a spreadsheet strips
		// both columns alike.
		if lostZeros(r[1]) {
			return fmt.Errorf("line %d: star2_code %q is not a 4-digit EHAK code: a spreadsheet drops the leading zeros of a number (write %s, and format the code columns as text)", line, r[1], strings.Repeat("0", 4-len(r[1]))+r[1])
		}
		if _, dup := m.Municipalities[r[0]]; dup {
			return fmt.Errorf("line %d: STAR1 code %q mapped twice", line, r[0])
		}
		m.Municipalities[r[0]] = Municipality{Code: r[1], Name: r[2]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	kinds := map[string]bool{"service": true, "relation_type": true, "proceeding_type": true, "activity_type": true, "channel": true}
	err = readCSV(filepath.Join(dir, "classifiers.csv"), []string{"star1_class", "star1_code", "star2_kind", "star2_code", "star2_name"}, func(line int, r []string) error {
		if !kinds[r[2]] {
			return fmt.Errorf("line %d: star2_kind %q is not service, relation_type, proceeding_type, activity_type or channel", line, r[2])
		}
		key := [2]string{r[0], r[1]}
		if _, dup := m.Classifiers[key]; dup {
			return fmt.Errorf("line %d: STAR1 code %s/%s mapped twice", line, r[0], r[1])
		}
		m.Classifiers[key] = Classifier{Kind: r[2], Code: r[3], Name: r[4]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// One STAR2 code has one name, whichever STAR1 codes map to it.
	names := map[[2]string]string{}
	for k, c := range m.Classifiers {
		key := [2]string{c.Kind, c.Code}
		if n, ok := names[key]; ok && n != c.Name {
			return nil, fmt.Errorf("mapping: classifiers.csv: STAR2 %s/%s named both %q and %q (from %s/%s)", c.Kind, c.Code, n, c.Name, k[0], k[1])
		}
		names[key] = c.Name
	}
	return m, nil
}

// readCSV reads one mapping file. A spreadsheet saves CSV as it likes:
// with a byte-order mark, and in a locale whose decimal mark is the comma
// (Estonian among them) with semicolons between fields. Both are read as
// the analyst meant them; the separator is taken from the header line.
// Text that is not UTF-8 (a spreadsheet's "CSV" in Windows-1257) is
// refused by line and column rather than loaded as mojibake.
func readCSV(path string, header []string, row func(line int, r []string) error) (err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mapping: %s does not exist", path)
	} else if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	br := bufio.NewReader(f)
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	r := csv.NewReader(br)
	r.Comma = separator(br)
	r.FieldsPerRecord = -1 // counted below, to name the columns wanted
	want := strings.Join(header, string(r.Comma))
	first, err := r.Read()
	if err != nil {
		return fmt.Errorf("mapping: %s: header: %w (want the line %q)", path, err, want)
	}
	if strings.Join(first, string(r.Comma)) != want {
		return fmt.Errorf("mapping: %s: header is %q, want %q", path, strings.Join(first, string(r.Comma)), want)
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// A *csv.ParseError names the line and column; a record that
			// could not be parsed has no field to ask the position of.
			return fmt.Errorf("mapping: %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		if strings.Join(rec, "") == "" {
			continue // a spreadsheet's empty row below the table: ",,"
		}
		if len(rec) != len(header) {
			return fmt.Errorf("mapping: %s: line %d has %s, want %d: %s", path, line, words.Count(len(rec), "field"), len(header), want)
		}
		for i, v := range rec {
			if !utf8.ValidString(v) {
				return fmt.Errorf("mapping: %s: line %d: %s %q is not UTF-8 (save the file as CSV UTF-8)", path, line, header[i], v)
			}
			if strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("mapping: %s: line %d: %s %q holds a NUL character (write a STAR1 code's NUL as the six characters \\u0000, as reports show it)", path, line, header[i], v)
			}
			if strings.TrimSpace(v) != v || v == "" {
				return fmt.Errorf("mapping: %s: line %d: %s %q is empty or has surrounding spaces", path, line, header[i], v)
			}
		}
		if err := row(line, rec); err != nil {
			return fmt.Errorf("mapping: %s: %w", path, err)
		}
	}
}

// lostZeros reports a municipality code that a spreadsheet has read as a
// number: EHAK codes are four digits, most of them with a leading zero
// (0784), and "784" would write a code STAR2 does not know (and its STAR1
// code, stripped alike, would map no row).
func lostZeros(code string) bool {
	if len(code) >= 4 {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// separator is the field separator of the header line: a semicolon when
// the line has one and no comma, else the comma.
func separator(br *bufio.Reader) rune {
	head, _ := br.Peek(4096)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	if bytes.IndexByte(head, ';') >= 0 && bytes.IndexByte(head, ',') < 0 {
		return ';'
	}
	return ','
}
