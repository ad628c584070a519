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

// A failed batch's report opens with its findings, before the tables of
// counts, which run to hundreds of rows with every municipality.
func TestReportOpensWithTheFindings(t *testing.T) {
	c := &Counts{Source: 1, Outcomes: map[string]int64{"loaded": 1}}
	r := &Report{Batch: "all", Tables: []*TableReport{{Table: "MAKSE", Total: c, ByKov: map[string]*Counts{"0100": c}}},
		Findings: []Finding{{Table: "MAKSE", Star1ID: 7, Kind: "deep", Detail: "star2.payment x differs"}}, More: 2}
	var md strings.Builder
	WriteMarkdown(&md, r)
	s := md.String()
	find, totals := strings.Index(s, "## Findings"), strings.Index(s, "## Totals")
	if find < 0 || totals < 0 || find > totals || !strings.Contains(s, "| MAKSE | 7 |  | deep | star2.payment x differs |\n\n… and 2 more findings.\n\nsource rows =") {
		t.Errorf("want the findings, then the identity and the totals:\n%s", s)
	}
}
