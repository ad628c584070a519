package archive

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexMACIsTheSpecifiedKey checks index keys against HMAC-SHA-256
// computed directly, for keys made one after the other with one IndexMAC,
// short and long values among them.
func TestIndexMACIsTheSpecifiedKey(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	m := NewIndexMAC(secret)
	for _, c := range [][2]string{{"isik", "38001010014"}, {"menetlus", "1042"}, {"isik", ""}, {"proceeding", strings.Repeat("9", 300)}, {"isik", "38001010014"}} {
		h := hmac.New(sha256.New, secret)
		h.Write([]byte(c[0] + ":" + c[1]))
		var want [10]byte
		copy(want[:], h.Sum(nil))
		if got := m.Key(c[0], c[1]); got != want {
			t.Errorf("Key(%q, %.20q) = %x, want %x", c[0], c[1], got, want)
		}
	}
}

// TestIndexEntryOrder checks the index's order as two integers against
// the order of the key's bytes, then file, then block.
func TestIndexEntryOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	entry := func() indexEntry {
		var e indexEntry
		for i := range e.key {
			e.key[i] = byte(rng.IntN(3)) * 127 // few values: many ties
		}
		e.file, e.block = uint16(rng.IntN(3))*32767, uint32(rng.IntN(3))*2147483647
		return e
	}
	for range 100000 {
		x, y := entry(), entry()
		want := bytes.Compare(x.key[:], y.key[:])
		if want == 0 {
			want = cmp.Compare(x.file, y.file)
		}
		if want == 0 {
			want = cmp.Compare(x.block, y.block)
		}
		if got := x.compare(y); got != want {
			t.Fatalf("%+v against %+v: %d, want %d", x, y, got, want)
		}
	}
}
