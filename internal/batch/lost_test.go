package batch

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

// TestLostSTAR2 ends every STAR2 session of a run in the middle of its
// plan, its load or its reconciliation, as a failover or an administrator
// does: the run fails with the cause alone, stays interrupted, and the
// same batch run again completes with the STAR2 of a run that was not
// interrupted.
func TestLostSTAR2(t *testing.T) {
	ctx := context.Background()
	path, maps := star1(t, 300, 3, nil)
	refDSN, refConn := target(t)
	if _, err := Migrate(ctx, options(path, maps, refDSN)); err != nil {
		t.Fatal(err)
	}
	want := testenv.STAR2Digest(t, refConn)

	for _, phase := range []string{"plan", "load", "reconcile"} {
		t.Run(phase, func(t *testing.T) {
			dsn, conn := target(t)
			o := options(path, maps, dsn)
			var once sync.Once
			var ended int
			o.Progress = func(p, table string, rows, total int64) {
				if p == phase && rows > 0 {
					once.Do(func() {
						if err := conn.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'starmig'").Scan(&ended); err != nil {
							t.Error(err)
						}
					})
				}
			}
			_, err := Migrate(ctx, o)
			if ended == 0 {
				t.Fatalf("no session ended: %v", err)
			}
			// The cause is the server's message or, when the session was
			// writing a COPY as it ended, what the socket said (reset,
			// broken pipe, closed): one line, and not the run's end or
			// plan that could not be recorded after it.
			if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "record run end") || strings.Contains(err.Error(), "drop plan") {
				t.Errorf("the run that lost STAR2: %v; want its cause alone", err)
			}
			var state string
			if err := conn.QueryRow(ctx, "SELECT state || ' ' || phase FROM migration.run").Scan(&state); err != nil || state != "running "+phase {
				t.Errorf("the run that lost STAR2 is %q (%v), want running in phase %s until the next run", state, err, phase)
			}
			o.Progress = nil
			if _, err := Migrate(ctx, o); err != nil {
				t.Fatalf("the run after: %v", err)
			}
			testenv.SameDigest(t, "after STAR2 was lost in phase "+phase, want, testenv.STAR2Digest(t, conn))
		})
	}
}

// TestLostSTAR1 ends the session of a restored STAR1 (the source of a
// crisis, read from PostgreSQL) in the middle of each read of it: the run
// fails with the cause alone, as an error of reading STAR1, is recorded
// as failed in that phase, and the same batch run again completes with
// the STAR2 of a run that was not interrupted.
func TestLostSTAR1(t *testing.T) {
	ctx := context.Background()
	path, maps := star1(t, 300, 3, nil)
	restored := testenv.STAR1InPostgres(t, "sqlite:"+path)
	source := restored + "?schema=" + extract.PostgresSchema
	if strings.Contains(restored, "?") {
		source = restored + "&schema=" + extract.PostgresSchema
	}
	admin := testenv.Connect(t, restored)
	refDSN, refConn := target(t)
	o := options(path, maps, refDSN)
	o.Source = source
	if _, err := Migrate(ctx, o); err != nil {
		t.Fatal(err)
	}
	want := testenv.STAR2Digest(t, refConn)

	for _, phase := range []string{"plan", "load", "reconcile"} {
		t.Run(phase, func(t *testing.T) {
			dsn, conn := target(t)
			o := options(path, maps, dsn)
			o.Source = source
			var once sync.Once
			var ended int
			o.Progress = func(p, table string, rows, total int64) {
				if p == phase && rows > 0 {
					once.Do(func() {
						if err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'starmig'").Scan(&ended); err != nil {
							t.Error(err)
						}
					})
				}
			}
			_, err := Migrate(ctx, o)
			if ended == 0 {
				t.Fatalf("no session ended: %v", err)
			}
			t.Log(err)
			// Not the close of STAR1 after it ("failed to deallocate
			// cached statement(s): conn closed").
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "extract: ") || !strings.Contains(err.Error(), "57P01") {
				t.Errorf("the run that lost STAR1: %v; want its cause alone, from extract", err)
			}
			var state string
			if err := conn.QueryRow(ctx, "SELECT state || ' ' || phase FROM migration.run").Scan(&state); err != nil || state != "failed "+phase {
				t.Errorf("the run that lost STAR1 is %q (%v), want failed in phase %s", state, err, phase)
			}
			o.Progress = nil
			if _, err := Migrate(ctx, o); err != nil {
				t.Fatalf("the run after: %v", err)
			}
			testenv.SameDigest(t, "after STAR1 was lost in phase "+phase, want, testenv.STAR2Digest(t, conn))
		})
	}
}
