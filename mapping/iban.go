package mapping

import (
	"strings"
	"unicode"
)

// ValidIBAN reports whether s passes the ISO 13616 check: two letters, two
// check digits, up to 30 alphanumerics, and the mod-97 remainder of the
// rearranged number is 1. Spaces are not allowed; the caller trims.
func ValidIBAN(s string) bool {
	if len(s) < 5 || len(s) > 34 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i < 2 && (c < 'A' || c > 'Z'):
			return false
		case i >= 2 && i < 4 && (c < '0' || c > '9'):
			return false
		case !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'):
			return false
		}
	}
	return ibanMod97(s[4:]+s[:4]) == 1
}

func ibanMod97(s string) int {
	r := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
		} else {
			r = (r*10 + int(c-'0')) % 97
		}
	}
	return r
}

// ElectronicIBAN is an IBAN in ISO 13616's electronic format: the print
// format's spaces (groups of four) and any other white space taken out,
// letters in capitals. What it gives still has to pass ValidIBAN.
func ElectronicIBAN(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || 'a' <= r && r <= 'z' }) < 0 {
		return s // as nearly every IBAN STAR1 holds: nothing to allocate
	}
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// MakeIBAN completes an IBAN from a country code and a basic bank account
// number by computing its check digits.
func MakeIBAN(country, bban string) string {
	country = strings.ToUpper(country)
	check := 98 - ibanMod97(bban+country+"00")
	return country + string(rune('0'+check/10)) + string(rune('0'+check%10)) + bban
}
