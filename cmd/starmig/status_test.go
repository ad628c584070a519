package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// TestStatusCommand: a migration engineer with many batches sees which
// are done, which need a run or a look, and which municipalities no batch
// covers yet.
func TestStatusCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 9)
	mappings := filepath.Join(dir, "mappings")
	target := star2(t)
	migrate := func(name, kov string) (int, string) {
		code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", mappings,
			"--batch", name, "--kov", kov, "--as-of", "2026-11-01", "-q")
		return code, stderr
	}
	folder, err := mapping.LoadFolder(mappings)
	if err != nil {
		t.Fatal(err)
	}
	for name, kov := range map[string]string{"north": "0100", "south": "0111"} {
		if code, stderr := migrate(name, kov); code != 0 {
			t.Fatalf("migrate %s: exit %d: %s", name, code, stderr)
		}
	}
	status := func() statusResult {
		t.Helper()
		code, out, stderr := run(t, ctx, "status", "--target", target, "--mappings", mappings, "--json")
		var res statusResult
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
			t.Fatalf("status: exit %d, %v: %s", code, err, stderr)
		}
		return res
	}
	res := status()
	if len(res.Batches) != 2 || res.Batches[0].Name != "north" || res.Batches[0].Next != "" || res.Batches[1].Next != "" ||
		res.Batches[0].Rows["loaded"] == 0 || res.Batches[0].Last.State != "completed" {
		t.Errorf("two clean batches: %+v", res.Batches)
	}
	codes := map[string]bool{}
	for _, m := range folder.Municipalities {
		codes[m.Code] = true
	}
	if len(res.Uncovered) != len(codes)-2 || strings.Contains(strings.Join(res.Uncovered, ","), "0100") {
		t.Errorf("municipalities in no batch: %v, want all %d but 0100 and 0111", res.Uncovered, len(codes))
	}

	// A row deleted in STAR2 makes north's next run end with a finding; a
	// run of south killed in its load phase is told apart from one running.
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM star2.activity WHERE id = (SELECT star2_id FROM migration.row_map
		WHERE batch = 'north' AND star1_table = 'TOIMING' AND outcome = 'loaded' ORDER BY star1_id LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	if code, _ := migrate("north", "0100"); code != exitFindings {
		t.Fatalf("north after a deletion in STAR2: exit %d", code)
	}
	if _, err := conn.Exec(ctx, `UPDATE migration.run SET state = 'running', phase = 'load', finished_at = NULL
		WHERE id = (SELECT max(id) FROM migration.run WHERE batch = 'south')`); err != nil {
		t.Fatal(err)
	}
	res = status()
	if n := res.Batches[0].Next; !strings.Contains(n, "ended with 1 reconciliation finding: starmig reconcile --batch north") {
		t.Errorf("north: %q", n)
	}
	if n := res.Batches[1].Next; !strings.Contains(n, "was interrupted in phase load: run the batch again") {
		t.Errorf("south: %q", n)
	}
	code, out, _ := run(t, ctx, "status", "--target", target, "--mappings", mappings)
	for _, want := range []string{"2 batches.", "north: municipalities 0100, as of 2026-11-01 (5 live years); 2 runs", "needs: run ",
		"newest run", "interrupted", "of the mapping folder in no batch yet: "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status: exit %d, want %q in\n%s", code, want, out)
		}
	}
	// The interrupted run is completed by the next; the deletion, once
	// kept, leaves north with nothing open.
	if code, stderr := migrate("south", "0111"); code != 0 {
		t.Fatalf("south again: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, ctx, "resolve", "--target", target, "--batch", "north", "--all", "--keep-star2", "--reason", "deleted by the case worker", "-q"); code != 0 {
		t.Fatalf("resolve: exit %d: %s", code, stderr)
	}
	if code, stderr := migrate("north", "0100"); code != 0 {
		t.Fatalf("north again: exit %d: %s", code, stderr)
	}
	if res = status(); res.Batches[0].Next != "" || res.Batches[1].Next != "" {
		t.Errorf("after completing both: %+v", res.Batches)
	}
	// The warnings of a run are kept with it: a reference date after the
	// run's day, and one so early that most rows are dated after it.
	for name, asOf := range map[string]string{"west": "2062-01-01", "east": "1990-01-01"} {
		code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", mappings,
			"--batch", name, "--as-of", asOf, "-q", "--allow-unmapped")
		if code != 0 && code != exitFindings {
			t.Fatalf("migrate %s as of %s: exit %d: %s", name, asOf, code, stderr)
		}
	}
	kinds := map[string]string{}
	for _, b := range status().Batches {
		for _, w := range b.Warnings {
			kinds[b.Name] += w.Kind + " "
		}
	}
	if want := map[string]string{"west": "as_of_after_today ", "east": "many_future_dates "}; !maps.Equal(kinds, want) {
		t.Errorf("status --json: the batches' warnings are %v, want %v", kinds, want)
	}
	code, out, _ = run(t, ctx, "status", "--target", target)
	for _, want := range []string{"    it warned: the reference date 2062-01-01 lies after today (", "    it warned: ", " quarantined as dated after the reference date 1990-01-01 (future_date): "} {
		if !strings.Contains(out, want) {
			t.Errorf("status: exit %d, want %q in\n%s", code, want, out)
		}
	}
	// Counts of another shape, in a summary edited by hand, give no
	// warning and do not stop status.
	if _, err := conn.Exec(ctx, `UPDATE migration.run SET summary = jsonb_set(summary, '{tables}', '[1]') WHERE batch = 'east'`); err != nil {
		t.Fatal(err)
	}
	for _, b := range status().Batches {
		if b.Name == "east" && len(b.Warnings) != 0 {
			t.Errorf("east, its counts edited: warnings %v", b.Warnings)
		}
	}
}

