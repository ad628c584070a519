package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/starmig/starmig/archive"
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
		errb.WriteString(errorLine(err) + "\n")
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

// star2 creates a fresh database with the STAR2 schema and the
// bookkeeping applied, and returns its DSN.
func star2(t testing.TB) string {
	t.Helper()
	target := testenv.Postgres(t)
	if code, _, stderr := run(t, context.Background(), "schema", "apply", "--target", target, "-q"); code != 0 {
		t.Fatalf("schema apply: exit %d: %s", code, stderr)
	}
	return target
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

// folderArchive generates a STAR1 of persons in dir, keys, and archives
// the STAR1 as batch "all" into a folder store, whose URL it returns.
func folderArchive(t testing.TB, dir string, persons, seed int) (db, keys, to string) {
	t.Helper()
	db = genSTAR1(t, dir, persons, seed)
	keys = genKeys(t, dir)
	to = "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, context.Background(), "archive", "--source", "sqlite:"+db, "--to", to, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive: exit %d: %s", code, stderr)
	}
	return db, keys, to
}

// refusedAsByPsql makes file, a secret of the connection to target,
// readable by others (0644), and checks that status stops with exit 2,
// saying want and printing no secret, and that psql gets no session with
// it either ("has group or world access"); then makes it 0600 again.
func refusedAsByPsql(t *testing.T, ctx context.Context, file, target, what, want, secret string) {
	t.Helper()
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := run(t, ctx, "status", "--target", target); code != exitUsage || !strings.Contains(stderr, want) || strings.Contains(out+stderr, secret) {
		t.Errorf("status, %s others may read: exit %d, %s; want exit %d and %q", what, code, stderr, exitUsage, want)
	}
	if out, err := exec.Command(testenv.Tool(t, "psql"), "-w", "-Atc", "SELECT 1", target).CombinedOutput(); err == nil || !strings.Contains(string(out), "has group or world access") {
		t.Errorf("psql, %s others may read: %v: %s; want its warning or refusal, and no session", what, err, out)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// postgresCommands are the arguments of every command that reads or
// writes PostgreSQL, run on target after folderArchive gave db, keys and
// to in dir: schema apply, a batch, the deep reconciliation, status,
// resolve, a restore, a restore drill, and a batch from the restored
// STAR1, which restored names as a source.
func postgresCommands(dir, db, keys, to, target, restored string) [][]string {
	maps := filepath.Join(dir, "mappings")
	return [][]string{
		{"schema", "apply", "--target", target},
		{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--as-of", "2026-11-01"},
		{"reconcile", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--deep"},
		{"status", "--target", target},
		{"resolve", "--target", target, "--batch", "all", "--list"},
		{"restore", "--archive", to, "--keys", keys, "--to", target, "--reason", "a test of the connection"},
		{"verify", "--archive", to, "--keys", keys, "--identity", filepath.Join(keys, archive.IdentityFile), "--level", "sample", "--restore-drill", target},
		{"migrate", "--source", restored, "--target", target, "--mappings", maps, "--batch", "restored", "--as-of", "2026-11-01"},
	}
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
		{"gen", "--out", "x.db", "--doc-size", "-1"}, // was taken for the default
		{"gen", "--out", "x.db", "extra"},
		{"schema", "apply"}, // --target missing
		// A batch name names a folder of the archive.
		{"migrate", "--source", "sqlite:x.db", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "a/b"},
		{"migrate", "--source", "sqlite:x.db", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "tallinn 2026"},
		{"archive", "--source", "sqlite:x.db", "--to", "file:///tmp/x", "--batch", "../x"},
		{"migrate", "--source", "sqlite:x.db", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "b", "--wait", "-1s"},
		{"migrate", "--source", "sqlite:x.db", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "b", "--wait", "soon"},
		// A source starmig cannot read is refused before anything connects.
		{"migrate", "--source", "mysql://127.0.0.1:1/star1", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "b"},
		{"migrate", "--source", "sqlite:", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "b"},
		{"reconcile", "--source", "oracle:/star1", "--target", "postgres://127.0.0.1:1/x", "--mappings", "m", "--batch", "b"},
		{"archive", "--source", "star1.db", "--to", "file:///tmp/x", "--batch", "b"},
		// A restored schema is named later without quotes.
		{"restore", "--archive", "file:///nowhere", "--identity", "i", "--to", "postgres://127.0.0.1:1/x", "--schema", "Star1"},
		{"restore", "--archive", "file:///nowhere", "--identity", "i", "--to", "postgres://127.0.0.1:1/x", "--schema", "x; drop table y"},
		{"restore", "--archive", "file:///nowhere", "--identity", "i", "--to", "postgres://127.0.0.1:1/x", "--schema", "pg_archive"},
		{"restore", "--archive", "file:///nowhere", "--identity", "i", "--to", "postgres://127.0.0.1:1/x", "--schema", ""},
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

// TestAMistypedFlagIsNamed: an unknown flag a letter or two from one of
// the command's own (or --json, --quiet) names that one, as cobra names a
// mistyped command; one far from all of them names none.
func TestAMistypedFlagIsNamed(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--bach", "b"}, "unknown flag: --bach; did you mean --batch?"},
		{[]string{"archive", "--retension", "10y"}, "unknown flag: --retension; did you mean --retention?"},
		{[]string{"verify", "--sign_pub", "s.pub"}, "unknown flag: --sign_pub; did you mean --sign-pub?"},
		{[]string{"status", "--jsn"}, "unknown flag: --jsn; did you mean --json?"},
		{[]string{"migrate", "--identity", "i"}, "unknown flag: --identity\n"},
		{[]string{"verify", "--sample-size", "5"}, "unknown flag: --sample-size\n"},
	} {
		code, _, stderr := run(t, context.Background(), c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 saying %q", c.args, code, stderr, c.want)
		}
	}
}

// A command missing several required flags names them all at once.
func TestMissingFlagsAreNamedTogether(t *testing.T) {
	for _, env := range []string{"STARMIG_SOURCE", "STARMIG_TARGET", "STARMIG_MAPPINGS", "STARMIG_BATCH", "STARMIG_ARCHIVE",
		"STARMIG_KEYS", "STARMIG_SIGN_PUB", "STARMIG_IDENTITY", "STARMIG_INDEX_KEY", "STARMIG_RESTORE_TARGET"} {
		t.Setenv(env, "")
	}
	keys := filepath.Join(t.TempDir(), "keys")
	if code, _, stderr := run(t, context.Background(), "keys", "gen", "--out", keys, "-q"); code != 0 {
		t.Fatalf("keys gen: exit %d: %s", code, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate"}, "--source, --target, --mappings and --batch are required (or set $STARMIG_SOURCE, $STARMIG_TARGET, $STARMIG_MAPPINGS and $STARMIG_BATCH)"},
		{[]string{"reconcile", "--source", "sqlite:x.db", "--batch", "b"}, "--target and --mappings are required (or set $STARMIG_TARGET and $STARMIG_MAPPINGS)"},
		{[]string{"archive", "--batch", "b"}, "--source and --to are required (or set $STARMIG_SOURCE and $STARMIG_ARCHIVE)"},
		{[]string{"resolve", "--list"}, "--target and --batch are required (or set $STARMIG_TARGET and $STARMIG_BATCH)"},
		{[]string{"gen"}, "--out is required"},
		// An archivist's commands, keys included.
		{[]string{"retrieve", "--person", "37605030299"}, "--archive, --sign-pub, --identity, --index-key and --reason are required (or set $STARMIG_ARCHIVE, $STARMIG_SIGN_PUB, $STARMIG_IDENTITY and $STARMIG_INDEX_KEY, or give the keys with --keys DIR)"},
		{[]string{"retrieve", "--keys", keys, "--person", "37605030299"}, "--archive and --reason are required (or set $STARMIG_ARCHIVE)"},
		{[]string{"restore", "--keys", keys}, "--archive and --to are required (or set $STARMIG_ARCHIVE and $STARMIG_RESTORE_TARGET)"},
		{[]string{"verify", "--archive", "file:///nowhere"}, "--sign-pub is required (or set $STARMIG_SIGN_PUB, or give --keys DIR)"},
		{[]string{"audit"}, "--archive and --identity are required (or set $STARMIG_ARCHIVE and $STARMIG_IDENTITY, or give the keys with --keys DIR)"},
		{[]string{"audit", "--keys", keys}, "--archive is required (or set $STARMIG_ARCHIVE)"},
	} {
		code, _, stderr := run(t, context.Background(), c.args...)
		if code != exitUsage || stderr != "starmig: "+c.want+"\n" {
			t.Errorf("%v: exit %d, %q; want exit 2, %q", c.args, code, stderr, c.want)
		}
	}
}

func TestFlagValuesOfTheWrongTypeSayWhatIsWanted(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--live-years", "x"}, `--live-years "x": want a whole number`},
		{[]string{"verify", "--sample", "five"}, `--sample "five": want a number`},
		{[]string{"resolve", "--wait", "soon"}, `--wait "soon": want a duration, such as 90s, 30m or 2h`},
		{[]string{"reconcile", "--deep=maybe"}, `--deep "maybe": want true or false`},
		{[]string{"gen", "--seed", "-1"}, `--seed "-1": want a whole number of 0 or more`},
		{[]string{"verify", "--archive", "file:///x", "--sign-pub", "x", "--seed", "-1"}, "--seed -1: want a whole number of 0 or more"},
		{[]string{"migrate", "--nope"}, "unknown flag: --nope"},
		{[]string{"gen", "--out", "x.db", "--as-of", "2010-12-31"}, "--as-of 2010-12-31: want 2011-01-01 or later (STAR1 began in 2010, and a generated STAR1 holds at least a year of it)"},
	} {
		code, _, stderr := run(t, context.Background(), c.args...)
		if code != exitUsage || stderr != "starmig: "+c.want+"\n" {
			t.Errorf("%v: exit %d, %q; want exit 2, %q", c.args, code, stderr, c.want)
		}
	}
}

// TestUnreadableTargetIsNamedOnce: a --target that is no PostgreSQL
// connection string is named, masked, with what is wanted, by every
// command that connects to STAR2, before anything connects.
func TestUnreadableTargetIsNamedOnce(t *testing.T) {
	for _, args := range [][]string{
		{"schema", "apply"},
		{"status"},
		{"resolve", "--batch", "b", "--list"},
	} {
		for target, want := range map[string]string{
			"nope":                        "starmig: target nope: want a PostgreSQL URL, postgres://user:password@host:port/db, or key=value settings\n",
			"postgres://u:s3cret@h:abc/x": "starmig: target postgres://u:**redacted**@h:abc/x: invalid port\n",
			// Oracle's user/password@host form, given by habit.
			"migrator/s3cret@db:5432/star2": "starmig: target migrator/**redacted**@db:5432/star2: want a PostgreSQL URL, postgres://user:password@host:port/db, or key=value settings\n",
		} {
			code, _, stderr := run(t, context.Background(), append(args, "--target", target)...)
			if code != exitUsage || stderr != want {
				t.Errorf("%v --target %s: exit %d, %q; want exit 2, %q", args, target, code, stderr, want)
			}
		}
	}
	// So is a --source in that form, without its password.
	code, _, stderr := run(t, context.Background(), "migrate", "--source", "reader/s3cret@star1:1521/STAR1", "--target", "postgres://u@127.0.0.1:1/x",
		"--batch", "b", "--mappings", t.TempDir())
	if want := `extract: source "reader/**redacted**@star1:1521/STAR1": want sqlite:PATH, oracle://`; code != exitUsage || !strings.Contains(stderr, want) || strings.Contains(stderr, "s3cret") {
		t.Errorf("migrate --source user/password@host: exit %d, %q; want exit 2, %q", code, stderr, want)
	}
	// restore names its --to before it reads the archive, whose batch
	// (here one it does not hold) it would otherwise name first.
	keys := genKeys(t, t.TempDir())
	code, _, stderr = run(t, context.Background(), "restore", "--archive", "file://"+t.TempDir(), "--keys", keys, "--batch", "none", "--to", "s3://bucket/star1")
	if want := "starmig: --to s3://bucket/star1: want a PostgreSQL URL, postgres://user:password@host:port/db, or key=value settings\n"; code != exitUsage || stderr != want {
		t.Errorf("restore --to s3://…: exit %d, %q; want exit 2, %q", code, stderr, want)
	}
	// verify names its --restore-drill so, not as a target.
	code, _, stderr = run(t, context.Background(), "verify", "--archive", "file://"+t.TempDir(), "--keys", keys, "--identity", filepath.Join(keys, "identity.txt"),
		"--operator", "o", "--reason", "r", "--restore-drill", "drill/s3cret@h:1/x")
	if want := "starmig: --restore-drill drill/**redacted**@h:1/x: want a PostgreSQL URL, postgres://user:password@host:port/db, or key=value settings\n"; code != exitUsage || stderr != want {
		t.Errorf("verify --restore-drill user/password@host: exit %d, %q; want exit 2, %q", code, stderr, want)
	}
}

// TestReportPathIsCheckedFirst: a --report file that could not be written
// is a usage error before any work, not a failure after all of it.
func TestReportPathIsCheckedFirst(t *testing.T) {
	dir, file := testenv.FileInTempDir(t)
	report := filepath.Join(file, "r.md")
	batchFlags := []string{"--source", "sqlite:" + filepath.Join(dir, "none.db"), "--target", "postgres://u@127.0.0.1:1/x",
		"--mappings", filepath.Join(dir, "none"), "--batch", "b"}
	for _, args := range [][]string{
		append([]string{"migrate"}, batchFlags...),
		append([]string{"reconcile"}, batchFlags...),
		{"verify", "--archive", "file://" + filepath.Join(dir, "none"), "--sign-pub", filepath.Join(dir, "none.pub")},
	} {
		code, _, stderr := run(t, context.Background(), append(args, "--report", report)...)
		if want := "starmig: --report " + report + ": " + file + " is a file, not a folder\n"; code != exitUsage || stderr != want {
			t.Errorf("%s: exit %d, %q; want exit 2, %q", args[0], code, stderr, want)
		}
	}
}

// TestEveryFlagTypeIsWorded: a flag of a type flagWants does not know
// would fall back to pflag's message; strings take any value.
func TestEveryFlagTypeIsWorded(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			switch typ := f.Value.Type(); {
			case typ == "string" || typ == "stringArray" || typ == "stringSlice":
			case flagWants[typ] == "":
				t.Errorf("%s --%s: flagWants has no wording for %s", c.CommandPath(), f.Name, typ)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
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

// genInto runs a small gen into db with the extra flags given, and
// returns its exit code and stderr.
func genInto(t *testing.T, db string) func(extra ...string) (int, string) {
	return func(extra ...string) (int, string) {
		code, _, stderr := run(t, context.Background(), append([]string{"gen", "-q", "--out", db, "--persons", "20", "--as-of", "2026-11-01"}, extra...)...)
		return code, stderr
	}
}

func TestGenKeepsAFileItDidNotWrite(t *testing.T) {
	// gen replaces its own STAR1 file; any other file at --out may be an
	// export of the real STAR1, and is replaced only with --force.
	dir := t.TempDir()
	db := filepath.Join(dir, "star1.db")
	gen := genInto(t, db)
	if code, stderr := gen(); code != 0 {
		t.Fatal(stderr)
	}
	if code, stderr := gen("--seed", "2"); code != 0 {
		t.Fatalf("gen over its own output: exit %d: %s", code, stderr)
	}
	// A SQLite file of another program, and a file that is no database.
	other, err := sql.Open("sqlite", "file:"+db+".export")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec("CREATE TABLE ISIK (ISIK_ID INTEGER)"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	exported, _ := os.ReadFile(db + ".export")
	for name, body := range map[string][]byte{"a SQLite file of another program": exported, "a text file": []byte("not a database\n")} {
		if err := os.WriteFile(db, body, 0o644); err != nil {
			t.Fatal(err)
		}
		code, stderr := gen()
		if code != exitUsage || !strings.Contains(stderr, db+" exists and is not a synthetic STAR1 that gen wrote") || !strings.Contains(stderr, "--force") {
			t.Errorf("gen over %s: exit %d: %s", name, code, stderr)
		}
		if now, _ := os.ReadFile(db); string(now) != string(body) {
			t.Errorf("gen replaced %s", name)
		}
	}
	if code, stderr := gen("--force"); code != 0 {
		t.Fatalf("gen --force: exit %d: %s", code, stderr)
	}
	if code, stderr := gen(); code != 0 {
		t.Fatalf("gen over what gen --force wrote: exit %d: %s", code, stderr)
	}
}

// TestGenKeepsEditedMappings: gen run again over its own output replaces
// it, but mapping files an analyst edited are kept, and the run refused
// before anything is written, unless --force.
func TestGenKeepsEditedMappings(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "star1.db")
	gen := genInto(t, db)
	if code, stderr := gen(); code != 0 {
		t.Fatal(stderr)
	}
	if code, stderr := gen(); code != 0 {
		t.Fatalf("gen over its own output: exit %d: %s", code, stderr)
	}
	csv := filepath.Join(dir, "mappings", "municipalities.csv")
	f, err := os.OpenFile(csv, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("9999,9999,Analüütiku vald\n")
	f.Close()
	edited, _ := os.ReadFile(csv)
	os.Remove(db)
	code, stderr := gen()
	if code != exitUsage || !strings.Contains(stderr, csv+" would be replaced") || !strings.Contains(stderr, "--force") {
		t.Errorf("gen over edited mappings: exit %d: %s", code, stderr)
	}
	if now, _ := os.ReadFile(csv); string(now) != string(edited) {
		t.Error("the edited mappings were replaced")
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused gen wrote STAR1")
	}
	if code, stderr := gen("--force"); code != 0 {
		t.Fatalf("gen --force: exit %d: %s", code, stderr)
	}
	if now, _ := os.ReadFile(csv); strings.Contains(string(now), "9999") {
		t.Error("--force kept the edited mappings")
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

// TestPasswordsNeverPrinted gives every kind of secret starmig takes, by
// flag and by variable, to commands that then fail on it, and searches
// everything they print for the secret: database passwords (STAR1 and
// STAR2), S3 secret keys and session tokens, and age identities.
func TestPasswordsNeverPrinted(t *testing.T) {
	const password = "Sal4s0na-9931"
	ctx := context.Background()
	dir := t.TempDir()
	keys := genKeys(t, dir)
	identity, err := os.ReadFile(filepath.Join(keys, "identity.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ageSecret := regexp.MustCompile(`AGE-SECRET-KEY-[0-9A-Z]+`).FindString(string(identity))
	if ageSecret == "" {
		t.Fatal("no age identity in the key set")
	}
	secrets := []string{password, ageSecret}
	check := func(what string, outputs ...string) {
		t.Helper()
		for _, o := range outputs {
			for _, s := range secrets {
				if strings.Contains(o, s) {
					t.Errorf("%s printed a secret: %q", what, o)
				}
			}
		}
	}

	// STAR2 by variable: the error names the target, masked.
	t.Setenv("STARMIG_TARGET", "postgres://migrator:"+password+"@127.0.0.1:1/star2?connect_timeout=2")
	code, out, stderr := run(t, ctx, "schema", "apply")
	if code != exitError || !strings.Contains(stderr, "**redacted**") {
		t.Errorf("unreachable target: exit %d, %q; want an error naming the target with its password masked", code, stderr)
	}
	check("schema apply", out, stderr)
	_, help, _ := run(t, ctx, "schema", "apply", "--help")
	check("schema apply --help", help)

	// STAR1 and STAR2 by flag.
	code, out, stderr = run(t, ctx, "migrate", "--source", "oracle://reader:"+password+"@127.0.0.1:1/STAR1",
		"--target", "postgres://migrator:"+password+"@127.0.0.1:1/star2?connect_timeout=2", "--mappings", "../../testdata/mappings", "--batch", "b")
	if code == 0 || !strings.Contains(stderr, "**redacted**") {
		t.Errorf("unreachable STAR1: exit %d, %q; want an error naming the source with its password masked", code, stderr)
	}
	check("migrate", out, stderr)
	t.Setenv("STARMIG_SOURCE", "oracle://reader:"+password+"@127.0.0.1:1/STAR1")
	_, help, _ = run(t, ctx, "migrate", "--help")
	check("migrate --help", help)

	// A password written with characters that a URL reads otherwise:
	// parsers would take a piece of it for a host or a port and quote the
	// piece. Each command refuses it, naming what to encode.
	for _, odd := range []string{"pa/Sal4s", "pa#Sal4s", "12/Sal4s", "p@Sal4s", "pa?Sal4s"} {
		pieces := []string{"Sal4s", ":pa", ":12"}
		pg := "postgres://migrator:" + odd + "@127.0.0.1:1/star2"
		for _, args := range [][]string{
			{"schema", "apply", "--target", pg},
			{"status", "--target", pg},
			{"migrate", "--source", "oracle://reader:" + odd + "@127.0.0.1:1/STAR1", "--target", "postgres://u@127.0.0.1:1/x", "--mappings", "../../testdata/mappings", "--batch", "b"},
			{"migrate", "--source", "sqlite:../../testdata/star1-small.db", "--target", pg, "--mappings", "../../testdata/mappings", "--batch", "b"},
			{"restore", "--archive", "file://" + dir, "--keys", keys, "--to", pg},
		} {
			code, out, stderr := run(t, ctx, args...)
			if code != exitUsage || !strings.Contains(stderr, "write it percent-encoded") {
				t.Errorf("%s with a password %q: exit %d, %s; want exit %d saying to encode it", args[0], odd, code, stderr, exitUsage)
			}
			for _, p := range pieces {
				if strings.Contains(out+stderr, p) {
					t.Errorf("%s with a password %q printed %q of it: %s", args[0], odd, p, stderr)
				}
			}
		}
	}

	// S3 credentials: unreachable, then refused by a real server.
	t.Setenv("STARMIG_S3_ACCESS_KEY", "starmig-writer")
	t.Setenv("STARMIG_S3_SECRET_KEY", password)
	t.Setenv("STARMIG_S3_SESSION_TOKEN", password+"-token")
	endpoints := []string{"http://127.0.0.1:1"}
	if os.Getenv(testenv.EnvS3Endpoint) != "" || os.Getenv("CI") != "" {
		endpoints = append(endpoints, "http://"+testenv.MinIO(t).Endpoint)
	}
	for _, e := range endpoints {
		t.Setenv("STARMIG_S3_ENDPOINT", e)
		code, out, stderr = run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", "s3://star1-archive/prod",
			"--batch", "all", "--keys", keys)
		if code == 0 {
			t.Errorf("archive to %s with wrong credentials succeeded", e)
		}
		check("archive to "+e, out, stderr)
	}

	// An age identity that opens nothing: the archive says so, not the key.
	arch := "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", arch, "--batch", "all", "--keys", keys, "-q"); code != 0 {
		t.Fatalf("archive: %s", stderr)
	}
	other := genKeys(t, t.TempDir())
	code, out, stderr = run(t, ctx, "retrieve", "--archive", arch, "--keys", keys, "--identity", filepath.Join(other, "identity.txt"),
		"--person", "39901019999", "--reason", "secrets test")
	if code == 0 || !strings.Contains(stderr, "the identity given is not one this run was encrypted to") {
		t.Errorf("retrieve with another identity: exit %d, %s%s", code, out, stderr)
	}
	otherIdentity, _ := os.ReadFile(filepath.Join(other, "identity.txt"))
	secrets = append(secrets, regexp.MustCompile(`AGE-SECRET-KEY-[0-9A-Z]+`).FindString(string(otherIdentity)))
	check("retrieve", out, stderr)
	_, out, stderr = run(t, ctx, "keys", "gen", "--out", filepath.Join(dir, "keys3"))
	keys3, _ := os.ReadFile(filepath.Join(dir, "keys3", "identity.txt"))
	secrets = append(secrets, regexp.MustCompile(`AGE-SECRET-KEY-[0-9A-Z]+`).FindString(string(keys3)))
	check("keys gen", out, stderr)
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

// TestABatchKeepsItsMunicipalities: its summary says which rows written
// belong to other municipalities; a re-run of a batch that asks for other
// municipalities (a mistyped or forgotten --kov) is refused as a usage
// error before anything is written, naming what the batch covers; the same
// municipalities in another order are the same batch.
func TestABatchKeepsItsMunicipalities(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 3)
	target := star2(t)
	migrate := func(kov ...string) (int, string, string) {
		args := []string{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "north", "--as-of", "2026-11-01"}
		if len(kov) > 0 {
			args = append(args, "--kov", kov[0])
		}
		return run(t, ctx, args...)
	}
	code, out, stderr := migrate("0100,0111")
	if code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	// The persons of other municipalities that its rows refer to are
	// written too, and the summary says why its tables and the
	// reconciliation's differ.
	if !regexp.MustCompile(`rows of other municipalities that rows of this batch refer to \(ISIK [1-9]`).MatchString(out) {
		t.Errorf("the summary does not say which rows belong to other municipalities:\n%s", out)
	}
	runs := func() (n int) {
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.run").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, kov := range [][]string{{"0122"}, {"0100"}, {}} {
		code, _, stderr := migrate(kov...)
		if code != exitUsage || !strings.Contains(stderr, `batch "north" covers municipalities 0100,0111`) || !strings.Contains(stderr, "--kov 0100,0111") {
			t.Errorf("a re-run with --kov %v: exit %d, %s; want exit %d naming what the batch covers", kov, code, stderr, exitUsage)
		}
	}
	if n := runs(); n != 1 {
		t.Errorf("%d runs recorded, want the first only", n)
	}
	if code, _, stderr := migrate("0111,0100"); code != 0 {
		t.Errorf("the same municipalities in another order: exit %d: %s", code, stderr)
	}
	// A reconciliation of a batch that is not there names those that are.
	_, _, stderr = run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"), "--batch", "nort")
	if !strings.Contains(stderr, `no batch "nort" in the bookkeeping`) || !strings.Contains(stderr, "(it holds batch north)") {
		t.Errorf("reconcile of a batch that is not there: %s", stderr)
	}
	_, _, stderr = run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", testenv.Postgres(t), "--mappings", filepath.Join(dir, "mappings"), "--batch", "north")
	if !strings.Contains(stderr, "holds no migration bookkeeping: no batch was ever migrated into it") {
		t.Errorf("reconcile against a database never migrated into: %s", stderr)
	}
}

// TestABatchOfNoMunicipalityIsRefused: a --kov that names no STAR2
// municipality of the mapping folder, or no code at all, would make a batch
// that covers nothing (or, read as no --kov, everything). It is refused
// before anything is written, naming the code and the file.
func TestMigrateIntoADatabaseWithoutSTAR2(t *testing.T) {
	// A target without the star2 schema (a wrong database, or schema apply
	// forgotten) is refused before anything is written to it.
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 50, 5)
	target := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target,
		"--mappings", filepath.Join(dir, "mappings"), "--batch", "b", "--as-of", "2026-11-01")
	want := "the target has no star2.municipality, star2.classifier, star2.person"
	if code != exitError || !strings.Contains(stderr, want) || !strings.Contains(stderr, "starmig schema apply") {
		t.Errorf("exit %d, %s; want exit %d saying %q and how to apply the schema", code, stderr, exitError, want)
	}
	var schemas int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('migration', 'star2')").Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if schemas != 0 {
		t.Errorf("%d schemas made in a database that was refused", schemas)
	}

	// One table missing is named alone.
	target = star2(t)
	if conn, err = pgx.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE star2.document"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target,
		"--mappings", filepath.Join(dir, "mappings"), "--batch", "b", "--as-of", "2026-11-01")
	if code != exitError || !strings.Contains(stderr, "the target has no star2.document:") {
		t.Errorf("without star2.document: exit %d, %s", code, stderr)
	}
}

func TestABatchOfNoMunicipalityIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 200, 5)
	target := star2(t)
	mappings := filepath.Join(dir, "mappings")
	for _, c := range []struct{ kov, want string }{
		{"9999", "--kov 9999: no row of " + filepath.Join(mappings, "municipalities.csv") + " maps to this code"},
		{"0100,9998,9999", "--kov 9998,9999: no row of " + filepath.Join(mappings, "municipalities.csv") + " maps to these codes, so the batch would cover none of their rows"},
		{"1000", "1000 is the STAR1 code of Saue vald, whose STAR2 code is 0265"},
		{"100", "100 is 0100 (Tallinn) without its leading zeros"},
		{"tartu LINN", "tartu LINN is the name of 0111 (Tartu linn)"},
		{"tartu", "tartu is part of the names of 0111 (Tartu linn), "},
		{",", `--kov ",": no code in it`},
		{"  ", `--kov "  ": no code in it`},
	} {
		code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", mappings,
			"--batch", "b"+strings.NewReplacer(",", "-", " ", "").Replace(c.kov), "--as-of", "2026-11-01", "--kov", c.kov)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("--kov %q: exit %d, %s; want exit %d saying %q", c.kov, code, stderr, exitUsage, c.want)
		}
	}
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var batches int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.batch").Scan(&batches); err != nil {
		t.Fatal(err)
	}
	if batches != 0 {
		t.Errorf("%d batches recorded, want none", batches)
	}
}

