// Package words writes counts, and STAR1 values, as people read them in
// reports and on a terminal.
package words

import (
	"strconv"
	"strings"
	"unicode"
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

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}
