package main

import (
	"errors"
	"os/user"
	"testing"
)

// TestAccountName: the audit log and the decisions on record name the
// account a command runs as. Where the system does not list it (a
// container under an arbitrary uid, without USER), they named no one.
func TestAccountName(t *testing.T) {
	listed := func() (*user.User, error) { return &user.User{Username: "mari", Uid: "1000"}, nil }
	unlisted := func() (*user.User, error) { return nil, user.UnknownUserIdError(1000620000) }
	for _, c := range []struct {
		name    string
		current func() (*user.User, error)
		envUser string
		uid     int
		want    string
	}{
		{"listed", listed, "someone-else", 1000, "mari"},
		{"unlisted, no USER", unlisted, "", 1000620000, "uid 1000620000"},
		{"unlisted, USER set", unlisted, "jaan", 1000620000, "jaan (uid 1000620000)"},
		{"no uid (Windows), USER set", func() (*user.User, error) { return nil, errors.New("no") }, "jaan", -1, "jaan"},
		{"nothing at all", func() (*user.User, error) { return nil, errors.New("no") }, "", -1, "an account the system does not name"},
	} {
		if got := accountName(c.current, c.envUser, c.uid); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
