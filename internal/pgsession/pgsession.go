// Package pgsession is what every PostgreSQL session starmig opens asks
// of the server, STAR2's and a restored STAR1's alike, so that a run
// killed, or on a machine that went down, does not leave its sessions
// holding locks and snapshots.
package pgsession

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Application is the application_name of starmig's sessions, by which
// pg_stat_activity shows them.
const Application = "starmig"

// Keepalives are how a session notices that the machine of the starmig
// process behind it is gone: it sends no FIN, and the server finds the
// session dead within about two minutes instead of the system's two hours.
var Keepalives = map[string]string{"tcp_keepalives_idle": "60", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "6"}

// NoTimeouts switch off the timeouts that a server, a database or a role
// may set for its interactive users, as pg_dump does for its sessions. A
// batch's statements are long by design (an outcome rule or a count of
// STAR1 takes minutes at a million persons), and its transactions stay
// open while it reads STAR1 between statements: with a statement_timeout
// or an idle_in_transaction_session_timeout of seconds, every batch would
// stop at the same statement each time it was run.
var NoTimeouts = map[string]string{"statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}

// Configure sets up what a session asks of the server once it is open:
// the keepalives, the settings given, NoTimeouts where the URL sets none
// of its own (?statement_timeout=10min is the user's choice), and
// checkClient's. application_name, where the URL names none, is the one
// that goes with the startup parameters.
//
// The others are SET before anything else is sent, not given at startup:
// a pooler in front of PostgreSQL, PgBouncer, closes a session whose
// startup parameters name a setting it does not track ("unsupported
// startup parameter: statement_timeout"), and passes a SET through. A SET
// of statement_timeout runs under the timeout it replaces, which takes
// milliseconds: a server's timeouts for interactive users are seconds.
func Configure(cfg *pgconn.Config, settings map[string]string) {
	set := make(map[string]string, len(Keepalives)+len(NoTimeouts)+len(settings))
	for k, v := range Keepalives {
		set[k] = v
	}
	for k, v := range NoTimeouts {
		if _, given := cfg.RuntimeParams[k]; !given {
			set[k] = v
		}
	}
	for k, v := range settings {
		set[k] = v
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sql strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sql, "SET %s = '%s';", k, strings.ReplaceAll(set[k], "'", "''"))
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = Application
	}
	_, ownTimeout := cfg.RuntimeParams["transaction_timeout"]
	before := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgconn.PgConn) error {
		if before != nil {
			if err := before(ctx, conn); err != nil {
				return err
			}
		}
		if _, err := conn.Exec(ctx, sql.String()).ReadAll(); err != nil {
			return fmt.Errorf("session settings: %w", err)
		}
		return checkClient(ctx, conn, ownTimeout)
	}
}

// checkClient asks the server to look for the client once a second while
// a statement runs, and to cancel the statement of one that is gone. A
// run killed in the middle of a statement otherwise leaves it running,
// holding its locks, until it ends; at a million persons an outcome rule
// or a count of STAR1 takes minutes. PostgreSQL 13 and older do not know
// the setting and do without.
//
// Unless ownTimeout (the URL sets it), it also switches off PostgreSQL
// 17's transaction_timeout, as NoTimeouts does the others: a batch's
// transaction lasts as long as a chunk's read of STAR1 and its writes.
// Each SET goes alone, as an older server refuses it.
func checkClient(ctx context.Context, conn *pgconn.PgConn, ownTimeout bool) error {
	if err := setIfKnown(ctx, conn, "SET client_connection_check_interval = '1s'"); err != nil {
		return err
	}
	if ownTimeout {
		return nil
	}
	return setIfKnown(ctx, conn, "SET transaction_timeout = 0")
}

// setIfKnown runs a SET, and lets it pass where the server does not know
// the setting.
func setIfKnown(ctx context.Context, conn *pgconn.PgConn, set string) error {
	_, err := conn.Exec(ctx, set).ReadAll()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42704" { // undefined_object
		return nil
	}
	return err
}

// ServerFault says whether err, met on conn, is the server's or the
// session's rather than about what was written or read: the connection is
// lost, or the server refused for want of rights, room, a database, or
// because it is stopping. Such a failure says nothing of the data, and
// the same work can be done again once the server is put right.
func ServerFault(conn *pgx.Conn, err error) bool {
	if err == nil {
		return false
	}
	if conn.IsClosed() {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "08", "28", "3D", "53", "57": // connection, authorization, database, resources, operator
		return true
	}
	return pgErr.Code == "42501" // insufficient_privilege
}

// sqlstate finds the SQLSTATE that pgx puts at the end of a server's error,
// "(SQLSTATE 53100)", in the text of an error: the text is what is left of
// it once a connection's error has been worded without its password.
var sqlstate = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)

// causes are the server's refusals whose words do not say what to do:
// the server's disk is full, it takes no more sessions, or the URL names a
// server or a role that takes no writes.
var causes = map[string]string{
	"53100": "The PostgreSQL server has no room left on its disk (SQLSTATE 53100, disk_full). Free room there, or give it more, then run the same command again.",
	"53300": "The PostgreSQL server takes no more sessions (SQLSTATE 53300, too_many_connections): its max_connections, or a CONNECTION LIMIT of the role or the database, is reached. End sessions that are not needed, or raise the limit; migrate opens fewer with a lower --writers.",
	"26000": pooled,
	"42P05": pooled,
	"25006": "The PostgreSQL server takes no writes in this session (SQLSTATE 25006, read_only_sql_transaction): the URL names a standby, or default_transaction_read_only is on for the database or the role. Give the primary's URL, or a role that may write.",
}

// pooled explains the errors of a session whose statements a pooler
// hands to other server sessions than the one that prepared them.
// starmig keeps state in its sessions (prepared statements, settings, the
// run's lock), which such a pool does not keep from one transaction to the
// next: it needs a session of its own throughout.
const pooled = "A pooler between starmig and PostgreSQL hands each transaction to another server session (PgBouncer with pool_mode = transaction or statement): starmig's sessions keep their prepared statements, settings and the run's lock from one transaction to the next. Give the URL of the server itself, or of a pool in session mode."

// Explain is a sentence on what to do about the server's refusal that
// msg, an error's text, ends with; "" when starmig has nothing to add to
// the server's own words.
func Explain(msg string) string {
	m := sqlstate.FindAllStringSubmatch(msg, -1)
	if len(m) == 0 {
		return ""
	}
	return causes[m[len(m)-1][1]]
}
