package words

import (
	"slices"
	"testing"
)

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int64
		noun string
		want string
	}{
		{0, "row", "0 rows"},
		{1, "row", "1 row"},
		{2, "bundle", "2 bundles"},
		{1, "entry", "1 entry"},
		{3, "entry", "3 entries"},
		{2, "day", "2 days"},
		{2, "batch", "2 batches"},
		{1, "batch", "1 batch"},
		{3, "box", "3 boxes"},
		{-1, "cent", "-1 cents"},
	} {
		if got := Count(c.n, c.noun); got != c.want {
			t.Errorf("Count(%d, %q) = %q, want %q", c.n, c.noun, got, c.want)
		}
	}
	if got := Count(1, "document"); got != "1 document" {
		t.Errorf("int: %q", got)
	}
}

func TestList(t *testing.T) {
	for _, c := range []struct {
		items []string
		want  string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	} {
		if got := List(c.items); got != c.want {
			t.Errorf("List(%q) = %q, want %q", c.items, got, c.want)
		}
	}
}

func TestShown(t *testing.T) {
	for in, want := range map[string]string{
		"TEENUS":       "TEENUS",
		"Tõnu Kask":    "Tõnu Kask",
		"X\x1b[31mRED": `"X\x1b[31mRED"`,
		"two\nlines":   `"two\nlines"`,
		"ABC ":         `"ABC "`,
		"A\u200bB":     `"A\u200bB"`,
		"tab\there":    `"tab\there"`,
		"":             `""`,
	} {
		if got := Shown(in); got != want {
			t.Errorf("Shown(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"Payload-Oxum [54127.7], the payload is 54127.7": "Payload-Oxum [54127.7], the payload is 54127.7",
		"Tõnu Kask":                "Tõnu Kask",
		"[54127.7 je\xb1\x9f\x89]": `[54127.7 je\xb1\x9f\x89]`,
		"red \x1b[31mtext\x1b[0m":  `red \x1b[31mtext\x1b[0m`,
		"two\nlines\r":             `two\nlines\r`,
		"tab\there":                `tab\there`,
		"A\u200bB":                 `A\u200bB`,
		"a real \uFFFD stays":      "a real \uFFFD stays",
		"":                         "",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %s, want %s", in, got, want)
		}
	}
	if got, want := PrintableLines("code X\x1b[2J:\n  3 rows"), "code X\\x1b[2J:\n  3 rows"; got != want {
		t.Errorf("PrintableLines: %q, want %q", got, want)
	}
	// A tab indenting a line is kept as indentation; one inside it is
	// shown.
	if got, want := PrintableLines("failed to connect:\n\t127.0.0.1:1: refused\n\t\tvalue \"a\tb\""), "failed to connect:\n  127.0.0.1:1: refused\n    value \"a\\tb\""; got != want {
		t.Errorf("PrintableLines with tabs: %q, want %q", got, want)
	}
}

// TestShell: words are split as a shell splits them, with its quotes.
func TestShell(t *testing.T) {
	for in, want := range map[string][]string{
		"profile dev":           {"profile", "dev"},
		"  profile   dev  ":     {"profile", "dev"},
		`profile "host site"`:   {"profile", "host site"},
		`profile 'it''s'`:       {"profile", "its"},
		`profile a\ b`:          {"profile", "a b"},
		`profile ""`:            {"profile", ""},
		`profile "a"'b'c`:       {"profile", "abc"},
		`services "host \"x\""`: {"services", `host "x"`},
	} {
		got, ok := Shell(in)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("Shell(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`profile "dev`, `profile 'dev`, `profile dev\`} {
		if got, ok := Shell(in); ok {
			t.Errorf("Shell(%q) = %q, want it refused", in, got)
		}
	}
}
