package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/internal/testenv"
)

// run executes the command line as main does and returns exit code,
// stdout and stderr.
func run(t testing.TB, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCommand()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		errb.WriteString("starmig: " + err.Error() + "\n")
	}
	return exitCode(err), out.String(), errb.String()
}

// genSTAR1 writes a generated STAR1 of so many persons, as of 2026-11-01,
// into dir/star1.db with its mapping folder dir/mappings, and returns the
// file's path. Extra arguments go to gen (quirk rates).
func genSTAR1(t testing.TB, dir string, persons, seed int, extra ...string) string {
	t.Helper()
	db := filepath.Join(dir, "star1.db")
	args := append([]string{"gen", "--out", db, "--persons", strconv.Itoa(persons), "--seed", strconv.Itoa(seed), "--as-of", "2026-11-01", "-q"}, extra...)
	if code, _, stderr := run(t, context.Background(), args...); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	return db
}

// genKeys writes a key set into dir/keys and returns that folder.
func genKeys(t testing.TB, dir string) string {
	t.Helper()
	keys := filepath.Join(dir, "keys")
	if code, _, stderr := run(t, context.Background(), "keys", "gen", "--out", keys, "-q"); code != 0 {
		t.Fatalf("keys gen: exit %d: %s", code, stderr)
	}
	return keys
}

func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Example == "" {
			t.Errorf("%s: no example in its help", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%s: no one-line purpose", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(newRootCommand())
}

func TestRootHelpDocumentsExitCodes(t *testing.T) {
	code, out, _ := run(t, context.Background(), "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"0    success", "1    error", "2    usage", "3    findings", "4    verification", "gen ", "schema ", "demo "} {
		if !strings.Contains(out, want) {
			t.Errorf("root help lacks %q", want)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := [][]string{
		{"gen", "--no-such-flag"},
		{"gen"}, // --out missing
		{"gen", "--out", "x.db", "--as-of", "21.11.2026"},
		{"gen", "--out", "x.db", "--rate-orphan", "1.5"},
		{"gen", "--out", "x.db", "extra"},
		{"schema", "apply"}, // --target missing
	}
	t.Setenv("STARMIG_TARGET", "")
	for _, args := range cases {
		code, _, stderr := run(t, context.Background(), args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
		if !strings.Contains(stderr, "starmig:") {
			t.Errorf("%v: no error message", args)
		}
	}
}

func TestGenJSONAndQuiet(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "star1.db")
	code, out, stderr := run(t, context.Background(), "gen", "--json", "--out", db, "--persons", "300", "--seed", "4", "--as-of", "2026-11-01")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res genResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if res.Rows["ISIK"] != 300 || res.Total < 300*15 || res.AsOf != "2026-11-01" {
		t.Errorf("result %+v", res)
	}
	if stderr != "" {
		t.Errorf("--json wrote to stderr: %q", stderr)
	}
	for _, f := range []string{"municipalities.csv", "classifiers.csv"} {
		if _, err := os.Stat(filepath.Join(dir, "mappings", f)); err != nil {
			t.Errorf("mappings beside the output: %v", err)
		}
	}
	code, out, stderr = run(t, context.Background(), "gen", "--quiet", "--out", db, "--persons", "50", "--mappings-out", filepath.Join(dir, "m2"))
	if code != 0 || out != "" || stderr != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "m2", "classifiers.csv")); err != nil {
		t.Errorf("--mappings-out: %v", err)
	}
}

func TestInterruptedGenExits130AndLeavesNoFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	db := filepath.Join(t.TempDir(), "star1.db")
	code, _, stderr := run(t, ctx, "gen", "--quiet", "--out", db, "--persons", "100000")
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d: %s", code, exitInterrupted, stderr)
	}
	matches, _ := filepath.Glob(db + "*")
	if len(matches) != 0 {
		t.Errorf("interrupted gen left %v", matches)
	}
}

func TestSchemaApplyCommand(t *testing.T) {
	dsn := testenv.Postgres(t)
	for range 2 { // idempotent from the command line too
		code, out, stderr := run(t, context.Background(), "schema", "apply", "--target", dsn)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(out, "schema applied") {
			t.Errorf("stdout %q", out)
		}
	}
	t.Setenv("STARMIG_TARGET", dsn)
	if code, _, stderr := run(t, context.Background(), "schema", "apply", "--bookkeeping-only"); code != 0 {
		t.Fatalf("from $STARMIG_TARGET: exit %d: %s", code, stderr)
	}
}

func TestPasswordsNeverPrinted(t *testing.T) {
	const password = "Sal4s0na-9931"
	target := "postgres://migrator:" + password + "@127.0.0.1:1/star2?connect_timeout=2"
	t.Setenv("STARMIG_TARGET", target)
	code, out, stderr := run(t, context.Background(), "schema", "apply")
	if code != exitError {
		t.Errorf("unreachable target: exit %d", code)
	}
	code2, help, _ := run(t, context.Background(), "schema", "apply", "--help")
	for _, s := range []string{out, stderr, help} {
		if strings.Contains(s, password) {
			t.Errorf("password printed: %q", s)
		}
	}
	if code2 != 0 || !strings.Contains(stderr, "**redacted**") {
		t.Errorf("error should name the target with its password masked: %q", stderr)
	}
}

// TestReadmeBeginsWithTheTwoCommands keeps the README's promise to a new
// reader: the first two commands in it run the demo and every test, and CI
// runs that same test command; every command is named in it.
func TestReadmeBeginsWithTheTwoCommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "    ") && strings.TrimSpace(line) != "" {
			cmds = append(cmds, strings.TrimSpace(line))
		}
		if strings.HasPrefix(line, "## ") {
			break
		}
	}
	want := []string{"go run ./cmd/starmig demo", "bash scripts/test.sh"}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README begins with commands %q, want %q", cmds, want)
	}
	ci, err := os.ReadFile(filepath.Join("..", "..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "exec "+want[1]+"\n") {
		t.Fatalf(".ci/run does not run %q:\n%s", want[1], ci)
	}
	for _, c := range newRootCommand().Commands() {
		if c.Name() != "help" && c.Name() != "completion" && !strings.Contains(string(readme), "`"+c.Name()) {
			t.Errorf("README does not mention the command %s", c.Name())
		}
	}
}