func TestStatusSaysWhyARunFailed(t *testing.T) {
	s := load.BatchState{Name: "north", Last: load.RunState{ID: 3, State: "failed", Phase: "plan", Error: "extract: MAKSE.SUMMA: decimal \"12,5x\"\n  more"}}
	if got, want := nextStep(s), `run 3 failed in phase plan: extract: MAKSE.SUMMA: decimal "12,5x"; once that is put right, run the batch again to complete it`; got != want {
		t.Errorf("next step %q, want %q", got, want)
	}
	s.Last.Error = ""
	if got := nextStep(s); !strings.Contains(got, ": no reason recorded;") {
		t.Errorf("next step %q", got)
	}
}

// TestAStoppedRunSaysItsWorkIsKept: a run that stops on an error after it
// started says that what it wrote is kept and that running the batch again
// continues from it, so that the engineer does not go looking for
// something to undo first.
func TestAStoppedRunSaysItsWorkIsKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 100, 4)
	src, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(`UPDATE MAKSE SET SUMMA = '12,5x' WHERE MAKSE_ID = (SELECT max(MAKSE_ID) FROM MAKSE)`); err != nil {
		t.Fatal(err)
	}
	src.Close()
	code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", star2(t), "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "north", "--as-of", "2026-11-01", "-q")
	for _, want := range []string{`MAKSE.SUMMA: decimal "12,5x"`, "Run 1 stopped; anything it wrote is kept. Once the cause is put right, running batch north again continues from it"} {
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, want %d and %q in:\n%s", code, exitError, want, stderr)
		}
	}
}

// TestStatusOfATargetWithoutBookkeeping: before the first batch (or on the
// wrong database) status says that no batch was ever migrated into the
// target, and which municipalities are still to do, rather than an error
// about a missing table.
func TestStatusOfATargetWithoutBookkeeping(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	genSTAR1(t, dir, 20, 9)
	target := testenv.Postgres(t)
	code, out, stderr := run(t, ctx, "status", "--target", target, "--mappings", filepath.Join(dir, "mappings"))
	if code != 0 || !strings.Contains(out, "holds no migration bookkeeping: no batch was ever migrated into it") ||
		!strings.Contains(out, "municipalities of the mapping folder in no batch yet") {
		t.Errorf("status: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(t, ctx, "status", "--target", target, "--json")
	var res statusResult
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || !res.NoBookkeeping || len(res.Batches) != 0 {
		t.Errorf("status --json: exit %d, %v: %s%s", code, err, out, stderr)
	}
}
