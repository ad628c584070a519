package testenv

import (
	"strings"

	"github.com/starmig/starmig/internal/pgsession"
)

// SessionEnded says whether err is what a client is told when an
// administrator ends its PostgreSQL session (pg_terminate_backend): the
// server's reason, SQLSTATE 57P01, or, where the server words its
// messages in another language than English and the connection's reset
// loses the reason on the way, the socket's words that it was cut off.
func SessionEnded(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "57P01") || pgsession.CutOff(err.Error()))
}
