package pgsession

import (
	"context"
	"errors"
	"maps"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// oldServer is a PostgreSQL server as far as a session's start and its
// first statements go: it answers a query that names
// client_connection_check_interval with the error given, as PostgreSQL 13
// answers a SET of a setting it does not know, and any other with SET.
func oldServer(t *testing.T, answer *pgproto3.ErrorResponse) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c, answer)
		}
	}()
	return "postgres://starmig@" + l.Addr().String() + "/star2?sslmode=disable"
}

func serve(c net.Conn, answer *pgproto3.ErrorResponse) {
	defer c.Close()
	b := pgproto3.NewBackend(c, c)
	if _, err := b.ReceiveStartupMessage(); err != nil {
		return
	}
	b.Send(&pgproto3.AuthenticationOk{})
	b.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "13.16"})
	b.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	b.Send(&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"})
	b.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 2}})
	b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if b.Flush() != nil {
		return
	}
	for {
		msg, err := b.Receive()
		if err != nil {
			return
		}
		switch q := msg.(type) {
		case *pgproto3.Query:
			if strings.Contains(q.String, "client_connection_check_interval") {
				b.Send(answer)
			} else {
				b.Send(&pgproto3.CommandComplete{CommandTag: []byte("SET")})
			}
			b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Terminate:
			return
		default:
			continue
		}
		if b.Flush() != nil {
			return
		}
	}
}

// TestCheckClientOnAnOldServer: PostgreSQL 13 and older do not know
// client_connection_check_interval; the session goes on without it. Any
// other refusal of the SET is the caller's error.
func TestCheckClientOnAnOldServer(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		code string
		ok   bool
	}{{"42704", true}, {"42501", false}} {
		dsn := oldServer(t, &pgproto3.ErrorResponse{Severity: "ERROR", Code: c.code, Message: `unrecognized configuration parameter "client_connection_check_interval"`})
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		Configure(&cfg.Config, nil)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		var pgErr *pgconn.PgError
		switch {
		case c.ok && err != nil:
			t.Errorf("SET answered with %s: %v; want the session to go on", c.code, err)
		case !c.ok && (!errors.As(err, &pgErr) || pgErr.Code != c.code):
			t.Errorf("SET answered with %s: %v; want that error", c.code, err)
		}
		if err == nil {
			conn.Close(ctx)
		}
	}
}

// TestConfigureStartsWithTheNameOnly: an application_name the URL gives
// is kept, otherwise the session is starmig's; it is the only startup
// parameter Configure adds, since a pooler refuses a session whose startup
// parameters name settings it does not track. What the URL gives stays.
func TestConfigureStartsWithTheNameOnly(t *testing.T) {
	for url, want := range map[string]map[string]string{
		"postgres://u@h/db": {"application_name": Application},
		"postgres://u@h/db?application_name=crisis&statement_timeout=600000": {"application_name": "crisis", "statement_timeout": "600000"},
	} {
		cfg, err := pgconn.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		Configure(cfg, map[string]string{"timezone": "UTC"})
		if !maps.Equal(cfg.RuntimeParams, want) {
			t.Errorf("%s: startup parameters %v, want %v", url, cfg.RuntimeParams, want)
		}
	}
}

// TestExplainNamesWhatToDo: the refusals whose words do not say what to
// do get a sentence that does, found by their SQLSTATE in an error's
// text, also once a connection's error has been worded again; others get
// nothing.
func TestExplainNamesWhatToDo(t *testing.T) {
	for msg, want := range map[string]string{
		`load: plan TOIMING: ERROR: could not extend file "base/5/16669": wrote only 4096 of 8192 bytes at block 273 (SQLSTATE 53100)`:     "no room left on its disk",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: FATAL: sorry, too many clients already (SQLSTATE 53300)": "takes no more sessions",
		"load: ERROR: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)\nRun 3 stopped":                                    "the URL names a standby",
		"load: ERROR: permission denied for table person (SQLSTATE 42501)":                                                                 "",
		"extract: STAR1 stand-in x.db does not exist":                                                                                      "",
	} {
		got := Explain(msg)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("Explain(%q) = %q, want it to say %q", msg, got, want)
		}
	}
}
