package mapping

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starmig/starmig/extract"
)

func TestRule2PersonalCode(t *testing.T) {
	cases := []struct {
		code   string
		ok     bool
		birth  string
		gender string
		reason string
	}{
		{"37605030299", true, "1976-05-03", Male, ""},
		{"49403136526", true, "1994-03-13", Female, ""},
		{"50001010006", true, "2000-01-01", Male, ""},
		{"37605030298", false, "", "", "check digit"},
		{"37613030299", false, "", "", "impossible date"},
		{"37602300295", false, "", "", "impossible date"}, // 30 February
		{"77605030299", false, "", "", "no century"},
		{"3760503029", false, "", "", "not 11 digits"},
		{"3760503029X", false, "", "", "not 11 digits"},
	}
	for _, c := range cases {
		pc, err := ParsePersonalCode(c.code)
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.code, err)
				continue
			}
			if got := pc.BirthDate.Format(time.DateOnly); got != c.birth || pc.Gender != c.gender {
				t.Errorf("%s: got %s %s, want %s %s", c.code, got, pc.Gender, c.birth, c.gender)
			}
			continue
		}
		var pe *PersonalCodeError
		if !errors.As(err, &pe) || !contains(pe.Error(), c.reason) {
			t.Errorf("%s: error %v, want one saying %q", c.code, err, c.reason)
		}
	}
}

func TestRule2SecondWeightsAndZero(t *testing.T) {
	// Exhaust a range of serials so that both fallbacks of the check digit
	// are taken, and round-trip every code through the parser.
	second, zero := 0, 0
	birth := time.Date(1985, 7, 14, 0, 0, 0, 0, time.UTC)
	for serial := 0; serial < 1000; serial++ {
		code, err := MakePersonalCode(birth, serial%2 == 0, serial)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePersonalCode(code); err != nil {
			t.Fatalf("made %s, parser refuses: %v", code, err)
		}
		sum := 0
		for i, w := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 1} {
			sum += int(code[i]-'0') * w
		}
		if sum%11 == 10 {
			second++
			if code[10] == '0' {
				zero++
			}
		}
	}
	if second == 0 {
		t.Fatal("no code needed the second weights; the test does not cover them")
	}
	t.Logf("%d of 1000 codes used the second weights, %d of those ended at 0", second, zero)
}

func TestRule2ForeignIDShape(t *testing.T) {
	for _, s := range []string{"", "LV-120389-12345", "K1234567", "123456789012", "3760503029 "} {
		if LooksLikePersonalCode(s) {
			t.Errorf("%q looks like a personal code", s)
		}
	}
}

