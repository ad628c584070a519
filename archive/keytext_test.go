package archive

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/starmig/starmig/internal/testenv"
)

// TestKeyFilesSavedOnWindowsAreRead: a key handed out by mail and saved
// on Windows may come back with CRLF line ends, a UTF-8 byte-order mark
// (Notepad's "UTF-8 with BOM", PowerShell 5's Out-File -Encoding utf8), or
// in UTF-16 (PowerShell 5's > and Out-File). With a mark, signing.pub was
// "not a PEM PUBLIC KEY" and recipient.txt "unknown recipient type". Each
// is now read as the key it holds.
func TestKeyFilesSavedOnWindowsAreRead(t *testing.T) {
	k := testKeys(t)
	// inUTF16 is b in UTF-16 with its byte-order mark, as PowerShell 5
	// writes it.
	inUTF16 := func(order binary.AppendByteOrder) func([]byte) []byte {
		return func(b []byte) []byte {
			out := order.AppendUint16(nil, 0xfeff)
			for _, u := range utf16.Encode([]rune(string(b))) {
				out = order.AppendUint16(out, u)
			}
			return out
		}
	}
	crlf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }
	for name, re := range map[string]func([]byte) []byte{
		"crlf":     crlf,
		"utf8-bom": func(b []byte) []byte { return append([]byte("\ufeff"), crlf(b)...) },
		"utf16-le": func(b []byte) []byte { return inUTF16(binary.LittleEndian)(crlf(b)) },
		"utf16-be": inUTF16(binary.BigEndian),
	} {
		dir := t.TempDir()
		for _, f := range []string{RecipientFile, IdentityFile, SignKeyFile, SignPubFile, IndexKeyFile} {
			b, err := os.ReadFile(filepath.Join(k.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), re(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if rs, err := ReadRecipients(filepath.Join(dir, RecipientFile)); err != nil || !reflect.DeepEqual(rs, k.recipients) {
			t.Errorf("%s: recipients: %v", name, err)
		}
		if ids, err := ReadIdentities(filepath.Join(dir, IdentityFile), nil); err != nil || !reflect.DeepEqual(ids, k.identities) {
			t.Errorf("%s: identity: %v", name, err)
		}
		if sk, err := ReadSigningKey(filepath.Join(dir, SignKeyFile)); err != nil || !sk.Equal(k.sign) {
			t.Errorf("%s: signing key: %v", name, err)
		}
		if pub, err := ReadSigningPub(filepath.Join(dir, SignPubFile)); err != nil || !reflect.DeepEqual(pub, k.pub) {
			t.Errorf("%s: signing public key: %v", name, err)
		}
		if ik, err := ReadIndexKey(filepath.Join(dir, IndexKeyFile)); err != nil || !bytes.Equal(ik, k.index) {
			t.Errorf("%s: index key: %v", name, err)
		}
	}
}

// TestAnIdentityKeptUnderAPassphrase: an archivist may keep the identity
// file encrypted with a passphrase, as the age command does (age -p, plain
// or armored). It was "does not hold an age identity"; it is now read with
// the passphrase the caller gives, and a wrong one, or none to be had, is
// named as such.
func TestAnIdentityKeptUnderAPassphrase(t *testing.T) {
	k := testKeys(t)
	plain, err := os.ReadFile(filepath.Join(k.dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, armored := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "identity.txt.age")
		if err := os.WriteFile(path, testenv.UnderPassphrase(t, plain, "correct horse", armored), 0o600); err != nil {
			t.Fatal(err)
		}
		ids, err := ReadIdentities(path, func(string) (string, error) { return "correct horse", nil })
		if err != nil || !reflect.DeepEqual(ids, k.identities) {
			t.Errorf("armored %v: with the passphrase: %v", armored, err)
		}
		if _, err := ReadIdentities(path, func(string) (string, error) { return "wrong", nil }); err == nil || !strings.Contains(err.Error(), "the passphrase given is not the one it is encrypted with") {
			t.Errorf("armored %v: with another passphrase: %v", armored, err)
		}
		if _, err := ReadIdentities(path, nil); err == nil || !strings.Contains(err.Error(), "is encrypted with a passphrase (age -p), and none can be asked for here") {
			t.Errorf("armored %v: without one: %v", armored, err)
		}
	}
}
