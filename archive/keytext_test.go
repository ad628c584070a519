package archive

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf16"
)

// TestKeyFilesSavedOnWindowsAreRead: a key handed out by mail and saved
// on Windows may come back with CRLF line ends, a UTF-8 byte-order mark
// (Notepad's "UTF-8 with BOM", PowerShell 5's Out-File -Encoding utf8), or
// in UTF-16 (PowerShell 5's > and Out-File). With a mark, signing.pub was
// "not a PEM PUBLIC KEY" and recipient.txt "unknown recipient type". Each
// is now read as the key it holds.
func TestKeyFilesSavedOnWindowsAreRead(t *testing.T) {
	k := testKeys(t)
	utf16le := func(b []byte) []byte {
		var out bytes.Buffer
		out.Write([]byte{0xff, 0xfe})
		for _, u := range utf16.Encode([]rune(string(b))) {
			_ = binary.Write(&out, binary.LittleEndian, u)
		}
		return out.Bytes()
	}
	utf16be := func(b []byte) []byte {
		var out bytes.Buffer
		out.Write([]byte{0xfe, 0xff})
		for _, u := range utf16.Encode([]rune(string(b))) {
			_ = binary.Write(&out, binary.BigEndian, u)
		}
		return out.Bytes()
	}
	for name, re := range map[string]func([]byte) []byte{
		"crlf": func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) },
		"utf8-bom": func(b []byte) []byte {
			return append([]byte("\ufeff"), bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...)
		},
		"utf16-le": func(b []byte) []byte { return utf16le(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))) },
		"utf16-be": utf16be,
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
		if ids, err := ReadIdentities(filepath.Join(dir, IdentityFile)); err != nil || !reflect.DeepEqual(ids, k.identities) {
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
