package batch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/starmig/starmig/load"
)

// TestRoundsOfTwoBatchesSettle: two batches of half the municipalities
// each run in turn while STAR1 and STAR2 both take writes: edits, persons
// and proceedings moved between municipalities, codes no mapping knows
// (with --allow-unmapped) and codes put right, soft deletes and their
// undoing, proceedings closed long ago and opened again, birth dates in
// the future, outright deletes, new proceedings, changed money, a
// personal code copied to another person (duplicates), and rows changed or
// deleted in STAR2, some on both sides. After every round each STAR1 row
// has one outcome, and what the deep reconciliations of both batches find
// is settled by decisions taken in the batch that the bookkeeping says
// wrote each row: keeping STAR2's rows in odd rounds, taking STAR1's in
// even ones where a run can write them (then both batches run again).
// Then both reconcile deep with nothing found.
func TestRoundsOfTwoBatchesSettle(t *testing.T) {
	seed := uint64(13) // its fourth round undoes a soft delete of a row edited in STAR2
	// Another seed gives other rounds: a finding is reproduced with the
	// seed it was found with.
	if v := os.Getenv("STARMIG_TEST_ROUNDS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("STARMIG_TEST_ROUNDS_SEED: %v", err)
		}
	}
	path, maps, dsn, conn, halves, _ := halvesMigrated(t, 400, seed)
	ctx := context.Background()
	// A run's own reconciliation finds what STAR2 changed: that is what
	// the round decides on.
	run := func(i int) {
		t.Helper()
		o := options(path, maps, dsn)
		o.Batch, o.KOV = fmt.Sprintf("half-%d", i), halves[i]
		o.AllowUnmapped = true
		var fe *FindingsError
		if _, err := Migrate(ctx, o); err != nil && !errors.As(err, &fe) {
			t.Fatalf("batch half-%d: %v", i, err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	var codes []string
	rows, err := db.Query("SELECT DISTINCT KOV_KOOD FROM MENETLUS ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c)
	}
	rows.Close()
	pick := func(query string) int64 {
		ids := star1IDs(t, db, query)
		if len(ids) == 0 {
			t.Fatalf("nothing to pick: %s", query)
		}
		return ids[rng.IntN(len(ids))]
	}
	loaded := func(table string) (int64, string) {
		var id int64
		var star2 string
		if err := conn.QueryRow(ctx, `SELECT star1_id, star2_id::text FROM migration.row_map WHERE star1_table = $1 AND outcome = 'loaded'
			ORDER BY md5(star1_id::text || $2) LIMIT 1`, table, fmt.Sprint(rng.Uint64())).Scan(&id, &star2); err != nil {
			t.Fatal(err)
		}
		return id, star2
	}
	deep := func(i int) []Finding {
		err := deepHalf(path, maps, dsn, i)
		var fe *FindingsError
		if errors.As(err, &fe) {
			return fe.Report.Findings
		}
		if err != nil {
			t.Fatalf("reconcile half-%d: %v", i, err)
		}
		return nil
	}
	nextID := int64(950000)
	for round := 1; round <= 6; round++ {
		var edits []string
		for range 3 {
			nextID++
			person := pick("SELECT ISIK_ID FROM ISIK WHERE KUSTUTATUD = 'E'")
			edits = append(edits,
				fmt.Sprintf("UPDATE ISIK SET AADRESS = 'Ring %d', MUUDETUD = '2026-10-2%d 10:00:00' WHERE ISIK_ID = %d", round, round, pick("SELECT ISIK_ID FROM ISIK")),
				fmt.Sprintf("UPDATE MENETLUS SET KOV_KOOD = '%s' WHERE MENETLUS_ID = %d", codes[rng.IntN(len(codes))], pick("SELECT MENETLUS_ID FROM MENETLUS")),
				fmt.Sprintf("UPDATE ISIK SET KOV_KOOD = '%s' WHERE ISIK_ID = %d", codes[rng.IntN(len(codes))], pick("SELECT ISIK_ID FROM ISIK")),
				fmt.Sprintf("UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID = %d", pick("SELECT ISIK_ID FROM ISIK")),
				fmt.Sprintf("DELETE FROM TOIMING WHERE TOIMING_ID = %d", pick("SELECT TOIMING_ID FROM TOIMING")),
				fmt.Sprintf("UPDATE MAKSE SET SUMMA = round(SUMMA + 1, 2) WHERE MAKSE_ID = %d", pick("SELECT MAKSE_ID FROM MAKSE")),
				fmt.Sprintf("INSERT INTO MENETLUS VALUES (%d, NULL, %d, '%s', 'TEENUS', 'A', '2026-10-29 00:00:00', NULL, 'jaan.saar', NULL)", nextID, person, codes[rng.IntN(len(codes))]),
				fmt.Sprintf("UPDATE ISIK SET ISIKUKOOD = (SELECT ISIKUKOOD FROM ISIK WHERE ISIK_ID = %d) WHERE ISIK_ID = %d", pick("SELECT ISIK_ID FROM ISIK"), pick("SELECT ISIK_ID FROM ISIK")),
				fmt.Sprintf("UPDATE ISIK SET KUSTUTATUD = 'E' WHERE ISIK_ID = %d", pick("SELECT ISIK_ID FROM ISIK WHERE KUSTUTATUD = 'J' UNION SELECT 1")),
				fmt.Sprintf("DELETE FROM MENETLUS WHERE MENETLUS_ID = %d", pick("SELECT MENETLUS_ID FROM MENETLUS")),
				fmt.Sprintf("UPDATE ISIK SET KOV_KOOD = '9999' WHERE ISIK_ID = %d", pick("SELECT ISIK_ID FROM ISIK")),
				fmt.Sprintf("UPDATE MENETLUS SET STAATUS = 'L', LOPP_KP = '2015-01-01 00:00:00' WHERE MENETLUS_ID = %d", pick("SELECT MENETLUS_ID FROM MENETLUS")),
				fmt.Sprintf("UPDATE MENETLUS SET STAATUS = 'A', LOPP_KP = NULL WHERE MENETLUS_ID = %d", pick("SELECT MENETLUS_ID FROM MENETLUS WHERE STAATUS <> 'A' UNION SELECT 1")),
				fmt.Sprintf("UPDATE ISIK SET SYNNIAEG = '2030-01-01 00:00:00' WHERE ISIK_ID = %d", pick("SELECT ISIK_ID FROM ISIK")),
				fmt.Sprintf("UPDATE ISIK SET KOV_KOOD = '%s' WHERE KOV_KOOD = '9999' AND ISIK_ID = %d", codes[rng.IntN(len(codes))], pick("SELECT ISIK_ID FROM ISIK WHERE KOV_KOOD = '9999' UNION SELECT 1")),
				fmt.Sprintf("UPDATE OTSUS SET TEENUS_KOOD = 'NOPE' WHERE OTSUS_ID = %d", pick("SELECT OTSUS_ID FROM OTSUS")),
			)
			// The same proceeding changed in both.
			id, star2 := loaded("MENETLUS")
			edits = append(edits, fmt.Sprintf("UPDATE MENETLUS SET VASTUTAJA = 'kadri.kask%d' WHERE MENETLUS_ID = %d", round, id))
			if _, err := conn.Exec(ctx, "UPDATE star2.proceeding SET responsible_user = 'both' WHERE id = $1", star2); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range edits {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("round %d: %s: %v", round, q, err)
			}
		}
		for range 2 {
			_, proc := loaded("MENETLUS")
			_, person := loaded("ISIK")
			_, pay := loaded("MAKSE")
			_, act := loaded("TOIMING")
			for _, q := range []string{
				"UPDATE star2.proceeding SET responsible_user = 'tiina.social' WHERE id = '" + proc + "'",
				"UPDATE star2.person SET address = 'Set in STAR2' WHERE id = '" + person + "'",
				"UPDATE star2.payment SET amount_eur = amount_eur + 0.01 WHERE id = '" + pay + "'",
				"DELETE FROM star2.activity WHERE id = '" + act + "'",
			} {
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("round %d: %s: %v", round, q, err)
				}
			}
		}
		first := rng.IntN(2)
		run(first)
		run(1 - first)

		// What the deep reconciliations find is decided on in the batch
		// that wrote each row.
		byBatch := map[string][]load.RowRef{}
		var found []string
		for i := range halves {
			for _, f := range deep(i) {
				found = append(found, fmt.Sprintf("half-%d: %s %d %s: %s", i, f.Table, f.Star1ID, f.Kind, f.Detail))
				if f.Star1ID == 0 {
					continue
				}
				var wrote string
				if err := conn.QueryRow(ctx, `SELECT batch FROM migration.row_map WHERE star1_table = $1 AND star1_id = $2`, f.Table, f.Star1ID).Scan(&wrote); err != nil {
					t.Fatalf("round %d: %s %d: %v", round, f.Table, f.Star1ID, err)
				}
				byBatch[wrote] = append(byBatch[wrote], load.RowRef{Table: f.Table, ID: f.Star1ID})
			}
		}
		t.Logf("round %d: %d findings", round, len(found))
		batches := make([]string, 0, len(byBatch))
		for b := range byBatch {
			batches = append(batches, b)
		}
		sort.Strings(batches)
		for _, b := range batches {
			refs := uniqueRefs(byBatch[b])
			decide := func(decision string, refs ...load.RowRef) error {
				o := ResolveOptions{Target: dsn, Batch: b, Rows: refs, Decision: decision,
					Reason: "round", Operator: "mari.migration", Now: clock, Wait: load.DefaultWait}
				_, err := Resolve(ctx, o)
				return err
			}
			if round%2 == 1 {
				if err := decide(load.KeepSTAR2, refs...); err != nil {
					t.Errorf("round %d: keep STAR2's rows in %s: %v", round, b, err)
				}
				continue
			}
			// STAR1's version where a run can write it; a row deleted
			// in STAR2, or one the rules no longer load, is kept as
			// STAR2 has it.
			for _, r := range refs {
				err := decide(load.TakeSTAR1, r)
				var re *load.ResolveError
				if errors.As(err, &re) {
					err = decide(load.KeepSTAR2, r)
				}
				if err != nil {
					t.Errorf("round %d: decide on %s in %s: %v", round, r, b, err)
				}
			}
		}
		if round%2 == 0 {
			// STAR1's rows are written by the next runs.
			run(first)
			run(1 - first)
		}
		for i := range halves {
			for _, f := range deep(i) {
				t.Errorf("round %d: half-%d still finds %s %d %s: %s", round, i, f.Table, f.Star1ID, f.Kind, f.Detail)
			}
		}
		everyRowBookedOnce(t, db, conn, fmt.Sprintf("round %d", round))
		if t.Failed() {
			t.Logf("seed %d, round %d: STAR1's edits:\n%s\nfound before the decisions:\n%s", seed, round, strings.Join(edits, "\n"), strings.Join(found, "\n"))
			return
		}
	}
}

func uniqueRefs(refs []load.RowRef) []load.RowRef {
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Table != refs[j].Table {
			return refs[i].Table < refs[j].Table
		}
		return refs[i].ID < refs[j].ID
	})
	out := refs[:0]
	for i, r := range refs {
		if i == 0 || r != refs[i-1] {
			out = append(out, r)
		}
	}
	return out
}
