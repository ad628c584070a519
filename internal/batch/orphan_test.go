package batch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/load"
)

// orphanEnv makes the test binary the run that is killed.
const orphanEnv = "STARMIG_TEST_ORPHAN_DSN"

var orphanSpec = load.BatchSpec{Name: "all", AsOf: asOf, LiveYears: 5, Wait: 10 * time.Second}

// TestAKilledRunsStatementLetsGoOfTheLock kills a run with SIGKILL in the
// middle of a long statement and starts the batch again: the server cancels
// the orphaned statement, so the new run gets STAR2's run lock within its
// wait instead of when the statement would have ended.
func TestAKilledRunsStatementLetsGoOfTheLock(t *testing.T) {
	ctx := context.Background()
	if dsn := os.Getenv(orphanEnv); dsn != "" {
		a, err := connect(ctx, secret.DSN(dsn))
		if err == nil {
			_, err = load.StartRun(ctx, a, orphanSpec, clock())
		}
		if err == nil {
			_, err = a.Exec(ctx, "SELECT pg_sleep(600)") // an outcome rule at a million persons
		}
		fmt.Fprintln(os.Stderr, "the run to kill:", err)
		os.Exit(1)
	}
	dsn, watch := target(t)
	a, err := connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for k, want := range pgsession.Keepalives {
		var got string
		if err := a.QueryRow(ctx, "SELECT current_setting($1)", k).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %s", k, got, err, want)
		}
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestAKilledRunsStatementLetsGoOfTheLock$")
	cmd.Env = append(os.Environ(), orphanEnv+"="+string(dsn))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	sleeping := func() bool {
		var n int
		if err := watch.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep(600)%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for i := 0; !sleeping(); i++ {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the run to kill ended: %v", err)
		default:
		}
		if i == 3000 {
			t.Fatal("the run to kill never reached its long statement")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill() // SIGKILL
	<-exited
	exited <- nil

	if _, err := load.StartRun(ctx, a, orphanSpec, clock()); err != nil {
		t.Fatalf("the run after the kill: %v (the killed run's statement kept the lock)", err)
	}
	// The server ends the killed run's session: its lock goes first, and
	// its line in pg_stat_activity a moment later, so the statement may
	// still show there just after the lock was taken. Of a statement
	// that went on running (ten minutes), it would show for good.
	for i := 0; sleeping(); i++ {
		if i == 500 {
			t.Fatal("the killed run's statement still runs 5 s after its lock was taken")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
