package batch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

// TestLostSTAR2 ends every STAR2 session of a run in the middle of its
// plan, its load or its reconciliation, as a failover or an administrator
// does: the run fails with the cause alone, stays interrupted, and the
// same batch run again completes with the STAR2 of a run that was not
// interrupted.
func TestLostSTAR2(t *testing.T) {
	path, maps := star1(t, 300, 3, nil)
	// The cause is the server's message or, when the session was writing
	// a COPY as it ended, what the socket said (reset, broken pipe,
	// closed): one line, and not the run's end or plan that could not be
	// recorded after it.
	loseSessions(t, "sqlite:"+path, maps, nil, "running", func(t *testing.T, err error) {
		if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "record run end") || strings.Contains(err.Error(), "drop plan") {
			t.Errorf("the run that lost STAR2: %v; want its cause alone", err)
		}
	})
}

// TestLostSTAR1 ends the session of a restored STAR1 (the source of a
// crisis, read from PostgreSQL) in the middle of each read of it: the run
// fails with the cause alone, as an error of reading STAR1, is recorded
// as failed in that phase, and the same batch run again completes with
// the STAR2 of a run that was not interrupted.
func TestLostSTAR1(t *testing.T) {
	path, maps := star1(t, 300, 3, nil)
	restored := testenv.STAR1InPostgres(t, "sqlite:"+path)
	admin := testenv.Connect(t, restored)
	// Not with what the close of STAR1 said after it ("failed to
	// deallocate cached statement(s): conn closed").
	loseSessions(t, testenv.WithSchema(restored, extract.PostgresSchema), maps, admin, "failed", func(t *testing.T, err error) {
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "extract: ") || !testenv.SessionEnded(err) {
			t.Errorf("the run that lost STAR1: %v; want its cause alone, from extract", err)
		}
	})
}

// loseSessions runs the batch from source once whole, then once for each
// phase that reads STAR1, ending starmig's sessions on the database of
// lose (STAR2's when nil) as the phase counts its first rows. The run
// that lost them is checked by check and left in the state given; the
// run after it must leave the STAR2 of the whole run.
func loseSessions(t *testing.T, source, maps string, lose *pgx.Conn, state string, check func(*testing.T, error)) {
	ctx := context.Background()
	refDSN, refConn := target(t)
	o := options("", maps, refDSN)
	o.Source = source
	if _, err := Migrate(ctx, o); err != nil {
		t.Fatal(err)
	}
	want := testenv.STAR2Digest(t, refConn)

	for _, phase := range []string{"plan", "load", "reconcile"} {
		t.Run(phase, func(t *testing.T) {
			dsn, conn := target(t)
			ender := lose
			if ender == nil {
				ender = conn
			}
			o := options("", maps, dsn)
			o.Source = source
			var ended int
			o.Progress = endSessionsIn(t, ender, phase, &ended)
			_, err := Migrate(ctx, o)
			if ended == 0 {
				t.Fatalf("no session ended: %v", err)
			}
			check(t, err)
			var got string
			if err := conn.QueryRow(ctx, "SELECT state || ' ' || phase FROM migration.run").Scan(&got); err != nil || got != state+" "+phase {
				t.Errorf("the run that lost its sessions is %q (%v), want %s in phase %s", got, err, state, phase)
			}
			o.Progress = nil
			if _, err := Migrate(ctx, o); err != nil {
				t.Fatalf("the run after: %v", err)
			}
			testenv.SameDigest(t, "after the sessions were ended in phase "+phase, want, testenv.STAR2Digest(t, conn))
		})
	}
}

// TestLostInADeepReconcile ends STAR2's sessions, then the restored
// STAR1's, in the middle of reconcile --deep: the check fails with the
// cause alone, not with findings, and the check run again passes.
func TestLostInADeepReconcile(t *testing.T) {
	ctx := context.Background()
	path, maps := star1(t, 300, 3, nil)
	restored := testenv.STAR1InPostgres(t, "sqlite:"+path)
	dsn, conn := target(t)
	o := options("", maps, dsn)
	o.Source = testenv.WithSchema(restored, extract.PostgresSchema)
	if _, err := Migrate(ctx, o); err != nil {
		t.Fatal(err)
	}
	ro := ReconcileOptions{Source: o.Source, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	for name, ender := range map[string]*pgx.Conn{"STAR2": conn, "STAR1": testenv.Connect(t, restored)} {
		t.Run(name, func(t *testing.T) {
			var ended int
			ro.Progress = endSessionsIn(t, ender, "deep", &ended)
			_, err := Reconcile(ctx, ro)
			if ended == 0 {
				t.Fatalf("no session ended: %v", err)
			}
			var fe *FindingsError
			if err == nil || errors.As(err, &fe) || strings.Contains(err.Error(), "\n") || !testenv.SessionEnded(err) {
				t.Errorf("reconcile --deep that lost %s: %v; want its cause alone", name, err)
			}
			ro.Progress = nil
			if _, err := Reconcile(ctx, ro); err != nil {
				t.Errorf("reconcile --deep after: %v", err)
			}
		})
	}
}

// endSessionsIn is a progress hook that ends starmig's sessions on the
// database of conn once, when phase counts its first rows, and sets
// ended to how many it ended.
func endSessionsIn(t *testing.T, conn *pgx.Conn, phase string, ended *int) func(phase, table string, rows, total int64) {
	var once sync.Once
	return func(p, table string, rows, total int64) {
		if p == phase && rows > 0 {
			once.Do(func() {
				if err := conn.QueryRow(context.Background(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'starmig'").Scan(ended); err != nil {
					t.Error(err)
				}
			})
		}
	}
}