func TestRule6Money(t *testing.T) {
	cases := []struct {
		in, cur, want string
	}{
		{"1234.50", "EUR", "1234.50"},
		{"1234.5", "EUR", "1234.50"},
		{"15.6466", "", ""}, // more than two decimals: refused below
		{"156.47", "EEK", "10.00"},
		{"1000", "EEK", "63.91"},   // 63.9115...
		{"0.08", "EEK", "0.01"},    // 0.00511 -> 0.01
		{"0.07", "EEK", "0.00"},    // 0.004474 -> 0.00
		{"-1000", "EEK", "-63.91"}, // symmetric
		{"7823.30", "EEK", "500.00"},
		{"0.01", "EUR", "0.01"},
		{"9999999999.99", "EUR", "9999999999.99"},
	}
	for _, c := range cases {
		v, err := ParseCents(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s: parsed as %s, want an error", c.in, v)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		eur, err := ToEUR(v, c.cur)
		if err != nil {
			t.Fatal(err)
		}
		if eur.String() != c.want {
			t.Errorf("%s %s = %s EUR, want %s", c.in, c.cur, eur, c.want)
		}
	}
}

func TestRule6HalfAwayFromZero(t *testing.T) {
	// 0.5 cent exactly: 15.6466 EEK-cents * 0.5 = 7.8233 EEK cents is not
	// representable, so look for an exact tie by search and check both
	// signs round away from zero.
	found := false
	for eek := Cents(1); eek < 2_000_000; eek++ {
		n := int64(eek) * eekRateDen
		if 2*(n%eekRateNum) == eekRateNum {
			found = true
			up, down := EEKToEUR(eek), EEKToEUR(-eek)
			if int64(up) != n/eekRateNum+1 || down != -up {
				t.Fatalf("tie at %s EEK: got %s and %s", eek, up, down)
			}
			break
		}
	}
	if !found {
		t.Log("no exact tie below 20000 EEK; rounding checked by the table")
	}
}

func TestRule6BadMoney(t *testing.T) {
	for _, s := range []string{"", "abc", "1,50", "1e3", "12345678901.00", "1.2.3"} {
		if v, err := ParseCents(s); err == nil {
			t.Errorf("%q parsed as %s, want an error", s, v)
		} else if !contains(err.Error(), s) {
			t.Errorf("%q: error %q does not name the value", s, err)
		}
	}
	if _, err := ToEUR(100, "USD"); err == nil || !contains(err.Error(), "USD") {
		t.Errorf("USD: %v", err)
	}
}

// A table's amounts may sum to more than one NUMBER(12,2) holds: a
// catalog's or a restore's sum is read by ParseSum, which keeps the rest
// of ParseCents' rules.
func TestRule6SumsBeyondOneAmount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Cents
	}{
		{"10010645954.73", 1001064595473},
		{"-10010645954.7", -1001064595470},
		{"99999999999999.99", 9999999999999999},
		{"12.50", 1250},
		{"100000000000000.00", 10000000000000000},
		{"92233720368547758.07", MaxSum},
		{"-92233720368547758.07", -MaxSum},
	} {
		if _, err := ParseCents(c.in); err == nil && c.want > maxCents {
			t.Errorf("ParseCents(%q) took a value outside NUMBER(12,2)", c.in)
		}
		if v, err := ParseSum(c.in); err != nil || v != c.want {
			t.Errorf("ParseSum(%q) = %d, %v, want %d", c.in, v, err, c.want)
		}
	}
	for _, s := range []string{"92233720368547758.08", "-92233720368547758.08", "99999999999999999999999", "1.234", "1e3", ""} {
		if v, err := ParseSum(s); err == nil {
			t.Errorf("ParseSum(%q) = %s, want an error", s, v)
		} else if !contains(err.Error(), s) {
			t.Errorf("%q: error %q does not name the value", s, err)
		}
	}
}

// The archive writer adds a table's amounts with AddSum, which refuses a
// sum ParseSum could not read back instead of wrapping around.
func TestRule6SumsDoNotWrapAround(t *testing.T) {
	for _, c := range []struct{ sum, amount, want Cents }{
		{MaxSum - 100, 100, MaxSum},
		{-MaxSum + 100, -100, -MaxSum},
		{MaxSum, -1, MaxSum - 1},
		{-MaxSum, 1, -MaxSum + 1},
		{1250, -2500, -1250},
	} {
		if got, err := AddSum(c.sum, c.amount); err != nil || got != c.want {
			t.Errorf("AddSum(%s, %s) = %s, %v, want %s", c.sum, c.amount, got, err, c.want)
		}
	}
	for _, c := range [][2]Cents{{MaxSum - 100, 101}, {-MaxSum + 100, -101}, {MaxSum, maxCents}, {-MaxSum, -1}} {
		if got, err := AddSum(c[0], c[1]); err == nil {
			t.Errorf("AddSum(%s, %s) = %s, want an error", c[0], c[1], got)
		} else if !contains(err.Error(), c[1].String()) {
			t.Errorf("AddSum(%s, %s): error %q does not name the amount", c[0], c[1], err)
		}
	}
}