func TestParseDayNamesWhatIsWrong(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"2026-02-30", `--as-of "2026-02-30": no such day in the calendar`},
		{"2026-13-01", `--as-of "2026-13-01": no such day in the calendar`},
		{"21.11.2026", `--as-of "21.11.2026": want YYYY-MM-DD`},
		{"2026-2-3", `--as-of "2026-2-3": want YYYY-MM-DD`},
	} {
		_, err := parseDay("as-of", c.in)
		if err == nil || err.Error() != c.want || exitCode(err) != exitUsage {
			t.Errorf("%s: %v, want usage error %q", c.in, err, c.want)
		}
	}
	if d, err := parseDay("as-of", "2024-02-29"); err != nil || d.Day() != 29 {
		t.Errorf("leap day: %v %v", d, err)
	}
}

// TestAsOfIsTodayInEstonia: the default reference date is the day in
// Tallinn, whatever zone the clock is read in, since rule 10 compares it
// with STAR1's Tallinn wall-clock dates.
func TestAsOfIsTodayInEstonia(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 11, 21, 22, 30, 0, 0, time.UTC), "2026-11-22"},                     // 00:30 in Tallinn (UTC+2)
		{time.Date(2026, 11, 21, 17, 30, 0, 0, newYork), "2026-11-22"},                      // the same instant
		{time.Date(2026, 6, 30, 20, 59, 0, 0, time.UTC), "2026-06-30"},                      // 23:59 in summer (UTC+3)
		{time.Date(2026, 6, 30, 21, 0, 0, 0, time.UTC), "2026-07-01"},                       // midnight in summer
		{time.Date(2026, 11, 22, 1, 0, 0, 0, time.FixedZone("+14", 14*3600)), "2026-11-21"}, // ahead of Tallinn
	} {
		got, err := parseAsOf("", c.now)
		if err != nil || got.Format(time.DateOnly) != c.want || got.Location() != time.UTC || got.Hour() != 0 {
			t.Errorf("parseAsOf at %s = %s, %v; want %s 00:00 UTC", c.now, got, err, c.want)
		}
	}
	if got, err := parseAsOf("2026-01-31", time.Date(2026, 11, 21, 22, 30, 0, 0, time.UTC)); err != nil || got.Format(time.DateOnly) != "2026-01-31" {
		t.Errorf("--as-of given: %s, %v", got, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "256MiB": 256 << 20, "256mib": 256 << 20, "256M": 256 << 20, "1k": 1 << 10,
		"10MB": 10_000_000, "10 MB": 10_000_000, "2GB": 2_000_000_000, "1GiB": 1 << 30, "3TiB": 3 << 40,
		"1tb": 1e12, "512B": 512, " 64KiB ": 64 << 10,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MB", "MB", "1.5GB", "10 megabytes", "9999999TiB", "1e6"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestBundleSizeHasAFloor: a mistyped unit ("1KB" for "1GB") is refused
// before anything is written, as it would lock a bundle for every few rows.
func TestBundleSizeHasAFloor(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if code, _, stderr := run(t, context.Background(), "keys", "gen", "--out", keys, "-q"); code != 0 {
		t.Fatalf("keys gen: exit %d: %s", code, stderr)
	}
	to := filepath.Join(t.TempDir(), "archive")
	args := []string{"archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", "file://" + to, "--batch", "b", "--keys", keys, "-q", "--bundle-size"}
	code, _, stderr := run(t, context.Background(), append(args, "1KB")...)
	if want := `starmig: --bundle-size "1KB": want at least 1MiB`; code != exitUsage || !strings.HasPrefix(stderr, want) {
		t.Errorf("--bundle-size 1KB: exit %d, %q; want exit 2, %q…", code, stderr, want)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Errorf("--bundle-size 1KB wrote the archive folder: %v", err)
	}
	if code, _, stderr := run(t, context.Background(), append(args, "1MiB")...); code != 0 {
		t.Errorf("--bundle-size 1MiB: exit %d: %s", code, stderr)
	}
}

// TestWaitForStorageIsADuration: --wait-for-storage, or its variable,
// takes a duration; a number without its unit, or a negative one, is a
// usage error before anything is written.
func TestWaitForStorageIsADuration(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if code, _, stderr := run(t, context.Background(), "keys", "gen", "--out", keys, "-q"); code != 0 {
		t.Fatalf("keys gen: exit %d: %s", code, stderr)
	}
	to := filepath.Join(t.TempDir(), "archive")
	args := []string{"archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", "file://" + to, "--batch", "b", "--keys", keys, "-q"}
	for _, bad := range []string{"10", "-5m", "soon"} {
		code, _, stderr := run(t, context.Background(), append(args, "--wait-for-storage", bad)...)
		if want := `starmig: --wait-for-storage "` + bad + `": want a duration such as 10m`; code != exitUsage || !strings.HasPrefix(stderr, want) {
			t.Errorf("--wait-for-storage %s: exit %d, %q; want exit 2, %q…", bad, code, stderr, want)
		}
	}
	t.Setenv("STARMIG_WAIT_FOR_STORAGE", "soon")
	if code, _, stderr := run(t, context.Background(), args...); code != exitUsage || !strings.Contains(stderr, `--wait-for-storage "soon"`) {
		t.Errorf("STARMIG_WAIT_FOR_STORAGE=soon: exit %d, %q; want exit 2", code, stderr)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Errorf("a wrong --wait-for-storage wrote the archive folder: %v", err)
	}
	t.Setenv("STARMIG_WAIT_FOR_STORAGE", "")
	if code, _, stderr := run(t, context.Background(), append(args, "--wait-for-storage", "1h")...); code != 0 {
		t.Errorf("--wait-for-storage 1h: exit %d: %s", code, stderr)
	}
}

func TestRetentionUnits(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"": "2036-11-22", "10y": "2036-11-22", "10Y": "2036-11-22", "10 years": "2036-11-22", "1 year": "2027-11-22",
		"18m": "2028-05-22", "18 Months": "2028-05-22", "90d": "2027-02-20", "90 days": "2027-02-20",
	} {
		got, err := retainUntil("", in, now)
		if err != nil || got.Format(time.DateOnly) != want {
			t.Errorf("--retention %q: %v %v, want %s", in, got, err, want)
		}
	}
	// A number without a unit, or the like, is told the form; a zero or
	// negative one, and one past the year 9999, are told what is wrong
	// with them.
	for in, want := range map[string]string{
		"10": "want a number of years", "y": "want a number of years", "10yy": "want a number of years", "10 weeks": "want a number of years",
		"1.5y": "want a number of years", "0y": "must be 1 or more", "-1y": "must be 1 or more", "0 days": "must be 1 or more",
		"99999y": "past the year 9999", "1000000d": "past the year 9999", "8000y": "past the year 9999",
	} {
		if got, err := retainUntil("", in, now); err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), want) {
			t.Errorf("--retention %q: %v %v, want a usage error saying %q", in, got, err, want)
		}
	}
}

