package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/starmig/starmig/internal/testenv"
)

// runOnTerminal runs starmig in process with its standard error on a
// pseudo-terminal, as on an engineer's screen, and returns the exit code,
// standard output and what the terminal showed.
func runOnTerminal(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&screen, ptmx) // ends with an error once tty is closed
	}()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(tty)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	tty.Close()
	<-read
	return exitCode(err), out.String(), screen.String()
}

// TestMigrateShowsProgress runs one batch three times: on a terminal it
// shows a bar per phase and table with rows done of the table's rows, the
// rate and the time left; elsewhere it writes log lines with rows done of
// total; with --quiet it writes nothing. A bar is drawn while a table is
// under way and cleared when it is done, so the STAR1 here has tables of
// more than one report's worth of rows (5 000).
func TestMigrateShowsProgress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 1500, 5)
	target := star2(t)
	persons := "1500"
	args := []string{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "progress", "--as-of", "2026-11-01"}

	// Every report drawn, however fast this machine reads the tables.
	defer func(d time.Duration) { barThrottle = d }(barThrottle)
	barThrottle = 0
	code, _, screen := runOnTerminal(t, ctx, args...)
	if code != 0 {
		t.Fatalf("migrate on a terminal: exit %d:\n%s", code, screen)
	}
	// A bar for pass 1 and pass 2 of the biggest tables: rows done of the
	// table's rows, and the rate.
	for _, table := range []string{"MAKSE", "TOIMING"} {
		for _, phase := range []string{"plan", "load"} {
			if !regexp.MustCompile(phase + ` ` + table + ` .*\(\d+/\d+, \d+ rows/(s|min|hr)\)`).MatchString(screen) {
				t.Errorf("the terminal never showed a bar for %s %s:\n%s", phase, table, screen)
			}
		}
	}
	if !regexp.MustCompile(`\([1-9]\d*/\d+, [1-9]\d* rows/s\)`).MatchString(screen) {
		t.Errorf("the terminal never showed a rate:\n%s", screen)
	}
	plausibleRates(t, screen)
	// The time spent and the time left, as [elapsed:left].
	if !regexp.MustCompile(`\[[0-9hms]+:[0-9hms]+\]`).MatchString(screen) {
		t.Errorf("the terminal never showed the time left:\n%s", screen)
	}

	code, _, stderr := run(t, ctx, args...)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`msg="plan ISIK" done=` + persons + ` total=` + persons, `msg="load ISIK" done=` + persons + ` total=` + persons} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the log never said %s:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("a bar was drawn into a log:\n%q", stderr)
	}

	args = append(args, "--quiet")
	if code, out, stderr := run(t, ctx, args...); code != 0 || stderr != "" || out != "" {
		t.Errorf("migrate --quiet: exit %d, stdout %q, stderr %q, want nothing", code, out, stderr)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
}

// plausibleRates fails on a rate no reading of STAR1 reaches: what a bar
// shows when its clock starts at the table's first report instead of at
// the table's start.
func plausibleRates(t *testing.T, screen string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`(\d+) rows/s`).FindAllStringSubmatch(screen, -1) {
		if n, _ := strconv.ParseInt(m[1], 10, 64); n > 50_000_000 {
			t.Errorf("a bar showed %s rows/s", m[1])
		}
	}
}

// TestArchiveAndRestoreShowProgress: on a terminal, archive shows a bar
// per table with rows done of the table's rows, and restore a bar of the
// rows restored of the rows to restore, each with a rate measured from its
// start.
func TestArchiveAndRestoreShowProgress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 1500, 5)
	keys := genKeys(t, dir)
	arch := "file://" + filepath.Join(dir, "archive")
	defer func(d time.Duration) { barThrottle = d }(barThrottle)
	barThrottle = 0
	for _, c := range []struct {
		bar  string
		args []string
	}{
		{"archive TOIMING", []string{"archive", "--source", "sqlite:" + db, "--to", arch, "--batch", "all", "--keys", keys}},
		{"restore STAR1", []string{"restore", "--archive", arch, "--keys", keys, "--to", testenv.Postgres(t)}},
	} {
		code, out, screen := runOnTerminal(t, ctx, c.args...)
		if code != 0 {
			t.Fatalf("%s on a terminal: exit %d: %s\n%s", c.args[0], code, out, screen)
		}
		if !regexp.MustCompile(c.bar + ` .*\([1-9]\d*/\d+, [1-9]\d* rows/s\)`).MatchString(screen) {
			t.Errorf("the terminal never showed a bar with a rate for %s:\n%s", c.bar, screen)
		}
		plausibleRates(t, screen)
	}
}

