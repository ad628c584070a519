package verify

import (
	"fmt"
	"io"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/reportfile"
	"github.com/starmig/starmig/internal/words"
)

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, r *Report) {
	fmt.Fprintf(w, "Verification (%s) of %s: %s, %s, %s listed, %d hashed, %s read.\n",
		r.Level, r.Store, words.Count(r.Runs, "run"), words.Count(r.Bundles, "bundle"), words.Count(r.Objects, "object"), r.Hashed, archive.HumanBytes(r.BytesRead))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.OK() {
		fmt.Fprintln(w, "No findings: every bundle in the signed catalogs is there, whole"+lockText(r)+" and signed.")
		return
	}
	fmt.Fprintf(w, "%s:\n", words.Count(len(r.Findings), "finding"))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %s\n", f)
	}
}

func lockText(r *Report) string {
	if r.Locks {
		return ", locked"
	}
	return ""
}

// WriteMarkdown writes the report to keep or send.
func WriteMarkdown(w io.Writer, r *Report) {
	fmt.Fprintf(w, "# Archive verification: %s\n\n", r.Level)
	fmt.Fprintf(w, "| | |\n|---|---|\n| Store | %s |\n| Level | %s |\n| Seed | %d |\n| Key holder checks | %v |\n| Restore drill | %v |\n| Locks checked | %v |\n| Runs | %d |\n| Bundles | %d |\n| Objects | %d |\n| Objects hashed | %d |\n| Bytes read | %s |\n\n",
		r.Store, r.Level, r.Seed, r.KeyHolder, r.Drill, r.Locks, r.Runs, r.Bundles, r.Objects, r.Hashed, archive.HumanBytes(r.BytesRead))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	if r.OK() {
		fmt.Fprintf(w, "\n**No findings.**\n")
		return
	}
	fmt.Fprintf(w, "\n## %s\n\n| batch | run | bundle | object | problem |\n|---|---|---|---|---|\n", words.Count(len(r.Findings), "finding"))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", f.Batch, f.Run, f.Bundle, f.Object, reportfile.Cell(f.Problem))
	}
}
