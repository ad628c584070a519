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
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/pathcheck"
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
// error names the file, the line and the value at fault, and every line at
// fault is named (up to maxListed), so that the analysts correct the files
// in one go rather than one line per run.
func LoadFolder(dir string) (*Mappings, error) {
	m := &Mappings{Municipalities: map[string]Municipality{}, Classifiers: map[[2]string]Classifier{}}
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mapping: folder %s does not exist", dir)
	} else if err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("mapping: %s is a file: want the folder holding municipalities.csv and classifiers.csv", dir)
	}
	var found faults
	path := filepath.Join(dir, "municipalities.csv")
	readCSV(&found, path, []string{"star1_code", "star2_code", "star2_name"}, func(line int, r []string) {
		// A STAR1 code may be a broken one (STAR1 holds "078"), mapped on
		// purpose; STAR2's codes are EHAK codes, and a spreadsheet strips
		// both columns alike.
		if whole, lost := LostZeros(r[1]); lost {
			found.add("%s: line %d: star2_code %q is not a 4-digit EHAK code: a spreadsheet drops the leading zeros of a number (write %s, and format the code columns as text)", path, line, r[1], whole)
			return
		}
		if _, dup := m.Municipalities[r[0]]; dup {
			found.add("%s: line %d: STAR1 code %q mapped twice", path, line, r[0])
			return
		}
		m.Municipalities[r[0]] = Municipality{Code: r[1], Name: r[2]}
	})
	kinds := map[string]bool{"service": true, "relation_type": true, "proceeding_type": true, "activity_type": true, "channel": true}
	path = filepath.Join(dir, "classifiers.csv")
	// One STAR2 code has one name, whichever STAR1 codes map to it.
	type naming struct{ name, from string }
	named := map[[2]string]naming{}
	readCSV(&found, path, []string{"star1_class", "star1_code", "star2_kind", "star2_code", "star2_name"}, func(line int, r []string) {
		if !kinds[r[2]] {
			found.add("%s: line %d: star2_kind %q is not service, relation_type, proceeding_type, activity_type or channel", path, line, r[2])
			return
		}
		key := [2]string{r[0], r[1]}
		if _, dup := m.Classifiers[key]; dup {
			found.add("%s: line %d: STAR1 code %s/%s mapped twice", path, line, r[0], r[1])
			return
		}
		c := Classifier{Kind: r[2], Code: r[3], Name: r[4]}
		if first, ok := named[[2]string{c.Kind, c.Code}]; ok && first.name != c.Name {
			found.add("%s: line %d: STAR2 %s/%s named both %q (from %s) and %q (from %s/%s)", path, line, c.Kind, c.Code, first.name, first.from, c.Name, r[0], r[1])
			return
		} else if !ok {
			named[[2]string{c.Kind, c.Code}] = naming{c.Name, r[0] + "/" + r[1]}
		}
		m.Classifiers[key] = c
	})
	if err := found.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// maxListed is how many faults of a mapping folder an error lists; the
// rest are counted.
const maxListed = 20

// faults gathers what is wrong in a mapping folder, each naming the file,
// and the line and value where there is one.
type faults struct {
	list []string
	more int
}

func (f *faults) add(format string, args ...any) {
	if len(f.list) == maxListed {
		f.more++
		return
	}
	f.list = append(f.list, fmt.Sprintf(format, args...))
}