// TestServerRefusalsSayWhatToDo: a STAR2 that takes no writes (a standby,
// or default_transaction_read_only) and a role that may open one session
// only stop a batch with the server's words and a line on what to do. A
// disk that is full is worded the same way (a test cannot fill the test
// server's disk; pgsession's test covers the wording).
func TestServerRefusalsSayWhatToDo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 50, 5)
	migrate := func(target string) (int, string) {
		code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "b", "--as-of", "2026-11-01", "-q")
		return code, stderr
	}

	readOnly := star2(t)
	admin := testenv.Connect(t, readOnly)
	u, err := url.Parse(readOnly)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+name+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	code, stderr := migrate(readOnly)
	if code != exitError || !strings.Contains(stderr, "(SQLSTATE 25006)") || !strings.Contains(stderr, "the URL names a standby, or default_transaction_read_only is on") {
		t.Errorf("read-only STAR2: exit %d, %s", code, stderr)
	}

	// A server that allows no temporary files, and whose queries sort in
	// 64 kB of memory: the outcome rules of 300 persons need one. The
	// session's own settings do not.
	small := star2(t)
	if u, err = url.Parse(small); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"temp_file_limit = 0", "work_mem = '64kB'"} {
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" SET "+set); err != nil {
			t.Fatal(err)
		}
	}
	more := t.TempDir()
	code, _, stderr = run(t, ctx, "migrate", "--source", "sqlite:"+genSTAR1(t, more, 300, 5), "--target", small,
		"--mappings", filepath.Join(more, "mappings"), "--batch", "b", "--as-of", "2026-11-01", "-q")
	if code != exitError || !strings.Contains(stderr, "(SQLSTATE 53400)") || !strings.Contains(stderr, "Raise temp_file_limit for the migration's role") {
		t.Errorf("a temp_file_limit of 0: exit %d, %s", code, stderr)
	}

	// A role that owns its STAR2 (superusers know no connection limit),
	// which schema apply, with one session, sets up.
	oneSession := testenv.Postgres(t)
	admin = testenv.Connect(t, oneSession)
	role, single := testenv.Role(t, oneSession, "single_", "CONNECTION LIMIT 1")
	if u, err = url.Parse(oneSession); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" OWNER TO "+role); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, ctx, "schema", "apply", "--target", single, "-q"); code != 0 {
		t.Fatalf("schema apply as %s: exit %d: %s", role, code, stderr)
	}
	code, stderr = migrate(single)
	if code != exitError || !strings.Contains(stderr, "(SQLSTATE 53300)") || !strings.Contains(stderr, "takes no more sessions") || !strings.Contains(stderr, "--writers") {
		t.Errorf("a role of one session: exit %d, %s", code, stderr)
	}
}

