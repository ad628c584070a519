package testenv

import (
	"crypto/ecdh"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"filippo.io/age/tag"
)

// AgePlugin builds the age plugin of the tests (ageplugin), which stands
// for a key held in hardware, puts it first on the test's PATH, and
// returns a fresh recipient and identity of it. The identity holds an
// X25519 key that opens nothing alone: only the plugin does.
func AgePlugin(t testing.TB) (recipient, identity string) {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "age-plugin-starmigtest"), "github.com/starmig/starmig/internal/testenv/ageplugin").CombinedOutput()
	if err != nil {
		t.Fatalf("building the age plugin of the tests: %v: %s", err, out)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return plugin.EncodeRecipient("starmigtest", []byte(id.Recipient().String())), plugin.EncodeIdentity("starmigtest", []byte(id.String()))
}

// AgePluginTag is AgePlugin with a key whose recipient is a tag recipient
// (age1tag1…, P-256), which age encrypts to without the plugin, as a
// newer hardware key's is; the identity is the plugin's.
func AgePluginTag(t testing.TB) (recipient, identity string) {
	t.Helper()
	AgePlugin(t)
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := key.PublicKey().Bytes() // 04 || x || y
	r, err := tag.NewClassicRecipient(append([]byte{2 | b[64]&1}, b[1:33]...))
	if err != nil {
		t.Fatal(err)
	}
	return r.String(), plugin.EncodeIdentity("starmigtest", key.Bytes())
}
