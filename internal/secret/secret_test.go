package secret

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDSNNeverPrintsPassword(t *testing.T) {
	for _, in := range []string{
		"postgres://migrator:s3cr%40t@db.example:5432/star2?sslmode=verify-full",
		"oracle://reader:s3cr@t@star1:1521/STAR1",
		"host=db user=migrator password=s3cr@t dbname=star2",
		"oracle://reader:s3cr%zz@star1:1521/STAR1", // not a valid URL
		"postgres://db.example/star2?user=migrator&password=s3cr@t&sslmode=require",
		"postgres:///star2?host=/run/pg&PASSWORD=s3cr%40t",
		"postgres://u@db/star2?sslmode=verify-full&sslpassword=s3cr@t",
		"oracle://reader@star1:2484/STAR1?SSL=enable&WALLET=/etc/wallet&WALLET%20PASSWORD=s3cr%40t",
		"oracle://reader@star1:1521/STAR1?AUTH+TYPE=OS&OS+USER=migr&os+pass=s3cr%40t",
		"oracle://reader@star1:1521/STAR1?AUTH%20TYPE=OS&OS%20HASH=s3cr0123",
		"oracle://reader@star1:1521/STAR1?OS%20PASSHASH=s3cr0123&PREFETCH_ROWS=5000",
		"postgres://u:x%zz@db/star2?password=s3cr@t", // not a valid URL
		"host=db user=migrator password='s3cr et with spaces' dbname=star2",
		"host=db password = s3cr@t dbname=star2",
		`host=db password='s3cr\' et' dbname=star2`,
		`host=db password=s3cr\ et dbname=star2`,
		"host=db password='s3cr et",             // no closing quote
		"host=db user migrator password=s3cr@t", // not keyword/value from user on
		"reader/s3cr@t@star1:1521/STAR1",        // Oracle's user/password@host
		"reader/s3cr@t@star1",
		"postgres://u:12/s3cr@db:5432/star2",        // a port 12 and a path, as parsed
		"oracle://reader:s3cr/t#1@star1:1521/STAR1", // not a valid URL
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
	for _, in := range []string{
		"postgres://u@h/db",
		"postgres://u@h/db?sslmode=require&application_name=starmig",
		"postgres://u@h/db?passfile=/home/u/.pgpass",
		"oracle://reader@star1:2484/STAR1?SSL=enable&WALLET=/etc/wallet&PREFETCH_ROWS=5000",
		"host=db user=migrator dbname='star 2' sslmode=require",
		"star1.db",
		"sqlite:/tmp/star1@2026.db",
		"star1-archive/prod",
	} {
		if got := DSN(in).String(); got != in {
			t.Errorf("no password: %q printed as %q", in, got)
		}
	}
	if got, want := DSN("reader/s3cr@t@star1:1521/STAR1").String(), "reader/"+Redacted+"@star1:1521/STAR1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := DSN("host=db password='a b' port=5432").String(), "host=db password="+Redacted+" port=5432"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestConfigErrorSaysWhatIsWrongOnce(t *testing.T) {
	for dsn, want := range map[string]string{
		"nope":                            "want a PostgreSQL URL, postgres://user:password@host:port/db, or key=value settings",
		"host=x password=s3cret port=abc": "invalid port",
		"postgres://u:s3cret@h:99999/x":   "invalid port",
		"postgres://u:s3`cr`et@h:abc/x":   "invalid port",
	} {
		_, err := pgx.ParseConfig(dsn)
		if err == nil {
			t.Fatalf("%s: parsed", dsn)
		}
		if got := ConfigError(err, dsn).Error(); got != want {
			t.Errorf("%s: %q, want %q", dsn, got, want)
		}
	}
}

// TestCheckPasswordNamesWhatToEncode: a password written with a character
// that a URL reads otherwise is refused, without a piece of it in the
// error; parsers would take a piece for the host or the port and quote
// it. The same password percent-encoded passes. An @ later in the URL
// is taken for the end of a user part too, and is to be encoded.
func TestCheckPasswordNamesWhatToEncode(t *testing.T) {
	for _, raw := range []string{
		"postgres://migrator:pa/s3cr@db:5432/star2",
		"postgres://migrator:12/s3cr@db:5432/star2",
		"postgres://migrator:pa#s3cr@db:5432/star2",
		"postgres://migrator:pa?s3cr@db:5432/star2",
		"postgres://migrator:p@s3cr@db:5432/star2",
		"postgres://migrator:50%s3cr@db:5432/star2",
		"oracle://reader:pa#s3cr@star1:1521/STAR1",
		"oracle://reader:pa/s3cr@star1:1521/STAR1",
		"postgres://migrator:pa\"s3cr@db:5432/star2",
		"postgres://migrator:õs3cr@db:5432/star2",
		// An @ after the host is read as the end of a user part too:
		// ?user=migrator%40server is what works.
		"postgres://db.example:5432/s3cr?user=migrator@server",
	} {
		err := CheckPassword(raw)
		var dsnErr *DSNError
		if !errors.As(err, &dsnErr) || !strings.Contains(err.Error(), "write it percent-encoded, @ as %40") {
			t.Errorf("%s: %v, want a DSNError saying how to encode", raw, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr") || strings.Contains(err.Error(), ":pa") || strings.Contains(err.Error(), ":12/") {
			t.Errorf("%s: the error quotes the password: %v", raw, err)
		}
	}
	for _, raw := range []string{
		"postgres://migrator:pa%2Fs3cr%23%40@db:5432/star2",
		"postgres://migrator:s3cr@db:5432/star2",
		"postgres://db.example:5432/star2?user=migrator%40server",
		"postgres://db/star2",
		"host=db password=pa/s3cr#",
		"oracle://reader:s3cr%25@star1:1521/STAR1",
	} {
		if err := CheckPassword(raw); err != nil {
			t.Errorf("%s: %v, want it to pass", raw, err)
		}
	}
}
