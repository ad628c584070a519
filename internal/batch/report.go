package batch

import (
	"fmt"
	"io"
	"strings"

	"github.com/starmig/starmig/internal/reportfile"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
)

var outcomeOrder = []string{load.Loaded, load.Merged, load.ArchivedOnly, load.ExcludedDeleted, load.Quarantined}

// WriteMarkdown writes a reconciliation as a Markdown document a person
// would rather read: every finding with its row, then the identity per
// table in total and per municipality, and STAR2 against the bookkeeping.
func WriteMarkdown(w io.Writer, r *Report) {
	status := "reconciles"
	if !r.OK() {
		status = "**does not reconcile: " + words.Count(int64(len(r.Findings))+r.More, "finding") + "**"
	}
	fmt.Fprintf(w, "# Reconciliation of batch %s\n\nThe batch %s.", r.Batch, status)
	if r.Deep {
		fmt.Fprint(w, " Every loaded row was recomputed from STAR1 and compared with STAR2 (deep).")
	}
	fmt.Fprint(w, "\n\n")
	// The findings first: they are what a failed batch's reader looks for,
	// and the table per municipality can run to hundreds of rows.
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "## Findings\n\n| table | STAR1 id | STAR2 id | kind | detail |\n| --- | ---: | --- | --- | --- |")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", f.Table, f.Star1ID, f.Star2ID, f.Kind, reportfile.Cell(f.Detail))
		}
		if r.More > 0 {
			fmt.Fprintf(w, "\n… and %s.\n", strings.Replace(words.Count(r.More, "finding"), " ", " more ", 1))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "source rows = loaded + merged + archived_only + excluded_deleted + quarantined\n\n")
	fmt.Fprintln(w, "## Totals\n\n| table | source | loaded | merged | archived_only | excluded_deleted | quarantined | source EUR | accounted EUR | in STAR2 | STAR2 EUR |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, t := range r.Tables {
		c := t.Total
		_, sum := c.Accounted()
		fmt.Fprintf(w, "| %s | %d", t.Table, c.Source)
		for _, o := range outcomeOrder {
			fmt.Fprintf(w, " | %d", c.Outcomes[o])
		}
		if t.Money {
			fmt.Fprintf(w, " | %s | %s | %d | %s |\n", c.SourceSum, sum, t.STAR2Rows, t.STAR2Sum)
		} else {
			fmt.Fprintf(w, " | | | %d | |\n", t.STAR2Rows)
		}
	}
	fmt.Fprintln(w, "\n## Per municipality\n\n| table | municipality | source | loaded | merged | archived_only | excluded_deleted | quarantined | source EUR | accounted EUR |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, t := range r.Tables {
		for _, k := range t.Municipalities() {
			c := t.ByKov[k]
			_, sum := c.Accounted()
			// k is STAR1's own code, which may be broken in any way, a '|' too.
			fmt.Fprintf(w, "| %s | %s | %d", t.Table, reportfile.Cell(k), c.Source)
			for _, o := range outcomeOrder {
				fmt.Fprintf(w, " | %d", c.Outcomes[o])
			}
			if t.Money {
				fmt.Fprintf(w, " | %s | %s |\n", c.SourceSum, sum)
			} else {
				fmt.Fprint(w, " | | |\n")
			}
		}
	}
	fmt.Fprintln(w, "\nMunicipality `-` is a row with none (an orphan); `?CODE` a STAR1 code with no mapping.")
	if n, list := gone(r); n > 0 {
		fmt.Fprintf(w, "\n## Deleted from STAR1\n\n%s\n", goneSentence(n, list))
	}
	if n, list := kept(r); n > 0 {
		fmt.Fprintf(w, "\n## Kept as STAR2 has them\n\n%s\n", keptSentence(n, list))
	}
}

// WriteText writes the totals of a reconciliation for a terminal.
func WriteText(w io.Writer, r *Report) {
	fmt.Fprintf(w, "  %-13s %9s %9s %9s %9s %9s %9s %16s %16s\n", "table", "source", "loaded", "merged", "archived", "excluded", "quarant.", "source EUR", "accounted EUR")
	for _, t := range r.Tables {
		c := t.Total
		_, sum := c.Accounted()
		src, acc := "", ""
		if t.Money {
			src, acc = c.SourceSum.String(), sum.String()
		}
		fmt.Fprintf(w, "  %-13s %9d %9d %9d %9d %9d %9d %16s %16s\n", t.Table, c.Source, c.Outcomes[load.Loaded], c.Outcomes[load.Merged],
			c.Outcomes[load.ArchivedOnly], c.Outcomes[load.ExcludedDeleted], c.Outcomes[load.Quarantined], src, acc)
	}
	if n, list := gone(r); n > 0 {
		fmt.Fprintf(w, "  %s\n", goneSentence(n, list))
	}
	if n, list := kept(r); n > 0 {
		fmt.Fprintf(w, "  %s\n", keptSentence(n, list))
	}
}

// kept counts the loaded rows a decision keeps as STAR2 has them, in total
// and as "TABLE n" per table.
func kept(r *Report) (n int64, list string) {
	var parts []string
	for _, t := range r.Tables {
		if t.Kept > 0 {
			n += t.Kept
			parts = append(parts, fmt.Sprintf("%s %d", t.Table, t.Kept))
		}
	}
	return n, strings.Join(parts, ", ")
}

func keptSentence(n int64, list string) string {
	if n == 1 {
		return fmt.Sprintf("Not a finding: 1 loaded row that a decision keeps as STAR2 has it, changed or deleted in STAR2 after the migration wrote it or no longer loaded by the rules (%s; starmig resolve, migration.resolution), as long as it stays as it was when decided.", list)
	}
	return fmt.Sprintf("Not findings: %d loaded rows that a decision keeps as STAR2 has them, changed or deleted in STAR2 after the migration wrote them or no longer loaded by the rules (%s; starmig resolve, migration.resolution), as long as they stay as they were when decided.", n, list)
}

// gone counts the rows of the bookkeeping marked gone from STAR1, in total
// and as "TABLE n" per table.
func gone(r *Report) (n int64, list string) {
	var parts []string
	for _, t := range r.Tables {
		if t.Total.Gone > 0 {
			n += t.Total.Gone
			parts = append(parts, fmt.Sprintf("%s %d", t.Table, t.Total.Gone))
		}
	}
	return n, strings.Join(parts, ", ")
}

func goneSentence(n int64, list string) string {
	return fmt.Sprintf("Not counted above: %s that earlier runs migrated and STAR1 has deleted outright since (%s). STAR2 keeps those that were loaded, as a re-run never deletes; migration.row_map marks each (gone_run_id).",
		words.Count(n, "row"), list)
}
