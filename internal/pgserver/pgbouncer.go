package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Pooler is a PgBouncer in front of a PostgreSQL server, as a site may put
// one in front of STAR2, for the tests that show what starmig does
// through it.
type Pooler struct {
	DSN  string // the DSN given, with the pooler's port
	dir  string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// StartPgBouncer starts the pgbouncer program bin on a free loopback port,
// in a new temporary folder, passing every session through to the server
// that dsn names, with the pool mode given (session, transaction or
// statement). It trusts dsn's user, and runs as the postgres user when
// run as root, since PgBouncer refuses to run as root. Stop it with Stop.
func StartPgBouncer(ctx context.Context, bin, dsn, mode string) (*Pooler, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: %w", err)
	}
	dir, err := os.MkdirTemp("", "starmig-pgbouncer-")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: %w", err)
	}
	p := &Pooler{dir: dir, log: filepath.Join(dir, "pgbouncer.log")}
	cred, err := credential(dir)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	port, err := freePort()
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
max_client_conn = 200
default_pool_size = 50
logfile = %s
`, u.Hostname(), u.Port(), port, filepath.Join(dir, "users.txt"), mode, p.log)
	users := fmt.Sprintf("%q \"\"\n", u.User.Username())
	for name, text := range map[string]string{"pgbouncer.ini": ini, "users.txt": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, errors.Join(fmt.Errorf("pgbouncer: %w", err), os.RemoveAll(dir))
		}
	}
	p.cmd = exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = serverAttr(cred)
	out, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("pgbouncer: %w", err), os.RemoveAll(dir))
	}
	defer out.Close()
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("pgbouncer: start: %w", err), os.RemoveAll(dir))
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
	u.Host = "127.0.0.1:" + strconv.Itoa(port)
	p.DSN = u.String()
	if err := p.waitReady(ctx); err != nil {
		return nil, errors.Join(err, p.Stop())
	}
	return p, nil
}

func (p *Pooler) waitReady(ctx context.Context) error {
	exited, err := waitConnect(ctx, p.DSN, p.done, 30*time.Second)
	switch {
	case exited:
		return fmt.Errorf("pgbouncer exited: %v\n%s", err, p.output())
	case err != nil:
		return fmt.Errorf("pgbouncer not ready: %w\n%s", err, p.output())
	}
	return nil
}

// output is what PgBouncer wrote, for an error.
func (p *Pooler) output() string {
	var b strings.Builder
	for _, name := range []string{"output", "pgbouncer.log"} {
		text, _ := os.ReadFile(filepath.Join(p.dir, name))
		b.Write(text)
	}
	return b.String()
}

// Stop shuts PgBouncer down at once, ending its sessions, and removes its
// folder.
func (p *Pooler) Stop() error {
	if p.cmd.Process.Signal(syscall.SIGTERM) != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return os.RemoveAll(p.dir)
}
