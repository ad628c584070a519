package main

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/starmig/starmig/internal/words"
)

// docSpan is a command line in backquotes.
var docSpan = regexp.MustCompile("`((?:go run ./cmd/)?starmig [^`]*)`")

// docCommands returns the starmig command lines a Markdown file shows:
// lines of its code blocks that start with "starmig" or "go run
// ./cmd/starmig" (joined over a trailing backslash), and spans in
// backquotes that do. Each is the arguments after "starmig", with "..."
// and "…" (a value left to the reader) as "X". A span in backquotes may
// name a flag without its value ("`starmig migrate --archive`"): it is
// given "X".
func docCommands(t *testing.T, text string) [][]string {
	t.Helper()
	var lines []string
	inline := map[int]bool{}
	var cont string
	for _, l := range strings.Split(text, "\n") {
		if cont != "" {
			l = cont + " " + strings.TrimSpace(l)
			cont = ""
		} else if strings.HasPrefix(l, "    ") {
			l = strings.TrimSpace(l)
		} else {
			for _, m := range docSpan.FindAllStringSubmatch(l, -1) {
				inline[len(lines)] = true
				lines = append(lines, m[1])
			}
			continue
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cont = strings.TrimSpace(s)
			continue
		}
		lines = append(lines, l)
	}
	var out [][]string
	for n, l := range lines {
		l = strings.TrimPrefix(l, "go run ./cmd/")
		rest, ok := strings.CutPrefix(l, "starmig ")
		if !ok {
			continue
		}
		args, ok := words.Shell(rest)
		if !ok {
			t.Errorf("%q: a quote left open", l)
			continue
		}
		for i, a := range args {
			if a == "..." || a == "…" {
				args[i] = "X"
			}
		}
		if last := args[len(args)-1]; inline[n] && strings.HasPrefix(last, "--") && !strings.Contains(last, "=") {
			args = append(args, "X")
		}
		out = append(out, args)
	}
	return out
}

// The command lines the README and the runbooks show are ones starmig
// takes: each names a command there is, with flags it has.
func TestDocumentedCommandLinesParse(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range docCommands(t, string(b)) {
			seen++
			root := newRootCommand()
			root.InitDefaultVersionFlag() // cobra adds --version when a command runs
			c, rest, err := root.Find(args)
			if err != nil && len(args) > 1 && args[len(args)-1] == "X" {
				// The "X" given to a flag without its value: the
				// flag takes none (`starmig --version`).
				c, rest, err = root.Find(args[:len(args)-1])
			}
			if err != nil || (c == root && !strings.HasPrefix(rest[0], "-")) {
				t.Errorf("%s: starmig %s: no such command (%v)", f, strings.Join(args, " "), err)
				continue
			}
			if err := c.ParseFlags(rest); err != nil && !errors.Is(err, pflag.ErrHelp) {
				t.Errorf("%s: starmig %s: %v", f, strings.Join(args, " "), err)
			}
		}
	}
	t.Logf("%d command lines in %d documents", seen, len(files))
	if seen < 30 {
		t.Errorf("%d command lines found in the documents, want at least 30", seen)
	}
}

func TestDocCommands(t *testing.T) {
	text := "Run it:\n\n    starmig verify --archive ... --sign-pub a.pub \\\n      --level full\n    go run ./cmd/starmig retrieve --person 1 --reason \"a b\"\n\n" +
		"| daily | `starmig audit --since 2026-11-01` | `other` | `starmig migrate --archive` |\n    export X=1\n"
	got := docCommands(t, text)
	want := [][]string{
		{"verify", "--archive", "X", "--sign-pub", "a.pub", "--level", "full"},
		{"retrieve", "--person", "1", "--reason", "a b"},
		{"audit", "--since", "2026-11-01"},
		{"migrate", "--archive", "X"},
	}
	if len(got) != len(want) {
		t.Fatalf("docCommands: %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("command %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// placeholder is what a document puts for a part of a message that varies:
// "…", or N, M, X, Y or TABLE.COLUMN as a word of its own.
var placeholder = regexp.MustCompile(`…|\b(?:[NMXY]|TABLE\.COLUMN)\b`)

// backquoted is a span in backquotes.
var backquoted = regexp.MustCompile("`([^`]+)`")

// quotedMessages returns the messages the documents' tables quote: the
// spans in backquotes of the first cell of each row of a table whose first
// column is headed "it says" or "finding".
func quotedMessages(text string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "|") {
			in = false
			continue
		}
		cells := strings.Split(l, "|")
		first := strings.TrimSpace(cells[1])
		switch {
		case first == "it says" || first == "finding":
			in = true
		case !in || strings.Trim(first, "-: ") == "":
		default:
			for _, m := range backquoted.FindAllStringSubmatch(first, -1) {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// goStrings returns every string literal of the module's Go code, tests
// and test data left out.
func goStrings(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "../..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// leadingVerb is a format verb at the start of a string.
var leadingVerb = regexp.MustCompile(`^%[-+# 0-9.]*[a-zA-Z]`)

// inStrings says whether part is in one of strs, or made of the end of one
// and the start of another, as a message is made of an error's text and
// the format that wraps it ("%w: …") or of two strings joined.
func inStrings(strs []string, part string) bool {
	for _, s := range strs {
		if strings.Contains(s, part) {
			return true
		}
	}
	for i := 1; i < len(part); i++ {
		head, tail := part[:i], part[i:]
		if !slices.ContainsFunc(strs, func(s string) bool { return strings.HasSuffix(s, head) }) {
			continue
		}
		if slices.ContainsFunc(strs, func(s string) bool {
			return strings.HasPrefix(s, tail) || strings.HasPrefix(leadingVerb.ReplaceAllString(s, ""), tail)
		}) {
			return true
		}
	}
	return false
}

// The messages the runbooks quote, for a reader to match with what starmig
// printed, are starmig's: each part of one between the parts that vary is
// in a string of the code.
func TestDocumentedMessagesAreStarmigs(t *testing.T) {
	strs := goStrings(t)
	files, _ := filepath.Glob("../../docs/*.md")
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range quotedMessages(string(b)) {
			seen++
			for _, part := range placeholder.Split(msg, -1) {
				if part = strings.TrimSpace(part); len(part) < 3 {
					continue
				}
				if !inStrings(strs, part) {
					t.Errorf("%s quotes %q, and no string of starmig's code holds %q", filepath.Base(f), msg, part)
				}
			}
		}
	}
	t.Logf("%d messages quoted", seen)
	if seen < 20 {
		t.Errorf("%d messages quoted in the documents' tables, want at least 20", seen)
	}
}
