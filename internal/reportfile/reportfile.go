// Package reportfile writes the reports people read instead of a
// terminal: Markdown, or HTML when the file's name asks for it.
package reportfile

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/starmig/starmig/internal/pathcheck"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// IsHTML tells whether a report at path is written as HTML: its name ends
// in .html or .htm.
func IsHTML(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".html" || ext == ".htm"
}

// Check tells, before a command does its work, whether Write could make
// a file at path (pathcheck.NewFile). It makes nothing.
func Check(path string) error { return pathcheck.NewFile(path) }

// Write writes a report to path, mode 0600, making its folder: the Markdown that md
// writes, or, for IsHTML(path), that Markdown made into a page of its own
// titled title. Markup in the Markdown is shown as the text it is, so no
// text a report quotes can act as markup; only the line breaks of Cell
// are kept.
func Write(path, title string, md func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	// Readable by its owner only: a retrieval's report is personal data,
	// and a reconciliation's names STAR1 rows.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if IsHTML(path) {
		err = writeHTML(f, title, md)
	} else {
		err = md(f)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("report: %w", cerr)
	}
	return err
}

func writeHTML(w io.Writer, title string, md func(io.Writer) error) error {
	var src bytes.Buffer
	if err := md(&src); err != nil {
		return err
	}
	var body bytes.Buffer
	conv := goldmark.New(goldmark.WithExtensions(extension.Table),
		goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(whenCells{}, 100))),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(rawAsText{}, 100))))
	if err := conv.Convert(src.Bytes(), &body); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := fmt.Fprintf(w, page, html.EscapeString(title), body.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Cell makes text safe inside a Markdown table cell: a '|' would end the
// cell and a line break the row. It is shown as the text it is: STAR1's
// free text (a request for help, a name) must not turn into emphasis,
// code or a link, and above all not into an image that a viewer fetches
// from a server of the writer's choosing when the archivist opens the
// report. Characters that start such markup are escaped with a backslash;
// an underscore only where it could (not inside a word such as a rule's
// name), '&' only before what could be an entity.
func Cell(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case 0:
			b.WriteString("␀")
			continue
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			b.WriteString("<br>") // a line ending of its own in Markdown
			continue
		case '\n':
			b.WriteString("<br>")
			continue
		case '|', '\\', '*', '`', '[', ']', '<', '>':
			b.WriteByte('\\')
		case '_':
			if i == 0 || i+1 == len(s) || !isWordByte(s[i-1]) || !isWordByte(s[i+1]) {
				b.WriteByte('\\')
			}
		case '&':
			if i+1 < len(s) && (s[i+1] == '#' || isWordByte(s[i+1])) {
				b.WriteByte('\\')
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isWordByte reports whether c is an ASCII letter or digit, or part of a
// character beyond ASCII (a letter such as õ).
func isWordByte(c byte) bool {
	return c >= 0x80 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// Facts writes a report's facts (name, then value) as a list, each
// name in bold. As a table of two columns they needed a header row, which
// was empty: a blank band above the facts in every viewer.
func Facts(w io.Writer, facts ...[2]string) {
	for _, f := range facts {
		fmt.Fprintf(w, "- **%s:** %s\n", f[0], Cell(f[1]))
	}
	fmt.Fprintln(w)
}

// whenCells marks the table cells that hold a date, or a date and a time
// of day, with the class "when", which the page keeps on one line: a
// browser breaks a narrow column at a date's hyphens ("2010-01-" above
// "19 11:11:08").
type whenCells struct{}

func (whenCells) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	src := reader.Source()
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		cell, ok := n.(*east.TableCell)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		var b []byte
		for c := cell.FirstChild(); c != nil; c = c.NextSibling() {
			t, ok := c.(*ast.Text)
			if !ok {
				return ast.WalkSkipChildren, nil
			}
			b = append(b, t.Segment.Value(src)...)
		}
		if isWhen(string(b)) {
			cell.SetAttributeString("class", []byte("when"))
		}
		return ast.WalkSkipChildren, nil
	})
}

// isWhen tells whether s is "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS" by its
// shape, as STAR1 dates and the reports' times are written.
func isWhen(s string) bool {
	const shape = "0000-00-00 00:00:00"
	if len(s) != 10 && len(s) != len(shape) {
		return false
	}
	for i := range len(s) {
		if shape[i] == '0' && (s[i] < '0' || s[i] > '9') || shape[i] != '0' && s[i] != shape[i] {
			return false
		}
	}
	return true
}

// rawAsText renders inline markup of the Markdown as escaped text, but
// for the line breaks Cell writes.
type rawAsText struct{}

func (rawAsText) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindRawHTML, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkSkipChildren, nil
		}
		var raw []byte
		segs := n.(*ast.RawHTML).Segments
		for i := range segs.Len() {
			seg := segs.At(i)
			raw = append(raw, seg.Value(src)...)
		}
		if string(raw) == "<br>" {
			_, err := w.WriteString("<br>")
			return ast.WalkSkipChildren, err
		}
		_, err := w.WriteString(html.EscapeString(string(raw)))
		return ast.WalkSkipChildren, err
	})
}

const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%s</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
p, ul, ol { max-width: 80em; }
table { border-collapse: collapse; margin: 1em 0; display: block; max-width: 100%%; overflow-x: auto; }
@media print { table { display: table; } }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
td:last-child:not([style*="right"]) { overflow-wrap: anywhere; }
th { background: #f3f3f3; }
td[style*="right"] { font-variant-numeric: tabular-nums; }
td.when { white-space: nowrap; }
code { background: #f3f3f3; padding: 0 0.2em; }
</style>
</head>
<body>
%s</body>
</html>
`
