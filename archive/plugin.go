package archive

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

// PluginUI is how an age plugin, such as a hardware key's
// (age-plugin-yubikey), speaks with the person running starmig: its
// messages go to standard error, and a PIN or a confirmation it asks for
// is asked on the terminal, as the age command asks it. The plugin runs
// once for each file opened, and a retrieval opens a dozen: a value typed
// in answer to a prompt is given again when the same plugin asks the same,
// so that the PIN is typed once for each command.
var PluginUI = rememberAnswers(plugin.NewTerminalUI(
	func(format string, v ...any) { fmt.Fprintf(os.Stderr, "starmig: "+format+"\n", v...) },
	func(format string, v ...any) { fmt.Fprintf(os.Stderr, "starmig: warning: "+format+"\n", v...) },
))

// rememberAnswers gives each value ui's RequestValue was given again when
// the same plugin asks the same prompt.
func rememberAnswers(ui *plugin.ClientUI) *plugin.ClientUI {
	var mu sync.Mutex
	answers := map[[2]string]string{}
	ask := ui.RequestValue
	ui.RequestValue = func(name, prompt string, secret bool) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := answers[[2]string{name, prompt}]; ok {
			return v, nil
		}
		v, err := ask(name, prompt, secret)
		if err == nil {
			answers[[2]string{name, prompt}] = v
		}
		return v, err
	}
	return ui
}

// pluginName is the name of the age plugin a recipient (age1NAME1…) or
// an identity (AGE-PLUGIN-NAME-1…) is of, "" for one of age's own.
func pluginName(s string, identity bool) string {
	parse := plugin.ParseRecipient
	if identity {
		parse = plugin.ParseIdentity
	}
	name, _, err := parse(s)
	if err != nil {
		return ""
	}
	return name
}

// pluginInstalled says, before anything is written or read, that the
// plugin a key is of cannot be run here, rather than age's "plugin not
// found" at the first file.
func pluginInstalled(name string) error {
	if _, err := exec.LookPath("age-plugin-" + name); err != nil {
		return fmt.Errorf("it is of the age plugin age-plugin-%s, which is not installed here (not found on PATH)", name)
	}
	return nil
}

// newPluginRecipient is a recipient of an age plugin (age1NAME1…).
func newPluginRecipient(s, name string) (age.Recipient, error) {
	if err := pluginInstalled(name); err != nil {
		return nil, err
	}
	return plugin.NewRecipient(s, PluginUI)
}

// parseIdentities reads the identities of an identity file's text: age's
// own (AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1…) and those of age plugins
// (AGE-PLUGIN-NAME-1…), such as a key held in hardware, one per line,
// with # comments, as the age command reads them.
func parseIdentities(path string, b []byte) ([]age.Identity, error) {
	var own bytes.Buffer
	var ids []age.Identity
	keys := 0 // lines of age's own keys
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "AGE-PLUGIN-") {
			own.WriteString(line + "\n")
			if line != "" && !strings.HasPrefix(line, "#") {
				keys++
			}
			continue
		}
		name := pluginName(line, true)
		if name == "" {
			return nil, fmt.Errorf("keys: identity file %s, line %d, is not an age plugin identity (AGE-PLUGIN-NAME-1…)", path, n+1)
		}
		if err := pluginInstalled(name); err != nil {
			return nil, fmt.Errorf("keys: identity file %s, line %d: %v", path, n+1, err)
		}
		id, err := plugin.NewIdentity(line, PluginUI)
		if err != nil {
			return nil, fmt.Errorf("keys: identity file %s, line %d: %v", path, n+1, err)
		}
		ids = append(ids, &pluginIdentity{id: id})
	}
	if keys > 0 || len(ids) == 0 {
		native, err := age.ParseIdentities(&own)
		if err != nil {
			if len(ids) == 0 {
				return nil, fmt.Errorf("keys: identity file %s does not hold an age identity", path)
			}
			return nil, fmt.Errorf("keys: identity file %s holds a line that is not an age identity", path)
		}
		ids = append(native, ids...)
	}
	return ids, nil
}

// pluginIdentity runs an age plugin's identity one file at a time, as a
// hardware key works, with one prompt at a time where it asks for a PIN or
// a touch. It remembers what it unwrapped, since each run of the plugin
// may ask the person again, and that the key could not be used, which
// stops what reads: the person is not asked once for each file.
type pluginIdentity struct {
	id *plugin.Identity

	mu        sync.Mutex
	unwrapped map[[32]byte][]byte
	failed    error // the key could not be used: not asked again
}

func (p *pluginIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	h := sha256.New()
	for _, s := range stanzas {
		fmt.Fprintf(h, "%q %q %x\n", s.Type, s.Args, s.Body)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.unwrapped[sum]; ok {
		return bytes.Clone(k), nil
	}
	if p.failed != nil {
		return nil, p.failed
	}
	k, err := p.id.Unwrap(stanzas)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, err
	}
	if err != nil {
		p.failed = &KeyError{Plugin: p.id.Name(), Err: err}
		return nil, p.failed
	}
	if p.unwrapped == nil {
		p.unwrapped = map[[32]byte][]byte{}
	}
	p.unwrapped[sum] = bytes.Clone(k)
	return k, nil
}

// KeyError is an age plugin's failure to use its key: the hardware key is
// not plugged in, its PIN was not given or is wrong, the plugin stopped.
// It says nothing of the file being read, and stops what reads rather
// than being taken for a damaged object: every other file needs the same
// key.
type KeyError struct {
	Plugin string
	Err    error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("the identity of age-plugin-%s could not be used: %v", e.Plugin, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }
