package archive

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf16"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/age/tag"

	"github.com/starmig/starmig/internal/pathcheck"
)

// The files of a key set, one key each (ARCHIVE.md, who holds what).
const (
	RecipientFile = "recipient.txt" // age X25519 recipient: writers
	IdentityFile  = "identity.txt"  // age X25519 identity: archivists
	SignPubFile   = "signing.pub"   // Ed25519 public key, PEM: everyone
	SignKeyFile   = "signing.key"   // Ed25519 private key, PEM: writers
	IndexKeyFile  = "index.key"     // 32-byte HMAC key, hex: writers, archivists
)

// GenerateKeys writes a fresh key set into dir, secret files mode 0600. It
// refuses, before writing anything, when any of its files exists.
func GenerateKeys(dir string) error { return generateKeys(dir, false) }

// GeneratePostQuantumKeys writes a key set as GenerateKeys does, but for
// its age recipient and identity: ML-KEM-768 with X25519 (age1pq1…),
// which a quantum computer of the future could not decrypt either. Files
// encrypted to it need age 1.3 or later to decrypt.
func GeneratePostQuantumKeys(dir string) error { return generateKeys(dir, true) }

func generateKeys(dir string, postQuantum bool) error {
	var identity, recipient string // as age writes them
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return err
		}
		identity, recipient = id.String(), id.Recipient().String()
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return err
		}
		identity, recipient = id.String(), id.Recipient().String()
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	index := make([]byte, 32)
	if _, err := rand.Read(index); err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		mode os.FileMode
		body []byte
	}{
		{RecipientFile, 0o644, []byte(recipient + "\n")},
		{IdentityFile, 0o600, []byte("# public key: " + recipient + "\n" + identity + "\n")},
		{SignPubFile, 0o644, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})},
		{SignKeyFile, 0o600, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})},
		{IndexKeyFile, 0o600, []byte(hex.EncodeToString(index) + "\n")},
	}
	if err := pathcheck.Folder(dir); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	// Every name is checked before any is written: a new recipient beside
	// an old identity would encrypt what that identity cannot open.
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("keys: %s already exists: keys are never overwritten; write a new key set into an empty folder", p)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		_, err = fh.Write(f.body)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("keys: %s: %w", p, err)
		}
	}
	return nil
}

// ReadRecipients reads age recipients, one per line, from a file.
func ReadRecipients(path string) ([]age.Recipient, error) {
	b, err := readKeyFile("recipients", path)
	if err != nil {
		return nil, err
	}
	var rs []age.Recipient
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("keys: recipients in %s, line %d: %s", path, n+1, strings.TrimPrefix(err.Error(), "keys: "))
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("keys: recipients in %s: the file names no recipient", path)
	}
	return rs, nil
}

// ParseRecipient reads one age recipient given on the command line, or
// named by a catalog: X25519 (age1…), post-quantum (age1pq1…), a tag
// recipient of a key held in hardware (age1tag1…, age1tagpq1…), which
// age encrypts to without a plugin, or of an age plugin (age1NAME1…),
// whose plugin must be installed.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	var r age.Recipient
	var err error
	if strings.HasPrefix(s, "age1pq1") {
		r, err = age.ParseHybridRecipient(s)
	} else if strings.HasPrefix(s, "age1tag1") || strings.HasPrefix(s, "age1tagpq1") {
		// A hardware key's recipient that age encrypts to itself.
		r, err = tag.ParseRecipient(s)
	} else if name := pluginName(s, false); name != "" {
		if r, err = newPluginRecipient(s, name); err != nil {
			return nil, fmt.Errorf("keys: recipient %s: %w", shortKey(s), err)
		}
	} else {
		r, err = age.ParseX25519Recipient(s)
	}
	if err != nil {
		// age's error quotes the recipient whole, which a post-quantum
		// one makes nearly 2 000 characters long.
		return nil, fmt.Errorf("keys: recipient %q is not an age recipient (age1…, age1pq1… or an age plugin's age1NAME1…)", shortKey(s))
	}
	return r, nil
}

// shortKey is the start of a recipient, to name it by.
func shortKey(s string) string {
	if len(s) > 24 {
		return s[:20] + "…"
	}
	return s
}

