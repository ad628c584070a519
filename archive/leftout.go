package archive

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/starmig/starmig/extract"
)

// LeftOut finds the tables of STAR1 that STAR1.md does not describe
// (extract.Undescribed). An archive run reads only the tables STAR1.md
// describes, so it would not hold them: a run is refused while one of
// them holds rows, or could not be counted, and is not named in skip
// (--skip-table), so that no table is left out of the archive
// unknowingly. A name in skip must be such a table. What it returns goes
// into the catalog (Config.LeftOut), so that the archive says what of
// STAR1 it does not hold. A source that is a restore adds the tables its
// archive run left out (extract.Recorded): they were left out knowingly
// then, and need no --skip-table now.
func LeftOut(ctx context.Context, snap extract.Snapshot, skip []string) ([]extract.TableRows, error) {
	found, err := extract.Undescribed(ctx, snap)
	if err != nil {
		return nil, err
	}
	recorded, err := extract.Recorded(ctx, snap)
	if err != nil {
		return nil, err
	}
	return leftOut(found, recorded, skip)
}

// leftOut is LeftOut's decision, on the tables found and recorded.
func leftOut(found, recorded []extract.TableRows, skip []string) ([]extract.TableRows, error) {
	all := append(slices.Clip(found), recorded...)
	for _, s := range skip {
		if _, err := extract.TableByName(strings.ToUpper(s)); err == nil {
			return nil, &SkipTableError{Table: s, Reason: "STAR1.md describes that table, and the archive holds every table it describes"}
		}
		if !slices.ContainsFunc(all, func(t extract.TableRows) bool { return strings.EqualFold(t.Name, s) }) {
			names := make([]string, len(all))
			for i, t := range all {
				names[i] = t.Name
			}
			have := "none"
			if len(names) > 0 {
				have = strings.Join(names, ", ")
			}
			return nil, &SkipTableError{Table: s, Reason: "STAR1 holds no such table (tables STAR1.md does not describe: " + have + ")"}
		}
	}
	var refused []extract.TableRows
	for _, t := range found {
		if !slices.ContainsFunc(skip, func(s string) bool { return strings.EqualFold(s, t.Name) }) {
			refused = append(refused, t)
		}
	}
	if text := TablesText(refused, false); text != "" {
		return nil, fmt.Errorf("archive: STAR1 holds tables that STAR1.md does not describe: %s. starmig reads only the tables STAR1.md describes, "+
			"so the archive would not hold them. Describe them first (STAR1.md, extract/schema.go), or leave them out knowingly "+
			"with --skip-table (or $STARMIG_SKIP_TABLES, comma-separated); the catalog then records each table left out with its rows",
			text)
	}
	return all, nil
}

// SkipTableError is a --skip-table naming a table it cannot leave out: one
// that STAR1.md describes, or one that STAR1 does not hold. It is the
// engineer's to correct, like any other flag given a wrong value.
type SkipTableError struct {
	Table, Reason string
}

func (e *SkipTableError) Error() string {
	return "archive: --skip-table " + e.Table + ": " + e.Reason
}

// TablesText names tables with their rows ("ISIK_VANA (2 rows), TYHI (0
// rows)"), the empty ones only when empty is true.
func TablesText(tables []extract.TableRows, empty bool) string {
	var names []string
	for _, t := range tables {
		if t.Rows != 0 || empty {
			names = append(names, t.String())
		}
	}
	return strings.Join(names, ", ")
}
