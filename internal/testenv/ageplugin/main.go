// Command age-plugin-starmigtest is an age plugin for starmig's tests. It
// stands for a key held in hardware (age-plugin-yubikey and the like),
// which the machines that run the tests do not have: its recipient and
// identity carry an X25519 one, and its stanzas are of its own type, so
// that only it opens what is encrypted to it.
//
// Where $STARMIG_TEST_AGE_PLUGIN_PIN is set, it asks for a PIN before it
// unwraps a file key, as a hardware key does, and refuses another. Where
// $STARMIG_TEST_AGE_PLUGIN_LOG is set, it appends a line to that
// file for each run that unwraps a file key, as a count of the times the
// key was asked for.
package main

import (
	"fmt"
	"os"

	"filippo.io/age"
	"filippo.io/age/plugin"
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
	if pin := os.Getenv("STARMIG_TEST_AGE_PLUGIN_PIN"); pin != "" {
		got, err := i.p.RequestValue("Enter the PIN of the test key:", true)
		if err != nil {
			return nil, fmt.Errorf("no PIN: %v", err)
		}
		if got != pin {
			return nil, fmt.Errorf("wrong PIN")
		}
	}
	if p := os.Getenv("STARMIG_TEST_AGE_PLUGIN_LOG"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		_, err = fmt.Fprintln(f, "unwrap")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	return i.id.Unwrap(ours)
}
