package batch

import (
	"strings"
	"testing"
)

// A municipality code is STAR1's, broken or not; a '|' in it must not cut
// its row of the per-municipality table in two.
func TestReportKeepsABrokenCodeInItsCell(t *testing.T) {
	c := &Counts{Source: 1, Outcomes: map[string]int64{"quarantined": 1}}
	r := &Report{Batch: "all", Tables: []*TableReport{{Table: "ISIK", Total: c, ByKov: map[string]*Counts{"?07|8": c}}}}
	var md strings.Builder
	WriteMarkdown(&md, r)
	if !strings.Contains(md.String(), "| ISIK | ?07\\|8 | 1 |") {
		t.Errorf("the row of code ?07|8:\n%s", md.String())
	}
}
