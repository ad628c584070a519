package batch

import (
	"context"
	"testing"

	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/testenv"
)

// TestABatchOutlastsTheServersTimeouts: a STAR2 whose role for the
// migration ends statements, idle transactions and waits for a lock
// after 20 ms, and idle sessions after 100 ms (the time between a
// session's start and its SETs must stay under it), as settings made for
// interactive users may,
// still takes a whole batch and its deep reconciliation. Before, the
// batch stopped at the plan's first long statement ("canceling statement
// due to statement timeout"), at the same statement on every run, and
// with an idle_session_timeout in its outcome rules ("terminating
// connection due to idle-session timeout").
func TestABatchOutlastsTheServersTimeouts(t *testing.T) {
	path, maps := star1(t, 300, 31, nil)
	dsn, _ := target(t)
	ctx := context.Background()
	_, role := testenv.Role(t, dsn.Reveal(), "hurried_", "SUPERUSER",
		"statement_timeout = '20ms'", "idle_in_transaction_session_timeout = '20ms'", "idle_session_timeout = '100ms'", "lock_timeout = '20ms'")
	hurried := secret.DSN(role)

	if _, err := Migrate(ctx, options(path, maps, hurried)); err != nil {
		t.Fatal(err)
	}
	reconcilesDeep(t, path, maps, hurried, "a batch under the role's timeouts")
}
