package secret

import (
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// FuzzPasswordInAURL: for any password written into a URL as it is, the
// URL either passes CheckPassword and parses to that password (decoded)
// with the host it was written with, or is refused; either way neither
// the masked URL nor the error holds the password.
func FuzzPasswordInAURL(f *testing.F) {
	for _, p := range []string{"s3cret", "pa/ss", "pa#ss", "12/ss", "p@ss", "50%off", "p%40ss", "a:b:c", "pa?ss", "x%2"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if len(p) < 4 || strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) ||
			strings.Contains("postgres://migrator:@db.example:5432/star2", p) {
			return
		}
		raw := "postgres://migrator:" + p + "@db.example:5432/star2"
		err := CheckPassword(raw)
		texts := []string{RedactURL(raw), DSN(raw).String()}
		if err != nil {
			texts = append(texts, err.Error())
		} else {
			u, perr := url.Parse(raw)
			if perr != nil {
				t.Fatalf("%q passed CheckPassword but does not parse: %v", p, perr)
			}
			got, _ := u.User.Password()
			want, uerr := url.PathUnescape(p)
			if uerr != nil || got != want || u.Host != "db.example:5432" {
				t.Fatalf("%q passed CheckPassword but parses to password %q, host %q", p, got, u.Host)
			}
		}
		for _, s := range texts {
			if strings.Contains(s, p) {
				t.Fatalf("password %q printed in %q", p, s)
			}
		}
	})
}

// FuzzKeywordPasswordNeverPrinted: whatever password pgx takes from a
// keyword/value connection string, the string masked does not hold it.
func FuzzKeywordPasswordNeverPrinted(f *testing.F) {
	for _, s := range []string{
		"host=db password=s3cret dbname=d", `password='s3 cr\'et' port=5432`, `password=s3\ cr\\et`,
		"host=db password = Šalja1 dbname=d", "password=s3cret hunter2", `password=s3cret\`, "password\t=\n's3cret'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		// Nothing the string names is read from the disk, and the user
		// is given: pgx would look the OS user up each time.
		for _, key := range []string{"service", "passfile", "ssl", "target_session_attrs", "://"} {
			if strings.Contains(dsn, key) {
				return
			}
		}
		dsn = "user=u " + dsn
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil || len(cfg.Password) < 4 || strings.Count(dsn, cfg.Password) != 1 || strings.Contains(Redacted, cfg.Password) {
			return // none, or written elsewhere too, or escaped
		}
		if out := RedactURL(dsn); strings.Contains(out, cfg.Password) {
			t.Fatalf("password %q printed in %q", cfg.Password, out)
		}
	})
}
