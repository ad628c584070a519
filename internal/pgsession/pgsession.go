// Package pgsession is what every PostgreSQL session starmig opens asks
// of the server, STAR2's and a restored STAR1's alike, so that a run
// killed, or on a machine that went down, does not leave its sessions
// holding locks and snapshots.
package pgsession

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
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
// STAR1 takes minutes at a million persons), its transactions stay open
// while it reads STAR1 between statements, and it waits for another
// batch's run to end (--wait): with a statement_timeout, an
// idle_in_transaction_session_timeout or a lock_timeout of seconds, every
// batch would stop at the same point each time it was run.
var NoTimeouts = map[string]string{"statement_timeout": "0", "idle_in_transaction_session_timeout": "0", "lock_timeout": "0"}

// newerSettings are set where the server knows them, which older ones do
// not: the client check, by which the server cancels the statement of a
// run killed in the middle of it instead of letting it run on, holding its
// locks, for the minutes an outcome rule takes at a million persons
// (PostgreSQL 14); idle_session_timeout (14), which ends a session idle
// between statements, as the one holding a batch's run lock is while the
// others load; and transaction_timeout (17), as long as a batch's
// transaction lasts. The URL's own value of one is set where it gives one,
// and, like the others, only on a server that knows the setting.
var newerSettings = [][2]string{
	{"client_connection_check_interval", "1s"}, {"idle_session_timeout", "0"}, {"transaction_timeout", "0"},
}

// Configure sets up what a session asks of the server once it is open:
// the keepalives, the settings given, NoTimeouts and newerSettings, but
// for a timeout the URL sets (?statement_timeout=10min is the user's
// choice), which is set to the URL's value instead. application_name,
// where the URL names none, is the one that goes with the startup
// parameters.
//
// The others are SET before anything else is sent, not given at startup:
// a pooler in front of PostgreSQL, PgBouncer, closes a session whose
// startup parameters name a setting it does not track ("unsupported
// startup parameter: statement_timeout"), and passes a SET through; and an
// older server refuses a session whose startup parameters name a setting
// it does not know. A SET of statement_timeout runs under the timeout it
// replaces, which takes milliseconds: a server's timeouts for interactive
// users are seconds. It is all one query, one round trip.
func Configure(cfg *pgconn.Config, settings map[string]string) {
	set := make(map[string]string, len(Keepalives)+len(NoTimeouts)+len(settings))
	for k, v := range Keepalives {
		set[k] = v
	}
	// A timeout the URL gives goes with the SETs too, with its value:
	// PgBouncer would refuse it at startup.
	for k, v := range NoTimeouts {
		if given, ok := cfg.RuntimeParams[k]; ok {
			v = given
			delete(cfg.RuntimeParams, k)
		}
		set[k] = v
	}
	for k, v := range settings {
		set[k] = v
	}
	var sql strings.Builder
	for _, k := range slices.Sorted(maps.Keys(set)) {
		fmt.Fprintf(&sql, "SET %s = %s;", k, literal(set[k]))
	}
	var newer []string
	for _, kv := range newerSettings {
		v := kv[1]
		if given, ok := cfg.RuntimeParams[kv[0]]; ok {
			v = given
			delete(cfg.RuntimeParams, kv[0])
		}
		newer = append(newer, "("+literal(kv[0])+", "+literal(v)+")")
	}
	fmt.Fprintf(&sql, "SELECT set_config(name, value, false) FROM (VALUES %s) v(name, value) WHERE current_setting(name, true) IS NOT NULL", strings.Join(newer, ", "))
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = Application
	}
	before := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgconn.PgConn) error {
		if before != nil {
			if err := before(ctx, conn); err != nil {
				return err
			}
		}
		if err := checkUTF8(ctx, conn); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, sql.String()).ReadAll(); err != nil {
			return fmt.Errorf("session settings: %w", err)
		}
		return nil
	}
}

// checkUTF8 refuses a database whose text is not in UTF-8. starmig writes
// text by binary COPY, which PostgreSQL stores as sent, without converting
// it to the database's encoding: in a LATIN9 database "Jõe tn" would be
// stored as its UTF-8 bytes, which a social worker's application, reading
// through the server's conversion, would see as "JÃµe tn", and text no
// other encoding holds (Cyrillic) would be taken in garbled instead of
// refused.
func checkUTF8(ctx context.Context, conn *pgconn.PgConn) error {
	enc := conn.ParameterStatus("server_encoding")
	if enc == "" { // a pooler that does not pass it on
		res, err := conn.Exec(ctx, "SHOW server_encoding").ReadAll()
		if err != nil {
			return fmt.Errorf("session settings: %w", err)
		}
		if len(res) == 1 && len(res[0].Rows) == 1 {
			enc = string(res[0].Rows[0][0])
		}
	}
	if enc != "UTF8" {
		return fmt.Errorf("the database holds its text in %s, not UTF8: starmig writes text as UTF-8 by binary COPY, which PostgreSQL stores without converting it, "+
			"so anyone reading it through the server would see it garbled (\"Jõe\" as \"JÃµe\"); give a database made WITH ENCODING 'UTF8'", enc)
	}
	return nil
}

