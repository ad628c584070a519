package batch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/synth"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

var asOf = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func clock() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) }

// star1 generates a synthetic STAR1 with every quirk into a fresh folder and
// returns its path and mapping folder.
func star1(t testing.TB, persons int, seed uint64, edit func(*synth.Rates)) (string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "star1.db")
	r := synth.DefaultRates()
	if edit != nil {
		edit(&r)
	}
	if _, err := synth.Generate(context.Background(), path, synth.Options{Persons: persons, Seed: seed, AsOf: asOf, Rates: r, DocSize: 400}); err != nil {
		t.Fatal(err)
	}
	maps := filepath.Join(dir, "mappings")
	if err := synth.WriteMappings(maps); err != nil {
		t.Fatal(err)
	}
	return path, maps
}

// target is a fresh STAR2 database with the schema applied.
func target(t testing.TB) (secret.DSN, *pgx.Conn) {
	t.Helper()
	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	if err := load.ApplySchema(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	return secret.DSN(dsn), conn
}

func options(path, maps string, dsn secret.DSN) Options {
	return Options{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", AsOf: asOf, LiveYears: 5, Now: clock, Wait: load.DefaultWait}
}

func TestMigrateEveryQuirkReconciles(t *testing.T) {
	path, maps := star1(t, 3000, 11, nil)
	dsn, conn := target(t)
	sum, err := Migrate(context.Background(), options(path, maps, dsn))
	if err != nil {
		var fe *FindingsError
		if errors.As(err, &fe) {
			for _, f := range fe.Report.Findings[:min(20, len(fe.Report.Findings))] {
				t.Log(f)
			}
		}
		t.Fatal(err)
	}
	for table, s := range sum.Tables {
		t.Logf("%s: %+v", table, *s)
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM star2.person").Scan(&n); err != nil || n == 0 {
		t.Fatalf("star2.person has %d rows: %v", n, err)
	}
	targetHashesArePostgreSQLs(t, conn)
}

// targetHashesArePostgreSQLs checks that the bookkeeping's hash of every
// STAR2 row the migration wrote is md5(t::text) of the row as PostgreSQL
// holds it, which is what a re-run compares before it updates the row.
// Rows changed in STAR2 since (except) are left out.
func targetHashesArePostgreSQLs(t *testing.T, conn *pgx.Conn, except ...uuid.UUID) {
	t.Helper()
	skip := []string{}
	for _, u := range except {
		skip = append(skip, u.String())
	}
	for _, mt := range mapping.Tables {
		var rows, wrong int
		if err := conn.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE rm.target_hash IS DISTINCT FROM decode(md5(t::text), 'hex'))
			FROM migration.row_map rm JOIN star2.%s t ON t.id = rm.star2_id
			WHERE rm.star1_table = $1 AND rm.outcome = 'loaded' AND NOT rm.star2_id = ANY($2::uuid[])`, mt.Star2), mt.Star1, skip).Scan(&rows, &wrong); err != nil {
			t.Fatal(err)
		}
		if rows == 0 || wrong != 0 {
			t.Errorf("%s: %d of %d loaded rows have a target hash that is not md5(t::text)", mt.Star2, wrong, rows)
		}
	}
}

func TestReconcileDeepFindsTamperedRow(t *testing.T) {
	path, maps := star1(t, 1500, 12, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatal(err)
	}
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	rep, err := Reconcile(ctx, ro)
	if err != nil {
		t.Fatalf("clean batch: %v", err)
	}
	if !rep.Deep || !rep.OK() {
		t.Fatalf("report %+v", rep)
	}
	// A social worker's typo fixed by hand in STAR2 is a difference.
	var star1ID int64
	var star2ID string
	if err := conn.QueryRow(ctx, `SELECT rm.star1_id, rm.star2_id::text FROM migration.row_map rm
		WHERE rm.star1_table = 'OTSUS' AND rm.outcome = 'loaded' AND rm.amount_eur IS NOT NULL ORDER BY rm.star1_id LIMIT 1`).Scan(&star1ID, &star2ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE star2.decision SET valid_to = valid_to + 1 WHERE id = $1`, star2ID); err != nil {
		t.Fatal(err)
	}
	_, err = Reconcile(ctx, ro)
	fe := wantFindings(t, err, "tampered STAR2")
	found := false
	for _, f := range fe.Report.Findings {
		if f.Table == "OTSUS" && f.Star1ID == star1ID && f.Star2ID == star2ID && f.Kind == "deep" {
			found = strings.Contains(f.Detail, "valid_to")
		} else {
			t.Errorf("unexpected finding %+v", f)
		}
	}
	if !found {
		t.Errorf("the tampered row OTSUS %d is not named: %+v", star1ID, fe.Report.Findings)
	}
	// Without --deep the identity still holds: the tamper is in a column
	// the counts and sums do not see.
	ro.Deep = false
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("non-deep: %v", err)
	}

	// A payment deleted from STAR2 and another one's amount changed are
	// named without --deep, each with its row.
	var gone, changed [2]string // STAR1 id, STAR2 id
	for i, p := range []*[2]string{&gone, &changed} {
		if err := conn.QueryRow(ctx, `SELECT rm.star1_id::text, rm.star2_id::text FROM migration.row_map rm
			WHERE rm.star1_table = 'MAKSE' AND rm.outcome = 'loaded' ORDER BY rm.star1_id OFFSET $1 LIMIT 1`, 10*i).Scan(&p[0], &p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `DELETE FROM star2.payment WHERE id = $1`, gone[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE star2.payment SET amount_eur = amount_eur + 0.01 WHERE id = $1`, changed[1]); err != nil {
		t.Fatal(err)
	}
	_, err = Reconcile(ctx, ro)
	fe = wantFindings(t, err, "payments changed in STAR2")
	kinds := map[string]string{}
	for _, f := range fe.Report.Findings {
		if f.Table == "MAKSE" && f.Star1ID != 0 {
			kinds[fmt.Sprint(f.Star1ID)+" "+f.Star2ID] = f.Kind
		}
	}
	if k := kinds[gone[0]+" "+gone[1]]; k != "missing_in_star2" {
		t.Errorf("deleted payment MAKSE %s: finding %q, want missing_in_star2; all: %+v", gone[0], k, fe.Report.Findings)
	}
	if k := kinds[changed[0]+" "+changed[1]]; k != "star2_money" {
		t.Errorf("changed payment MAKSE %s: finding %q, want star2_money; all: %+v", changed[0], k, fe.Report.Findings)
	}
	if len(kinds) != 2 {
		t.Errorf("rows named: %v, want the two payments", kinds)
	}

	// More rows at fault than a report lists: the first are named, all are
	// counted.
	tag, err := conn.Exec(ctx, `DELETE FROM star2.activity WHERE id IN (SELECT id FROM star2.activity ORDER BY id LIMIT $1)`, maxFindings+5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Reconcile(ctx, ro)
	fe = wantFindings(t, err, "activities deleted from STAR2")
	if n, want := int64(len(fe.Report.Findings))+fe.Report.More, 2+tag.RowsAffected(); len(fe.Report.Findings) != maxFindings || n != want {
		t.Errorf("%d findings listed and %d more, want %d and %d", len(fe.Report.Findings), fe.Report.More, maxFindings, want-maxFindings)
	}
	for _, f := range fe.Report.Findings {
		if f.Table == "TOIMING" && f.Kind != "missing_in_star2" {
			t.Errorf("activity finding %+v, want missing_in_star2", f)
		}
	}
}

// TestDeepComparesThePersonsABatchWrote: a batch writes the persons of
// other municipalities that its rows refer to, and its runs meet their
// conflicts, so its deep reconciliation compares them too, and so does
// that of their own municipality's batch.
func TestDeepComparesThePersonsABatchWrote(t *testing.T) {
	path, maps := star1(t, 600, 5, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	halves := twoHalves(t, maps)
	run := halfBatches(t, path, maps, dsn, halves)
	run(0)
	deep := func(i int) error { return deepHalf(path, maps, dsn, i) }
	if err := deep(0); err != nil {
		t.Fatalf("clean batch: %v", err)
	}
	var star1ID int64
	var star2ID string
	if err := conn.QueryRow(ctx, `SELECT rm.star1_id, rm.star2_id::text FROM migration.row_map rm JOIN star2.person p ON p.id = rm.star2_id
		WHERE rm.star1_table = 'ISIK' AND rm.outcome = 'loaded' AND rm.batch = 'half-0' AND p.municipality_code <> ALL($1)
		ORDER BY rm.star1_id LIMIT 1`, halves[0]).Scan(&star1ID, &star2ID); err != nil {
		t.Fatalf("a person of another municipality written by half-0: %v", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE star2.person SET address = coalesce(address, '') || ' 2' WHERE id = $1`, star2ID); err != nil {
		t.Fatal(err)
	}
	var kov string
	if err := conn.QueryRow(ctx, `SELECT municipality_code FROM star2.person WHERE id = $1`, star2ID).Scan(&kov); err != nil {
		t.Fatal(err)
	}
	named := func(i int) {
		t.Helper()
		fe := wantFindings(t, deep(i), fmt.Sprintf("half-%d after a person it wrote was changed in STAR2", i))
		found := false
		// The batch that wrote it but does not cover its municipality
		// says why it compares it.
		why := "(a row of municipality " + kov + ", written by this batch because its rows refer to it)"
		for _, f := range fe.Report.Findings {
			if f.Table == "ISIK" && f.Star1ID == star1ID && f.Kind == "deep" && strings.Contains(f.Detail, "address") {
				found = true
				if strings.Contains(f.Detail, why) != (i == 0) {
					t.Errorf("half-%d: %q, want %q only in half-0's", i, f.Detail, why)
				}
			} else {
				t.Errorf("half-%d: unexpected finding %+v", i, f)
			}
		}
		if !found {
			t.Errorf("half-%d does not name ISIK %d: %+v", i, star1ID, fe.Report.Findings)
		}
	}
	named(0)
	// The batch of the person's own municipality compares it as well.
	run(1)
	named(1)
}

func mustDate(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// deepHalf runs the deep reconciliation of batch half-i of halfBatches.
func deepHalf(path, maps string, dsn secret.DSN, i int) error {
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: fmt.Sprintf("half-%d", i), Deep: true}
	_, err := Reconcile(context.Background(), ro)
	return err
}

// halfBatches returns a function that runs batch half-i over the
// municipalities of halves[i] and fails the test on any error.
func halfBatches(t *testing.T, path, maps string, dsn secret.DSN, halves [2][]string) func(i int) *Summary {
	return func(i int) *Summary {
		t.Helper()
		o := options(path, maps, dsn)
		o.Batch, o.KOV = fmt.Sprintf("half-%d", i), halves[i]
		sum, err := Migrate(context.Background(), o)
		if err != nil {
			t.Fatalf("batch half-%d: %v", i, err)
		}
		return sum
	}
}

// migrated generates a STAR1, migrates it once in batch "all" into a fresh
// STAR2, and opens the STAR1 file for the test's edits.
func migrated(t *testing.T, persons int, seed uint64) (path, maps string, dsn secret.DSN, conn *pgx.Conn, db *sql.DB) {
	t.Helper()
	path, maps = star1(t, persons, seed, nil)
	dsn, conn = target(t)
	if _, err := Migrate(context.Background(), options(path, maps, dsn)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return path, maps, dsn, conn, db
}

// wantFindings is the error of a reconciliation that must find something,
// what naming it; it fails the test when there is none.
func wantFindings(t *testing.T, err error, what string) *FindingsError {
	t.Helper()
	var fe *FindingsError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: %v, want findings", what, err)
	}
	return fe
}

// keepSTAR2 decides, for batch "all", to keep rows as STAR2 has them: the
// rows given, or every open conflict when none is.
func keepSTAR2(t *testing.T, dsn secret.DSN, reason string, rows ...load.RowRef) {
	t.Helper()
	o := ResolveOptions{Target: dsn, Batch: "all", Rows: rows, AllConflicts: len(rows) == 0, Decision: load.KeepSTAR2,
		Reason: reason, Operator: "mari.migration", Now: clock, Wait: load.DefaultWait}
	if _, err := Resolve(context.Background(), o); err != nil {
		t.Fatalf("keep STAR2's rows: %v", err)
	}
}

// reconcilesDeep fails the test when the deep reconciliation of batch
// "all" finds anything, what saying when.
func reconcilesDeep(t *testing.T, path, maps string, dsn secret.DSN, what string) {
	t.Helper()
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	if _, err := Reconcile(context.Background(), ro); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// star1IDs runs a query on the STAR1 file that returns ids, and returns them.
func star1IDs(t *testing.T, db *sql.DB, query string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// halvesMigrated generates a STAR1 and migrates it into a fresh STAR2 as
// two batches, half-0 and half-1, of half the municipalities each. run
// runs batch half-i again.
func halvesMigrated(t *testing.T, persons int, seed uint64) (path, maps string, dsn secret.DSN, conn *pgx.Conn, halves [2][]string, run func(i int) *Summary) {
	t.Helper()
	path, maps = star1(t, persons, seed, nil)
	dsn, conn = target(t)
	halves = twoHalves(t, maps)
	run = halfBatches(t, path, maps, dsn, halves)
	run(0)
	run(1)
	return path, maps, dsn, conn, halves, run
}

// twoHalves splits the STAR2 municipality codes of a mapping folder in two,
// for two batches of other municipalities.
func twoHalves(t *testing.T, maps string) [2][]string {
	t.Helper()
	m, err := mapping.LoadFolder(maps)
	if err != nil {
		t.Fatal(err)
	}
	var h [2][]string
	seen := map[string]bool{}
	for _, mu := range m.Municipalities {
		if !seen[mu.Code] {
			seen[mu.Code] = true
			h[len(seen)%2] = append(h[len(seen)%2], mu.Code)
		}
	}
	return h
}
