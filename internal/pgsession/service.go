package pgsession

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/jackc/pgservicefile"
	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/secret"
)

// ParseConfig is pgx.ParseConfig, with the service a connection string
// names (service=NAME, or $PGSERVICE) found where libpq finds it, so that
// a target that works for psql on the same machine works for starmig: in
// the user's service file ($PGSERVICEFILE, else ~/.pg_service.conf), and
// where that file does not define the service, or is not there and was
// not named, in the system's, pg_service.conf in $PGSYSCONFDIR (else, on
// Linux, in /etc/postgresql-common, where Debian's and Ubuntu's libpq
// look). pgx reads the user's file alone. Its errors on a service, which
// leave out why the file could not be read, are worded again with the
// file's path and the cause.
//
// Secret files that others than their owner may read are refused, as
// libpq refuses or passes them over and pgx reads them: a password file
// that the password would come from, and the client certificate's key.
// libpq checks no permissions on Windows, nor does ParseConfig.
func ParseConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, dsn, err := parseWithService(dsn)
	if err != nil || runtime.GOOS == "windows" {
		return cfg, err
	}
	if err := checkPassfile(cfg, dsn); err != nil {
		return nil, err
	}
	if err := checkKeyFile(cfg, dsn); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkPassfile refuses cfg's password where it would come from a
// password file others may read or write, which libpq passes over with a
// warning.
func checkPassfile(cfg *pgx.ConnConfig, dsn string) error {
	if cfg.Password == "" {
		return nil
	}
	home, _ := os.UserHomeDir()
	path := fileOf(dsn, "passfile", "PGPASSFILE", filepath.Join(home, ".pgpass"))
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	without, err := pgx.ParseConfig(withSetting(dsn, "passfile", ""))
	if err != nil || without.Password != "" {
		return nil // the password is the connection string's, or $PGPASSWORD's
	}
	return fmt.Errorf("password file %s has group or world access (mode %04o), and psql would not read it: permissions should be u=rw (0600) or less (chmod 600 %s)", path, fi.Mode().Perm(), path)
}

// checkKeyFile refuses the key of a client certificate that pgx read for
// cfg where libpq refuses it: a file others may read or write, but that
// a key owned by root may be read by its group (0640), for a system's
// keys that a group is let read.
func checkKeyFile(cfg *pgx.ConnConfig, dsn string) error {
	loaded := cfg.TLSConfig != nil && len(cfg.TLSConfig.Certificates) > 0
	for _, fb := range cfg.Fallbacks {
		loaded = loaded || fb.TLSConfig != nil && len(fb.TLSConfig.Certificates) > 0
	}
	if !loaded {
		return nil
	}
	home, _ := os.UserHomeDir()
	path := fileOf(dsn, "sslkey", "PGSSLKEY", filepath.Join(home, ".postgresql", "postgresql.key"))
	fi, err := os.Stat(path)
	if err != nil {
		return nil // pgx read it: it is there
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("private key file %s (sslkey) is not a regular file, and psql would not use it", path)
	}
	mask, rootOwned := fs.FileMode(0o077), ownedByRoot(fi)
	if rootOwned {
		mask = 0o037
	}
	if fi.Mode().Perm()&mask == 0 {
		return nil
	}
	allowed := "u=rw (0600) or less (chmod 600 " + path + ")"
	if rootOwned {
		allowed = "u=rw,g=r (0640) or less for a file root owns (chmod 640 " + path + ")"
	}
	return fmt.Errorf("private key file %s (sslkey) has group or world access (mode %04o), and psql would not use it: permissions should be %s", path, fi.Mode().Perm(), allowed)
}

// fileOf is the file that the setting key names for dsn, as pgx takes
// it: the connection string's, else its service's, else the environment
// variable env's, else dflt.
func fileOf(dsn, key, env, dflt string) string {
	if p, ok := connSettings(dsn)[key]; ok {
		return p
	}
	if name, file, _ := serviceOf(dsn); name != "" {
		if s, _ := service(file, name); s != nil {
			if p, ok := s.Settings[key]; ok {
				return p
			}
		}
	}
	if p := os.Getenv(env); p != "" {
		return p
	}
	return dflt
}