func TestRule11Text(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		null    bool
		repairs []string
	}{
		{"Jüri", "Jüri", false, nil},
		{"JÃ¼ri", "Jüri", false, []string{RepairedMojibake}},
		{"TÃµnu", "Tõnu", false, []string{RepairedMojibake}},
		{Mojibake("Mõisaküla tänav 5", false), "Mõisaküla tänav 5", false, []string{RepairedMojibake}},
		{Mojibake("Šikk Žanna", true), "Šikk Žanna", false, []string{RepairedMojibake}},
		{"  Mari ", "Mari", false, []string{RepairTrimmed}},
		{"MARI TAMM", "MARI TAMM", false, nil},
		{"Ämari", "Ämari", false, nil}, // a real Ä is not mojibake
		{"a\x00b", "ab", false, []string{RepairNUL}},
		{"   ", "", true, []string{RepairTrimmed, RepairEmptyNull}},
		{"", "", true, []string{RepairEmptyNull}},
	}
	for _, c := range cases {
		out, valid, repairs := CleanText(c.in)
		if out != c.want || valid == c.null || !equalStrings(repairs, c.repairs) {
			t.Errorf("CleanText(%q) = %q valid=%v %v; want %q null=%v %v", c.in, out, valid, repairs, c.want, c.null, c.repairs)
		}
	}
}

