package reportfile

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

func md(w io.Writer) error {
	_, err := fmt.Fprint(w, "# Report\n\n| table | rows |\n| --- | ---: |\n| ISIK | 28 |\n| <script>alert(1)</script> | 1 |\n")
	return err
}

func TestMarkdownOrHTMLByName(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name       string
		want, not  []string
		htmlByName bool
	}{
		{"r.md", []string{"| ISIK | 28 |"}, []string{"<table>"}, false},
		{"report", []string{"| ISIK | 28 |"}, []string{"<table>"}, false},
		{"sub/r.html", []string{"<!DOCTYPE html>", "<title>Batch &lt;b&gt;</title>", "<table>", "<td>ISIK</td>", `<td style="text-align:right">28</td>`},
			[]string{"<script>", "| ISIK |", "%!"}, true},
		{"R.HTM", []string{"<table>"}, nil, true},
	} {
		path := filepath.Join(dir, c.name)
		if IsHTML(path) != c.htmlByName {
			t.Errorf("IsHTML(%s) = %v", c.name, !c.htmlByName)
		}
		if err := Write(path, "Batch <b>", md); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q:\n%s", c.name, w, b)
			}
		}
		for _, n := range c.not {
			if strings.Contains(string(b), n) {
				t.Errorf("%s holds %q:\n%s", c.name, n, b)
			}
		}
	}
}

func TestWriteSaysWhatFailed(t *testing.T) {
	_, file := testenv.FileInTempDir(t)
	err := Write(filepath.Join(file, "r.md"), "", md)
	if err == nil || !strings.Contains(err.Error(), "report:") || !strings.Contains(err.Error(), "file") {
		t.Errorf("report under a file: %v", err)
	}
}

func TestFactsAreAListWithoutAnEmptyHeader(t *testing.T) {
	b := htmlOf(t, func(w io.Writer) error {
		Facts(w, [2]string{"Query", "person | 1"}, [2]string{"Reason", "court\norder"})
		return nil
	})
	for _, want := range []string{"<li><strong>Query:</strong> person | 1</li>", "<strong>Reason:</strong> court<br>order"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "<th></th>") {
		t.Errorf("an empty header cell:\n%s", b)
	}
}

func TestDatesStayOnOneLine(t *testing.T) {
	b := htmlOf(t, func(w io.Writer) error {
		_, err := fmt.Fprint(w, "| LOODUD | ALGUS | AADRESS | KOOD |\n|---|---|---|---|\n"+
			"| 2010-01-19 11:11:08 | 2023-03-10 | Pikk 1, 2010-01-19 | 2010-01-1x |\n")
		return err
	})
	for _, w := range []string{`<td class="when">2010-01-19 11:11:08</td>`, `<td class="when">2023-03-10</td>`,
		"<td>Pikk 1, 2010-01-19</td>", "<td>2010-01-1x</td>", "<th>LOODUD</th>", "td.when { white-space: nowrap; }"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("lacks %q:\n%s", w, b)
		}
	}
}

// TestCellShowsTextAsItIs: STAR1 text in a report's table is shown as the
// text it is, in the page as in a Markdown viewer: no emphasis, code,
// entity, link or image (which a browser would fetch from its server when
// the archivist opens the report), and no line that ends the row.
func TestCellShowsTextAsItIs(t *testing.T) {
	vals := []string{
		"*Mari* _Kask_ **bold**", "[click](javascript:alert(1))", "![x](http://tracker.example/t.png)",
		"<img src=x onerror=alert(1)>", "<http://x.example>", "`code`", `C:\temp\*.doc`, "a | b", `a \| b`,
		"&amp; &lt; &#65; & Co", "rejected_by_database", "_a_ b_", "tõnu_ _õie", "line\rnext\r\nlast\nend", "nul\x00byte",
		"2010-01-19 11:11:08", "# not a heading", "~~not struck~~",
	}
	b := htmlOf(t, func(w io.Writer) error {
		fmt.Fprint(w, "| A |\n|---|\n")
		for _, v := range vals {
			fmt.Fprintf(w, "| %s |\n", Cell(v))
		}
		return nil
	})
	cells := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllSubmatch(b, -1)
	if len(cells) != len(vals) {
		t.Fatalf("%d cells for %d values:\n%s", len(cells), len(vals), b)
	}
	for i, v := range vals {
		want := strings.ReplaceAll(v, "\x00", "␀")
		want = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(want)
		want = strings.ReplaceAll(html.EscapeString(want), "\n", "<br>")
		got := strings.ReplaceAll(string(cells[i][1]), "&quot;", "&#34;")
		if got != want {
			t.Errorf("%q shown as %s, want %s", v, got, want)
		}
	}
}

// htmlOf writes the Markdown md writes as an HTML report and returns the page.
func htmlOf(t *testing.T, md func(io.Writer) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.html")
	if err := Write(path, "r", md); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
