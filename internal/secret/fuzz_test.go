package secret

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
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
