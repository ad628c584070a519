package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
)

// TestATriggerThatRefusesARowQuarantinesIt: a trigger of STAR2's owners
// refuses rows the usual way of PL/pgSQL, RAISE EXCEPTION (SQLSTATE
// P0001). That stopped the whole batch at the first such row, while a
// CHECK constraint refusing the same row had it quarantined. Each refused
// row is now quarantined with the trigger's words, the run ends with
// exit 0 and reconciles; once the trigger is gone, the next run loads
// the rows. A trigger may refuse with a SQLSTATE of its owners' own
// class, as PostgreSQL's manual advises for errors of one's own; that
// stopped the batch too.
func TestATriggerThatRefusesARowQuarantinesIt(t *testing.T) {
	for _, refuse := range []struct{ how, code string }{
		{"", "P0001"},
		{" USING ERRCODE = 'SR001', HINT = 'limits are set by the ministry'", "SR001"},
	} {
		t.Run(refuse.code, func(t *testing.T) { refusedByTrigger(t, refuse.how, refuse.code) })
	}
}

func refusedByTrigger(t *testing.T, how, code string) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 19)
	maps := filepath.Join(dir, "mappings")
	target := star2(t)
	admin := testenv.Connect(t, target)
	execAll(t, admin, `CREATE FUNCTION star2.within_limit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.amount_eur > 300 THEN
				RAISE EXCEPTION 'payment of % EUR is over the limit of 300', NEW.amount_eur`+how+`;
			END IF;
			RETURN NEW;
		END $$`,
		"CREATE TRIGGER within_limit BEFORE INSERT OR UPDATE ON star2.payment FOR EACH ROW EXECUTE FUNCTION star2.within_limit()")
	migrate := func() map[string]struct{ Inserted, Rejected int64 } {
		t.Helper()
		code, out, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", maps,
			"--batch", "all", "--as-of", "2026-11-01", "--json", "-q")
		var res struct {
			Tables map[string]struct{ Inserted, Rejected int64 }
		}
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
			t.Fatalf("migrate: exit %d, %v: %s%s", code, err, out, stderr)
		}
		return res.Tables
	}
	tables := migrate()
	refused := tables["MAKSE"].Rejected
	if refused == 0 || tables["MAKSE"].Inserted == 0 {
		t.Fatalf("MAKSE %+v: want some payments refused by the trigger and the others inserted", tables["MAKSE"])
	}
	var quarantined, over int64
	if err := admin.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE detail LIKE '%over the limit of 300 (SQLSTATE `+code+`)%')
		FROM migration.quarantine WHERE star1_table = 'MAKSE' AND rule = 'rejected_by_database'`).Scan(&quarantined, &over); err != nil {
		t.Fatal(err)
	}
	if quarantined != refused || over != refused {
		t.Errorf("%d payments refused, %d quarantined as rejected_by_database, %d with the trigger's words", refused, quarantined, over)
	}
	var above int64
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM star2.payment WHERE amount_eur > 300").Scan(&above); err != nil || above != 0 {
		t.Errorf("%d payments over the limit in STAR2 (%v)", above, err)
	}
	reconcile := []string{"reconcile", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--deep", "-q"}
	if code, _, stderr := run(t, ctx, reconcile...); code != 0 {
		t.Errorf("reconcile --deep with the refused rows quarantined: exit %d: %s", code, stderr)
	}

	execAll(t, admin, "DROP TRIGGER within_limit ON star2.payment")
	if tables = migrate(); tables["MAKSE"].Inserted != refused || tables["MAKSE"].Rejected != 0 {
		t.Errorf("once the trigger is gone: MAKSE %+v, want the %d refused payments inserted", tables["MAKSE"], refused)
	}
	if code, _, stderr := run(t, ctx, reconcile...); code != 0 {
		t.Errorf("reconcile --deep after the trigger: exit %d: %s", code, stderr)
	}
}

// TestADeadlockIsTriedAgain: STAR2 is in use while a batch writes, and
// PostgreSQL breaks a deadlock between a social worker's transaction and
// the batch's by ending one of them (SQLSTATE 40P01). That stopped the
// batch. The chunk whose transaction was ended is now written again; the
// test has a trigger end the first transactions that write a decision
// as PostgreSQL would, and the batch loads every row as a batch that met
// no deadlock does. A deadlock that keeps coming back stops the run,
// saying how often it was tried.
func TestADeadlockIsTriedAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 21)
	maps := filepath.Join(dir, "mappings")
	target := star2(t)
	admin := testenv.Connect(t, target)
	// A sequence is not rolled back with the transaction that advanced
	// it: the first three transactions that write a decision are ended.
	execAll(t, admin, "CREATE SEQUENCE star2.deadlocks",
		`CREATE FUNCTION star2.deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('star2.deadlocks') <= 3 THEN
				RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
			END IF;
			RETURN NULL;
		END $$`,
		"CREATE TRIGGER deadlock AFTER INSERT ON star2.decision FOR EACH STATEMENT EXECUTE FUNCTION star2.deadlock()")
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--as-of", "2026-11-01", "--json", "-q"}
	code, out, stderr := run(t, ctx, migrate...)
	var res struct {
		Tables map[string]struct{ Inserted, Rejected int64 }
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Fatalf("migrate with three deadlocks: exit %d, %v: %s%s", code, err, out, stderr)
	}
	var decisions, deadlocks int64
	if err := admin.QueryRow(ctx, "SELECT (SELECT count(*) FROM star2.decision), (SELECT last_value FROM star2.deadlocks)").Scan(&decisions, &deadlocks); err != nil {
		t.Fatal(err)
	}
	if otsus := res.Tables["OTSUS"]; otsus.Rejected != 0 || otsus.Inserted == 0 || otsus.Inserted != decisions || deadlocks < 4 {
		t.Errorf("OTSUS %+v, %d decisions in STAR2, the trigger ran %d times: want every decision written once, after the deadlocks", otsus, decisions, deadlocks)
	}
	if code, _, stderr := run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", target, "--mappings", maps, "--batch", "all", "--deep", "-q"); code != 0 {
		t.Errorf("reconcile --deep after the deadlocks: exit %d: %s", code, stderr)
	}

	// Every try ends in a deadlock: the run stops and says so.
	other := star2(t)
	execAll(t, testenv.Connect(t, other),
		`CREATE FUNCTION star2.deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
		END $$`,
		"CREATE TRIGGER deadlock AFTER INSERT ON star2.decision FOR EACH STATEMENT EXECUTE FUNCTION star2.deadlock()")
	migrate[4] = other
	code, _, stderr = run(t, ctx, migrate...)
	if code != exitError || !strings.Contains(stderr, "deadlock detected (SQLSTATE 40P01) (tried 5 times, ") {
		t.Errorf("migrate with a deadlock every time: exit %d, %s", code, stderr)
	}

	// A transaction that goes on deadlocking the batch's for a while, as
	// a long piece of work of STAR2's own may, is waited out: the writer
	// pauses between tries (at least 0.25 s in all before the third),
	// where it used to try five times at once and stop. The sequence,
	// which no rollback resets, holds the millisecond of the first
	// deadlock; the trigger deadlocks every try for 0.2 s after it.
	third := star2(t)
	execAll(t, testenv.Connect(t, third),
		"CREATE SEQUENCE star2.first_deadlock MINVALUE 0",
		`CREATE FUNCTION star2.deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
		DECLARE
			ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
		BEGIN
			IF (SELECT NOT is_called FROM star2.first_deadlock) THEN
				PERFORM setval('star2.first_deadlock', ms);
			END IF;
			IF ms < (SELECT last_value FROM star2.first_deadlock) + 200 THEN
				RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
			END IF;
			RETURN NULL;
		END $$`,
		"CREATE TRIGGER deadlock AFTER INSERT ON star2.decision FOR EACH STATEMENT EXECUTE FUNCTION star2.deadlock()")
	migrate[4] = third
	if code, out, stderr := run(t, ctx, migrate...); code != 0 {
		t.Errorf("migrate with deadlocks for 0.2 s: exit %d: %s%s", code, out, stderr)
	}
}
