package synth

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteMappings writes the mapping folder for the synthetic STAR1 in the
// format of STAR2.md: municipalities.csv with every KOV code (current ones
// to themselves, merged ones to their successor), and classifiers.csv with
// every code a mapping decision covers. Codes no decision covers are left
// out on purpose: they are what the pre-flight finds.
func WriteMappings(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen: mappings folder: %w", err)
	}
	kov := Municipalities()
	names := map[string]string{}
	for _, m := range kov {
		names[m.Code] = m.Name
	}
	rows := [][]string{{"star1_code", "star2_code", "star2_name"}}
	for _, m := range kov {
		to := m.Code
		if m.Successor != "" {
			to = m.Successor
		}
		rows = append(rows, []string{m.Code, to, names[to]})
	}
	if err := writeCSV(filepath.Join(dir, "municipalities.csv"), rows); err != nil {
		return err
	}
	rows = [][]string{{"star1_class", "star1_code", "star2_kind", "star2_code", "star2_name"}}
	for _, c := range Codes {
		if c.Star2Code != "" {
			rows = append(rows, []string{c.Class, c.Code, star2Kind[c.Class], c.Star2Code, c.Star2Name})
		}
	}
	return writeCSV(filepath.Join(dir, "classifiers.csv"), rows)
}

func writeCSV(path string, rows [][]string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		return fmt.Errorf("gen: write %s: %w", path, err)
	}
	return nil
}
