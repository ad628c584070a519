// Package mapping turns STAR1 values and rows into STAR2 values and
// outcomes. The rules here are plain functions of values: no database, no
// clock and no globals, so that each can be tested alone (STAR2.md, Rules).
package mapping

import (
	"fmt"
	"time"
)

// Gender as STAR2 writes it.
const (
	Male   = "male"
	Female = "female"
)

// PersonalCode is what an Estonian personal identification code
// (isikukood, GYYMMDDSSSC) encodes.
type PersonalCode struct {
	Code      string
	BirthDate time.Time // a date in UTC, midnight
	Gender    string    // Male or Female
}

// PersonalCodeError says why an 11-digit value is not a valid personal code.
type PersonalCodeError struct {
	Value  string
	Reason string
}

func (e *PersonalCodeError) Error() string {
	return fmt.Sprintf("personal code %q: %s", e.Value, e.Reason)
}

// LooksLikePersonalCode reports whether s has the shape of an Estonian
// personal code: exactly 11 ASCII digits. A value of another shape is a
// foreign identifier (rule 2), not an invalid code.
func LooksLikePersonalCode(s string) bool {
	if len(s) != 11 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CheckDigit computes the check digit of the first ten digits of a personal
// code: weights 1..9,1 mod 11; if 10, weights 3..9,1,2,3 mod 11; if again 10,
// the digit is 0.
func CheckDigit(first10 string) byte {
	w1 := [10]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 1}
	w2 := [10]int{3, 4, 5, 6, 7, 8, 9, 1, 2, 3}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += int(first10[i]-'0') * w1[i]
	}
	if c := sum % 11; c != 10 {
		return byte('0' + c)
	}
	sum = 0
	for i := 0; i < 10; i++ {
		sum += int(first10[i]-'0') * w2[i]
	}
	if c := sum % 11; c != 10 {
		return byte('0' + c)
	}
	return '0'
}

// ParsePersonalCode validates an 11-digit personal code: the century and
// sex digit, the birth date and the check digit. It returns a
// *PersonalCodeError when the code fails.
func ParsePersonalCode(s string) (PersonalCode, error) {
	if !LooksLikePersonalCode(s) {
		return PersonalCode{}, &PersonalCodeError{s, "not 11 digits"}
	}
	g := int(s[0] - '0')
	var century int
	switch g {
	case 1, 2:
		century = 1800
	case 3, 4:
		century = 1900
	case 5, 6:
		century = 2000
	default:
		return PersonalCode{}, &PersonalCodeError{s, fmt.Sprintf("first digit %d encodes no century", g)}
	}
	yy := int(s[1]-'0')*10 + int(s[2]-'0')
	mm := int(s[3]-'0')*10 + int(s[4]-'0')
	dd := int(s[5]-'0')*10 + int(s[6]-'0')
	y := century + yy
	d := time.Date(y, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	if mm < 1 || mm > 12 || dd < 1 || d.Year() != y || d.Month() != time.Month(mm) || d.Day() != dd {
		return PersonalCode{}, &PersonalCodeError{s, fmt.Sprintf("encodes impossible date %04d-%02d-%02d", y, mm, dd)}
	}
	if c := CheckDigit(s[:10]); c != s[10] {
		return PersonalCode{}, &PersonalCodeError{s, fmt.Sprintf("check digit is %c, want %c", s[10], c)}
	}
	gender := Female
	if g%2 == 1 {
		gender = Male
	}
	return PersonalCode{Code: s, BirthDate: d, Gender: gender}, nil
}

// MakePersonalCode builds a valid personal code for a birth date, a gender
// and a serial number 0..999. It is the inverse of ParsePersonalCode.
func MakePersonalCode(birth time.Time, male bool, serial int) (string, error) {
	y := birth.Year()
	var g int
	switch {
	case y >= 1800 && y < 1900:
		g = 1
	case y >= 1900 && y < 2000:
		g = 3
	case y >= 2000 && y < 2100:
		g = 5
	default:
		return "", fmt.Errorf("personal code: year %d outside 1800-2099", y)
	}
	if !male {
		g++
	}
	if serial < 0 || serial > 999 {
		return "", fmt.Errorf("personal code: serial %d outside 0-999", serial)
	}
	first := fmt.Sprintf("%d%02d%02d%02d%03d", g, y%100, int(birth.Month()), birth.Day(), serial)
	return first + string(CheckDigit(first)), nil
}
