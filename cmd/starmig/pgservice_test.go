package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// TestSTAR2ByAServiceAndAPasswordFile: a STAR2 named by a service of a
// service file, its role's password in a password file, as a site keeps
// them out of the command line, the environment and the shell's history.
// Every command that reads or writes PostgreSQL works with service=star2
// and with postgres:///?service=star2: schema apply, a batch, the deep
// reconciliation, status, resolve, a restore, a restore drill, and a
// batch from the restored STAR1; none prints the password. The service is
// found where psql finds it, in the system's file too ($PGSYSCONFDIR).
// A service defined nowhere, a service file that is not one, a password
// file others may read (which psql passes over) and a role given no
// password stop the command, saying what to do.
func TestSTAR2ByAServiceAndAPasswordFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, keys, to := folderArchive(t, dir, 60, 23)
	pg := testenv.PostgresPassword(t)

	home := filepath.Join(dir, "home") // no ~/.pg_service.conf or ~/.pgpass of the machine's
	services := filepath.Join(dir, "services.conf")
	passfile := filepath.Join(dir, "pgpass")
	service := fmt.Sprintf("# STAR2\n[star2]\nhost=127.0.0.1\nport=%d\ndbname=star2\nuser=%s\n", pg.Port, testenv.PasswordRole)
	for path, text := range map[string]string{
		services: service,
		passfile: fmt.Sprintf("127.0.0.1:%d:*:%s:%s\n", pg.Port, testenv.PasswordRole, pg.Password),
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("PGSERVICEFILE", services)
	t.Setenv("PGPASSFILE", passfile)
	t.Setenv("PGSYSCONFDIR", filepath.Join(dir, "none"))

	const target = "service=star2"
	for _, args := range append(postgresCommands(dir, db, keys, to, target, "postgres:///?service=star2&schema=star1_archive"),
		[]string{"status", "--target", "postgres:///?service=star2"}) {
		code, out, stderr := run(t, ctx, args...)
		if code != 0 {
			t.Fatalf("%s by a service: exit %d: %s", args[0], code, stderr)
		}
		if strings.Contains(out+stderr, pg.Password) {
			t.Errorf("%s printed the password of the password file", args[0])
		}
	}

	// The service in the system's file alone, as psql finds it.
	sys := filepath.Join(dir, "sysconf")
	if err := os.Mkdir(sys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "pg_service.conf"), []byte(service), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", "")
	os.Unsetenv("PGSERVICEFILE") // set, even empty, it names the user's file for libpq
	t.Setenv("PGSYSCONFDIR", sys)
	if code, out, stderr := run(t, ctx, "status", "--target", target); code != 0 || !strings.Contains(out, "2 batches") {
		t.Errorf("status by the system's service file: exit %d: %s %s; want the two batches", code, out, stderr)
	}
	psql := testenv.Tool(t, "psql")
	if out, err := exec.Command(psql, "-Atc", "SELECT current_user", target).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != testenv.PasswordRole {
		t.Errorf("psql by the system's service file: %v: %s", err, out)
	}

	// A password file others may read: psql passes it over with a warning
	// and has no password; starmig stops before it connects, saying so.
	refusedAsByPsql(t, ctx, passfile, target, "a password file",
		"password file "+passfile+" has group or world access (mode 0644)", pg.Password)

	userFile := filepath.Join(home, ".pg_service.conf")
	for _, c := range []struct {
		name, userFile, sysconf, passfile string
		code                              int
		want                              string
	}{
		{"defined nowhere", "", filepath.Join(dir, "none"), passfile, exitUsage,
			`service "star2" is defined neither in the user's service file, ` + userFile + `, nor in the system's, ` + filepath.Join(dir, "none", "pg_service.conf")},
		{"in a file that is not a service file", "host=127.0.0.1\n" + service, sys, passfile, exitUsage,
			"service file " + userFile + ": line 1 is not in a section"},
		{"without a password", "", sys, filepath.Join(dir, "none"), exitError,
			"refused the role's password (SQLSTATE 28P01, invalid_password), or the role was given none"},
	} {
		_ = os.Remove(userFile)
		if c.userFile != "" {
			if err := os.WriteFile(userFile, []byte(c.userFile), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("PGSYSCONFDIR", c.sysconf)
		t.Setenv("PGPASSFILE", c.passfile)
		code, _, stderr := run(t, ctx, "status", "--target", target)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("status, the service %s: exit %d, %s; want exit %d and %q", c.name, code, stderr, c.code, c.want)
		}
	}
	// A file named is the one to read, as for psql, not the system's.
	t.Setenv("PGSERVICEFILE", filepath.Join(dir, "none.conf"))
	t.Setenv("PGSYSCONFDIR", sys)
	want := "service file " + filepath.Join(dir, "none.conf") + ", which $PGSERVICEFILE names, is not there"
	if code, _, stderr := run(t, ctx, "status", "--target", target); code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("status, the service file named not there: exit %d, %s; want exit %d and %q", code, stderr, exitUsage, want)
	}
}