// TestThroughPgBouncer: a site may put PgBouncer in front of STAR2. In
// session mode, which gives starmig a server session of its own, schema
// apply, a batch and its deep reconciliation run through it, and so does
// a command whose URL sets a timeout; before, every command stopped at
// "unsupported startup parameter: statement_timeout", since PgBouncer
// refuses a session whose startup parameters name settings it does not
// track. In transaction mode, which hands each
// transaction to another server session, starmig cannot work, and says
// what to give instead of PgBouncer's words about prepared statements.
func TestThroughPgBouncer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 7)
	migrate := func(target string, extra ...string) (int, string) {
		code, _, stderr := run(t, ctx, append([]string{"migrate", "--source", "sqlite:" + db, "--target", target,
			"--mappings", filepath.Join(dir, "mappings"), "--batch", "b", "--as-of", "2026-11-01", "-q"}, extra...)...)
		return code, stderr
	}

	session := testenv.PgBouncer(t, testenv.Postgres(t), "session")
	if code, _, stderr := run(t, ctx, "schema", "apply", "--target", session, "-q"); code != 0 {
		t.Fatalf("schema apply through PgBouncer in session mode: exit %d: %s", code, stderr)
	}
	if code, stderr := migrate(session); code != 0 {
		t.Fatalf("migrate through PgBouncer in session mode: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", session,
		"--mappings", filepath.Join(dir, "mappings"), "--batch", "b", "--deep", "-q"); code != 0 {
		t.Errorf("reconcile --deep through PgBouncer in session mode: exit %d: %s", code, stderr)
	}

	// A timeout the URL gives goes with the session's SETs, which
	// PgBouncer passes on, not with its startup parameters.
	if code, _, stderr := run(t, ctx, "status", "--target", session+"&statement_timeout=600000", "-q"); code != 0 {
		t.Errorf("status with a timeout in the URL, through PgBouncer: exit %d: %s", code, stderr)
	}

	transaction := testenv.PgBouncer(t, star2(t), "transaction")
	code, stderr := migrate(transaction)
	if code != exitError || !strings.Contains(stderr, "pool_mode = transaction") || !strings.Contains(stderr, "a pool in session mode") {
		t.Errorf("migrate through PgBouncer in transaction mode: exit %d, %s", code, stderr)
	}
}

