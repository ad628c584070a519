// Package secret keeps passwords and keys out of output and logs: a value
// of these types prints as **redacted** or with its password masked.
package secret

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Redacted is what a secret prints as.
const Redacted = "**redacted**"

// DSN is a connection string that may hold a password.
type DSN string

// String prints the DSN with any password masked.
func (d DSN) String() string { return RedactURL(string(d)) }

// LogValue keeps the password out of slog output.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// Reveal returns the DSN itself, for the driver only.
func (d DSN) Reveal() string { return string(d) }

// RedactURL masks the password of a connection string: the user's
// password of a URL and any query parameter named like password, or the
// value of any such setting of a keyword/value one (values may be quoted
// and hold spaces, as libpq allows), or the password of Oracle's
// user/password@host form. Text that is none of these, such as a file
// path, is returned as it is.
func RedactURL(s string) string {
	switch {
	case strings.Contains(s, "://"):
		return queryPassword.ReplaceAllString(redactUserinfo(s), "${1}"+Redacted)
	case strings.Contains(s, "="):
		return redactKeywords(s)
	case oracleLogon.MatchString(s):
		return oracleLogon.ReplaceAllString(s, "${1}"+Redacted+"@")
	}
	return s
}

// oracleLogon is Oracle's user/password@connect form (sqlplus, EZConnect),
// given where a URL was wanted: the user holds no /, : or @, the password
// runs to the last @.
var oracleLogon = regexp.MustCompile(`^([^/:@\s]+/).*@`)

// queryPassword is a query parameter whose name says password (libpq and
// pgx read password=, sslpassword=; go-ora "WALLET PASSWORD", "OS
// PASSWORD"), or ends with pass or hash: go-ora's "OS PASS", "OS HASH"
// and "OS PASSHASH", a Windows user's password or its hash for Oracle's
// OS logon. libpq's passfile= is the path of a file, and stays.
var queryPassword = regexp.MustCompile(`(?i)([?&](?:[^=&#]*password[^=&#]*|[^=&#]*pass|[^=&#]*hash)=)[^&#]*`)

func redactUserinfo(s string) string {
	if !needsEncoding(s) {
		if u, err := url.Parse(s); err == nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
				return strings.Replace(u.String(), "xxxxx", Redacted, 1)
			}
			return s
		}
	}
	// A password a URL cannot hold as it is (a parser would read a piece
	// of it as the host, the port, a path or a fragment), or a URL that
	// does not parse: mask between the user's colon and the last @.
	scheme, rest, _ := strings.Cut(s, "://")
	if at := strings.LastIndex(rest, "@"); at > 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			return scheme + "://" + rest[:colon+1] + Redacted + rest[at:]
		}
	}
	return s
}

// redactKeywords masks the values of password settings in a libpq
// keyword/value string (Keywords). What does not follow that grammar is
// masked from the setting where it stops following it, since a password
// may be in it.
func redactKeywords(s string) string {
	var b strings.Builder
	settings, stop := Keywords(s)
	at := 0
	for _, kw := range settings {
		if strings.Contains(strings.ToLower(kw.Key), "password") {
			b.WriteString(s[at:kw.Start] + Redacted)
			at = kw.End
		}
	}
	b.WriteString(s[at:stop])
	if stop < len(s) {
		b.WriteString(Redacted)
	}
	return b.String()
}

// Redact replaces every occurrence of each secret in s, for error texts
// from drivers that may echo what they were given.
func Redact(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, Redacted)
		}
	}
	return s
}

// ConfigError words an error of pgx.ParseConfig for dsn, which the caller
// names itself, masked: without pgx's quotation of the whole connection
// string, which repeats it, and, for text that is neither form, with the
// forms wanted instead of "failed to parse as keyword/value". It is a
// *DSNError, which the command line counts as a usage error.
func ConfigError(err error, dsn string) error {
	msg := pgxQuoted.ReplaceAllString(Redact(err.Error(), dsn), "")
	if strings.HasPrefix(msg, "failed to parse as keyword/value") {
		msg = "want a PostgreSQL URL, postgres://user:password@host:port/db, or key=value settings"
	}
	return &DSNError{msg}
}

// DSNError is a connection string that cannot be read, as ConfigError
// words it.
type DSNError struct{ msg string }

func (e *DSNError) Error() string { return e.msg }

// pgxQuoted is pgx's "cannot parse `…`: " before the reason.
var pgxQuoted = regexp.MustCompile("^cannot parse `.*`: ")

// CheckPassword refuses a URL whose password holds a character that a URL
// gives a meaning to, or does not take, written as it is: / ? and # end
// the user part, a second @ or a % not followed by two hex digits are read
// otherwise by one parser or another, and " or a letter outside ASCII
// make the URL one that Go's parser refuses. Parsers then take a piece of
// the password for the host or the port, and their errors quote that
// piece ("invalid port \":pa\"", "lookup ss@db"); the error here names
// the characters to encode and nothing of the password. The user and
// password are what comes before the last @: an @ later in the URL, in
// its query, is to be encoded too.
func CheckPassword(raw string) error {
	if !needsEncoding(raw) {
		return nil
	}
	return &DSNError{fmt.Sprintf("%s: the password, or what comes before the last @, holds a character that a URL reads otherwise or does not take as it is (such as @ / ? # \" or a %% not followed by two hex digits): write it percent-encoded, @ as %%40, / as %%2F, ? as %%3F, # as %%23, %% as %%25, \" as %%22", RedactURL(raw))}
}

// needsEncoding says whether what comes before the last @ of a URL is a
// user and a password whose password holds a character to encode.
func needsEncoding(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return false
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	return ok && (strings.IndexFunc(pass, notUserinfo) >= 0 || badEscape.MatchString(pass))
}

// notUserinfo says whether r cannot stand as it is in a URL's password:
// what RFC 3986 allows there is letters and digits of ASCII, -._~, the
// sub-delimiters !$&'()*+,;=, : and % (checked apart, by badEscape).
func notUserinfo(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()*+,;=:%", r)
}

// badEscape is a % that does not begin a percent-encoded byte.
var badEscape = regexp.MustCompile(`%([^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|[0-9A-Fa-f]?$)`)
