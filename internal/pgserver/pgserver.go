// Package pgserver starts a private PostgreSQL server in a folder of its
// own, on a free loopback port, for the demo and the tests. It depends on
// no system service. As root it runs initdb and postgres as the postgres
// user, since PostgreSQL refuses to run as root.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running private PostgreSQL.
type Server struct {
	DSN  string // postgres://postgres@127.0.0.1:PORT/postgres
	Port int
	dir  string
	cred runAs
	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// Start initialises a cluster in a new temporary folder and starts it.
// Stop it with Stop, which also removes the folder.
func Start(ctx context.Context) (*Server, error) { return StartWith(ctx, Options{}) }

// Options are what a server is started with beyond Start's defaults.
type Options struct {
	// Files are written into the data folder before the server starts,
	// readable by the server's user alone: a certificate and its key.
	// Settings name them relative to that folder.
	Files map[string][]byte
	// HBA, when set, replaces pg_hba.conf. It must let postgres in from
	// 127.0.0.1 without TLS, as the DSN does.
	HBA string
	// Settings are further settings, "name=value": "ssl=on".
	Settings []string
}

// WriteFile writes a file into the data folder, readable by the server's
// user alone, as Options.Files are: the server reads a certificate and
// its key again when its configuration is reloaded (pg_reload_conf()).
func (s *Server) WriteFile(name string, b []byte) error {
	path := filepath.Join(s.dir, "data", name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return own(s.cred, path)
}

// StartWith is Start with options.
func StartWith(ctx context.Context, o Options) (*Server, error) {
	initdb, err := binary("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := binary("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "starmig-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	s := &Server{dir: dir}
	cred, err := credential(dir)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	data := filepath.Join(dir, "data")
	out, err := run(ctx, cred, dir, initdb, append([]string{"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"}, localeArgs()...)...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("pgserver: initdb: %w\n%s", err, out), os.RemoveAll(dir))
	}
	if o.HBA != "" {
		o.Files = maps.Clone(o.Files)
		if o.Files == nil {
			o.Files = map[string][]byte{}
		}
		o.Files["pg_hba.conf"] = []byte(o.HBA)
	}
	s.cred = cred
	for name, b := range o.Files {
		if err := s.WriteFile(name, b); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	s.Port = port
	s.log, err = os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=256MB",
		"-c", "max_wal_size=4GB"}
	for _, setting := range o.Settings {
		args = append(args, "-c", setting)
	}
	if os.Getenv("STARMIG_PG_STATEMENTS") != "" {
		// Diagnostics: where the server spends its time, per statement.
		args = append(args, "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
	}
	s.cmd = exec.Command(postgres, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = serverAttr(cred)
	if err := s.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("pgserver: start postgres: %w", err), os.RemoveAll(dir))
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := s.waitReady(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	exited, err := waitConnect(ctx, s.DSN, s.done, 60*time.Second)
	switch {
	case exited:
		logText, _ := os.ReadFile(s.log.Name())
		return fmt.Errorf("pgserver: postgres exited: %v\n%s", err, logText)
	case err != nil:
		return fmt.Errorf("pgserver: postgres on port %d not ready: %w", s.Port, err)
	}
	return nil
}

// waitConnect connects to dsn until it answers, the process whose end
// done reports exits (exited, with its error, which it leaves in done for
// Stop), or within passes.
func waitConnect(ctx context.Context, dsn string, done chan error, within time.Duration) (exited bool, err error) {
	deadline := time.Now().Add(within)
	for {
		select {
		case err := <-done:
			done <- err
			return true, err
		default:
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return false, conn.Close(ctx)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down fast and removes its folder.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		if s.cmd.Process.Signal(os.Interrupt) != nil {
			_ = s.cmd.Process.Kill() // no interrupt on this system
		}
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.log != nil {
		err = s.log.Close()
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// binary finds a PostgreSQL program on PATH or in Debian's versioned
// folders.
func binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("pgserver: %s not found: install the PostgreSQL server (15 or newer)", name)
}

// localeArgs are initdb's arguments for the cluster's collation: bytewise
// (C) unless STARMIG_TEST_PG_LOCALE names an ICU locale, such as et-EE, the
// collation a STAR2 server in Estonia may well have. Running the tests with
// it shows whether anything in starmig leans on the server's text order.
func localeArgs() []string {
	if icu := os.Getenv("STARMIG_TEST_PG_LOCALE"); icu != "" {
		return []string{"--locale-provider=icu", "--icu-locale=" + icu, "--locale=C.UTF-8"}
	}
	return []string{"--no-locale"}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
