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
	reportfile.Facts(w, [2]string{"Store", r.Store}, [2]string{"Level", r.Level}, [2]string{"Seed", fmt.Sprint(r.Seed)},
		[2]string{"Key holder checks", yesNo(r.KeyHolder)}, [2]string{"Restore drill", yesNo(r.Drill)},
		[2]string{"Locks checked", yesNo(r.Locks)}, [2]string{"Runs", fmt.Sprint(r.Runs)}, [2]string{"Bundles", fmt.Sprint(r.Bundles)},
		[2]string{"Objects", fmt.Sprint(r.Objects)}, [2]string{"Objects hashed", fmt.Sprint(r.Hashed)},
		[2]string{"Bytes read", archive.HumanBytes(r.BytesRead)})
	if len(r.Notes) > 0 {
		// A paragraph between, or the notes would continue the list of facts.
		fmt.Fprintf(w, "Notes:\n\n")
		for _, n := range r.Notes {
			// A note may name a key of the store: text, never markup.
			fmt.Fprintf(w, "- %s\n", reportfile.Cell(n))
		}
	}
	if r.OK() {
		fmt.Fprintf(w, "\n**No findings.**\n")
		return
	}
	// Two columns: an object's key names its batch, run and bundle, and
	// columns of each would leave the problem no room on a page.
	fmt.Fprintf(w, "\n## %s\n\n| where | problem |\n|---|---|\n", words.Count(len(r.Findings), "finding"))
	for _, f := range r.Findings {
		where := f.Where()
		if where == "" {
			where = "the store"
		}
		// Through Cell: an object verification did not expect may carry
		// any key, a '|' in it too.
		fmt.Fprintf(w, "| %s | %s |\n", reportfile.Cell(where), reportfile.Cell(f.Problem))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
