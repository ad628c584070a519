package archive

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

// docCommands returns the commands of docs/archive.md's "Reading a bundle
// with standard tools", one a line, continuation lines joined.
func docCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "archive.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	in, pending := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Reading a bundle with standard tools":
			in = true
		case !in:
		case strings.HasPrefix(line, "    "):
			cmd := pending + strings.TrimSpace(line)
			if pending = ""; strings.HasSuffix(cmd, `\`) {
				pending = strings.TrimSuffix(cmd, `\`)
				continue
			}
			cmds = append(cmds, cmd)
		case line != "" && len(cmds) > 0:
			return cmds
		}
	}
	t.Fatalf("docs/archive.md has no commands under \"Reading a bundle with standard tools\": %v", sc.Err())
	return nil
}

// TestStandardToolsReadABundle runs the commands that docs/archive.md gives
// for checking and reading a bundle without starmig, as they stand there,
// with OpenSSL, coreutils, age and gzip, on a run copied to a folder as
// `aws s3 cp --recursive` copies it. They must pass on the archive as
// written, give back STAR1's own rows, and fail, naming what is wrong, on a
// changed payload byte and a changed catalog.
func TestStandardToolsReadABundle(t *testing.T) {
	readWithStandardTools(t, testKeys(t), testenv.Tool(t, "age"))
}

// TestStandardToolsReadAPostQuantumBundle: the same with a post-quantum
// key set (keys gen --post-quantum), which age reads from version 1.3 on:
// scripts/test.sh builds that age from the Go module proxy, since Debian's
// is older.
func TestStandardToolsReadAPostQuantumBundle(t *testing.T) {
	readWithStandardTools(t, testKeysBy(t, GeneratePostQuantumKeys), testenv.AgePostQuantum(t))
}

// readWithStandardTools runs the documented commands, with the age
// command at agePath, on a bundle written to the keys k.
func readWithStandardTools(t *testing.T, k keys, agePath string) {
	for _, tool := range []string{"bash", "openssl", "sha256sum", "sha512sum", "grep", "cut", "gunzip", "head"} {
		testenv.Tool(t, tool)
	}
	cmds := docCommands(t)
	path, st, cats := smallArchive(t, k, 200)
	ctx := context.Background()
	top := t.TempDir()
	for _, name := range []string{SignPubFile, IdentityFile} {
		b, err := os.ReadFile(filepath.Join(k.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(top, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := filepath.Join(top, "run")
	prefix := strings.TrimSuffix(cats[0].Bundles[0].Prefix, "0001/")
	err := st.List(ctx, prefix, func(o ObjectInfo) error {
		b, err := readAll(ctx, st, o.Key, 1<<30)
		if err != nil {
			return err
		}
		p := filepath.Join(run, filepath.FromSlash(strings.TrimPrefix(o.Key, prefix)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	sh := func(cmd string) (string, error) {
		c := exec.Command("bash", "-c", cmd)
		c.Dir = run
		c.Env = append(os.Environ(), "PATH="+filepath.Dir(agePath)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := c.CombinedOutput()
		return string(out), err
	}

	isikTable, err := extract.TableByName("ISIK")
	if err != nil {
		t.Fatal(err)
	}
	isik := map[string]bool{}
	for _, r := range sourceRows(t, path, isikTable) {
		isik[strings.TrimSuffix(r, "\n")] = true
	}
	var catalogCheck, fixity string
	ran := 0
	for _, cmd := range cmds {
		if strings.HasPrefix(cmd, "aws ") {
			continue // the copy above stands in for it
		}
		if strings.HasPrefix(cmd, "bagit.py ") {
			if _, err := exec.LookPath("bagit.py"); err != nil {
				t.Logf("bagit.py is not installed here: %s not run", cmd)
				continue
			}
		}
		out, err := sh(cmd)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		ran++
		switch {
		case strings.HasPrefix(cmd, "openssl "):
			if !strings.Contains(out, "Signature Verified Successfully") {
				t.Errorf("%s says:\n%s", cmd, out)
			}
			if strings.Contains(cmd, "catalog.json.sig") {
				catalogCheck = cmd
			}
		case strings.Contains(cmd, "sha256sum -c"):
			fixity = cmd
			for _, want := range []string{"manifest-sha256.txt: OK", "data/ISIK/0001.jsonl.gz.age: OK", "data/contents.json.age: OK"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s does not say %q:\n%s", cmd, want, out)
				}
			}
		case strings.Contains(cmd, "ISIK/0001.jsonl.gz.age"):
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 10 {
				t.Errorf("%s gave %d lines, not head's 10:\n%s", cmd, len(lines), out)
			}
			for _, l := range lines {
				if !isik[l] {
					t.Errorf("%s gave a line that is not an ISIK row of STAR1: %s", cmd, l)
				}
			}
		case strings.Contains(cmd, "STAR1-tables.json.age"):
			var desc any
			if err := json.Unmarshal([]byte(out), &desc); err != nil {
				t.Errorf("%s: not JSON: %v", cmd, err)
			}
			for _, tab := range extract.Tables {
				if !strings.Contains(out, `"`+tab.Name+`"`) {
					t.Errorf("%s does not describe %s", cmd, tab.Name)
				}
			}
		}
	}
	if ran < 6 || catalogCheck == "" || fixity == "" {
		t.Fatalf("ran %d of the documented commands; the test expects the catalog's signature and the fixity check among them", ran)
	}

	// A changed byte of a payload file: the fixity check fails and names it.
	victim := filepath.Join(run, "0001", "data", "ISIK", "0001.jsonl.gz.age")
	orig, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), orig...)
	changed[len(changed)/2] ^= 1
	os.WriteFile(victim, changed, 0o644)
	if out, err := sh(fixity); err == nil || !strings.Contains(out, "data/ISIK/0001.jsonl.gz.age: FAILED") {
		t.Errorf("a changed payload byte: %s exits with %v and says:\n%s", fixity, err, out)
	}
	os.WriteFile(victim, orig, 0o644)

	// A changed catalog: its signature no longer verifies.
	cat := filepath.Join(run, "catalog.json")
	b, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cat, []byte(strings.Replace(string(b), `"rows": `, `"rows": 1`, 1)), 0o644)
	if out, err := sh(catalogCheck); err == nil || strings.Contains(out, "Signature Verified Successfully") {
		t.Errorf("a changed catalog: %s exits with %v and says:\n%s", catalogCheck, err, out)
	}
}

// TestStandardToolsReadABundleForAPluginKey: a bundle written to a key
// held behind an age plugin is read by the documented commands, the age
// command running the plugin as starmig does.
func TestStandardToolsReadABundleForAPluginKey(t *testing.T) {
	readWithStandardTools(t, pluginKeys(t), testenv.AgePostQuantum(t))
}

// TestStandardToolsReadABundleForATagRecipient: the age command reads a
// bundle written to a tag recipient (age1tag1…) through the plugin.
func TestStandardToolsReadABundleForATagRecipient(t *testing.T) {
	readWithStandardTools(t, tagKeys(t), testenv.AgePostQuantum(t))
}
