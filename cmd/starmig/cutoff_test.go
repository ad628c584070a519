package main

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/testenv"
)

// through gives dsn with its host and port replaced by addr.
func through(t *testing.T, dsn, addr string) (string, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	u.Host = addr
	return u.String(), host
}

// TestSTAR2CutOffInAMigration cuts the connections to STAR2 in the middle
// of a batch, as a PostgreSQL that is killed or a network that drops
// them does, with no word from the server: the run says so, and what
// to do, in a line of its own, and the same batch run again completes.
func TestSTAR2CutOffInAMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 7)
	migrate := func(target string) (int, string) {
		code, _, stderr := run(t, ctx, "migrate", "-q", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "all", "--as-of", "2026-11-01")
		return code, stderr
	}
	measured, server := through(t, star2(t), "")
	whole := testenv.CutAfter(t, server, -1)
	measured, _ = through(t, measured, whole.Addr)
	if code, stderr := migrate(measured); code != 0 {
		t.Fatalf("migrate through the whole link: exit %d: %s", code, stderr)
	}

	target := star2(t)
	cut := testenv.CutAfter(t, server, whole.Bytes()/2)
	viaCut, _ := through(t, target, cut.Addr)
	code, stderr := migrate(viaCut)
	t.Logf("cut after %d of %d bytes: exit %d: %s", cut.Bytes(), whole.Bytes(), code, stderr)
	if lines := strings.Split(stderr, "\n"); code != exitError || len(lines) < 3 || lines[1] != cutOffWhy || !strings.HasPrefix(lines[2], "Run ") {
		t.Errorf("migrate with STAR2 cut off: exit %d, want %d saying the connection was cut, straight after the cause: %s", code, exitError, stderr)
	}
	if code, stderr := migrate(target); code != 0 {
		t.Fatalf("migrate again: exit %d: %s", code, stderr)
	}
}

// TestWhatToDoComesAfterTheCause: the line saying what a cut connection
// or a server's refusal means follows the cause's line, before what the
// command adds (a batch's "Run N stopped").
func TestWhatToDoComesAfterTheCause(t *testing.T) {
	stopped := "\nRun 3 stopped; anything it wrote is kept."
	for cause, why := range map[string]string{
		"load: copy decision: unexpected EOF":                                          cutOffWhy,
		"load: bookkeeping: read tcp 127.0.0.1:5: connection reset by peer":            cutOffWhy,
		`load: plan TOIMING: ERROR: could not extend file "base/5/1" (SQLSTATE 53100)`: pgsession.Explain("(SQLSTATE 53100)"),
		"batch: read MAKSE: ORA-01555: snapshot too old: rollback segment number 9 with name \"_SYSSMU9_1650155850$\" too small error occur at position: 0": extract.Explain("ORA-01555"),
	} {
		for _, msg := range []string{cause, cause + stopped} {
			got := errorLine(errors.New(msg))
			want := "starmig: " + cause + "\n" + why + msg[len(cause):]
			if why == "" || got != want {
				t.Errorf("%q printed as\n%s\nwant\n%s", msg, got, want)
			}
		}
	}
}
