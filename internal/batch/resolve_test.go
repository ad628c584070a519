package batch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// TestResolveKeepsOrTakes follows rows social workers changed in STAR2 and
// the decisions a migration engineer takes on them: kept rows are left
// alone by later runs and counted apart by reconciliation, taken ones are
// overwritten from STAR1 by the next run, and a kept row that changes
// again is a finding again.
func TestResolveKeepsOrTakes(t *testing.T) {
	path, maps := star1(t, 1500, 23, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	opts := options(path, maps, dsn)
	if _, err := Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	loaded := func(table string, skip int) load.RowRef {
		var id int64
		if err := conn.QueryRow(ctx, `SELECT star1_id FROM migration.row_map WHERE star1_table = $1 AND outcome = 'loaded'
			ORDER BY star1_id OFFSET $2 LIMIT 1`, table, skip).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return load.RowRef{Table: table, ID: id}
	}
	keptBoth, takeBoth, keptSTAR2Only := loaded("MENETLUS", 1), loaded("MENETLUS", 3), loaded("MENETLUS", 5)
	untouched, money, gone := loaded("MENETLUS", 7), loaded("MAKSE", 2), loaded("TOIMING", 4)
	person := loaded("ISIK", 5) // a STAR2 person may be shared by duplicates: its owner expects the hash
	var personID string
	if err := conn.QueryRow(ctx, "SELECT star2_id::text FROM migration.row_map WHERE star1_table = 'ISIK' AND star1_id = $1", person.ID).Scan(&personID); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Social workers change three proceedings and a payment, and delete an
	// activity, in STAR2.
	for _, r := range []load.RowRef{keptBoth, takeBoth, keptSTAR2Only} {
		exec("UPDATE star2.proceeding SET responsible_user = 'tiina.social' WHERE id = $1", mapping.ID(r.Table, r.ID))
	}
	exec("UPDATE star2.payment SET amount_eur = amount_eur + 1 WHERE id = $1", mapping.ID(money.Table, money.ID))
	exec("DELETE FROM star2.activity WHERE id = $1", mapping.ID(gone.Table, gone.ID))
	exec("UPDATE star2.person SET address = 'Sotsiaaltöötaja tn 1' WHERE id = $1", personID)
	// STAR1 changes two of the proceedings too.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	star1Edit := func(r load.RowRef, user string) {
		t.Helper()
		if _, err := db.Exec("UPDATE MENETLUS SET VASTUTAJA = ? WHERE MENETLUS_ID = ?", user, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	star1Edit(keptBoth, "kadri.kask")
	star1Edit(takeBoth, "kadri.kask")
	if _, err := db.Exec("UPDATE ISIK SET AADRESS = 'Uus tänav 5, Tartu' WHERE ISIK_ID = ?", person.ID); err != nil {
		t.Fatal(err)
	}

	// The second run reports two conflicts, and its reconciliation the
	// payment and the activity.
	sum, err := Migrate(ctx, opts)
	var findings *FindingsError
	if !errors.As(err, &findings) {
		t.Fatalf("second run: want findings for the payment and the activity, got %v", err)
	}
	if kinds := findingKinds(findings.Report); kinds["MAKSE star2_money"] != 1 || kinds["TOIMING missing_in_star2"] != 1 || len(kinds) != 2 {
		t.Errorf("second run: findings %v", kinds)
	}
	if m, i := sum.Tables["MENETLUS"], sum.Tables["ISIK"]; m.Conflicts != 2 || i.Conflicts != 1 {
		t.Errorf("second run MENETLUS: %+v, ISIK: %+v", *m, *i)
	}
	open, err := Conflicts(ctx, dsn, "all")
	if err != nil {
		t.Fatal(err)
	}
	// The payment and the activity, which STAR2 alone changed, are listed
	// too: the reconciliation names them, and a decision settles them.
	if got := conflictRows(open); got != fmt.Sprint([]load.RowRef{person, money, keptBoth, takeBoth, gone}) {
		t.Errorf("open conflicts: %s", got)
	} else if open[1].Kind != load.AmountChangedInSTAR2 || open[4].Kind != load.DeletedInSTAR2 || open[0].Kind != load.ChangedOnBothSides {
		t.Errorf("kinds of the open conflicts: %+v", open)
	}
	for _, f := range findings.Report.Findings {
		if !strings.Contains(f.Detail, "since the migration wrote it: starmig resolve --list shows it") {
			t.Errorf("finding %+v does not say how to settle it", f)
		}
	}

	// The deep reconciliation tells a row STAR2 changed or deleted from
	// one the migration got wrong, and says how to settle it: a row
	// STAR2 alone changed is on no list, so it names the command.
	_, err = Reconcile(ctx, ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true})
	if !errors.As(err, &findings) {
		t.Fatalf("deep reconciliation before the decisions: %v, want findings", err)
	}
	hints := map[load.RowRef]string{
		keptSTAR2Only: fmt.Sprintf("in: responsible_user; changed in STAR2 since the migration wrote it: starmig resolve --batch all --row MENETLUS:%d --keep-star2 accepts it", keptSTAR2Only.ID),
		gone:          "; deleted in STAR2 since the migration wrote it: starmig resolve --list shows it, --keep-star2 accepts the deletion",
	}
	for _, f := range findings.Report.Findings {
		r := load.RowRef{Table: f.Table, ID: f.Star1ID}
		if want, ok := hints[r]; ok && f.Kind == "deep" {
			if !strings.Contains(f.Detail, want) {
				t.Errorf("deep finding on %s: %q, want %q", r, f.Detail, want)
			}
			delete(hints, r)
		}
		if r == untouched {
			t.Errorf("deep finding on a row nobody changed: %+v", f)
		}
	}
	if len(hints) > 0 {
		t.Errorf("deep reconciliation does not name %v: %v", hints, err)
	}

	// Refused by name, and nothing recorded.
	var quarantined load.RowRef
	if err := conn.QueryRow(ctx, `SELECT star1_table, star1_id FROM migration.row_map WHERE outcome = 'quarantined' AND star1_table = 'MENETLUS' LIMIT 1`).
		Scan(&quarantined.Table, &quarantined.ID); err != nil {
		t.Fatal(err)
	}
	resolve := func(d string, rows ...load.RowRef) ([]load.Resolved, error) {
		return Resolve(ctx, ResolveOptions{Target: dsn, Batch: "all", Rows: rows, Decision: d, Reason: "ticket 5521", Operator: "mari.migration", Now: clock, Wait: load.DefaultWait})
	}
	for _, c := range []struct {
		d    string
		rows []load.RowRef
		want string
	}{
		{load.KeepSTAR2, []load.RowRef{keptBoth, quarantined}, fmt.Sprintf("%s: its outcome is quarantined", quarantined)},
		{load.KeepSTAR2, []load.RowRef{untouched}, fmt.Sprintf("%s: star2.proceeding %s is as the migration last wrote it", untouched, mapping.ID(untouched.Table, untouched.ID))},
		{load.TakeSTAR1, []load.RowRef{gone}, "has been deleted in STAR2"},
		{load.KeepSTAR2, []load.RowRef{{Table: "MENETLUS", ID: 999999999}}, "MENETLUS 999999999: not in the bookkeeping"},
	} {
		_, err := resolve(c.d, c.rows...)
		var re *load.ResolveError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: want %q, got %v", c.d, c.rows, c.want, err)
		}
	}
	var decisions int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.resolution").Scan(&decisions); err != nil || decisions != 0 {
		t.Fatalf("a refused decision recorded %d rows (%v)", decisions, err)
	}

	done, err := resolve(load.KeepSTAR2, keptBoth, keptSTAR2Only, money, gone)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 4 || !done[0].Conflict || done[1].Conflict || !done[3].Deleted {
		t.Errorf("kept: %+v", done)
	}
	if _, err := resolve(load.TakeSTAR1, takeBoth, person); err != nil {
		t.Fatal(err)
	}
	open, err = Conflicts(ctx, dsn, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 2 || conflictRows(open) != fmt.Sprint([]load.RowRef{person, takeBoth}) || open[1].Decision != load.TakeSTAR1 || open[1].Operator != "mari.migration" {
		t.Errorf("after the decisions, open conflicts: %+v", open)
	}

	// The third run writes STAR1's version of the taken row, leaves the
	// kept ones, and reconciles, also deep.
	sum, err = Migrate(ctx, opts)
	if err != nil {
		t.Fatalf("third run: %v", err)
	}
	if m, i := sum.Tables["MENETLUS"], sum.Tables["ISIK"]; m.Conflicts != 0 || m.Updated != 1 || i.Conflicts != 0 || i.Updated != 1 {
		t.Errorf("third run MENETLUS: %+v, ISIK: %+v", *m, *i)
	}
	var address string
	if err := conn.QueryRow(ctx, "SELECT address FROM star2.person WHERE id = $1", personID).Scan(&address); err != nil || address != "Uus tänav 5, Tartu" {
		t.Errorf("the person taken from STAR1 holds %q (%v)", address, err)
	}
	user := func(r load.RowRef) string {
		var u string
		if err := conn.QueryRow(ctx, "SELECT responsible_user FROM star2.proceeding WHERE id = $1", mapping.ID(r.Table, r.ID)).Scan(&u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	if a, b, c := user(keptBoth), user(takeBoth), user(keptSTAR2Only); a != "tiina.social" || b != "kadri.kask" || c != "tiina.social" {
		t.Errorf("after the third run: kept %q, taken %q, kept %q", a, b, c)
	}
	reconcile := func() (*Report, error) {
		return Reconcile(ctx, ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true})
	}
	rep, err := reconcile()
	if err != nil {
		t.Fatalf("deep reconciliation after the decisions: %v", err)
	}
	kept := map[string]int64{}
	for _, tr := range rep.Tables {
		if tr.Kept > 0 {
			kept[tr.Table] = tr.Kept
		}
	}
	if fmt.Sprint(kept) != "map[MAKSE:1 MENETLUS:2 TOIMING:1]" {
		t.Errorf("kept as STAR2 has them: %v", kept)
	}
	var text strings.Builder
	WriteText(&text, rep)
	if !strings.Contains(text.String(), "4 loaded rows that a decision keeps as STAR2 has them") {
		t.Errorf("the report does not count the kept rows apart:\n%s", text.String())
	}

	// A fourth run changes nothing.
	before := Digest(t, conn)
	if sum, err = Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	sameDigest(t, "fourth run", before, Digest(t, conn))
	if s := sum.Tables["MENETLUS"]; s.Conflicts+s.Updated+s.Inserted != 0 {
		t.Errorf("fourth run MENETLUS: %+v", *s)
	}

	// A kept row changed again in STAR2, or in STAR1, needs a new decision.
	exec("UPDATE star2.proceeding SET responsible_user = 'peeter.other' WHERE id = $1", mapping.ID(keptSTAR2Only.Table, keptSTAR2Only.ID))
	star1Edit(keptBoth, "jaan.saar")
	sum, err = Migrate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.Tables["MENETLUS"]; s.Conflicts != 1 {
		t.Errorf("fifth run MENETLUS: %+v", *s)
	}
	if open, err = Conflicts(ctx, dsn, "all"); err != nil || conflictRows(open) != fmt.Sprint([]load.RowRef{keptBoth}) || open[0].Decision != "" {
		t.Errorf("open conflicts after STAR1 changed a kept row: %+v %v", open, err)
	}
	rep, err = reconcile()
	if !errors.As(err, &findings) {
		t.Fatalf("deep reconciliation of rows changed since the decision: %v", err)
	}
	named := map[int64]string{}
	for _, f := range rep.Findings {
		named[f.Star1ID] = f.Detail
	}
	for _, r := range []load.RowRef{keptBoth, keptSTAR2Only} {
		if !strings.Contains(named[r.ID], "a decision kept this row as STAR2 had it, but it has changed since") {
			t.Errorf("%s: finding %q", r, named[r.ID])
		}
	}
	if len(rep.Findings) != 2 {
		t.Errorf("findings: %+v", rep.Findings)
	}

	// --all decides every open conflict without a decision; the record
	// keeps the earlier decision, no longer current.
	if done, err = Resolve(ctx, ResolveOptions{Target: dsn, Batch: "all", AllConflicts: true, Decision: load.KeepSTAR2, Reason: "ticket 5600", Operator: "mari.migration", Now: clock, Wait: load.DefaultWait}); err != nil || len(done) != 1 || done[0].Star1ID != keptBoth.ID {
		t.Errorf("--all: %+v %v", done, err)
	}
	var current, all int
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE current), count(*) FROM migration.resolution WHERE star1_table = $1 AND star1_id = $2",
		keptBoth.Table, keptBoth.ID).Scan(&current, &all); err != nil || current != 1 || all != 2 {
		t.Errorf("decisions on record for %s: %d current of %d (%v)", keptBoth, current, all, err)
	}
	// A kept conflict can be decided again the other way.
	if done, err = resolve(load.TakeSTAR1, keptBoth); err != nil || len(done) != 1 || done[0].Left {
		t.Errorf("taking STAR1 for a kept conflict: %+v %v", done, err)
	}

	// An activity deleted in STAR2 while STAR1 stays as it was: no run
	// reports it, the reconciliation names it, the list shows it, and
	// --all --take-star1 leaves it to a decision to keep the deletion.
	deleted := loaded("TOIMING", 9)
	exec("DELETE FROM star2.activity WHERE id = $1", mapping.ID(deleted.Table, deleted.ID))
	open, err = Conflicts(ctx, dsn, "all")
	if err != nil || conflictRows(open) != fmt.Sprint([]load.RowRef{keptBoth, deleted}) || open[1].Kind != load.DeletedInSTAR2 {
		t.Fatalf("open conflicts after a deletion in STAR2: %+v %v", open, err)
	}
	decideAll := func(d string) ([]load.Resolved, error) {
		return Resolve(ctx, ResolveOptions{Target: dsn, Batch: "all", AllConflicts: true, Decision: d, Reason: "ticket 5601", Operator: "mari.migration", Now: clock, Wait: load.DefaultWait})
	}
	if done, err = decideAll(load.TakeSTAR1); err != nil || len(done) != 0 {
		t.Errorf("--all --take-star1 with a row deleted in STAR2 open: %+v %v", done, err)
	}
	if done, err = decideAll(load.KeepSTAR2); err != nil || len(done) != 1 || !done[0].Deleted {
		t.Errorf("--all --keep-star2: %+v %v", done, err)
	}
	if _, err := Migrate(ctx, opts); err != nil {
		t.Errorf("the run after the deletion was kept: %v", err)
	}
}

