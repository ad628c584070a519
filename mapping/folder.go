package mapping

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// Municipality maps a STAR1 municipality code.
func (m *Mappings) Municipality(code string) (Municipality, bool) {
	v, ok := m.Municipalities[code]
	return v, ok
}

// Classifier maps a STAR1 code of a code list.
func (m *Mappings) Classifier(class, code string) (Classifier, bool) {
	v, ok := m.Classifiers[[2]string{class, code}]
	return v, ok
}

// LoadFolder reads municipalities.csv and classifiers.csv from dir. Every
// error names the file, the line and the value at fault.
func LoadFolder(dir string) (*Mappings, error) {
	m := &Mappings{Municipalities: map[string]Municipality{}, Classifiers: map[[2]string]Classifier{}}
	err := readCSV(filepath.Join(dir, "municipalities.csv"), []string{"star1_code", "star2_code", "star2_name"}, func(line int, r []string) error {
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

func readCSV(path string, header []string, row func(line int, r []string) error) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(header)
	first, err := r.Read()
	if err != nil {
		return fmt.Errorf("mapping: %s: header: %w", path, err)
	}
	first[0] = strings.TrimPrefix(first[0], "\ufeff")
	if strings.Join(first, ",") != strings.Join(header, ",") {
		return fmt.Errorf("mapping: %s: header is %q, want %q", path, strings.Join(first, ","), strings.Join(header, ","))
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return fmt.Errorf("mapping: %s: %w", path, err)
		}
		for i, v := range rec {
			if strings.TrimSpace(v) != v || v == "" {
				return fmt.Errorf("mapping: %s: line %d: %s %q is empty or has surrounding spaces", path, line, header[i], v)
			}
		}
		if err := row(line, rec); err != nil {
			return fmt.Errorf("mapping: %s: %w", path, err)
		}
	}
}
