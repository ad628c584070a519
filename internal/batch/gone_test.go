package batch

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

// TestRowsDeletedFromSTAR1AreKeptAndCounted: STAR1 deletes rows outright
// (not soft deletes) after a batch migrated them. Until the batch runs
// again, reconciliation names each row; the re-run keeps the STAR2 rows
// (a re-run never deletes), marks them gone in the bookkeeping and says
// so, and the batch reconciles with the rows counted apart. Rows that
// STAR1 holds again lose the mark.
func TestRowsDeletedFromSTAR1AreKeptAndCounted(t *testing.T) {
	path, maps := star1(t, 1500, 23, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatal(err)
	}
	booked := func(table, outcome string) int64 {
		var id int64
		if err := conn.QueryRow(ctx, `SELECT star1_id FROM migration.row_map WHERE star1_table = $1 AND outcome = $2
			ORDER BY star1_id OFFSET 3 LIMIT 1`, table, outcome).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	type row struct {
		table, key string
		id         int64
		values     []any
	}
	gone := []*row{
		{table: "TOIMING", key: "TOIMING_ID", id: booked("TOIMING", "loaded")},
		{table: "MAKSE", key: "MAKSE_ID", id: booked("MAKSE", "archived_only")},
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, r := range gone {
		rows, err := db.Query(fmt.Sprintf("SELECT * FROM %s WHERE %s = ?", r.table, r.key), r.id)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		r.values = make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range ptrs {
			ptrs[i] = &r.values[i]
		}
		if !rows.Next() {
			t.Fatalf("%s %d not in STAR1", r.table, r.id)
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if _, err := db.Exec(fmt.Sprintf("DELETE FROM %s WHERE %s = ?", r.table, r.key), r.id); err != nil {
			t.Fatal(err)
		}
	}
	before := testenv.STAR2Digest(t, conn)

	// Before the batch runs again, reconciliation names each row.
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	_, err = Reconcile(ctx, ro)
	fe := wantFindings(t, err, "reconcile before the re-run")
	if len(fe.Report.Findings) != len(gone) {
		t.Errorf("findings %v, want one per deleted row", fe.Report.Findings)
	}
	for i, f := range fe.Report.Findings {
		if i < len(gone) && (f.Kind != "not_in_star1" || !strings.Contains(f.Detail, "run the batch again")) {
			t.Errorf("finding %+v", f)
		}
	}
	named := map[string]int64{}
	for _, f := range fe.Report.Findings {
		named[f.Table] = f.Star1ID
	}
	for _, r := range gone {
		if named[r.table] != r.id {
			t.Errorf("findings %v do not name %s %d", fe.Report.Findings, r.table, r.id)
		}
	}

	// The re-run keeps STAR2 and the outcomes as they were and marks the rows.
	sum, err := Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	testenv.SameDigest(t, "re-run after deletes in STAR1", before, testenv.STAR2Digest(t, conn))
	for _, r := range gone {
		if s := sum.Tables[r.table]; s == nil || s.Gone != 1 {
			t.Errorf("%s: run summary %+v, want 1 gone", r.table, s)
		}
		var run int64
		if err := conn.QueryRow(ctx, "SELECT gone_run_id FROM migration.row_outcome WHERE star1_table = $1 AND star1_id = $2", r.table, r.id).Scan(&run); err != nil || run != sum.RunID {
			t.Errorf("%s %d: gone_run_id %d %v, want %d", r.table, r.id, run, err, sum.RunID)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM star2.activity WHERE id = $1", mapping.ID("TOIMING", gone[0].id)).Scan(&n); err != nil || n != 1 {
		t.Errorf("STAR2 activity of the deleted TOIMING: %d rows %v", n, err)
	}
	for _, tr := range sum.Report.Tables {
		want := int64(0)
		if tr.Table == "TOIMING" || tr.Table == "MAKSE" {
			want = 1
		}
		if tr.Total.Gone != want {
			t.Errorf("%s: reconciliation counts %d gone, want %d", tr.Table, tr.Total.Gone, want)
		}
	}
	var text strings.Builder
	WriteText(&text, sum.Report)
	if !strings.Contains(text.String(), "2 rows that earlier runs migrated and STAR1 has deleted outright since (MAKSE 1, TOIMING 1)") {
		t.Errorf("report says nothing of the deleted rows:\n%s", text.String())
	}
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Fatalf("reconcile after the re-run: %v", err)
	}
	// A run that finds nothing new marks nothing again.
	if sum, err = Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatal(err)
	}
	for _, r := range gone {
		if s := sum.Tables[r.table]; s.Gone != 0 {
			t.Errorf("%s: third run marked %d gone again", r.table, s.Gone)
		}
	}

	// STAR1 holds the rows again: the marks go, the batch reconciles.
	for _, r := range gone {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(r.values)), ",")
		if _, err := db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%s)", r.table, marks), r.values...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatalf("run after the rows came back: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.row_map WHERE gone_run_id IS NOT NULL").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows still marked gone: %v", n, err)
	}
	testenv.SameDigest(t, "rows back in STAR1", before, testenv.STAR2Digest(t, conn))
}

// TestRowsDeletedFromSTAR1AreMarkedByTheirBatch: with batches of some
// municipalities, a row deleted from STAR1 is marked by the batch that
// covers its municipality, and another batch's re-run leaves it alone.
func TestRowsDeletedFromSTAR1AreMarkedByTheirBatch(t *testing.T) {
	path, _, _, conn, _, run := halvesMigrated(t, 1000, 25)
	ctx := context.Background()
	var id int64
	if err := conn.QueryRow(ctx, `SELECT star1_id FROM migration.row_map WHERE star1_table = 'TOIMING' AND outcome = 'loaded' AND batch = 'half-1'
		ORDER BY star1_id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM TOIMING WHERE TOIMING_ID = ?", id); err != nil {
		t.Fatal(err)
	}
	if s := run(0).Tables["TOIMING"]; s.Gone != 0 {
		t.Errorf("batch half-0 marked %d rows of half-1 gone", s.Gone)
	}
	if s := run(1).Tables["TOIMING"]; s.Gone != 1 {
		t.Errorf("batch half-1 marked %d rows gone, want TOIMING %d", s.Gone, id)
	}
}
