// Package words writes counts, and STAR1 values, as people read them in
// reports and on a terminal.
package words

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Shown is a value from STAR1 as a line on a terminal may show it: as it
// is when every character is visible and no space ends it, else quoted
// with Go's escapes ("X\x1b[31m", "ABC ", "A\u200bB"), so that no STAR1
// text breaks a listing into lines, sends the terminal its control
// sequences, or hides a character that makes two codes differ.
func Shown(s string) string {
	if s == "" || s != strings.TrimSpace(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Count is n followed by noun, plural unless n is 1: "1 row", "0 rows",
// "3 findings". Nouns ending in a consonant and y take -ies ("2 entries"),
// those ending in s, x, ch or sh take -es ("2 batches").
func Count[N ~int | ~int64](n N, noun string) string {
	s := strconv.FormatInt(int64(n), 10) + " "
	if n == 1 {
		return s + noun
	}
	if l := len(noun); l > 1 && noun[l-1] == 'y' && !isVowel(noun[l-2]) {
		return s + noun[:l-1] + "ies"
	}
	for _, end := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(noun, end) {
			return s + noun + "es"
		}
	}
	return s + noun + "s"
}

// List joins items as a sentence does: "a", "a and b", "a, b and c".
func List(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}

// Printable is text that may hold bytes from outside (an object's name,
// a tag file's value, an error that quotes one, a reason typed by a
// person) as one line on a terminal may show it: every character that is
// not visible (a control character, an escape sequence's start, a line
// break, a zero-width space) and every byte that is not UTF-8 is written
// as Go writes it in a quoted string (\x1b, \n, \u200b, \xb1), the rest
// as it is. Unlike Shown it does not quote the whole, so a sentence stays
// a sentence.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (!unicode.IsPrint(r) && r != ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r != utf8.RuneError || size != 1) && (unicode.IsPrint(r) || r == ' ') {
			b.WriteString(s[i : i+size])
		} else {
			q := strconv.Quote(s[i : i+size])
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// PrintableLines is Printable for text of several lines: each line is
// made Printable, and the line breaks are kept, and so is the indentation
// of a line that begins with tabs (as a driver's error lists its
// attempts), each tab as two spaces.
func PrintableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		rest := strings.TrimLeft(l, "\t")
		lines[i] = strings.Repeat("  ", len(l)-len(rest)) + Printable(rest)
	}
	return strings.Join(lines, "\n")
}

// Shell splits s into words as a POSIX shell does: white space between
// words, and quotes ('...', "...") and backslashes keeping what they hold
// in one word. ok is false for a quote left open or a backslash at the
// end. The AWS command line splits its config file's section names so,
// and the documents' command lines are read so.
func Shell(s string) (words []string, ok bool) {
	var (
		word  strings.Builder
		in    bool // a word has begun
		quote rune // the open quote, or 0
		esc   bool // the last character was a backslash outside '...'
	)
	for _, r := range s {
		switch {
		case esc:
			word.WriteRune(r)
			esc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\\' && (quote == 0 || quote == '"'):
			esc, in = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case unicode.IsSpace(r):
			if in {
				words = append(words, word.String())
				word.Reset()
				in = false
			}
		default:
			word.WriteRune(r)
			in = true
		}
	}
	if quote != 0 || esc {
		return nil, false
	}
	if in {
		words = append(words, word.String())
	}
	return words, true
}