func findingKinds(r *Report) map[string]int {
	out := map[string]int{}
	for _, f := range r.Findings {
		out[f.Table+" "+f.Kind]++
	}
	return out
}

func conflictRows(cs []load.Conflict) string {
	rows := make([]load.RowRef, len(cs))
	for i, c := range cs {
		rows[i] = load.RowRef{Table: c.Table, ID: c.Star1ID}
	}
	return fmt.Sprint(rows)
}

// TestRowsLeftByTheRulesCanBeKept: a loaded person deleted in STAR1 since
// stays in STAR2 with the rows that cascade from it, and every run reports
// them. A decision to keep them as STAR2 has them ends the reports until
// STAR1 changes the person again; taking STAR1's version of such a row is
// refused, since no run writes a row the rules no longer load.
//
// A second person's personal code is made invalid in STAR1: the rules
// quarantine the person and would give it another STAR2 id (from table
// and id, not from the code). reconcile --deep names it as left by the
// rules, with the STAR2 row that is there, and after the decision to keep
// it passes; before, it named a STAR2 row that was never written, and
// went on naming it after the decision.
//
// A loaded relation's type is changed in STAR1 to a code without a
// mapping, and the run allows it (--allow-unmapped): the rules quarantine
// the relation, and would give it no relation type, which STAR2 requires.
// reconcile --deep names it; before, it failed on it (a NOT NULL
// constraint of its table of expected rows) and could not run at all.
func TestRowsLeftByTheRulesCanBeKept(t *testing.T) {
	path, maps, dsn, conn, db := migrated(t, 1500, 29)
	ctx := context.Background()
	var person, recoded int64
	var recodedStar2, code string
	single := `SELECT p.star1_id, p.star2_id::text, coalesce(s.personal_code, '') FROM migration.row_map p JOIN star2.person s ON s.id = p.star2_id
		WHERE p.star1_table = 'ISIK' AND p.outcome = 'loaded' AND s.personal_code IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM migration.row_map d WHERE d.star1_table = 'ISIK' AND d.star2_id = p.star2_id AND d.star1_id <> p.star1_id)
		ORDER BY p.star1_id OFFSET $1 LIMIT 1`
	var personStar2, ignored string
	if err := conn.QueryRow(ctx, single, 10).Scan(&person, &personStar2, &ignored); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, single, 11).Scan(&recoded, &recodedStar2, &code); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID = ?`, person); err != nil {
		t.Fatal(err)
	}
	// Another check digit fails the checksum.
	invalid := code[:10] + string('0'+(code[10]-'0'+1)%10)
	if _, err := db.Exec(`UPDATE ISIK SET ISIKUKOOD = ? WHERE ISIK_ID = ?`, invalid, recoded); err != nil {
		t.Fatal(err)
	}
	var relation int64
	// Not of either person, whose rules would come first.
	if err := conn.QueryRow(ctx, `SELECT rm.star1_id FROM migration.row_map rm JOIN star2.person_relation r ON r.id = rm.star2_id
		WHERE rm.star1_table = 'ISIKU_SEOS' AND rm.outcome = 'loaded'
		  AND NOT ARRAY[r.person_id::text, r.related_person_id::text] && ARRAY[$1, $2]
		ORDER BY rm.star1_id LIMIT 1`, personStar2, recodedStar2).Scan(&relation); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ISIKU_SEOS SET SEOSE_LIIK = 'VANAVANEM' WHERE SEOS_ID = ?`, relation); err != nil {
		t.Fatal(err)
	}
	reported := func(sum *Summary) (n int64) {
		for _, s := range sum.Tables {
			n += s.Reported
		}
		return n
	}
	opts := options(path, maps, dsn)
	opts.AllowUnmapped = true
	sum, err := Migrate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	left := reported(sum)
	if left == 0 || sum.Tables["ISIK"].Reported != 2 || sum.Tables["ISIKU_SEOS"].Reported == 0 {
		t.Fatalf("the deleted and the recoded person are not reported left in STAR2: %+v", sum.Tables["ISIK"])
	}
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	_, err = Reconcile(ctx, ro)
	fe := wantFindings(t, err, "deep reconciliation before the decision")
	named := map[string]bool{}
	for _, f := range fe.Report.Findings {
		switch {
		case f.Table == "ISIK" && f.Star1ID == recoded:
			named["person"] = true
			if f.Kind != load.LeftByTheRules || f.Star2ID != recodedStar2 ||
				!strings.Contains(f.Detail, "now quarantined invalid_personal_code") || !strings.Contains(f.Detail, "personal_code") ||
				!strings.Contains(f.Detail, "--keep-star2 acknowledges it") {
				t.Errorf("deep finding on the recoded person %d (STAR2 %s): %+v", recoded, recodedStar2, f)
			}
		case f.Table == "ISIKU_SEOS" && f.Star1ID == relation:
			named["relation"] = true
			if f.Kind != load.LeftByTheRules || !strings.Contains(f.Detail, "now quarantined unmapped_code") || !strings.Contains(f.Detail, "in: relation_type") {
				t.Errorf("deep finding on the relation %d: %+v", relation, f)
			}
		}
	}
	if !named["person"] || !named["relation"] {
		t.Errorf("deep reconciliation names %v of the recoded person %d and the relation %d: %v", named, recoded, relation, err)
	}
	open, err := Conflicts(ctx, dsn, "all")
	if err != nil {
		t.Fatal(err)
	}
	var personRow *load.Conflict
	for i, c := range open {
		if c.Kind != load.LeftByTheRules {
			t.Errorf("open conflict of kind %q: %+v", c.Kind, c)
		}
		if c.Table == "ISIK" && c.Star1ID == person {
			personRow = &open[i]
		}
	}
	if int64(len(open)) != left || personRow == nil || !strings.HasPrefix(personRow.Detail, "now excluded_deleted;") {
		t.Fatalf("%d rows reported, %d listed: %+v", left, len(open), open)
	}
	decide := func(d string, all bool, rows ...load.RowRef) ([]load.Resolved, error) {
		return Resolve(ctx, ResolveOptions{Target: dsn, Batch: "all", Rows: rows, AllConflicts: all, Decision: d,
			Reason: "deleted in STAR1 by mistake; STAR2 keeps the person", Operator: "mari.migration", Now: clock, Wait: load.DefaultWait})
	}
	personRef := load.RowRef{Table: "ISIK", ID: person}
	if _, err := decide(load.TakeSTAR1, false, personRef); err == nil || !strings.Contains(err.Error(), "the rules no longer load it") {
		t.Errorf("take_star1 on a row left by the rules: %v", err)
	}
	if done, err := decide(load.TakeSTAR1, true); err != nil || len(done) != 0 {
		t.Errorf("--all --take-star1 with rows left by the rules only: %+v %v", done, err)
	}
	done, err := decide(load.KeepSTAR2, true)
	if err != nil || int64(len(done)) != left || !done[0].Left {
		t.Fatalf("keeping them all: %+v %v", done, err)
	}
	if open, err := Conflicts(ctx, dsn, "all"); err != nil || len(open) != 0 {
		t.Errorf("open after the decision: %+v %v", open, err)
	}
	before := Digest(t, conn)
	if sum, err = Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if n := reported(sum); n != 0 {
		t.Errorf("a run after the decision reports %d rows", n)
	}
	sameDigest(t, "the run after the decision", before, Digest(t, conn))
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("deep reconciliation: %v", err)
	}
	// STAR1 changes the person again: reported and open again.
	if _, err := db.Exec(`UPDATE ISIK SET AADRESS = 'Uus tänav 7, Tartu' WHERE ISIK_ID = ?`, person); err != nil {
		t.Fatal(err)
	}
	if sum, err = Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if s := sum.Tables["ISIK"]; s.Reported != 1 {
		t.Errorf("the person changed again in STAR1: %+v", *s)
	}
	if open, err := Conflicts(ctx, dsn, "all"); err != nil || len(open) != 1 || open[0].Table != "ISIK" || open[0].Decision != "" {
		t.Errorf("open after STAR1 changed the kept person: %+v %v", open, err)
	}
}