// parseWithService is ParseConfig without the password file's check,
// with the connection string it parsed: dsn, or dsn naming the system's
// service file.
func parseWithService(dsn string) (*pgx.ConnConfig, string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err == nil || !strings.Contains(err.Error(), "failed to read service") {
		return cfg, dsn, err
	}
	return parseSystemService(dsn, err)
}

// parseSystemService parses dsn, whose service pgx could not read (its
// error is err), with the service from the system's service file; its
// errors name the files and the cause.
func parseSystemService(dsn string, err error) (*pgx.ConnConfig, string, error) {
	name, userFile, namedBy := serviceOf(dsn)
	if name == "" {
		return nil, dsn, err
	}
	if namedBy != "" {
		if _, serr := os.Stat(userFile); errors.Is(serr, fs.ErrNotExist) {
			return nil, dsn, fmt.Errorf("service file %s, which %s names, is not there", userFile, namedBy)
		}
	}
	switch found, ferr := defines(userFile, name); {
	case ferr != nil:
		return nil, dsn, ferr
	case found: // pgx could not read it, and gave its reason
		return nil, dsn, err
	}
	sysFile := systemServiceFile()
	if sysFile == "" {
		return nil, dsn, fmt.Errorf("service %q is not defined in the user's service file, %s: define it there, or set PGSERVICEFILE (or PGSYSCONFDIR) to the file (folder) that defines it", name, userFile)
	}
	switch found, ferr := defines(sysFile, name); {
	case ferr != nil:
		return nil, dsn, ferr
	case found:
		dsn = withSetting(dsn, "servicefile", sysFile)
		cfg, err := pgx.ParseConfig(dsn)
		return cfg, dsn, err
	}
	return nil, dsn, fmt.Errorf("service %q is defined neither in the user's service file, %s, nor in the system's, %s: define it in one of them, or set PGSERVICEFILE to the file that defines it", name, userFile, sysFile)
}

// defines says whether the service file at path defines the service
// name; a file that is not there defines none. A file there that cannot
// be read or is not a service file is an error that names it.
func defines(path, name string) (bool, error) {
	s, err := service(path, name)
	return s != nil, err
}

// service is the service name of the service file at path, nil where the
// file is not there or does not define it. A file there that cannot be
// read or is not a service file is an error that names it.
func service(path, name string) (*pgservicefile.Service, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("service file: %w", err)
	}
	defer f.Close()
	sf, err := pgservicefile.ParseServicefile(f)
	if err != nil {
		return nil, fmt.Errorf("service file %s: %w", path, err)
	}
	s, err := sf.GetService(name)
	if err != nil {
		return nil, nil
	}
	return s, nil
}

// serviceOf is the name of the service dsn connects by and the user's
// service file, each as pgx takes it: from the connection string, else
// from the environment, else (the file) the platform's default. namedBy
// is the setting that named the file, "" for the default.
func serviceOf(dsn string) (name, file, namedBy string) {
	settings := connSettings(dsn)
	if name = settings["service"]; name == "" {
		name = os.Getenv("PGSERVICE")
	}
	switch {
	case settings["servicefile"] != "":
		return name, settings["servicefile"], "the connection string's servicefile"
	case os.Getenv("PGSERVICEFILE") != "":
		return name, os.Getenv("PGSERVICEFILE"), "$PGSERVICEFILE"
	}
	return name, userServiceFile(), ""
}

