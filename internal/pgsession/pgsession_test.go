package pgsession

import (
	"maps"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestConfigureStartsWithTheNameOnly: an application_name the URL gives
// is kept, otherwise the session is starmig's; it is the only startup
// parameter Configure adds, since a pooler refuses a session whose startup
// parameters name settings it does not track. A timeout the URL gives
// moves to the SETs for that reason; any other setting stays.
func TestConfigureStartsWithTheNameOnly(t *testing.T) {
	for url, want := range map[string]map[string]string{
		"postgres://u@h/db": {"application_name": Application},
		"postgres://u@h/db?application_name=crisis&statement_timeout=600000&search_path=x": {"application_name": "crisis", "search_path": "x"},
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
		"batch: plan of ISIK: ERROR: temporary file size exceeds temp_file_limit (0kB) (SQLSTATE 53400)":                                   "Raise temp_file_limit",
		"schema: lock: ERROR: prepared statement \"stmtcache_a06e\" already exists (SQLSTATE 42P05)":                                       "a pool in session mode",
		"load: ERROR: permission denied for table person (SQLSTATE 42501)":                                                                 "",
		"extract: STAR1 stand-in x.db does not exist":                                                                                      "",
		"connect to postgres://u@h/db?sslmode=verify-full: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): failed to write startup message: write failed: tls: failed to verify certificate: x509: certificate signed by unknown authority":   "sslrootcert=",
		"connect to postgres://u@localhost/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (localhost): tls: failed to verify certificate: x509: certificate is valid for 127.0.0.1, not localhost":                                            "by a name the certificate is for",
		"connect to postgres://u@localhost/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (localhost): tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match localhost":                        "by a name the certificate is for",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): server error: FATAL: connection requires a valid client certificate (SQLSTATE 28000)":                                                                  "sslcert=",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): server error: FATAL: no pg_hba.conf entry for host \"127.0.0.1\", user \"u\", database \"db\", no encryption (SQLSTATE 28000)":                         "only over TLS",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): server error: FATAL: no pg_hba.conf entry for host \"127.0.0.1\", user \"u\", database \"db\", SSL encryption (SQLSTATE 28000)":                        "",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-11-25T10:00:00Z is after 2026-11-24T10:00:00Z": "certificate has expired, or is not valid yet by this machine's clock",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): failed to receive message: remote error: tls: expired certificate":                                                                                     "ask the site's CA for a new one",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): failed to receive message: remote error: tls: unknown certificate authority":                                                                           "does not trust the CA that signed the client certificate",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): failed to write startup message: write failed: write tcp 127.0.0.1:1->127.0.0.1:5432: write: connection reset by peer":                                 "closed the connection as the session began",
		"load: copy payment: write tcp 127.0.0.1:1->127.0.0.1:2: write: connection reset by peer":                                                                                                                                                            "",
		// A server whose lc_messages is Russian.
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): server error: ВАЖНО: в pg_hba.conf нет записи для компьютера \"127.0.0.1\", пользователя \"u\", базы \"db\", без шифрования (SQLSTATE 28000)": "leave sslmode=disable out",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): server error: ВАЖНО: для подключения требуется годный сертификат клиента (SQLSTATE 28000)":                                                    "sslcert=",
		"connect to postgres://u@h/db: failed to connect to `user=u database=db`: 127.0.0.1:5432 (h): server error: ВАЖНО: слишком много подключений для роли \"u\" (SQLSTATE 53300)":                                                               "takes no more sessions",
		"load: ОШИБКА: нет доступа к таблице person (SQLSTATE 42501)":                                                                                                                                                    "",
		"connect to service=star2: failed to connect to `user=m database=star2`:\n  127.0.0.1:5432 (127.0.0.1): failed SASL auth: FATAL: password authentication failed for user \"m\" (SQLSTATE 28P01)":                 "from $PGPASSWORD, else from the password file",
		"connect to service=star2: failed to connect to `user=m database=star2`:\n  127.0.0.1:5432 (127.0.0.1): failed SASL auth: ВАЖНО: пользователь \"m\" не прошёл проверку подлинности (по паролю) (SQLSTATE 28P01)": "refused the role's password",
	} {
		got := Explain(msg)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("Explain(%q) = %q, want it to say %q", msg, got, want)
		}
	}
}

// TestCutOffIsTold: the words a socket leaves when a connection is cut
// with no word from the server, at the end of the cause's line, as pgx
// and the storage's client give them; not a server's own refusal.
func TestCutOffIsTold(t *testing.T) {
	for msg, want := range map[string]bool{
		"load: copy case_plan: unexpected EOF":                                                                   true,
		"load: bookkeeping: read tcp 127.0.0.1:49306->127.0.0.1:40321: read: connection reset by peer":           true,
		"load: copy payment: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe\nRun 1 stopped; anything it": true,
		"reconcile: conn closed": true,
		"load: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)":  false,
		"archive: put a: unexpected EOF in the middle of the manifest, which is damaged":     false,
		"failed to connect to `user=starmig database=star2`: dial error: connection refused": false,
	} {
		if CutOff(msg) != want {
			t.Errorf("CutOff(%q) = %v, want %v", msg, !want, want)
		}
	}
}
