package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
)

// hashRowAsWritten is HashRow as the bookkeeping of earlier runs recorded
// it: every value's tag, length and bytes, written one by one into SHA-256.
func hashRowAsWritten(r extract.Row) []byte {
	h := sha256.New()
	var buf [9]byte
	for _, v := range r {
		var tag byte
		var b []byte
		switch x := v.(type) {
		case nil:
			tag = 0
		case int64:
			tag, b = 1, binary.BigEndian.AppendUint64(nil, uint64(x))
		case string:
			tag, b = 2, []byte(x)
		case []byte:
			tag, b = 3, x
		default:
			tag, b = 4, []byte(fmt.Sprint(x))
		}
		buf[0] = tag
		binary.BigEndian.PutUint64(buf[1:], uint64(len(b)))
		h.Write(buf[:])
		h.Write(b)
	}
	return h.Sum(nil)
}

func TestHashRowKeepsRecordedHashes(t *testing.T) {
	// A changed HashRow would make every row of every earlier run look
	// changed in STAR1 on the next run.
	long := strings.Repeat("Tõnu Õunapuu ", 3000) // longer than rowHashLong
	rows := []extract.Row{
		{},
		{nil},
		{int64(1), "Jüri", nil, []byte(nil), []byte{}, "", int64(-7)},
		{int64(42), long, []byte(long), "x", 3.5, true},
		{[]byte(long), []byte(long[:rowHashLong]), long[:rowHashLong+1], int64(0)},
		{"a\x00b", []byte{0, 1, 2}, int64(1 << 62)},
	}
	for i, r := range rows {
		if got, want := HashRow(r), hashRowAsWritten(r); !bytes.Equal(got, want) {
			t.Errorf("row %d: HashRow %x, as recorded %x", i, got, want)
		}
	}
	// Tags and lengths keep neighbouring values apart.
	if bytes.Equal(HashRow(extract.Row{"ab", "c"}), HashRow(extract.Row{"a", "bc"})) {
		t.Error(`("ab","c") and ("a","bc") hash alike`)
	}
	if bytes.Equal(HashRow(extract.Row{nil}), HashRow(extract.Row{""})) {
		t.Error("NULL and empty text hash alike")
	}
}

func BenchmarkHashRow(b *testing.B) {
	r := extract.Row{int64(123456), int64(98765), "TAVALINE", "2019-03-14 10:22:00",
		"Kodukülastus, arutati toimetulekut ja järgmise kuu eelarvet", "sotsiaaltöötaja.mari", nil}
	for b.Loop() {
		HashRow(r)
	}
}

// TestSourceHashTakesMoneyAsANumber: a NUMBER(12,2) has no text of its
// own. Oracle gives 656.3, a restored archive 656.30, the stand-in either:
// the same row read from each is the same row to a re-run. Other text is
// hashed as it is, and the row handed in is left as it was.
func TestSourceHashTakesMoneyAsANumber(t *testing.T) {
	makse, _ := extract.TableByName("MAKSE")
	row := func(amount, iban string) extract.Row {
		return extract.Row{int64(7), int64(3), amount, "EUR", "2024-05-02 00:00:00", iban, "MAKSTUD"}
	}
	for _, same := range [][2]string{{"656.30", "656.3"}, {"100.00", "100"}, {"0.00", "0"}, {"-5.10", "-5.1"}} {
		a, b := row(same[0], "EE38"), row(same[1], "EE38")
		if !bytes.Equal(SourceHash(makse, a), SourceHash(makse, b)) {
			t.Errorf("%s and %s hash apart", same[0], same[1])
		}
		if a[2] != same[0] {
			t.Errorf("SourceHash changed the row's amount to %v", a[2])
		}
	}
	if bytes.Equal(SourceHash(makse, row("656.30", "EE38")), SourceHash(makse, row("656.31", "EE38"))) {
		t.Error("656.30 and 656.31 hash alike")
	}
	if bytes.Equal(SourceHash(makse, row("656.3", "1.10")), SourceHash(makse, row("656.3", "1.1"))) {
		t.Error("text that is not money was read as a number")
	}
	// Rows whose money needs no change keep the hash earlier runs recorded.
	if r := row("656.3", "EE38"); !bytes.Equal(SourceHash(makse, r), HashRow(r)) {
		t.Error("a row with minimal money text does not hash as HashRow")
	}
}
