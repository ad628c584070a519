// Package words writes counts as people read them in reports.
package words

import (
	"strconv"
	"strings"
)

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
