package extract

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestExplainOracleErrors: an Oracle error of STAR1 whose words do not
// say what to do gets a sentence that does, found by its first ORA- code
// as go-ora words it; others get nothing.
func TestExplainOracleErrors(t *testing.T) {
	for msg, want := range map[string]string{
		`extract: read MAKSE: ORA-01555: snapshot too old: rollback segment number 9 with name "_SYSSMU9_1650155850$" too small error occur at position: 0`:             "raise UNDO_RETENTION",
		"extract: read ISIK: ORA-01466: unable to read data - table definition has changed error occur at position: 0":                                                  "Run the same batch again",
		"extract: connect to oracle://reader:**redacted**@star1:1521/STAR1: ORA-01017: invalid username/password; logon denied":                                         "percent-encoded",
		"extract: connect to oracle://reader:**redacted**@star1:1521/STAR1: ORA-28000: The account is locked.":                                                          "ACCOUNT UNLOCK",
		"extract: connect to oracle://reader:**redacted**@star1:1521/STAR1: ORA-28001: the password has expired":                                                        "PASSWORD_LIFE_TIME",
		"extract: connect to oracle://reader:**redacted**@star1:1521/STAR2: ORA-12514: TNS:listener does not currently know of service requested in connect descriptor": "lsnrctl services",
		"extract: connect to oracle://reader:**redacted**@star1:1521?SID=STAR: ORA-12505: TNS:listener does not currently know of SID given in connect descriptor":      "lsnrctl status",
		"extract: STAR1 in oracle://…: MAKSE: ORA-00942: table or view does not exist error occur at position: 14":                                                      "SELECT on every table",
		"extract: read-only transaction: ORA-01031: insufficient privileges":                                                                                            "FLASHBACK",
		"extract: read ISIK: ORA-00028: your session has been killed":                                                                                                   "run the same command again",
		"extract: read ISIK: ORA-03113: end-of-file on communication channel\nORA-06512: at line 1":                                                                     "alert log",
		"extract: read ISIK: ORA-06512: at line 1":                                 "",
		"extract: read ISIK: dial tcp 127.0.0.1:1521: connect: connection refused": "",
		"load: ERROR: value of ORA-01555 in a text (SQLSTATE 23514)":               "", // PostgreSQL's, quoting STAR1's text
	} {
		got := Explain(msg)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("Explain(%q) = %q, want it to say %q", msg, got, want)
		}
	}
}

// TestOracleRefusalsAreExplained: against a real Oracle
// (STARMIG_TEST_ORACLE_DSN), a wrong password and a service the listener
// does not know are refused in words Explain has a sentence for.
func TestOracleRefusalsAreExplained(t *testing.T) {
	dsn := os.Getenv(envOracle)
	if dsn == "" {
		t.Skip(envOracle + " names no Oracle")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	wrongPassword, wrongService := *u, *u
	wrongPassword.User = url.UserPassword(u.User.Username(), "not-the-password-1")
	wrongService.Path = "/NO_SUCH_SERVICE_OF_STARMIG"
	for name, c := range map[string]struct{ url, code string }{
		"a wrong password":   {wrongPassword.String(), "ORA-01017"},
		"an unknown service": {wrongService.String(), "ORA-12514"},
	} {
		_, err := Open(context.Background(), c.url)
		if err == nil || !strings.Contains(err.Error(), c.code) || Explain(err.Error()) == "" {
			t.Errorf("%s: %v; want %s, which Explain has a sentence for", name, err, c.code)
		}
	}
}
