// Command age-plugin-starmigtest is an age plugin for starmig's tests. It
// stands for a key held in hardware (age-plugin-yubikey and the like),
// which the machines that run the tests do not have: its recipient and
// identity carry an X25519 one, and its stanzas are of its own type, so
// that only it opens what is encrypted to it. Its identity may instead
// hold a P-256 key, whose recipient is a tag recipient (age1tag1…), which
// age encrypts to without the plugin, as a newer hardware key's is.
//
// Where $STARMIG_TEST_AGE_PLUGIN_PIN is set, it asks for a PIN before it
// unwraps a file key, as a hardware key does, and refuses another. Where
// $STARMIG_TEST_AGE_PLUGIN_LOG is set, it appends a line to that
// file for each run that unwraps a file key, as a count of the times the
// key was asked for.
package main

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"filippo.io/age/tag"
	"filippo.io/hpke"
)

const stanzaType = "starmigtest"

func main() {
	p, err := plugin.New("starmigtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		r, err := age.ParseX25519Recipient(string(data))
		if err != nil {
			return nil, err
		}
		return recipient{r}, nil
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		if !strings.HasPrefix(string(data), "AGE-SECRET-KEY-") {
			return newTagIdentity(p, data)
		}
		id, err := age.ParseX25519Identity(string(data))
		if err != nil {
			return nil, err
		}
		return identity{p, id}, nil
	})
	os.Exit(p.Main())
}

type recipient struct{ r *age.X25519Recipient }

func (r recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	ss, err := r.r.Wrap(fileKey)
	for _, s := range ss {
		s.Type = stanzaType
	}
	return ss, err
}

type identity struct {
	p  *plugin.Plugin
	id *age.X25519Identity
}

// tagIdentity opens the stanzas of a tag recipient (age1tag1…, P-256),
// which age encrypts to without a plugin, as a hardware key's plugin does:
// its data is the P-256 private key.
type tagIdentity struct {
	p   *plugin.Plugin
	key *ecdh.PrivateKey
	r   *tag.Recipient
}

func newTagIdentity(p *plugin.Plugin, data []byte) (age.Identity, error) {
	key, err := ecdh.P256().NewPrivateKey(data)
	if err != nil {
		return nil, err
	}
	r, err := tag.NewClassicRecipient(compressedP256(key.PublicKey()))
	if err != nil {
		return nil, err
	}
	return tagIdentity{p, key, r}, nil
}

// compressedP256 is the compressed form of a P-256 public key, which a
// tag recipient holds.
func compressedP256(pub *ecdh.PublicKey) []byte {
	b := pub.Bytes() // 04 || x || y
	out := append([]byte{2 | b[64]&1}, b[1:33]...)
	return out
}

func (i tagIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != "p256tag" || len(s.Args) != 2 {
			continue
		}
		enc, err := base64.RawStdEncoding.DecodeString(s.Args[1])
		if err != nil {
			continue
		}
		t, err := i.r.Tag(enc)
		if err != nil || base64.RawStdEncoding.EncodeToString(t) != s.Args[0] {
			continue
		}
		if err := askPIN(i.p); err != nil {
			return nil, err
		}
		k, err := hpke.NewDHKEMPrivateKey(i.key)
		if err != nil {
			return nil, err
		}
		r, err := hpke.NewRecipient(enc, k, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), []byte("age-encryption.org/p256tag"))
		if err != nil {
			return nil, err
		}
		fileKey, err := r.Open(nil, s.Body)
		if err != nil {
			return nil, age.ErrIncorrectIdentity
		}
		return fileKey, logUnwrap()
	}
	return nil, age.ErrIncorrectIdentity
}

func (i identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	var ours []*age.Stanza
	for _, s := range stanzas {
		if s.Type == stanzaType {
			c := *s
			c.Type = "X25519"
			ours = append(ours, &c)
		}
	}
	if len(ours) == 0 {
		return nil, age.ErrIncorrectIdentity
	}
	if err := askPIN(i.p); err != nil {
		return nil, err
	}
	if err := logUnwrap(); err != nil {
		return nil, err
	}
	return i.id.Unwrap(ours)
}

// askPIN asks for the PIN of $STARMIG_TEST_AGE_PLUGIN_PIN, where set.
func askPIN(p *plugin.Plugin) error {
	pin := os.Getenv("STARMIG_TEST_AGE_PLUGIN_PIN")
	if pin == "" {
		return nil
	}
	got, err := p.RequestValue("Enter the PIN of the test key:", true)
	if err != nil {
		return fmt.Errorf("no PIN: %v", err)
	}
	if got != pin {
		return fmt.Errorf("wrong PIN")
	}
	return nil
}

// logUnwrap notes an unwrapped file key in $STARMIG_TEST_AGE_PLUGIN_LOG,
// where set.
func logUnwrap() error {
	p := os.Getenv("STARMIG_TEST_AGE_PLUGIN_LOG")
	if p == "" {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, "unwrap")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
