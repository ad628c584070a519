package reportfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
			[]string{"<script>", "| ISIK |"}, true},
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
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(dir, "file", "r.md"), "", md)
	if err == nil || !strings.Contains(err.Error(), "report:") || !strings.Contains(err.Error(), "file") {
		t.Errorf("report under a file: %v", err)
	}
}

func TestFactsAreAListWithoutAnEmptyHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.html")
	err := Write(path, "facts", func(w io.Writer) error {
		Facts(w, [2]string{"Query", "person | 1"}, [2]string{"Reason", "court\norder"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
	path := filepath.Join(t.TempDir(), "r.html")
	err := Write(path, "r", func(w io.Writer) error {
		_, err := fmt.Fprint(w, "| LOODUD | ALGUS | AADRESS | KOOD |\n|---|---|---|---|\n"+
			"| 2010-01-19 11:11:08 | 2023-03-10 | Pikk 1, 2010-01-19 | 2010-01-1x |\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`<td class="when">2010-01-19 11:11:08</td>`, `<td class="when">2023-03-10</td>`,
		"<td>Pikk 1, 2010-01-19</td>", "<td>2010-01-1x</td>", "<th>LOODUD</th>", "td.when { white-space: nowrap; }"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("lacks %q:\n%s", w, b)
		}
	}
}