// userServiceFile is where pgx looks for the user's service file by
// default: ~/.pg_service.conf, and on Windows libpq's
// %APPDATA%\postgresql\.pg_service.conf unless only the former is there.
func userServiceFile() string {
	home, _ := os.UserHomeDir()
	inHome := filepath.Join(home, ".pg_service.conf")
	if runtime.GOOS != "windows" || os.Getenv("APPDATA") == "" {
		return inHome
	}
	libpq := filepath.Join(os.Getenv("APPDATA"), "postgresql", ".pg_service.conf")
	if _, err := os.Stat(libpq); errors.Is(err, fs.ErrNotExist) && home != "" {
		if _, err := os.Stat(inHome); err == nil {
			return inHome
		}
	}
	return libpq
}

// systemServiceFile is the system's service file, "" where there is none
// to look for.
func systemServiceFile() string {
	if dir := os.Getenv("PGSYSCONFDIR"); dir != "" {
		return filepath.Join(dir, "pg_service.conf")
	}
	if runtime.GOOS == "linux" {
		return "/etc/postgresql-common/pg_service.conf"
	}
	return ""
}

// isURL says whether dsn is a URL rather than keyword/value settings.
func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// connSettings are the settings of a connection string: a URL's query
// parameters, or libpq's keyword/value settings (secret.Keywords), as
// far as the string follows their grammar.
func connSettings(dsn string) map[string]string {
	settings := map[string]string{}
	if isURL(dsn) {
		for _, p := range queryParams(dsn) {
			if p.ok {
				settings[p.key] = p.value
			}
		}
		return settings
	}
	keywords, _ := secret.Keywords(dsn)
	for _, kw := range keywords {
		settings[kw.Key] = kw.Value
	}
	return settings
}

// queryParam is a parameter of a URL's query as libpq and pgx read it:
// key=value, both halves percent-decoded (a + is a +), spaces before and
// after them left out. ok is false for one they refuse.
type queryParam struct {
	raw, key, value string
	ok              bool
}

// queryParams are the parameters of the URL dsn's query, in their order;
// the last of a key's is the one libpq and pgx take.
func queryParams(dsn string) []queryParam {
	_, query, found := strings.Cut(dsn, "?")
	if !found {
		return nil
	}
	var params []queryParam
	for _, raw := range strings.Split(query, "&") {
		p := queryParam{raw: raw}
		k, v, found := strings.Cut(raw, "=")
		var kerr, verr error
		p.key, kerr = url.PathUnescape(strings.Trim(k, " "))
		p.value, verr = url.PathUnescape(strings.Trim(v, " "))
		p.ok = found && !strings.Contains(v, "=") && kerr == nil && verr == nil
		params = append(params, p)
	}
	return params
}

// withSetting is dsn with key set to value, in place of any it gives.
func withSetting(dsn, key, value string) string {
	if isURL(dsn) {
		// The URL is not parsed and written again: url.URL writes
		// postgres:///?… as postgres:?…, which pgx does not read. Its
		// other parameters are kept as written, and the value is
		// escaped for libpq's reading, a space as %20: url.Values would
		// write it +, which libpq and pgx read as +.
		base, _, _ := strings.Cut(dsn, "?")
		var b strings.Builder
		for _, p := range queryParams(dsn) {
			if p.key != key && p.raw != "" {
				b.WriteString(p.raw + "&")
			}
		}
		b.WriteString(url.PathEscape(key) + "=" + strings.ReplaceAll(url.QueryEscape(value), "+", "%20"))
		return base + "?" + b.String()
	}
	// Written again, setting by setting in their order, each value
	// quoted: added at the end, the setting would be read as the value
	// of a last one left empty ("dbname= servicefile=…"). A key given
	// twice is taken from its last setting, but for an empty user, which
	// pgx passes over; written in order, each is taken as before.
	keywords, _ := secret.Keywords(dsn)
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	var b strings.Builder
	for _, kw := range keywords {
		if kw.Key != key {
			b.WriteString(kw.Key + "='" + quote.Replace(kw.Value) + "' ")
		}
	}
	b.WriteString(key + "='" + quote.Replace(value) + "'")
	return b.String()
}
