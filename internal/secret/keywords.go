package secret

import "strings"

// Keyword is one setting of a libpq keyword/value connection string.
type Keyword struct {
	Key   string
	Value string // quotes taken off, escapes undone
	// Start and End are where the value is written in the string,
	// quotes included.
	Start, End int
}

// Keywords reads a libpq keyword/value connection string as libpq and
// pgx read it: settings key = value apart by white space (ASCII's: the
// bytes of a letter such as Š are not), the value unquoted up to white
// space, or single-quoted, with backslash escapes in both. stop is where
// s no longer follows that grammar, at the start of the setting that
// leaves it (one with no key, no = or an unclosed quote), len(s) where it
// follows it to the end.
func Keywords(s string) (settings []Keyword, stop int) {
	i := 0
	skipSpace := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			return settings, i
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		skipSpace()
		if key == "" || i == len(s) || s[i] != '=' {
			return settings, start
		}
		i++
		skipSpace()
		kw := Keyword{Key: key, Start: i}
		quoted := i < len(s) && s[i] == '\''
		if quoted {
			i++
		}
		var value strings.Builder
		for ; i < len(s); i++ {
			c := s[i]
			if quoted && c == '\'' || !quoted && isSpace(c) {
				break
			}
			if c == '\\' {
				if i++; i == len(s) { // a backslash at the end is dropped
					break
				}
				c = s[i]
			}
			value.WriteByte(c)
		}
		if quoted {
			if i >= len(s) {
				return settings, start
			}
			i++ // the closing quote
		}
		kw.End, kw.Value = i, value.String()
		settings = append(settings, kw)
	}
}

// isSpace is white space as libpq's keyword/value strings take it.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
