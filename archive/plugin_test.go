package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"filippo.io/age/tag"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

// pluginKeys is a key set whose age recipient and identity are of the
// tests' age plugin, which stands for a key held in hardware.
func pluginKeys(t testing.TB) keys {
	recipient, identity := testenv.AgePlugin(t)
	return keysOf(t, recipient, identity)
}

// keysOf is a key set with the age recipient and identity given.
func keysOf(t testing.TB, recipient, identity string) keys {
	return testKeysBy(t, func(dir string) error {
		if err := GenerateKeys(dir); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, RecipientFile), []byte("# the archivists' hardware key\n"+recipient+"\n"), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, IdentityFile), []byte("# held by age-plugin-starmigtest\r\n"+identity+"\r\n"), 0o600)
	})
}

// TestAnArchiveToAPluginKey: the archivists' identity may be held in
// hardware, behind an age plugin (age-plugin-yubikey and the like), as the
// age command reads it. The archive is written to the plugin's recipient,
// and retrieval reads it through the plugin, which is run once for each
// file it opens, never twice for one: a hardware key may ask for its PIN
// or a touch each time.
func TestAnArchiveToAPluginKey(t *testing.T) {
	k := pluginKeys(t)
	if _, ok := k.recipients[0].(*plugin.Recipient); !ok || len(k.identities) != 1 {
		t.Fatalf("the plugin's keys read as %T and %d identities", k.recipients[0], len(k.identities))
	}
	path, st, cats := smallArchive(t, k, 300)
	ctx := context.Background()
	if got := cats[0].Recipients; len(got) != 1 || !strings.HasPrefix(got[0], "age1starmigtest1") {
		t.Errorf("the catalog names the recipients %.60q", got)
	}

	// The X25519 key the plugin holds opens nothing without it.
	b, err := readAll(ctx, st, cats[0].Bundles[0].Prefix+"data/ISIK/0001.jsonl.gz.age", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	_, inner, _ := plugin.ParseIdentity(strings.TrimSpace(strings.Split(readKey(t, k.dir, IdentityFile), "\n")[1]))
	x, err := age.ParseX25519Identity(string(inner))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := age.Decrypt(bytes.NewReader(b), x); !errors.As(err, new(*age.NoIdentityMatchError)) {
		t.Fatalf("the plugin's inner key alone: %v; want no identity matched", err)
	}

	log := filepath.Join(t.TempDir(), "unwraps")
	t.Setenv("STARMIG_TEST_AGE_PLUGIN_LOG", log)
	code := richPerson(t, path)
	want := expected(t, path, code)
	r := NewReader(st, k.pub, k.identities, k.index)
	found, err := r.Retrieve(ctx, cats, PersonByCode(code))
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, found, want)
	runs := strings.Count(readKey(t, filepath.Dir(log), filepath.Base(log)), "\n")
	if runs == 0 {
		t.Fatal("the retrieval never ran the plugin")
	}
	t.Logf("one person's retrieval ran the plugin %d times", runs)
	if _, err := r.Retrieve(ctx, cats, PersonByCode(code)); err != nil {
		t.Fatal(err)
	}
	if again := strings.Count(readKey(t, filepath.Dir(log), filepath.Base(log)), "\n"); again != runs {
		t.Errorf("the same retrieval again ran the plugin %d more times; want none: it opens the same files", again-runs)
	}
}

// TestAPluginThatIsNotInstalled: a recipient or an identity of a plugin
// that is not on PATH is refused when it is read, naming the plugin,
// before anything is written or read.
func TestAPluginThatIsNotInstalled(t *testing.T) {
	k := pluginKeys(t)
	t.Setenv("PATH", t.TempDir())
	recipient := strings.TrimSpace(strings.Split(readKey(t, k.dir, RecipientFile), "\n")[1])
	want := "age plugin age-plugin-starmigtest, which is not installed here (not found on PATH)"
	if _, err := ParseRecipient(recipient); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "recipient age1starmigtest1") {
		t.Errorf("ParseRecipient: %v", err)
	}
	if _, err := ReadRecipients(filepath.Join(k.dir, RecipientFile)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), RecipientFile+", line 2") {
		t.Errorf("ReadRecipients: %v", err)
	}
	if _, err := ReadIdentities(filepath.Join(k.dir, IdentityFile), nil); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), IdentityFile+", line 2") {
		t.Errorf("ReadIdentities: %v", err)
	}
}

func readKey(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAnArchiveToATagRecipient: a newer hardware key's recipient is a tag
// recipient (age1tag1…), which age encrypts to itself: the archive and
// the audit entries are written without the plugin, which only the
// archivist who opens them needs.
func TestAnArchiveToATagRecipient(t *testing.T) {
	k := tagKeys(t)
	if _, ok := k.recipients[0].(*tag.Recipient); !ok {
		t.Fatalf("the tag recipient reads as %T", k.recipients[0])
	}
	withPlugin := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir())
	path, st, cats := smallArchive(t, k, 200)
	ctx := context.Background()
	if rs, err := CatalogRecipients(cats); err != nil || len(rs) != 1 {
		t.Errorf("the audit entry's recipients without the plugin: %v, %v", rs, err)
	}
	t.Setenv("PATH", withPlugin)
	code := richPerson(t, path)
	want := expected(t, path, code)
	found, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code))
	if err != nil {
		t.Fatalf("retrieve through the plugin: %v", err)
	}
	sameRows(t, found, want)
}

// tagKeys is a key set whose recipient is a tag recipient (age1tag1…)
// and whose identity is the tests' plugin's.
func tagKeys(t testing.TB) keys {
	recipient, identity := testenv.AgePluginTag(t)
	return keysOf(t, recipient, identity)
}

// smallArchive archives a STAR1 of persons (small bundles) to a fresh
// folder store with k, and returns its path, the store and its catalogs.
func smallArchive(t *testing.T, k keys, persons int) (string, Store, []*Catalog) {
	t.Helper()
	path := star1(t, persons)
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	archiveSTAR1(t, path, small(config(st, k)))
	cats, err := LatestCatalogs(context.Background(), st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	return path, st, cats
}

// sameRows says where the one run found holds other rows of a table than
// want, STAR1's ids of the person's rows by table.
func sameRows(t *testing.T, found []*Found, want map[string][]string) {
	t.Helper()
	if len(found) != 1 {
		t.Fatalf("%d runs", len(found))
	}
	for _, tab := range extract.Tables {
		var ids []string
		for _, row := range found[0].Tables[tab.Name] {
			ids = append(ids, fmt.Sprint(row[0]))
		}
		if !slices.Equal(ids, want[tab.Name]) {
			t.Errorf("%s: retrieved %v, STAR1 holds %v", tab.Name, ids, want[tab.Name])
		}
	}
}
