package pgsession

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// TestConnSettings: the settings of a connection string are read as pgx
// reads them, in both forms.
func TestConnSettings(t *testing.T) {
	for _, c := range []struct {
		dsn  string
		want map[string]string
	}{
		{"service=star2", map[string]string{"service": "star2"}},
		{"  host=db   service = star2 ", map[string]string{"host": "db", "service": "star2"}},
		{`service='star 2' servicefile='/a b/it\'s.conf' user=m`, map[string]string{"service": "star 2", "servicefile": "/a b/it's.conf", "user": "m"}},
		{`servicefile=/a\ b/c\\d service=s`, map[string]string{"servicefile": `/a b/c\d`, "service": "s"}},
		{"service=", map[string]string{"service": ""}},
		{"host=db oops service=s", map[string]string{"host": "db"}}, // stops where the grammar does
		{"", map[string]string{}},
		{"dbname=Šalja service=s", map[string]string{"dbname": "Šalja", "service": "s"}},
		{"postgres:///?service=star2", map[string]string{"service": "star2"}},
		{"postgresql://u:p@db/x?sslmode=disable&servicefile=%2Fa%20b&service=s", map[string]string{"sslmode": "disable", "servicefile": "/a b", "service": "s"}},
		{"postgres://db/x", map[string]string{}},
		{"postgres://u@db/x?application_name=a+b&application_name=c", map[string]string{"application_name": "c"}}, // the last, + a +
		{"postgres://u@db/x?servicefile=%2Fa%20b+c&bad", map[string]string{"servicefile": "/a b+c"}},
	} {
		got := connSettings(c.dsn)
		if len(got) != len(c.want) {
			t.Errorf("connSettings(%q) = %q, want %q", c.dsn, got, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("connSettings(%q)[%s] = %q, want %q", c.dsn, k, got[k], v)
			}
		}
	}
}

// TestWithSetting: a setting added to a connection string replaces the
// one it gives, and reads back as it was written, in both forms, the
// other settings as they were.
func TestWithSetting(t *testing.T) {
	for _, dsn := range []string{
		"service=s", "service=s servicefile=/old", "", "service=s dbname=", "dbname= service=s", "postgres://", "postgres:///?service=s",
		"postgres://u:p%40ss@db:5433/x?servicefile=%2Fold&service=s", "postgresql://db/x?sslmode=disable",
	} {
		for _, path := range []string{"/etc/postgresql-common/pg_service.conf", `C:\Program Files\it's\pg_service.conf`, "/a b&c=d?e"} {
			got := withSetting(dsn, "servicefile", path)
			if v := connSettings(got)["servicefile"]; v != path {
				t.Errorf("withSetting(%q) = %q: servicefile reads back as %q, want %q", dsn, got, v, path)
			}
			if isURL(dsn) != isURL(got) || isURL(dsn) && !strings.HasPrefix(got, strings.SplitN(dsn, "?", 2)[0]) {
				t.Errorf("withSetting(%q) = %q: want the same connection string with servicefile", dsn, got)
			}
			want, have := connSettings(dsn), connSettings(got)
			want["servicefile"] = path
			if !maps.Equal(want, have) {
				t.Errorf("withSetting(%q) = %q: settings %q, want %q", dsn, got, have, want)
			}
		}
	}
}