// CheckRecipients refuses recipients that age does not encrypt to
// together: post-quantum ones (age1pq1…) beside X25519 ones, which would
// leave the files open to a quantum computer of the future through the
// X25519 ones.
func CheckRecipients(rs []age.Recipient) error {
	if len(rs) == 0 {
		return errors.New("archive: no recipient to encrypt to (--recipient or STARMIG_RECIPIENT)")
	}
	if _, err := age.Encrypt(io.Discard, rs...); err != nil {
		return fmt.Errorf("archive: the recipients cannot be used together: %w; give post-quantum recipients (age1pq1…) only, or X25519 ones (age1…) only", err)
	}
	return nil
}

// SameKindRecipients leaves out of rs, where it holds post-quantum
// recipients beside X25519 ones, the X25519 ones: age encrypts to one
// kind only, and what is encrypted to both must not be open to a quantum
// computer of the future. An archive whose runs moved to post-quantum
// keys names both kinds in its catalogs; its audit entries go to the
// post-quantum ones.
func SameKindRecipients(rs []age.Recipient) []age.Recipient {
	var pq []age.Recipient
	for _, r := range rs {
		if t, ok := r.(*tag.Recipient); ok && t.Hybrid() {
			pq = append(pq, r)
		}
		if _, ok := r.(*age.HybridRecipient); ok {
			pq = append(pq, r)
		}
	}
	if len(pq) == 0 {
		return rs
	}
	return pq
}

// Passphrase gives the passphrase of the identity file at path, which is
// kept encrypted with one (age -p).
type Passphrase func(path string) (string, error)

// ReadIdentities reads age identities from a file. A file kept encrypted
// with a passphrase, as the age command writes and reads it (age -p, plain
// or armored), is decrypted with the one pass gives; nil pass refuses it,
// saying so. The error never quotes the file's content.
func ReadIdentities(path string, pass Passphrase) ([]age.Identity, error) {
	b, err := readKeyFile("identity", path)
	if err != nil {
		return nil, err
	}
	if b, err = decryptIdentityFile(path, b, pass); err != nil {
		return nil, err
	}
	return parseIdentities(path, b)
}

// decryptIdentityFile gives the identities an identity file holds in
// clear: b itself, or, where b is encrypted with a passphrase, what it
// holds decrypted.
func decryptIdentityFile(path string, b []byte, pass Passphrase) ([]byte, error) {
	trimmed := bytes.TrimSpace(b)
	armored := bytes.HasPrefix(trimmed, []byte(armor.Header))
	if !armored && !bytes.HasPrefix(b, []byte("age-encryption.org/")) {
		return b, nil
	}
	if pass == nil {
		return nil, fmt.Errorf("keys: identity file %s is encrypted with a passphrase (age -p), and none can be asked for here", path)
	}
	p, err := pass(path)
	if err != nil {
		return nil, fmt.Errorf("keys: identity file %s is encrypted with a passphrase (age -p): %w", path, err)
	}
	id, err := age.NewScryptIdentity(p)
	if err != nil {
		return nil, fmt.Errorf("keys: identity file %s: %w", path, err)
	}
	var r io.Reader = bytes.NewReader(b)
	if armored {
		r = armor.NewReader(bytes.NewReader(trimmed))
	}
	d, err := age.Decrypt(r, id)
	if errors.As(err, new(*age.NoIdentityMatchError)) {
		return nil, fmt.Errorf("keys: identity file %s: the passphrase given is not the one it is encrypted with (or it is encrypted to a key, not a passphrase)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: identity file %s cannot be decrypted: %w", path, err)
	}
	plain, err := io.ReadAll(io.LimitReader(d, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("keys: identity file %s cannot be decrypted: %w", path, err)
	}
	return plain, nil
}

// ReadSigningKey reads an Ed25519 private key (PKCS #8 PEM).
func ReadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := readKeyFile("signing key", path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("keys: signing key %s is not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s cannot be read as PKCS #8", path)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keys: signing key %s is not an Ed25519 key", path)
	}
	return priv, nil
}

// SigningKeys are the Ed25519 public keys whose signatures a reader
// accepts: the signing key in use and those it replaced, so that runs
// signed before a key was replaced still verify.
type SigningKeys []ed25519.PublicKey

