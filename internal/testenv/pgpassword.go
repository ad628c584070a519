package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/pgserver"
)

// PasswordRole is the role that PostgresPassword lets in by its password
// alone.
const PasswordRole = "starmig_pw"

// PasswordPostgres is a private PostgreSQL that lets PasswordRole in by
// its password (SCRAM-SHA-256), as most production servers do, where the
// others' server trusts every session from 127.0.0.1.
type PasswordPostgres struct {
	Port     int
	Password string // PasswordRole's
}

// PostgresPassword starts such a server for the test, with a database
// star2 that PasswordRole (a superuser) owns, and stops it when the test
// ends.
func PostgresPassword(t testing.TB) *PasswordPostgres {
	t.Helper()
	PostgresServer(t) // skips, or fails under CI, as the tests' server does
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgserver.StartWith(ctx, pgserver.Options{
		HBA: "local all all trust\n" +
			"host all postgres 127.0.0.1/32 trust\n" +
			"host all all 127.0.0.1/32 scram-sha-256\n",
		Settings: []string{"password_encryption=scram-sha-256"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop the password PostgreSQL: %v", err)
		}
	})
	conn, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	p := &PasswordPostgres{Port: srv.Port, Password: "pw-" + randomHex(12)}
	for _, stmt := range []string{
		"CREATE ROLE " + PasswordRole + " LOGIN SUPERUSER PASSWORD '" + p.Password + "'",
		"CREATE DATABASE star2 OWNER " + PasswordRole,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return p
}