// literal quotes s as an SQL string.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
// the server's disk is full, it takes no more sessions, the URL names a
// server or a role that takes no writes, or the role's password is wrong
// or missing.
var causes = map[string]string{
	"53100": "The PostgreSQL server has no room left on its disk (SQLSTATE 53100, disk_full). Free room there, or give it more, then run the same command again.",
	"53300": "The PostgreSQL server takes no more sessions (SQLSTATE 53300, too_many_connections): its max_connections, or a CONNECTION LIMIT of the role or the database, is reached. End sessions that are not needed, or raise the limit; migrate opens fewer with a lower --writers.",
	"53400": "The PostgreSQL server refused a query over a limit it is configured with (SQLSTATE 53400, configuration_limit_exceeded), usually temp_file_limit: a batch's queries sort and join whole tables and may need temporary files as large as them. Raise temp_file_limit for the migration's role (ALTER ROLE … SET temp_file_limit = '20GB', or -1 for none), then run the same command again.",
	"28P01": "The PostgreSQL server refused the role's password (SQLSTATE 28P01, invalid_password), or the role was given none. starmig takes it as psql does: from the URL (postgres://role:…@host/db), else from $PGPASSWORD, else from the password file, $PGPASSFILE or ~/.pgpass (%APPDATA%\\postgresql\\pgpass.conf on Windows), whose line host:port:database:role:password keeps it out of the command line and the environment.",
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
	if strings.Contains(msg, "failed to connect to `user=") {
		for _, c := range tlsCauses {
			if strings.Contains(msg, c.words) && (c.also == "" || strings.Contains(msg, c.also)) {
				return c.what
			}
		}
		if CutOff(msg) {
			return closedAtStart
		}
		// The server words its refusal in the language of its
		// lc_messages, and its severity too: "ВАЖНО:" for "FATAL:".
		if len(m) > 0 && m[len(m)-1][1] == "28000" && !strings.Contains(msg, "FATAL: ") {
			return refusedRole
		}
	}
	if len(m) == 0 {
		return ""
	}
	return causes[m[len(m)-1][1]]
}

// CutOff says whether the first line of msg, an error's text (the
// cause), ends where a connection was cut without a word from the server
// at its other end: PostgreSQL killed or restarted, a failover, a network
// that dropped the connection. (A server that ends a session says why,
// with a SQLSTATE; one that dies does not, and the socket's words are all
// there is. So it is, too, when the server's message in another language
// than English is lost in the connection's reset.) The text is read, not
// the error's chain: an error of a connection is worded again without its
// password. It holds for a connection to the storage as well.
func CutOff(msg string) bool {
	msg, _, _ = strings.Cut(msg, "\n")
	for _, end := range []string{"connection reset by peer", "broken pipe", "unexpected EOF", "use of closed network connection", "conn closed"} {
		if strings.HasSuffix(msg, end) {
			return true
		}
	}
	return false
}

// refusedRole is what to do about a server's refusal of the role
// (SQLSTATE 28000) in words other than English, which starmig does not
// read: each of the refusals of tlsCauses that the server gives.
const refusedRole = "The PostgreSQL server refused the role (SQLSTATE 28000), in its own words above. Where its pg_hba.conf takes the role only over TLS, leave sslmode=disable out of the URL, or give sslmode=verify-full with sslrootcert=/path/to/ca.pem; where only by a client certificate, give it and its key in the URL, sslcert=/path/to/client.pem&sslkey=/path/to/client.key, the certificate's name (CN) being the role's."

// closedAtStart is what a connection cut as the session began means. A
// server that refuses the client's certificate under TLS 1.3 does so
// after the client has finished its side of the handshake; the client's
// next write then meets a closed socket as often as the server's alert.
const closedAtStart = "The PostgreSQL server closed the connection as the session began, without a word. Where it checks client certificates, it refused the one given (sslcert, else ~/.postgresql/postgresql.crt): signed by a CA it does not trust, or expired; its log says which (\"could not accept SSL connection: …\"). Else the server was stopped or restarted at that moment: run the same command again once it answers."

const wrongName = "The PostgreSQL server's certificate is for other names than the URL's host: give the host by a name the certificate is for."

// tlsCauses are the failures of a session over TLS, by the words pgx or
// the server gives them, and what to put in the URL: a STAR2 in
// production may take the migration's role only over TLS, with a
// certificate of the site's own CA, and by a client certificate.
var tlsCauses = []struct{ words, also, what string }{
	{"certificate signed by unknown authority", "",
		"The PostgreSQL server's certificate is signed by a CA this machine does not trust: give that CA's certificate (PEM) in the URL, sslrootcert=/path/to/ca.pem, with sslmode=verify-full."},
	{"x509: certificate is valid for", "", wrongName},
	{"x509: certificate is not valid for any names", "", wrongName},
	{"connection requires a valid client certificate", "",
		"The PostgreSQL server lets this role in by a client certificate: give the certificate and its key in the URL, sslcert=/path/to/client.pem&sslkey=/path/to/client.key (the certificate's name is the role's)."},
	{"certificate authentication failed for user", "",
		"The PostgreSQL server took the client certificate for another role than the URL's: the certificate's name (CN) must be the role's, or the server's pg_ident.conf map it to that role."},
	{"x509: certificate has expired or is not yet valid", "",
		"The PostgreSQL server's certificate has expired, or is not valid yet by this machine's clock: its administrators must renew it, or the clock be set right. starmig does not go on with a certificate it cannot check."},
	{"remote error: tls: expired certificate", "",
		"The PostgreSQL server refused the client certificate (sslcert) as expired, or not valid yet by its clock: ask the site's CA for a new one for this role, and give it and its key (sslcert=, sslkey=)."},
	{"remote error: tls: unknown certificate authority", "",
		"The PostgreSQL server does not trust the CA that signed the client certificate (sslcert): give a certificate signed by a CA of the server's ssl_ca_file, or have the server's administrators add that CA there."},
	{"no pg_hba.conf entry", "no encryption",
		"The PostgreSQL server takes this role only over TLS: leave sslmode=disable out of the URL, or give sslmode=verify-full with sslrootcert=/path/to/ca.pem."},
}
