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

// mojibakeClass tells, for the code pages above, whether a character is
// what a UTF-8 lead byte (0xC2-0xF4) or continuation byte (0x80-0xBF)
// decodes to. Mojibake has a lead character followed by a continuation
// one. Characters below U+0200, which hold all of Estonian, are looked up
// in an array: the test runs on every non-ASCII text STAR1 holds.
const (
	mojibakeLead uint8 = 1 << iota
	mojibakeCont
)

var mojibakeLow, mojibakeHigh = func() (low [0x200]uint8, high map[rune]uint8) {
	high = map[rune]uint8{}
	for _, cs := range mojibakeCharsets {
		d := cs.enc.NewDecoder()
		for b := 0x80; b <= 0xF4; b++ {
			out, err := d.Bytes([]byte{byte(b)})
			if err != nil {
				continue
			}
			r, _ := utf8.DecodeRune(out)
			var c uint8
			if b <= 0xBF {
				c |= mojibakeCont
			}
			if b >= 0xC2 {
				c |= mojibakeLead
			}
			if r < rune(len(low)) {
				low[r] |= c
			} else {
				high[r] |= c
			}
		}
	}
	return low, high
}()

func mojibakeClass(r rune) uint8 {
	if r < rune(len(mojibakeLow)) {
		return mojibakeLow[r]
	}
	return mojibakeHigh[r]
}

// mayBeMojibake is a cheap test that lets most real text skip the
// re-encoding in RepairMojibake.
func mayBeMojibake(s string) bool {
	prevLead := false
	for _, r := range s {
		c := mojibakeClass(r)
		if prevLead && c&mojibakeCont != 0 {
			return true
		}
		prevLead = c&mojibakeLead != 0
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