// Verify reports whether sig is a signature of msg by any of the keys.
func (ks SigningKeys) Verify(msg, sig []byte) bool {
	for _, k := range ks {
		if ed25519.Verify(k, msg, sig) {
			return true
		}
	}
	return false
}

// Has reports whether the key with this id (SigningKeyID) is among ks.
func (ks SigningKeys) Has(id string) bool {
	for _, k := range ks {
		if SigningKeyID(k) == id {
			return true
		}
	}
	return false
}

// IDs names the keys, comma-separated.
func (ks SigningKeys) IDs() string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = SigningKeyID(k)
	}
	return strings.Join(ids, ", ")
}

// SigningKeyID names a signing key: the hex of the first 8 bytes of the
// SHA-256 of its public half. A catalog records the id of the key that
// signed it, so that a signature that does not verify with the keys given
// can be told from one made by a key not given.
func SigningKeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// ReadSigningPub reads Ed25519 public keys (PKIX PEM, as openssl writes):
// one, or several PEM blocks one after the other when the signing key was
// replaced (the key in use and those before it).
func ReadSigningPub(path string) (SigningKeys, error) {
	b, err := readKeyFile("signing public key", path)
	if err != nil {
		return nil, err
	}
	var keys SigningKeys
	for n := 1; ; n++ {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			if len(keys) == 0 {
				return nil, fmt.Errorf("keys: signing public key %s is not a PEM PUBLIC KEY", path)
			}
			return keys, nil
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("keys: signing public key %s: PEM block %d is a %s, not a PUBLIC KEY", path, n, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: signing public key %s, PEM block %d: %w", path, n, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("keys: signing public key %s, PEM block %d, is not an Ed25519 key", path, n)
		}
		keys = append(keys, pub)
	}
}

// IndexKeyID names an index key without giving it away: the hex of the
// first 8 bytes of HMAC-SHA-256(index key, "starmig-index-key-id:"). A
// catalog records the id of the key its bundles were indexed with, so
// that retrieval with another key is refused, not answered "not found".
func IndexKeyID(key []byte) string {
	k := NewIndexMAC(key).Key("starmig-index-key-id", "")
	return hex.EncodeToString(k[:8])
}

// ReadIndexKey reads the 32-byte index key, written as hex.
func ReadIndexKey(path string) ([]byte, error) {
	b, err := readKeyFile("index key", path)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 32 {
		return nil, errors.New("keys: index key " + path + " is not 32 bytes of hex")
	}
	return k, nil
}

// readKeyFile reads a key file, naming it once when it cannot be read:
// "keys: index key /k/index.key does not exist" rather than the
// operating system's "open /k/index.key: no such file or directory".
func readKeyFile(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return keyText(b), nil
	case errors.Is(err, fs.ErrNotExist):
		switch name, otherCase := pathcheck.Lookalike(path, false); {
		case otherCase:
			return nil, fmt.Errorf("keys: %s %s does not exist (the folder has %s: file names are case-sensitive here)", what, path, name)
		case name != "":
			return nil, fmt.Errorf("keys: %s %s does not exist (the folder has %s: rename it %s if it is that key)", what, path, name, filepath.Base(path))
		}
		return nil, fmt.Errorf("keys: %s %s does not exist", what, path)
	case errors.Is(err, syscall.EISDIR):
		return nil, fmt.Errorf("keys: %s %s is a folder: want the key file", what, path)
	}
	// A file given as the keys folder (--keys star1.db) is named by
	// pathcheck.Reason.
	return nil, fmt.Errorf("keys: %s %s: %w", what, path, pathcheck.Reason(path, err))
}

// keyText is the text of a key file as a Windows editor or shell may have
// saved it, in UTF-8 without a byte-order mark: Notepad and PowerShell 5
// put a mark before UTF-8, and PowerShell 5's > writes UTF-16. A PEM
// block or an age key after a mark was not found. CRLF line ends need no
// change: the PEM and age parsers take them.
func keyText(b []byte) []byte {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(b, []byte("\ufeff")):
		return b[3:]
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return b
	}
	units := make([]uint16, 0, len(b)/2)
	for i := 2; i+1 < len(b); i += 2 {
		units = append(units, order.Uint16(b[i:]))
	}
	return []byte(string(utf16.Decode(units)))
}
