// Package secret keeps passwords and keys out of output and logs: a value
// of these types prints as **redacted** or with its password masked.
package secret

import (
	"log/slog"
	"net/url"
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

// RedactURL masks the password of a URL-shaped connection string, and any
// password=... setting of a key-value one.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return strings.Replace(u.String(), "xxxxx", Redacted, 1)
		}
		return s
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		// Not parseable as a URL: mask between the user's colon and the
		// last @ of the authority.
		if at := strings.LastIndex(rest, "@"); at > 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return scheme + "://" + rest[:colon+1] + Redacted + rest[at:]
			}
		}
		return s
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			fields[i] = k + "=" + Redacted
		}
	}
	return strings.Join(fields, " ")
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