// TestAmountOfARowLeftByTheRules: STAR1 deletes a person and changes the
// amount of one of its loaded payments at once. The payment stays in STAR2
// with the amount the migration wrote, the bookkeeping holds STAR1's, and
// the reconciliation names it: as a row a run left in STAR2, not as one
// STAR2 changed, which it was not. A decision to keep it settles it.
func TestAmountOfARowLeftByTheRules(t *testing.T) {
	path, maps, dsn, conn, db := migrated(t, 1000, 34)
	ctx := context.Background()
	var payment, other int64
	if err := conn.QueryRow(ctx, `SELECT min(star1_id), max(star1_id) FROM migration.row_map WHERE star1_table = 'MAKSE' AND outcome = 'loaded'`).Scan(&payment, &other); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID = (SELECT m.ISIK_ID FROM MAKSE p JOIN OTSUS o USING (OTSUS_ID) JOIN MENETLUS m USING (MENETLUS_ID) WHERE p.MAKSE_ID = ?)`,
		`UPDATE MAKSE SET SUMMA = '123.45', VALUUTA = 'EUR' WHERE MAKSE_ID = ?`,
	} {
		if _, err := db.Exec(q, payment); err != nil {
			t.Fatal(err)
		}
	}
	// Another payment's currency becomes one the rules do not know: the
	// bookkeeping has no amount in EUR for it.
	if _, err := db.Exec(`UPDATE MAKSE SET VALUUTA = 'XYZ' WHERE MAKSE_ID = ?`, other); err != nil {
		t.Fatal(err)
	}
	_, err := Migrate(ctx, options(path, maps, dsn))
	fe := wantFindings(t, err, "the run")
	want := map[int64]string{
		payment: "STAR1 123.45 EUR; a run left it in STAR2 as it is (now excluded_deleted): starmig resolve --list shows it, --keep-star2 acknowledges it",
		other:   "STAR1 an amount the rules cannot give in EUR; a run left it in STAR2 as it is (now quarantined invalid_money): starmig resolve --list shows it, --keep-star2 acknowledges it",
	}
	for _, f := range fe.Report.Findings {
		if f.Table != "MAKSE" || want[f.Star1ID] == "" {
			t.Errorf("finding on another row: %+v", f)
			continue
		}
		if f.Kind != "star2_money" || !strings.Contains(f.Detail, want[f.Star1ID]) {
			t.Errorf("finding on payment %d: %+v", f.Star1ID, f)
		}
	}
	if len(fe.Report.Findings) != len(want) {
		t.Errorf("%d findings, want one on each payment", len(fe.Report.Findings))
	}
	keepSTAR2(t, dsn, "deleted in STAR1 by mistake")
	if _, err := Reconcile(ctx, ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all"}); err != nil {
		t.Errorf("after the decision: %v", err)
	}
}

// TestFindingOfARowAnotherBatchWroteNamesThatBatch: a person of batch
// half-1's municipalities that a row of batch half-0 refers to is written
// by half-0. Deleted in STAR2, it is a finding of half-1's reconciliation
// (rows are reconciled by municipality), while the conflict list, by the
// batch that wrote the row, lists it under half-0: the finding says so.
func TestFindingOfARowAnotherBatchWroteNamesThatBatch(t *testing.T) {
	path, maps, dsn, conn, halves, _ := halvesMigrated(t, 600, 31)
	ctx := context.Background()
	var id int64
	var star2 string
	if err := conn.QueryRow(ctx, `SELECT rm.star1_id, rm.star2_id::text FROM migration.row_map rm JOIN star2.person p ON p.id = rm.star2_id
		WHERE rm.star1_table = 'ISIK' AND rm.outcome = 'loaded' AND rm.batch = 'half-0' AND p.municipality_code = ANY($1)
		  AND NOT EXISTS (SELECT FROM star2.application a WHERE a.person_id = p.id)
		  AND NOT EXISTS (SELECT FROM star2.proceeding r WHERE r.person_id = p.id)
		ORDER BY rm.star1_id LIMIT 1`, halves[1]).Scan(&id, &star2); err != nil {
		t.Fatalf("no person of half-1's municipalities written by half-0 and deletable: %v", err)
	}
	for _, q := range []string{`DELETE FROM star2.person_relation WHERE person_id = $1 OR related_person_id = $1`, `DELETE FROM star2.person WHERE id = $1`} {
		if _, err := conn.Exec(ctx, q, star2); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Reconcile(ctx, ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "half-1"})
	fe := wantFindings(t, err, "reconcile half-1 after a deletion in STAR2")
	named := false
	for _, f := range fe.Report.Findings {
		if f.Table == "ISIK" && f.Star1ID == id {
			named = true
			if !strings.Contains(f.Detail, "batch half-0 wrote it, and starmig resolve --list --batch half-0 shows it") {
				t.Errorf("finding %+v does not name the batch whose conflict list shows it", f)
			}
		}
	}
	if !named {
		t.Fatalf("half-1's reconciliation does not name ISIK %d: %+v", id, fe.Report.Findings)
	}
	open, err := Conflicts(ctx, dsn, "half-0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(open, func(c load.Conflict) bool {
		return c.Table == "ISIK" && c.Star1ID == id && c.Kind == load.DeletedInSTAR2
	}) {
		t.Errorf("half-0's conflict list does not hold ISIK %d: %+v", id, open)
	}
}
