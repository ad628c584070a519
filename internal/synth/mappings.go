package synth

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/starmig/starmig/internal/pathcheck"
)

// mappingFiles are the files of the mapping folder for the synthetic STAR1,
// by name, in the format of STAR2.md: municipalities.csv with every KOV
// code (current ones to themselves, merged ones to their successor), and
// classifiers.csv with every code a mapping decision covers. Codes no
// decision covers are left out on purpose: they are what the pre-flight
// finds.
func mappingFiles() map[string][]byte {
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
	files := map[string][]byte{"municipalities.csv": csvBytes(rows)}
	rows = [][]string{{"star1_class", "star1_code", "star2_kind", "star2_code", "star2_name"}}
	for _, c := range Codes {
		if c.Star2Code != "" {
			rows = append(rows, []string{c.Class, c.Code, star2Kind[c.Class], c.Star2Code, c.Star2Name})
		}
	}
	files["classifiers.csv"] = csvBytes(rows)
	return files
}

func csvBytes(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows) // a bytes.Buffer does not fail
	return b.Bytes()
}

// WriteMappings writes the mapping folder for the synthetic STAR1 into dir,
// replacing its files.
func WriteMappings(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen: mappings folder: %w", err)
	}
	for name, body := range mappingFiles() {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	return nil
}

// EditedMappingsError names mapping files in a folder that hold something
// else than gen writes: an analyst's decisions, which gen must not replace.
type EditedMappingsError struct{ Files []string }

func (e *EditedMappingsError) Error() string {
	holds := "they hold"
	if len(e.Files) == 1 {
		holds = "it holds"
	}
	return fmt.Sprintf("gen: %s would be replaced, and %s other mappings than gen writes (edited?)", strings.Join(e.Files, " and "), holds)
}

// CheckMappings reports (as *EditedMappingsError) the mapping files in dir
// that WriteMappings would replace and that hold something else than it
// writes. Missing files, and files as gen wrote them, are fine.
func CheckMappings(dir string) error {
	if err := pathcheck.Below(dir); err != nil {
		return fmt.Errorf("gen: mappings folder %s: %w", dir, err)
	}
	if err := pathcheck.Folder(dir); err != nil {
		return fmt.Errorf("gen: mappings folder %w", err)
	}
	e := &EditedMappingsError{}
	for name, body := range mappingFiles() {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("gen: %w", err)
		case !bytes.Equal(got, body):
			e.Files = append(e.Files, path)
		}
	}
	if len(e.Files) > 0 {
		slices.Sort(e.Files)
		return e
	}
	return nil
}