// TestADatabaseNotInUTF8IsRefused: starmig writes text by binary COPY,
// which PostgreSQL stores as sent. Into a STAR2 made in LATIN9 a batch
// wrote "Jõe tn" as its UTF-8 bytes, which an application reading through
// the server's conversion saw as "JÃµe tn", and took Cyrillic in garbled
// instead of refusing it, with exit 0 and a clean deep reconciliation
// (tried by hand). schema apply, migrate and restore now refuse such a
// database before writing, naming its encoding.
func TestADatabaseNotInUTF8IsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 30, 3)
	latin9 := testenv.PostgresEncoded(t, "LATIN9")
	for what, args := range map[string][]string{
		"schema apply": {"schema", "apply", "--target", latin9},
		"migrate": {"migrate", "--source", "sqlite:" + db, "--target", latin9, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "b", "--as-of", "2026-11-01"},
		"restore": {"restore", "--archive", to, "--keys", keys, "--to", latin9, "--reason", "crisis"},
	} {
		code, _, stderr := run(t, ctx, append(args, "-q")...)
		if code != exitError || !strings.Contains(stderr, "holds its text in LATIN9, not UTF8") || !strings.Contains(stderr, "WITH ENCODING 'UTF8'") {
			t.Errorf("%s into a LATIN9 database: exit %d, %s", what, code, stderr)
		}
	}
	var tables int
	if err := testenv.Connect(t, latin9).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("%d tables in the LATIN9 database (%v), want none", tables, err)
	}
}