// err is nil without faults; one fault reads "mapping: FILE: …", and more
// are listed one to a line below their count.
func (f *faults) err() error {
	switch len(f.list) {
	case 0:
		return nil
	case 1:
		return errors.New("mapping: " + f.list[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mapping: %s in the mapping files:", words.Count(len(f.list)+f.more, "fault"))
	for _, s := range f.list {
		b.WriteString("\n  " + s)
	}
	if f.more > 0 {
		fmt.Fprintf(&b, "\n  and %d more, not listed", f.more)
	}
	return errors.New(b.String())
}

// lookalike names a file of path's folder that the analysts may have meant
// for it (pathcheck.Lookalike), and what to do; "" when there is none.
func lookalike(path string) string {
	switch name, otherCase := pathcheck.Lookalike(path, true); {
	case name == "":
		return ""
	case otherCase:
		return fmt.Sprintf(" (the folder has %s: file names are case-sensitive here)", name)
	default:
		return fmt.Sprintf(" (the folder has %s: save it as %s, comma-separated, UTF-8)", name, filepath.Base(path))
	}
}

// readCSV reads one mapping file, handing row each line of the table and
// adding to found what is wrong. A spreadsheet saves CSV as it likes:
// with a byte-order mark, and in a locale whose decimal mark is the comma
// (Estonian among them) with semicolons between fields. Both are read as
// the analyst meant them; the separator is taken from the header line.
// Text that is not UTF-8 (a spreadsheet's "CSV" in Windows-1257) is
// refused by line and column rather than loaded as mojibake. A file whose
// header is wrong, or that cannot be parsed as CSV, is read no further:
// its lines cannot be told apart with certainty.
func readCSV(found *faults, path string, header []string, row func(line int, r []string)) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		found.add("%s does not exist%s", path, lookalike(path))
		return
	} else if err != nil {
		found.add("%v", err)
		return
	}
	defer f.Close()
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
		found.add("%s: header: %v (want the line %q)", path, err, want)
		return
	}
	if strings.Join(first, string(r.Comma)) != want {
		found.add("%s: header is %q, want %q", path, strings.Join(first, string(r.Comma)), want)
		return
	}
lines:
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			// A *csv.ParseError names the line and column; a record that
			// could not be parsed has no field to ask the position of.
			found.add("%s: %v", path, err)
			return
		}
		line, _ := r.FieldPos(0)
		if strings.Join(rec, "") == "" {
			continue // a spreadsheet's empty row below the table: ",,"
		}
		if len(rec) != len(header) {
			found.add("%s: line %d has %s, want %d: %s", path, line, words.Count(len(rec), "field"), len(header), want)
			continue
		}
		for i, v := range rec {
			if !utf8.ValidString(v) {
				found.add("%s: line %d: %s %q is not UTF-8 (save the file as CSV UTF-8)", path, line, header[i], v)
				continue lines
			}
			if strings.IndexByte(v, 0) >= 0 {
				found.add("%s: line %d: %s %q holds a NUL character (write a STAR1 code's NUL as the six characters \\u0000, as reports show it)", path, line, header[i], v)
				continue lines
			}
			if strings.TrimSpace(v) != v || v == "" {
				found.add("%s: line %d: %s %q is empty or has surrounding spaces", path, line, header[i], v)
				continue lines
			}
		}
		row(line, rec)
	}
}

// LostZeros gives the 4-digit EHAK code of a municipality code that a
// spreadsheet has read as a number (784 for 0784): EHAK codes are four
// digits, most of them with a leading zero, and "784" would write a code
// STAR2 does not know (and its STAR1 code, stripped alike, would map no
// row). ok is false for any other code.
func LostZeros(code string) (whole string, ok bool) {
	if len(code) == 0 || len(code) >= 4 || strings.Trim(code, "0123456789") != "" {
		return "", false
	}
	return strings.Repeat("0", 4-len(code)) + code, true
}

// CodeMeant says which municipality code was meant by given, a code
// that names (code -> name) does not hold: the code it is without its
// leading zeros, as a spreadsheet that read it as a number leaves it (no
// code is the one given, so naming that one cannot hide a code meant as
// typed), or the codes of the municipality it names, in any case, or
// of those whose names it is part of. "" when it is none of these.
func CodeMeant(given string, names map[string]string) string {
	if whole, lost := LostZeros(given); lost {
		if n, ok := names[whole]; ok {
			return fmt.Sprintf("%s is %s (%s) without its leading zeros", given, whole, n)
		}
	}
	var named []string
	for code, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), strings.TrimSpace(given)) {
			named = append(named, code+" ("+n+")")
		}
	}
	if len(named) > 0 {
		slices.Sort(named)
		return given + " is the name of " + strings.Join(named, ", ")
	}
	return partOfNames(given, names)
}

// partOfNames names the municipalities whose names hold given as the
// start of one of their words, in any case ("tartu" for Tartu linn and
// Tartu vald), at most five of them; "" when none does, or when given is
// shorter than three letters, which would name too many to help.
func partOfNames(given string, names map[string]string) string {
	part := strings.ToLower(strings.TrimSpace(given))
	if utf8.RuneCountInString(part) < 3 {
		return ""
	}
	var named []string
	for code, n := range names {
		for _, w := range strings.FieldsFunc(strings.ToLower(n), func(r rune) bool {
			return unicode.IsSpace(r) || r == '-' || r == '/' || r == ','
		}) {
			if strings.HasPrefix(w, part) {
				named = append(named, code+" ("+n+")")
				break
			}
		}
	}
	if len(named) == 0 {
		return ""
	}
	slices.Sort(named)
	const most = 5
	more := ""
	if len(named) > most {
		more = fmt.Sprintf(" and %d more", len(named)-most)
		named = named[:most]
	}
	if len(named) == 1 {
		return given + " is part of the name of " + named[0]
	}
	return given + " is part of the names of " + strings.Join(named, ", ") + more
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
