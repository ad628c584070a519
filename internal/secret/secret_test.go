package secret

import (
	"fmt"
	"strings"
	"testing"
)

func TestDSNNeverPrintsPassword(t *testing.T) {
	for _, in := range []string{
		"postgres://migrator:s3cr%40t@db.example:5432/star2?sslmode=verify-full",
		"oracle://reader:s3cr@t@star1:1521/STAR1",
		"host=db user=migrator password=s3cr@t dbname=star2",
		"oracle://reader:s3cr%zz@star1:1521/STAR1", // not a valid URL
	} {
		d := DSN(in)
		for _, out := range []string{d.String(), fmt.Sprint(d), fmt.Sprintf("%v", d), d.LogValue().String()} {
			if strings.Contains(out, "s3cr") {
				t.Errorf("%q printed as %q", in, out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("%q printed as %q, want %s in it", in, out, Redacted)
			}
		}
		if d.Reveal() != in {
			t.Errorf("Reveal changed the DSN")
		}
	}
	if got := DSN("postgres://u@h/db").String(); got != "postgres://u@h/db" {
		t.Errorf("no password: %q", got)
	}
}
