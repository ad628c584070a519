package mapping

import (
	"fmt"
	"math"
	"strings"
)

// Cents is an amount of money in hundredths of its currency unit. STAR1
// money is NUMBER(12,2), so an int64 of cents holds every value exactly.
type Cents int64

// EEK per euro, fixed at the changeover: 15.6466, kept as the exact
// fraction 156466/10000.
const (
	eekRateNum = 156466
	eekRateDen = 10000
)

// maxCents bounds NUMBER(12,2): ten digits before the point.
const maxCents = Cents(9_999_999_999_99)

// ParseCents reads a decimal text such as "1234.50", "1234.5", "-3" or
// ".5" into cents. It refuses more than two decimals, exponents, and values
// outside NUMBER(12,2), naming the value.
func ParseCents(s string) (Cents, error) {
	return parseCents(s, maxCents, "outside NUMBER(12,2)")
}

// MaxSum bounds a sum of amounts: the largest int64 of cents, about
// 92 million billion euros, which no table of STAR1 comes near (nine
// million NUMBER(12,2) values at their largest). The archive writer adds
// amounts with AddSum, which refuses to pass it, so that every sum a
// catalog holds is one ParseSum reads.
const MaxSum = Cents(math.MaxInt64)

// ParseSum reads a sum of amounts, as a catalog or a SUM() over a table
// gives it, into cents. It reads what ParseCents reads, without the bound
// of one NUMBER(12,2) value: a table of payments may well sum to more than
// ten billion.
func ParseSum(s string) (Cents, error) {
	return parseCents(s, MaxSum, "too large a sum")
}

// AddSum adds an amount to a sum, and refuses a sum past MaxSum either
// way instead of wrapping around.
func AddSum(sum, amount Cents) (Cents, error) {
	if (amount > 0 && sum > MaxSum-amount) || (amount < 0 && sum < -MaxSum-amount) {
		return sum, fmt.Errorf("money: %s and %s add up to more than a sum holds (%s)", sum, amount, MaxSum)
	}
	return sum + amount, nil
}

func parseCents(s string, limit Cents, tooLarge string) (Cents, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("money %q: not a decimal number", orig)
	}
	if len(frac) > 2 {
		// Oracle may render 12.50 as 12.5 but never with more than the
		// column's scale; trailing zeros beyond it are still exact.
		if strings.Trim(frac[2:], "0") != "" {
			return 0, fmt.Errorf("money %q: more than two decimals", orig)
		}
		frac = frac[:2]
	}
	var v Cents
	for _, part := range []string{intPart, frac + "00"[len(frac):]} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("money %q: not a decimal number", orig)
			}
			d := Cents(c - '0')
			if v > (limit-d)/10 {
				return 0, fmt.Errorf("money %q: %s", orig, tooLarge)
			}
			v = v*10 + d
		}
	}
	if neg {
		v = -v
	}
	return v, nil
}

// String prints cents as a decimal with exactly two decimals.
func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// EEKToEUR converts kroon cents to euro cents: divided by 15.6466 and
// rounded to the cent, half away from zero (rule 6), in integers only.
func EEKToEUR(eek Cents) Cents {
	n := int64(eek) * eekRateDen
	q, r := n/eekRateNum, n%eekRateNum
	if r < 0 {
		r = -r
	}
	if 2*r >= eekRateNum {
		if n < 0 {
			q--
		} else {
			q++
		}
	}
	return Cents(q)
}

// ToEUR converts an amount in VALUUTA to euro cents. EUR is kept, EEK is
// converted; any other currency is an error naming it.
func ToEUR(amount Cents, currency string) (Cents, error) {
	switch strings.TrimSpace(currency) {
	case "EUR":
		return amount, nil
	case "EEK":
		return EEKToEUR(amount), nil
	default:
		return 0, fmt.Errorf("money: unknown currency %q (want EUR or EEK)", currency)
	}
}