// TestVerifyShowsProgress: on a terminal, verify shows a bar of bytes
// hashed of the bytes to hash, with the rate.
func TestVerifyShowsProgress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := genKeys(t, dir)
	arch := "file://" + filepath.Join(dir, "archive")
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", arch, "--batch", "all",
		"--keys", keys, "--bundle-size", "1MiB", "-q"); code != 0 {
		t.Fatalf("archive: %s", stderr)
	}
	defer func(d time.Duration) { barThrottle = d }(barThrottle)
	barThrottle = 0
	code, out, screen := runOnTerminal(t, ctx, "verify", "--archive", arch, "--sign-pub", filepath.Join(keys, "signing.pub"), "--level", "full")
	if code != 0 || !strings.Contains(out, "No findings") {
		t.Fatalf("verify on a terminal: exit %d: %s\n%s", code, out, screen)
	}
	if !regexp.MustCompile(`verify .*\([0-9.]+( [kMG]?B)?/[0-9.]+ [kMG]?B, [0-9.]+ [kMG]?B/s\)`).MatchString(screen) {
		t.Errorf("the terminal never showed bytes hashed of the total with the rate:\n%q", screen)
	}
}

// TestProgressOfOneMunicipalityEndsAtItsTotal: a batch of one
// municipality still reads every STAR1 row of each table, so each phase's
// last report of a table says all of them are done, not only the batch's
// share (a bar would otherwise stop part-way and look like rows missing).
// Reconciliation, in migrate and on its own, reports while it reads a
// table, against a known total.
func TestProgressOfOneMunicipalityEndsAtItsTotal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 800, 6)
	target := star2(t)
	common := []string{"--source", "sqlite:" + db, "--target", target, "--mappings", filepath.Join(dir, "mappings"), "--batch", "tallinn"}
	code, _, migrated := run(t, ctx, append([]string{"migrate", "--kov", "0100", "--as-of", "2026-11-01"}, common...)...)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, migrated)
	}
	code, _, plain := run(t, ctx, append([]string{"reconcile"}, common...)...)
	if code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, plain)
	}
	code, _, deep := run(t, ctx, append([]string{"reconcile", "--deep"}, common...)...)
	if code != 0 {
		t.Fatalf("reconcile --deep: exit %d: %s", code, deep)
	}
	for _, c := range []struct{ command, log string }{{"migrate", migrated}, {"reconcile", plain}, {"reconcile --deep", deep}} {
		// Reports while a table is read, not only at its start and end.
		if !strings.Contains(c.log, `msg="reconcile MAKSE" done=5000 total=5658`) {
			t.Errorf("%s never reported reconcile MAKSE while reading it:\n%s", c.command, c.log)
		}
		last := map[string][2]string{} // msg: done, total of its last line
		for _, m := range regexp.MustCompile(`msg="(\w+ \w+)" done=(\d+) total=(\d+)`).FindAllStringSubmatch(c.log, -1) {
			last[m[1]] = [2]string{m[2], m[3]}
		}
		if _, ok := last["reconcile MAKSE"]; !ok {
			t.Errorf("%s never reported reconcile MAKSE:\n%s", c.command, c.log)
		}
		for msg, n := range last {
			if n[0] != n[1] {
				t.Errorf("%s: %s ended at %s of %s rows", c.command, msg, n[0], n[1])
			}
		}
	}
	for _, phase := range []string{"plan", "load"} {
		if !strings.Contains(migrated, `msg="`+phase+` MAKSE"`) {
			t.Errorf("migrate never reported %s MAKSE:\n%s", phase, migrated)
		}
	}
	if !strings.Contains(deep, `msg="deep MAKSE"`) {
		t.Errorf("reconcile --deep never reported deep MAKSE:\n%s", deep)
	}
}