// TestEveryRunNamesItsWriter: `starmig --version` names the build, and an
// archive run records the same in its signed catalog (writer) and in
// each bundle's bag-info.txt (Bag-Software-Agent), for whoever reads the
// archive decades later and needs to know which code wrote it.
func TestEveryRunNamesItsWriter(t *testing.T) {
	ctx := context.Background()
	code, out, stderr := run(t, ctx, "--version")
	build := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(build, "starmig ") || !strings.Contains(build, "go1.") {
		t.Fatalf("--version: exit %d, %q %s", code, out, stderr)
	}
	dir := t.TempDir()
	_, _, to := folderArchive(t, dir, 20, 4)
	root := strings.TrimPrefix(to, "file://")
	catalogs, _ := filepath.Glob(filepath.Join(root, "batches", "all", "*", "catalog.json"))
	infos, _ := filepath.Glob(filepath.Join(root, "batches", "all", "*", "*", "bag-info.txt"))
	if len(catalogs) != 1 || len(infos) == 0 {
		t.Fatalf("catalogs %v, bag-info files %v", catalogs, infos)
	}
	var cat archive.Catalog
	b, err := os.ReadFile(catalogs[0])
	if err != nil || json.Unmarshal(b, &cat) != nil || cat.Writer != build {
		t.Errorf("catalog's writer %q (%v), want %q", cat.Writer, err, build)
	}
	for _, f := range infos {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "\nBag-Software-Agent: "+build+"\n") {
			t.Errorf("%s: %v\n%s; want Bag-Software-Agent: %s", f, err, b, build)
		}
	}
}
