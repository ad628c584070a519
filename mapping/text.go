package mapping

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// Text repairs recorded by CleanText (rule 11).
const (
	RepairTrimmed    = "trimmed"
	RepairedMojibake = "mojibake"
	RepairNUL        = "nul_removed"
	RepairEmptyNull  = "empty_to_null"
)

// The code pages through which STAR1 text was once mis-decoded.
var mojibakeCharsets = []struct {
	name string
	enc  encoding.Encoding
}{
	{"windows-1257", charmap.Windows1257},
	{"iso-8859-1", charmap.ISO8859_1},
	{"windows-1252", charmap.Windows1252},
}

const estonianLetters = "õäöüšžÕÄÖÜŠŽ"

// RepairMojibake undoes one round of UTF-8 bytes decoded as a single-byte
// code page and saved again ("JÃ¼ri" for "Jüri"). It re-encodes s in each
// code page STAR1 is known to have been misread through and accepts the
// first result that is valid UTF-8, differs from s and contains an Estonian
// letter. Nothing else is guessed: when no code page qualifies, s is
// returned unchanged with ok false.
func RepairMojibake(s string) (fixed string, charset string, ok bool) {
	if isASCII(s) || !mayBeMojibake(s) {
		return s, "", false
	}
	for _, cs := range mojibakeCharsets {
		b, err := cs.enc.NewEncoder().Bytes([]byte(s))
		if err != nil || !utf8.Valid(b) {
			continue
		}
		out := string(b)
		if out != s && strings.ContainsAny(out, estonianLetters) {
			return out, cs.name, true
		}
	}
	return s, "", false
}

// Mojibake produces the damage RepairMojibake undoes: the UTF-8 bytes of s
// read as windows-1257 or iso-8859-1 text. The synthetic STAR1 uses it.
func Mojibake(s string, latin1 bool) string {
	enc := encoding.Encoding(charmap.Windows1257)
	if latin1 {
		enc = charmap.ISO8859_1
	}
	out, err := enc.NewDecoder().String(s)
	if err != nil {
		return s
	}
	if strings.ContainsRune(out, utf8.RuneError) {
		// windows-1257 leaves some bytes undefined: such damage could not be
		// undone, so make it the way iso-8859-1 would, which defines all.
		return Mojibake(s, true)
	}
	return out
}

// leadRunes and contRunes are, for the code pages above, the characters
// that UTF-8 lead bytes (0xC2-0xF4) and continuation bytes (0x80-0xBF)
// decode to. Mojibake has a lead character followed by a continuation one.
var leadRunes, contRunes = func() (map[rune]bool, map[rune]bool) {
	lead, cont := map[rune]bool{}, map[rune]bool{}
	for _, cs := range mojibakeCharsets {
		d := cs.enc.NewDecoder()
		for b := 0x80; b <= 0xF4; b++ {
			out, err := d.Bytes([]byte{byte(b)})
			if err != nil {
				continue
			}
			r, _ := utf8.DecodeRune(out)
			if b <= 0xBF {
				cont[r] = true
			}
			if b >= 0xC2 {
				lead[r] = true
			}
		}
	}
	return lead, cont
}()

// mayBeMojibake is a cheap test that lets most real text skip the
// re-encoding in RepairMojibake.
func mayBeMojibake(s string) bool {
	prevLead := false
	for _, r := range s {
		if prevLead && contRunes[r] {
			return true
		}
		prevLead = leadRunes[r]
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// CleanText applies rule 11 to one text value: remove NUL characters, trim
// surrounding white space, repair mojibake, and turn an empty string into
// NULL (valid false). It returns each repair made; capitals and everything
// else stay as they are.
func CleanText(s string) (out string, valid bool, repairs []string) {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
		repairs = append(repairs, RepairNUL)
	}
	if t := strings.TrimSpace(s); t != s {
		s = t
		repairs = append(repairs, RepairTrimmed)
	}
	if fixed, _, ok := RepairMojibake(s); ok {
		s = fixed
		repairs = append(repairs, RepairedMojibake)
	}
	if s == "" {
		return "", false, append(repairs, RepairEmptyNull)
	}
	return s, true, repairs
}
