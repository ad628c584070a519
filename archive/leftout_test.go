package archive

import (
	"fmt"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
)

// A table STAR1.md does not describe is left out of a run only when
// --skip-table names it, whether it holds rows or could not be counted;
// an empty one, or one a restore records as left out already, needs no
// name; a name must be such a table.
func TestLeftOutOnlyWhatSkipTableNames(t *testing.T) {
	vana := extract.TableRows{Name: "ISIK_VANA", Rows: 2}
	tyhi := extract.TableRows{Name: "TYHI"}
	ext := extract.TableRows{Name: "EXT_LOGI", Rows: -1, Unread: "ORA-08188"}
	old := extract.TableRows{Name: "VANA_LOGI", Rows: 5}
	for _, c := range []struct {
		name            string
		found, recorded []extract.TableRows
		skip            []string
		want            string // the tables returned, or the error's text
	}{
		{"nothing to leave out", nil, nil, nil, "[]"},
		{"an empty table", []extract.TableRows{tyhi}, nil, nil, "[TYHI (0 rows)]"},
		{"unnamed", []extract.TableRows{ext, tyhi, vana}, nil, []string{"ext_logi"},
			"STAR1 holds tables that STAR1.md does not describe: ISIK_VANA (2 rows). starmig reads only"},
		{"not counted, unnamed", []extract.TableRows{ext, vana}, nil, []string{"ISIK_VANA"},
			"does not describe: EXT_LOGI (rows not counted: ORA-08188). starmig"},
		{"all named", []extract.TableRows{ext, tyhi, vana}, nil, []string{"EXT_LOGI", "isik_vana"},
			"[EXT_LOGI (rows not counted: ORA-08188) TYHI (0 rows) ISIK_VANA (2 rows)]"},
		{"recorded by a restore", nil, []extract.TableRows{old}, nil, "[VANA_LOGI (5 rows)]"},
		{"recorded, and named", []extract.TableRows{vana}, []extract.TableRows{old}, []string{"ISIK_VANA", "VANA_LOGI"},
			"[ISIK_VANA (2 rows) VANA_LOGI (5 rows)]"},
		{"a described table", []extract.TableRows{vana}, nil, []string{"ISIK_VANA", "isik"},
			"--skip-table isik: STAR1.md describes that table"},
		{"a typo", []extract.TableRows{vana}, []extract.TableRows{old}, []string{"ISIK_VAN"},
			"--skip-table ISIK_VAN: STAR1 holds no such table (tables STAR1.md does not describe: ISIK_VANA, VANA_LOGI)"},
		{"no such tables", nil, nil, []string{"X"}, "--skip-table X: STAR1 holds no such table (tables STAR1.md does not describe: none)"},
	} {
		got, err := leftOut(c.found, c.recorded, c.skip)
		text := fmt.Sprint(got)
		if err != nil {
			text = err.Error()
		}
		if !strings.Contains(text, c.want) {
			t.Errorf("%s: got %s\nwant %s", c.name, text, c.want)
		}
	}
}
