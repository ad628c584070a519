package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/load"
)

// summaryOf is the summary printRunSummary prints.
func summaryOf(sum *batch.Summary) string {
	var b strings.Builder
	printRunSummary(&b, sum)
	return b.String()
}

// says fails the test unless the summary says want.
func says(t *testing.T, summary string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(summary, want) {
			t.Errorf("summary:\n%s\nwant it to say:\n%s", summary, want)
		}
	}
}

func TestRunSummaryNamesRowsLeftAsTheyAre(t *testing.T) {
	// A re-run leaves rows in STAR2 that STAR2 changed since (conflicts)
	// or that would now be quarantined (reported): neither is inserted,
	// updated nor unchanged, and the summary says where they are.
	sum := &batch.Summary{Batch: "b", RunID: 7, Tables: map[string]*load.Stats{
		"ISIK":     {Unchanged: 26, Reported: 2, Outcomes: map[string]int64{load.Loaded: 28}},
		"MENETLUS": {Unchanged: 12, Conflicts: 1, Outcomes: map[string]int64{load.Loaded: 13}},
		"OTSUS":    {Unchanged: 16, Outcomes: map[string]int64{load.Loaded: 16}},
	}}
	want := "3 rows left in STAR2 as they are (2 in ISIK, 1 in MENETLUS): changed in STAR2 since they were migrated, or now excluded or\n" +
		"  quarantined by the rules. Each is in migration.conflict with its reason (run_id 7);\n" +
		"  starmig resolve --batch b --list shows those still open, and records a decision on them."
	says(t, summaryOf(sum), want)

	sum.NamesKept = []load.NameKept{{Table: "classifier", Code: "service/personal_assistance", Mapping: "Personal assistant", STAR2: "Personal assistance"}}
	says(t, summaryOf(sum), "1 code named otherwise in the mapping folder than in STAR2, which keeps its own names:\n"+
		"    classifier service/personal_assistance: \"Personal assistant\" in the mapping folder, \"Personal assistance\" in STAR2")
	sum.NamesKept = nil

	sum.Tables["ISIK"].Reported, sum.Tables["ISIK"].Unchanged = 0, 28
	says(t, summaryOf(sum), "1 row left in STAR2 as it is (1 in MENETLUS)")

	sum.Tables["MENETLUS"].Conflicts, sum.Tables["MENETLUS"].Unchanged = 0, 13
	if got := summaryOf(sum); strings.Contains(got, "left in STAR2") || strings.Contains(got, "deleted outright") {
		t.Errorf("summary of a run with nothing left as it is and nothing deleted:\n%s", got)
	}

	// Rows STAR1 deleted outright since an earlier run are in no outcome
	// column of this run either.
	sum.Tables["OTSUS"].Gone = 2
	says(t, summaryOf(sum), "2 rows migrated before and deleted outright from STAR1 since (2 in OTSUS): STAR2 keeps what was loaded,\n"+
		"  as a re-run never deletes; migration.row_map marks each with gone_run_id 7.")
}

// TestRunSummaryNamesCodesTheMappingLacks: rows quarantined because the
// mapping folder lacks their classifier or municipality code are loaded
// once it maps them, so the summary names the codes.
func TestRunSummaryNamesCodesTheMappingLacks(t *testing.T) {
	sum := &batch.Summary{Batch: "b", RunID: 2, Tables: map[string]*load.Stats{
		"OTSUS":    {Inserted: 10, Outcomes: map[string]int64{load.Loaded: 10, load.Quarantined: 5}, Quarantine: map[string]int64{"unmapped_code": 4, "orphan": 1}},
		"MENETLUS": {Inserted: 3, Outcomes: map[string]int64{load.Loaded: 3, load.Quarantined: 3}, Quarantine: map[string]int64{"unknown_municipality": 3}},
		"ISIK":     {Unchanged: 2, Outcomes: map[string]int64{load.Quarantined: 2}, Quarantine: map[string]int64{"unknown_municipality": 2}},
	},
		Unmapped: []batch.UnmappedCode{{Class: "TEENUS", Code: "KODUTEENUS", Rows: 7}},
		Unknown:  map[string]int64{"078": 4, "0O84": 1},
	}
	got := summaryOf(sum)
	for _, want := range []string{
		"4 rows quarantined (4 in OTSUS) for classifier codes classifiers.csv does not map (--allow-unmapped):\n" +
			"    TEENUS/KODUTEENUS. Map them and run the batch again to load these rows.",
		"5 rows quarantined (2 in ISIK, 3 in MENETLUS) for municipality codes municipalities.csv does not map:\n" +
			"    078 (4), 0O84 (1). Map them and run the batch again to load these rows.",
	} {
		says(t, got, want)
	}
	if got := firstOf([]string{"a", "b", "c"}, 2); got != "a, b and 1 more" {
		t.Errorf("firstOf: %q", got)
	}
}

// TestRunSummaryWarnsOfAMistypedAsOf: a mistyped --as-of far in the past
// quarantines most rows as future_date, and every row is still accounted
// for; the summary says what that points at. The few mistyped years of a
// real register do not raise it.
// A batch of no rows (an empty STAR1, a municipality without rows) says
// so, rather than print the headers of an empty table.
func TestRunSummaryOfNoRows(t *testing.T) {
	got := summaryOf(&batch.Summary{Batch: "b", RunID: 1, Tables: map[string]*load.Stats{}})
	if got != "  No STAR1 row belongs to this batch.\n" {
		t.Errorf("summary of a batch of no rows:\n%s", got)
	}
}