func TestRule12IBAN(t *testing.T) {
	good := []string{"EE382200221020145685", "GB82WEST12345698765432", MakeIBAN("EE", "220022102014568512")}
	bad := []string{"EE382200221020145684", "EE38 2200 2210 2014 5685", "", "EE", "ee382200221020145685", "EEXX2200221020145685"}
	for _, s := range good {
		if !ValidIBAN(s) {
			t.Errorf("%s: refused", s)
		}
	}
	for _, s := range bad {
		if ValidIBAN(s) {
			t.Errorf("%q: accepted", s)
		}
	}
	// The print format and small letters are the same account: the mapping
	// loads their electronic format, recorded as a correction.
	for in, want := range map[string]string{
		"EE38 2200 2210 2014 5685":    "EE382200221020145685",
		" ee382200221020145685\t":     "EE382200221020145685",
		"GB82 WEST 1234 5698 7654 32": "GB82WEST12345698765432",
		"EE38 2200 2210 2014 5684":    "EE382200221020145684", // still fails mod-97
	} {
		if got := ElectronicIBAN(in); got != want {
			t.Errorf("ElectronicIBAN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRule13TimeZone(t *testing.T) {
	cases := []struct {
		wall, want, how string
	}{
		{"2015-06-01 12:00:00", "2015-06-01T09:00:00Z", WallExact},
		{"2015-01-01 12:00:00", "2015-01-01T10:00:00Z", WallExact},
		// 2015-03-29: clocks go from 03:00 EET to 04:00 EEST.
		{"2015-03-29 03:30:00", "2015-03-29T01:30:00Z", WallSkipped},
		{"2015-03-29 02:59:59", "2015-03-29T00:59:59Z", WallExact},
		{"2015-03-29 04:00:00", "2015-03-29T01:00:00Z", WallExact},
		// 2015-10-25: clocks go from 04:00 EEST back to 03:00 EET.
		{"2015-10-25 03:30:00", "2015-10-25T00:30:00Z", WallRepeated},
		{"2015-10-25 04:00:00", "2015-10-25T02:00:00Z", WallExact},
		{"2015-10-25 02:59:59", "2015-10-24T23:59:59Z", WallExact},
	}
	for _, c := range cases {
		w, err := ParseWallClock(c.wall)
		if err != nil {
			t.Fatal(err)
		}
		got, how := TallinnInstant(w)
		if got.UTC().Format(time.RFC3339) != c.want || how != c.how {
			t.Errorf("%s: got %s %q, want %s %q", c.wall, got.UTC().Format(time.RFC3339), how, c.want, c.how)
		}
	}
	if _, err := ParseWallClock("2015-13-01 00:00:00"); err == nil || !contains(err.Error(), "2015-13-01") {
		t.Errorf("bad date: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func equalStrings(a, b []string) bool { return slices.Equal(a, b) }

// TestRule14EmptyContentIsNotNull: a NULL BLOB and an empty BLOB (which
// the extraction gives as a nil slice) both become empty content, which
// PostgreSQL receives as an empty bytea, never as NULL; only the NULL is a
// correction.
func TestRule14EmptyContentIsNotNull(t *testing.T) {
	mt, _ := TableFor("DOKUMENT")
	content := slices.Index(mt.Columns, "content")
	for _, c := range []struct {
		name string
		sisu any
		fix  bool
	}{
		{"NULL", nil, true},
		{"empty BLOB", []byte(nil), false},
		{"empty BLOB, not nil", []byte{}, false},
	} {
		res := mt.Map([]any{int64(1), int64(2), "a.txt", "text/plain", c.sisu, "2025-01-02 10:00:00"}, Refs{}, &Config{})
		got, ok := res.Values[content].([]byte)
		if !ok || got == nil || len(got) != 0 {
			t.Errorf("%s: content %#v, want an empty non-nil []byte", c.name, res.Values[content])
		}
		fixed := slices.ContainsFunc(res.Corrections, func(x Correction) bool { return x.Rule == FixNullContent })
		if fixed != c.fix {
			t.Errorf("%s: correction %s recorded: %v, want %v", c.name, FixNullContent, fixed, c.fix)
		}
	}
}

// TestRule2ForeignIDIsCleanedAsText: a foreign identifier is text under
// rule 11 like any other, so a NUL in it does not make the database refuse
// the person, and the corrections of every value can be stored.
func TestRule2ForeignIDIsCleanedAsText(t *testing.T) {
	mt, _ := TableFor("ISIK")
	foreignID := slices.Index(mt.Columns, "foreign_id")
	for _, c := range []struct {
		in    any
		want  any
		rules []string
	}{
		{"LV-120389-12345", "LV-120389-12345", nil},
		{" K1234567 ", "K1234567", []string{"text_" + RepairTrimmed}},
		{"K123\x004567", "K1234567", []string{"text_" + RepairNUL}},
		{"\x00", nil, []string{"text_" + RepairNUL, "text_" + RepairEmptyNull}},
		{"   ", nil, nil},
		{nil, nil, nil},
	} {
		row := []any{int64(1), c.in, "Mari", "Tamm", nil, "N", nil, nil, "2020-01-02 10:00:00", nil, "E"}
		res := mt.Map(row, Refs{}, &Config{Mappings: &Mappings{}, AsOf: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
		if res.Values[foreignID] != c.want {
			t.Errorf("ISIKUKOOD %q: foreign_id %#v, want %#v", c.in, res.Values[foreignID], c.want)
		}
		var rules []string
		for _, x := range res.Corrections {
			if x.Column == "ISIKUKOOD" {
				rules = append(rules, x.Rule)
			}
			if strings.ContainsRune(x.Original, 0) || strings.ContainsRune(x.Corrected, 0) {
				t.Errorf("ISIKUKOOD %q: correction %+v holds a NUL", c.in, x)
			}
		}
		if !equalStrings(rules, c.rules) {
			t.Errorf("ISIKUKOOD %q: corrections %v, want %v", c.in, rules, c.rules)
		}
	}
}

// TestCorrectionsAreStorable: a correction keeps its original visible in
// text the bookkeeping can store, whatever bytes STAR1 held.
func TestCorrectionsAreStorable(t *testing.T) {
	for in, want := range map[string]string{
		"Jüri":          "Jüri",
		"a\x00b":        `a\u0000b`,
		"EE\xc3(12":     `EE\xC3(12`,
		"\xff\xfe\x00ä": `\xFF\xFE\u0000ä`,
	} {
		if got := extract.Visible(in); got != want {
			t.Errorf("extract.Visible(%q) = %q, want %q", in, got, want)
		}
	}
}
