package pgsession_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/testenv"
)

// TestTheServersTimeoutsAreOff: a database and a role whose settings end
// statements, idle transactions and waits for a lock within 20 ms, and
// idle sessions within 100 ms (the time between a session's start and
// its SETs must stay under it), as a STAR2 set up for interactive users
// may, do not end starmig's: its sessions switch them off, and on a
// server that does not know one of them (PostgreSQL 15 has no
// transaction_timeout) the session goes on without it. A timeout the URL
// sets is kept.
func TestTheServersTimeoutsAreOff(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	admin := testenv.Connect(t, dsn)
	_, role := testenv.Role(t, dsn, "hurried_", "",
		"statement_timeout = '20ms'", "idle_in_transaction_session_timeout = '20ms'",
		"idle_session_timeout = '100ms'", "lock_timeout = '20ms'")
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+database(t, dsn)+" SET statement_timeout = '20ms'"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(role)
	if err != nil {
		t.Fatal(err)
	}

	connect := func(t *testing.T, raw string) *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(raw)
		if err != nil {
			t.Fatal(err)
		}
		pgsession.Configure(&cfg.Config, nil)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	show := func(t *testing.T, conn *pgx.Conn, setting string) string {
		t.Helper()
		var v string
		if err := conn.QueryRow(ctx, "SHOW "+setting).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	conn := connect(t, u.String())
	for setting := range pgsession.NoTimeouts {
		if v := show(t, conn, setting); v != "0" {
			t.Errorf("%s = %s, want 0", setting, v)
		}
	}
	if v := show(t, conn, "idle_session_timeout"); v != "0" {
		t.Errorf("idle_session_timeout = %s, want 0", v)
	}
	if v := show(t, conn, "client_connection_check_interval"); v != "1s" {
		t.Errorf("client_connection_check_interval = %s, want 1s", v)
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version >= 170000 {
		if v := show(t, conn, "transaction_timeout"); v != "0" {
			t.Errorf("transaction_timeout = %s, want 0", v)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_sleep(0.1)"); err != nil {
		t.Errorf("a statement of 100 ms: %v", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // idle in the transaction, as while STAR1 is read
	if err := tx.Commit(ctx); err != nil {
		t.Errorf("a transaction idle for 100 ms: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // idle, as the session holding the run lock
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("a session idle for 300 ms: %v", err)
	}
	// A lock held for 100 ms elsewhere, as another batch's run lock.
	other := testenv.Connect(t, dsn)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock(7)"); err != nil {
		t.Fatal(err)
	}
	unlocked := make(chan struct{})
	go func() {
		defer close(unlocked)
		time.Sleep(100 * time.Millisecond)
		_, _ = other.Exec(context.Background(), "SELECT pg_advisory_unlock(7)")
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7)"); err != nil {
		t.Errorf("a wait of 100 ms for a lock: %v", err)
	}
	<-unlocked

	q := u.Query()
	q.Set("statement_timeout", "600000")
	u.RawQuery = q.Encode()
	if v := show(t, connect(t, u.String()), "statement_timeout"); v != "10min" {
		t.Errorf("statement_timeout = %s with the URL's 600000, want 10min", v)
	}
}

// database is the name of the database dsn names.
func database(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
}
