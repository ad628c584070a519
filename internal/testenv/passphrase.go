package testenv

import (
	"bytes"
	"io"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// UnderPassphrase is plain encrypted with a passphrase, as `age -p` (with
// armored, `age -p -a`) writes a file, at a low work factor: age's own
// takes a second of CPU.
func UnderPassphrase(t testing.TB, plain []byte, passphrase string, armored bool) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var enc bytes.Buffer
	var w io.Writer = &enc
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&enc)
		w = aw
	}
	ew, err := age.Encrypt(w, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ew.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return enc.Bytes()
}