// TestParseConfigFindsTheServiceAsLibpq: a service is taken from the
// user's service file, else from the system's; a file named that is not
// there, a file that is not a service file, and a service defined
// nowhere are errors that name the files.
func TestParseConfigFindsTheServiceAsLibpq(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	sys := filepath.Join(dir, "sys")
	for _, d := range []string{home, sys} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	userFile := filepath.Join(home, ".pg_service.conf")
	sysFile := filepath.Join(sys, "pg_service.conf")
	write(sysFile, "[star2]\nhost=sys.example\nport=5433\ndbname=star2\nuser=m\n[both]\nhost=sys.example\n")
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home) // the home of os.UserHomeDir on Windows
	t.Setenv("APPDATA", "")
	t.Setenv("PGSERVICEFILE", "")
	t.Setenv("PGSERVICE", "")
	t.Setenv("PGSYSCONFDIR", sys)

	host := func(dsn string) string {
		t.Helper()
		cfg, err := ParseConfig(dsn)
		if err != nil {
			t.Errorf("ParseConfig(%q): %v", dsn, err)
			return ""
		}
		return cfg.Host
	}
	// No user's file: the system's.
	for _, dsn := range []string{"service=star2", "postgres:///?service=star2", "postgres://"} {
		if dsn == "postgres://" {
			t.Setenv("PGSERVICE", "star2")
		}
		if got := host(dsn); got != "sys.example" {
			t.Errorf("%s without a user's file: host %q, want the system file's", dsn, got)
		}
	}
	t.Setenv("PGSERVICE", "")
	if cfg, err := ParseConfig("service=star2 port=6000"); err != nil || cfg.Port != 6000 || cfg.Database != "star2" {
		t.Errorf("the connection string's settings over the service's: %v %v", cfg, err)
	}
	// A user's file that defines the service is read, one that does not
	// is passed over.
	write(userFile, "[both]\nhost=user.example\n")
	if got := host("service=both"); got != "user.example" {
		t.Errorf("service both: host %q, want the user's file's", got)
	}
	if got := host("service=star2"); got != "sys.example" {
		t.Errorf("service star2, not in the user's file: host %q, want the system file's", got)
	}

	for _, c := range []struct{ name, dsn, userFile, env, want string }{
		{"defined nowhere", "service=nowhere", "", "",
			`service "nowhere" is defined neither in the user's service file, ` + userFile + ", nor in the system's, " + sysFile},
		{"not a service file", "service=star2", "host=x\n", "",
			"service file " + userFile + ": line 1 is not in a section"},
		{"named by the variable, not there", "service=star2", "", filepath.Join(dir, "no.conf"),
			"service file " + filepath.Join(dir, "no.conf") + ", which $PGSERVICEFILE names, is not there"},
		{"named by the connection string, not there", "service=star2 servicefile=" + filepath.Join(dir, "no.conf"), "", "",
			"service file " + filepath.Join(dir, "no.conf") + ", which the connection string's servicefile names, is not there"},
	} {
		_ = os.Remove(userFile)
		if c.userFile != "" {
			write(userFile, c.userFile)
		}
		t.Setenv("PGSERVICEFILE", c.env)
		_, err := ParseConfig(c.dsn)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// FuzzConnSettingsReadAsPgx: whatever a keyword/value connection string
// that pgx reads holds, connSettings reads the settings pgx shows (the
// user, the database, the application's name) as pgx does, and a setting
// that withSetting adds reads back as it was given.
func FuzzConnSettingsReadAsPgx(f *testing.F) {
	for _, s := range []string{
		"user=m dbname=star2", `application_name='a b\' c' user = m`, `dbname=x\ y`, "user='' dbname=d",
		"host=db user=m application_name=x\tdbname=y", `user='m\\n'`, "dbname='unclosed",
		"dbname=Šalja user=Ņina", `user=m\a dbname=x\`,
	} {
		f.Add(s, "/etc/postgresql-common/pg_service.conf", false)
	}
	for _, q := range []string{"application_name=my%20app", "application_name=a+b&application_name=c", "dbname=x&user=m", " application_name = a "} {
		f.Add(q, `C:\Program Files\PostgreSQL\15\etc\pg_service.conf`, true)
	}
	f.Fuzz(func(t *testing.T, dsn, value string, asURL bool) {
		if strings.ContainsAny(dsn+value, "\x00") || !utf8.ValidString(dsn+value) {
			return
		}
		// Nothing the string names is read from the disk: pgx would read
		// a service file, a password file or certificates.
		for _, key := range []string{"service", "passfile", "sslcert", "sslkey", "sslrootcert", "sslpassword", "sslmode", "target_session_attrs", "host", "port", "hostaddr", "ssl"} {
			if strings.Contains(dsn, key) {
				return
			}
		}
		// A user given first: without one pgx looks the OS user up, each
		// time. As a URL, the string is the query.
		if asURL {
			dsn = "postgres://u@db/d?" + dsn
		} else if dsn = "user=u " + dsn; isURL(dsn) {
			return
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return // not settings pgx reads
		}
		settings := connSettings(dsn)
		for key, got := range map[string]string{"user": cfg.User, "dbname": cfg.Database, "application_name": cfg.RuntimeParams["application_name"]} {
			if v := settings[key]; v != "" && v != got { // pgx takes an empty value for none
				t.Fatalf("connSettings(%q)[%s] = %q; pgx reads %q", dsn, key, v, got)
			}
		}
		added := withSetting(dsn, "servicefile", value)
		if got := connSettings(added)["servicefile"]; got != value {
			t.Fatalf("withSetting(%q, servicefile, %q) = %q, which reads back %q", dsn, value, added, got)
		}
		// Nothing else is lost or changed on the way.
		after, err := pgx.ParseConfig(added) // a servicefile without a service is not read
		if err != nil || after.User != cfg.User || after.Database != cfg.Database || after.RuntimeParams["application_name"] != cfg.RuntimeParams["application_name"] {
			t.Fatalf("withSetting(%q, servicefile, %q) = %q, which pgx reads otherwise: %v", dsn, value, added, err)
		}
		// A setting pgx shows is read by pgx as it was given.
		added = withSetting(dsn, "application_name", value)
		if after, err := pgx.ParseConfig(added); err != nil || after.RuntimeParams["application_name"] != value && value != "" {
			t.Fatalf("withSetting(%q, application_name, %q) = %q, which pgx reads as %q: %v", dsn, value, added, after.RuntimeParams["application_name"], err)
		}
	})
}

// TestParseConfigRefusesAPasswordFileOthersMayRead: a password that would
// come from a password file others than its owner may read or write is
// refused, naming the file and what to do, as psql passes such a file
// over; from a file of mode 0600, or given otherwise, it is taken.
func TestParseConfigRefusesAPasswordFileOthersMayRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("libpq checks no permissions on Windows")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"HOME": home, "PGPASSFILE": "", "PGPASSWORD": "", "PGSERVICE": "", "PGSERVICEFILE": "", "PGSYSCONFDIR": dir} {
		t.Setenv(k, v)
	}
	const secret = "s3cret-of-the-file"
	write := func(path, text string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	inHome := filepath.Join(home, ".pgpass")
	named := filepath.Join(dir, "named pgpass")
	write(filepath.Join(home, ".pg_service.conf"), "[star2]\nhost=db.example\nuser=m\npassfile="+named+"\n", 0o600)

	for _, c := range []struct {
		name, dsn, env, file string
		mode                 os.FileMode
		refused              bool
	}{
		{"~/.pgpass, 0600", "host=db.example user=m", "", inHome, 0o600, false},
		{"~/.pgpass, 0644", "host=db.example user=m", "", inHome, 0o644, true},
		{"~/.pgpass, 0640", "postgres://m@db.example/star2", "", inHome, 0o640, true},
		{"~/.pgpass, 0602", "host=db.example user=m", "", inHome, 0o602, true},
		{"$PGPASSFILE, 0644", "host=db.example user=m", named, named, 0o644, true},
		{"the connection string's, 0660", "host=db.example user=m passfile='" + named + "'", "", named, 0o660, true},
		{"the service's, 0644", "service=star2", "", named, 0o644, true},
		{"the service's, 0400", "service=star2", "", named, 0o400, false},
		{"0644, the password given in the URL", "postgres://m:given@db.example/star2", "", inHome, 0o644, false},
		{"0644, no line for this server", "host=other.example user=m", "", inHome, 0o644, false},
	} {
		_ = os.Remove(inHome)
		_ = os.Remove(named)
		write(c.file, "db.example:*:*:m:"+secret+"\n", c.mode)
		t.Setenv("PGPASSFILE", c.env)
		cfg, err := ParseConfig(c.dsn)
		switch {
		case c.refused && err == nil:
			t.Errorf("%s: password %q taken, want a refusal", c.name, cfg.Password)
		case c.refused:
			want := fmt.Sprintf("password file %s has group or world access (mode %04o)", c.file, c.mode)
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "chmod 600 "+c.file) || strings.Contains(err.Error(), secret) {
				t.Errorf("%s: %v, want %q … chmod 600, and no password", c.name, err, want)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case strings.Contains(c.dsn, "other.example") && cfg.Password != "",
			strings.Contains(c.dsn, "given") && cfg.Password != "given",
			!strings.Contains(c.dsn, "other.example") && !strings.Contains(c.dsn, "given") && cfg.Password != secret:
			t.Errorf("%s: password %q", c.name, cfg.Password)
		}
	}
	// $PGPASSWORD is taken over a file anyone may read, as by psql.
	write(inHome, "*:*:*:*:"+secret+"\n", 0o644)
	t.Setenv("PGPASSWORD", "from-the-environment")
	if cfg, err := ParseConfig("host=db.example user=m"); err != nil || cfg.Password != "from-the-environment" {
		t.Errorf("$PGPASSWORD beside a file others may read: %v", err)
	}
}

// TestParseConfigRefusesAKeyFileOthersMayRead: the key of a client
// certificate that others may read is refused, naming the file and what
// to do, as libpq refuses it; one that root owns may be read by its group
// (0640). A key pgx does not load, without TLS, is not looked at.
func TestParseConfigRefusesAKeyFileOthersMayRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("libpq checks no permissions on Windows")
	}
	dir := t.TempDir()
	for k, v := range map[string]string{"HOME": dir, "PGSSLKEY": "", "PGSSLCERT": "", "PGSERVICE": "", "PGSERVICEFILE": "", "PGSYSCONFDIR": dir} {
		t.Setenv(k, v)
	}
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client key")
	writeClientCertificate(t, certFile, keyFile)
	root := os.Geteuid() == 0 // the files are the test's, so root's when it runs as root
	for _, c := range []struct {
		name, dsn, env string
		mode           os.FileMode
		refused        bool
	}{
		{"0600", "host=db user=m sslmode=require sslcert=" + certFile + " sslkey='" + keyFile + "'", "", 0o600, false},
		{"0644", "host=db user=m sslmode=require sslcert=" + certFile + " sslkey='" + keyFile + "'", "", 0o644, true},
		{"0640", "postgres://m@db/x?sslmode=verify-full&sslcert=" + url.PathEscape(certFile) + "&sslkey=" + url.PathEscape(keyFile), "", 0o640, !root},
		{"0660", "host=db user=m sslmode=require sslcert=" + certFile, keyFile, 0o660, true},
		{"0644 without TLS", "host=db user=m sslmode=disable sslcert=" + certFile + " sslkey='" + keyFile + "'", "", 0o644, false},
	} {
		if err := os.Chmod(keyFile, c.mode); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGSSLKEY", c.env)
		_, err := ParseConfig(c.dsn)
		want := fmt.Sprintf("private key file %s (sslkey) has group or world access (mode %04o)", keyFile, c.mode)
		switch {
		case c.refused && (err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "chmod 6")):
			t.Errorf("%s: %v, want %q … chmod", c.name, err, want)
		case !c.refused && err != nil:
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// writeClientCertificate writes a self-signed certificate and its key,
// as pgx loads them, to the two files.
func writeClientCertificate(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "m"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
