package load

import (
	"strings"
	"testing"
)

func TestParseRowRef(t *testing.T) {
	for in, want := range map[string]string{
		"MENETLUS:1042":    "MENETLUS 1042",
		"otsus:7":          "OTSUS 7",
		"MENETLUS":         `expected TABLE:ID`,
		"MENETLUS:x":       `expected TABLE:ID`,
		"KLASSIFIKAATOR:1": `"KLASSIFIKAATOR" is not a STAR1 table the migration loads (ISIK, ISIKU_SEOS`,
	} {
		r, err := ParseRowRef(in)
		got := r.String()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
