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