func TestRunSummaryWarnsOfAMistypedAsOf(t *testing.T) {
	sum := &batch.Summary{Batch: "b", RunID: 1, AsOf: "1990-01-01", Tables: map[string]*load.Stats{
		"ISIK":  {Outcomes: map[string]int64{load.Quarantined: 190, load.ArchivedOnly: 10}, Quarantine: map[string]int64{"future_date": 187, "invalid_personal_code": 3}},
		"MAKSE": {Outcomes: map[string]int64{load.Quarantined: 1282}, Quarantine: map[string]int64{"parent_quarantined": 1282}},
		"OTSUS": {Outcomes: map[string]int64{load.Loaded: 90, load.Quarantined: 10}, Quarantine: map[string]int64{"future_date": 10}},
	}}
	says(t, summaryOf(sum), "  Warning: 197 rows quarantined as dated after the reference date 1990-01-01 (future_date): 187 of 200 in ISIK, 10 of 100 in OTSUS.\n"+
		"    So many later dates suggest that --as-of is wrong. If it is, run the batch again with the right date:\n"+
		"    these rows, and the rows under them, are then migrated by the rules.\n")

	// A reference date after today in Estonia: 23:30 UTC on 31 December
	// is already 1 January there.
	eve := time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)
	if got, want := asOfToCome("2062-01-01", eve), "  Warning: the reference date 2062-01-01 lies after today (2027-01-01 in Estonia)"; !strings.HasPrefix(got, want) || !strings.Contains(got, "If --as-of is wrong") {
		t.Errorf("an --as-of to come: %q, want it to start %q", got, want)
	}
	for _, asOf := range []string{"2027-01-01", "2026-11-01", "1990-01-01"} {
		if got := asOfToCome(asOf, eve); got != "" {
			t.Errorf("--as-of %s on %v: %q", asOf, eve, got)
		}
	}

	// With --json, the same warnings are under "warnings", each on one
	// line with a kind for monitoring, next to the summary's own fields.
	var b strings.Builder
	if err := json.NewEncoder(&b).Encode(withWarnings(sum, time.Date(1989, 12, 1, 12, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	says(t, b.String(), `"batch":"b","run_id":1,"as_of":"1990-01-01"`,
		`"warnings":[{"kind":"many_future_dates","text":"197 rows quarantined as dated after the reference date 1990-01-01 (future_date): 187 of 200 in ISIK, 10 of 100 in OTSUS. So many later dates suggest`,
		`{"kind":"as_of_after_today","text":"the reference date 1990-01-01 lies after today (1989-12-01 in Estonia): rows were taken as live, archived or dated`)

	sum.Tables["ISIK"].Quarantine["future_date"] = 19
	sum.Tables["OTSUS"].Quarantine["future_date"] = 9
	if got := summaryOf(sum); strings.Contains(got, "Warning") || strings.Contains(got, "--as-of") {
		t.Errorf("summary of a batch with a few future dates in each table:\n%s", got)
	}
	b.Reset()
	if err := json.NewEncoder(&b).Encode(withWarnings(sum, eve)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "warnings") {
		t.Errorf("--json of a run with nothing to warn of: %s", b.String())
	}
	// A table STAR2 refused a tenth or more of: a rule of STAR2's own.
	sum.Tables["MAKSE"] = &load.Stats{Inserted: 100, Rejected: 12, Outcomes: map[string]int64{load.Loaded: 100, load.Quarantined: 12}}
	sum.Tables["DOKUMENT"] = &load.Stats{Rejected: 3, Outcomes: map[string]int64{load.Quarantined: 3}}
	sum.Tables["OTSUS"].Rejected, sum.Tables["OTSUS"].Inserted = 9, 50 // 9 rows at fault are no rule
	says(t, summaryOf(sum), "  Warning: 15 rows refused by STAR2 (rejected_by_database): 12 of 112 written to MAKSE, 3 of 3 written to DOKUMENT.\n"+
		"    So many refusals suggest a rule of STAR2 itself")
	b.Reset()
	if err := json.NewEncoder(&b).Encode(withWarnings(sum, eve)); err != nil {
		t.Fatal(err)
	}
	says(t, b.String(), `"warnings":[{"kind":"many_rejected","text":"15 rows refused by STAR2 (rejected_by_database): 12 of 112 written to MAKSE`)

	// A table of no counts, as a summary edited by hand in the bookkeeping
	// may hold for status, is no warning either.
	if ws := runWarnings("1990-01-01", map[string]*load.Stats{"ISIK": nil}, eve); len(ws) != 0 {
		t.Errorf("warnings of a table of no counts: %v", ws)
	}
}

// The reconciliation's text names the batch and how deep it went, and
// ends with its verdict: a table of counts alone left the reader to
// add them up.
func TestReconciliationTextSaysItsVerdict(t *testing.T) {
	rep := &batch.Report{Batch: "tartu", Deep: true}
	var b strings.Builder
	printReconciliation(&b, rep, "tartu.md")
	says(t, b.String(), "Reconciliation of batch tartu (deep):\n",
		"\nThe batch reconciles: every STAR1 row is accounted for, and every loaded row in STAR2 is what the rules give.\nReport: tartu.md\n")
	rep.Deep = false
	rep.Findings = []batch.Finding{{Table: "ISIK", Star1ID: 7}}
	rep.More = 2
	b.Reset()
	printReconciliation(&b, rep, "")
	says(t, b.String(), "Reconciliation of batch tartu:\n", "\nThe batch does not reconcile: 3 findings, listed below.\n")
	if strings.Contains(b.String(), "Report:") {
		t.Errorf("no report file, yet:\n%s", b.String())
	}
}
