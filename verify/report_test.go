package verify

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/reportfile"
)

// The report opens with its facts as a list, the notes under their own
// paragraph (or Markdown would run them on as more facts), then the
// findings as a table.
func TestReportReadsAsFactsNotesFindings(t *testing.T) {
	r := &Report{Store: "s3://star1-archive/star1", Level: Full, Seed: 7, Locks: true, Runs: 1, Bundles: 2, Objects: 30, Hashed: 28, BytesRead: 3 << 20,
		Notes: []string{"a run being written"},
		Findings: []Finding{{Batch: "all", Run: "r1", Bundle: "b1", Object: "data/ISIK.jsonl.gz.age", Problem: "sha256 | differs"},
			{Object: "star1/extra|bundle/bagit.txt", Problem: "not in any signed catalog"},
			{Batch: "all", Run: "r2", Problem: "catalog does not verify"}, {Problem: "the bucket has no Object Lock"}}}
	var md strings.Builder
	WriteMarkdown(&md, r)
	want := "- **Store:** s3://star1-archive/star1\n- **Level:** full\n- **Seed:** 7\n- **Key holder checks:** no\n- **Restore drill:** no\n- **Locks checked:** yes\n" +
		"- **Runs:** 1\n- **Bundles:** 2\n- **Objects:** 30\n- **Objects hashed:** 28\n- **Bytes read:** 3.0 MiB\n\nNotes:\n\n- a run being written\n"
	if !strings.Contains(md.String(), want) {
		t.Errorf("report:\n%s\nwant within it:\n%s", md.String(), want)
	}
	// An object's key names its batch, run and bundle: no columns of them.
	for _, row := range []string{"| data/ISIK.jsonl.gz.age | sha256 \\| differs |\n", "| batch all run r2 | catalog does not verify |\n", "| the store | the bucket has no Object Lock |\n"} {
		if !strings.Contains(md.String(), row) {
			t.Errorf("finding row %q missing:\n%s", row, md.String())
		}
	}
	if !strings.Contains(md.String(), "| star1/extra\\|bundle/bagit.txt | not in any signed catalog |") {
		t.Errorf("a key with '|' breaks its row:\n%s", md.String())
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := reportfile.Write(path, "verification", func(w io.Writer) error { WriteMarkdown(w, r); return nil }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if html := string(b); strings.Count(html, "<ul>") != 2 || !strings.Contains(html, "<p>Notes:</p>\n<ul>\n<li>a run being written</li>") || strings.Contains(html, "<th></th>") {
		t.Errorf("HTML report: want the facts and the notes as two lists, no empty header cell:\n%s", html)
	}
}
