package batch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/synth"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// Digest and sameDigest compare every STAR2 row and every outcome.
func Digest(t *testing.T, conn *pgx.Conn) map[string]string { return testenv.STAR2Digest(t, conn) }

func sameDigest(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	testenv.SameDigest(t, what, a, b)
}

func TestRerunOverUnchangedSTAR1ChangesNothing(t *testing.T) {
	path, maps := star1(t, 1500, 21, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatal(err)
	}
	before := Digest(t, conn)
	sum, err := Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatal(err)
	}
	sameDigest(t, "second run", before, Digest(t, conn))
	for table, s := range sum.Tables {
		if s.Inserted+s.Updated+s.Conflicts+s.Rejected != 0 {
			t.Errorf("%s: second run wrote %+v", table, *s)
		}
		var total int64
		for _, n := range s.Outcomes {
			total += n
		}
		if s.Unchanged != total {
			t.Errorf("%s: %d unchanged of %d", table, s.Unchanged, total)
		}
	}
}

func TestRerunFollowsChangedSTAR1AndReportsConflicts(t *testing.T) {
	path, maps := star1(t, 1500, 22, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatal(err)
	}
	loaded := func(table string, skip int) int64 {
		var id int64
		if err := conn.QueryRow(ctx, `SELECT star1_id FROM migration.row_map WHERE star1_table = $1 AND outcome = 'loaded'
			ORDER BY star1_id OFFSET $2 LIMIT 1`, table, skip).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	edited, deleted := loaded("ISIK", 3), loaded("ISIK", 7)
	conflicted, untouchedInSTAR1, sameChange := loaded("MENETLUS", 2), loaded("MENETLUS", 4), loaded("MENETLUS", 6)
	// A social worker changes three proceedings in STAR2, one of them as
	// STAR1 will.
	for id, user := range map[int64]string{conflicted: "tiina.social", untouchedInSTAR1: "tiina.social", sameChange: "kadri.kask"} {
		if _, err := conn.Exec(ctx, "UPDATE star2.proceeding SET responsible_user = $2 WHERE id = $1", mapping.ID("MENETLUS", id), user); err != nil {
			t.Fatal(err)
		}
	}
	// Meanwhile STAR1 takes writes: an edit, a new proceeding, a soft delete,
	// and a change to the proceeding edited in STAR2.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var person int64
	if err := db.QueryRow("SELECT ISIK_ID FROM MENETLUS WHERE MENETLUS_ID = ?", conflicted).Scan(&person); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf("UPDATE ISIK SET AADRESS = 'Uus tänav 1, Tallinn', MUUDETUD = '2026-10-30 12:00:00' WHERE ISIK_ID = %d", edited),
		fmt.Sprintf("INSERT INTO MENETLUS VALUES (900000, NULL, %d, '0100', 'TEENUS', 'A', '2026-10-29 00:00:00', NULL, 'jaan.saar', NULL)", person),
		fmt.Sprintf("UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID = %d", deleted),
		fmt.Sprintf("UPDATE MENETLUS SET VASTUTAJA = 'kadri.kask' WHERE MENETLUS_ID IN (%d, %d)", conflicted, sameChange),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sum, err := Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatal(err)
	}
	var addr string
	if err := conn.QueryRow(ctx, "SELECT address FROM star2.person p JOIN migration.row_map rm ON rm.star2_id = p.id WHERE rm.star1_table = 'ISIK' AND rm.star1_id = $1", edited).Scan(&addr); err != nil || addr != "Uus tänav 1, Tallinn" {
		t.Errorf("edited person: address %q %v", addr, err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM star2.proceeding WHERE id = $1", mapping.ID("MENETLUS", 900000)).Scan(&n); err != nil || n != 1 {
		t.Errorf("new proceeding: %d rows %v", n, err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM star2.person p JOIN migration.row_map rm ON rm.star2_id = p.id WHERE rm.star1_table = 'ISIK' AND rm.star1_id = $1", deleted).Scan(&n); err != nil || n != 1 {
		t.Errorf("soft-deleted person: never deleted from STAR2, found %d %v", n, err)
	}
	reports := map[string]string{}
	rows, _ := conn.Query(ctx, "SELECT star1_table || ' ' || star1_id, detail FROM migration.conflict WHERE run_id = $1", sum.RunID)
	for rows.Next() {
		var k, d string
		_ = rows.Scan(&k, &d)
		reports[k] = d
	}
	if d := reports[fmt.Sprintf("ISIK %d", deleted)]; !strings.Contains(d, "excluded_deleted") {
		t.Errorf("soft delete not reported: %q (%v)", d, reports)
	}
	// Each conflict says where STAR2's row and STAR1's now differ, for
	// the engineer who decides between them.
	if d := reports[fmt.Sprintf("MENETLUS %d", conflicted)]; d != load.BothSides+"; STAR2 differs from what the rules give from STAR1 now in: responsible_user" {
		t.Errorf("conflict not reported with the column that differs: %q (%v)", d, reports)
	}
	if d := reports[fmt.Sprintf("MENETLUS %d", sameChange)]; d != load.BothSides+"; STAR2 holds what the rules give from STAR1 now" {
		t.Errorf("conflict of the same change on both sides: %q (%v)", d, reports)
	}
	for _, id := range []int64{conflicted, untouchedInSTAR1} {
		var user string
		_ = conn.QueryRow(ctx, "SELECT responsible_user FROM star2.proceeding WHERE id = $1", mapping.ID("MENETLUS", id)).Scan(&user)
		if user != "tiina.social" {
			t.Errorf("MENETLUS %d: the STAR2 edit was overwritten with %q", id, user)
		}
	}
	if s := sum.Tables["MENETLUS"]; s.Conflicts != 2 || s.Inserted != 1 {
		t.Errorf("MENETLUS: %+v", *s)
	}
	if s := sum.Tables["ISIK"]; s.Updated < 1 || s.Reported < 1 {
		t.Errorf("ISIK: %+v", *s)
	}
	targetHashesArePostgreSQLs(t, conn, mapping.ID("MENETLUS", conflicted), mapping.ID("MENETLUS", untouchedInSTAR1), mapping.ID("MENETLUS", sameChange))
	// A third run reports the conflict again and writes nothing to STAR2.
	before := Digest(t, conn)
	sum, err = Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatal(err)
	}
	sameDigest(t, "third run", before, Digest(t, conn))
	if s := sum.Tables["MENETLUS"]; s.Conflicts != 2 || s.Inserted+s.Updated != 0 {
		t.Errorf("third run MENETLUS: %+v", *s)
	}
}

func TestPreflightStopsBeforeAnyWrite(t *testing.T) {
	path, maps := star1(t, 1500, 23, func(r *synth.Rates) { r.Unmapped, r.UnknownKOV = 0.01, 0.005 })
	dsn, conn := target(t)
	ctx := context.Background()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A code with a line break and a terminal's escape sequence in it: the
	// message shows it quoted, on its own line, and sends no ESC.
	if _, err := db.Exec("UPDATE TOIMING SET LIIK = 'X' || char(27) || '[31m' || char(10) || 'Y' WHERE TOIMING_ID = (SELECT min(TOIMING_ID) FROM TOIMING)"); err != nil {
		t.Fatal(err)
	}
	before := Digest(t, conn)
	_, err = Migrate(ctx, options(path, maps, dsn))
	var pre *PreflightError
	if !errors.As(err, &pre) {
		t.Fatalf("got %v, want a pre-flight error", err)
	}
	if len(pre.Codes) == 0 {
		t.Fatal("no codes listed")
	}
	if msg := err2s(pre); !strings.Contains(msg, `TOIMINGU_LIIK/"X\x1b[31m\nY": 1 row`) || strings.Contains(msg, "\x1b") || strings.Count(msg, "\n") != len(pre.Codes) {
		t.Errorf("the message shows STAR1's code as it is:\n%s", msg)
	}
	for _, c := range pre.Codes {
		var n int64
		var q string
		for _, cc := range classifierColumns {
			if cc.class == c.Class {
				q = fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s = ?", cc.table, cc.column)
			}
		}
		if err := db.QueryRow(q, c.Code).Scan(&n); err != nil || n != c.Rows {
			t.Errorf("%s/%s: listed with %d rows, STAR1 has %d (%v)", c.Class, c.Code, c.Rows, n, err)
		}
		if !strings.Contains(err2s(pre), c.Class+"/"+words.Shown(c.Code)+": ") {
			t.Errorf("the message does not list %s/%s", c.Class, c.Code)
		}
	}
	sameDigest(t, "after pre-flight", before, Digest(t, conn))
	for _, table := range []string{"migration.batch", "migration.run", "migration.row_map", "migration.quarantine", "star2.municipality", "star2.classifier"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has %d rows after a stopped pre-flight (%v)", table, n, err)
		}
	}
	o := options(path, maps, dsn)
	o.AllowUnmapped = true
	// The run counts its quarantined rows by rule, and those of unmapped
	// municipality codes by code, as the bookkeeping holds them; so does a
	// run that finds them unchanged.
	for run := 1; run <= 2; run++ {
		sum, err := Migrate(ctx, o)
		if err != nil {
			t.Fatalf("--allow-unmapped, run %d: %v", run, err)
		}
		byRule := map[string]int64{}
		for table, s := range sum.Tables {
			for rule, n := range s.Quarantine {
				byRule[table+" "+rule] = n
			}
		}
		want := map[string]int64{}
		rows, _ := conn.Query(ctx, "SELECT star1_table || ' ' || rule, count(*) FROM migration.row_map WHERE outcome = 'quarantined' GROUP BY 1")
		var key string
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error { want[key] = n; return nil }); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(byRule) != fmt.Sprint(want) || want["OTSUS unmapped_code"]+want["TOIMING unmapped_code"]+want["MENETLUS unmapped_code"] == 0 {
			t.Errorf("run %d: quarantined by rule %v, the bookkeeping holds %v", run, byRule, want)
		}
		unknown := map[string]int64{}
		rows, _ = conn.Query(ctx, "SELECT kov, count(*) FROM migration.row_map WHERE rule = 'unknown_municipality' GROUP BY 1")
		if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error { unknown[key] = n; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(unknown) == 0 || fmt.Sprint(sum.Unknown) != fmt.Sprint(unknown) {
			t.Errorf("run %d: unknown municipalities %v, the bookkeeping holds %v", run, sum.Unknown, unknown)
		}
	}
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.quarantine WHERE rule = 'unmapped_code'").Scan(&n); err != nil || n == 0 {
		t.Errorf("no rows quarantined as unmapped_code: %d %v", n, err)
	}
	if _, err := Reconcile(ctx, ReconcileOptions{Source: o.Source, Target: dsn, Mappings: maps, Batch: "all", Deep: true}); err != nil {
		t.Errorf("identity with --allow-unmapped: %v", err)
	}
}

func err2s(err error) string { return err.Error() }

// A value STAR1's column type cannot hold (only the SQLite stand-in can
// store one) stops the batch before any row is written, naming the table,
// column, row and value: the source is not STAR1 as specified. So do an
// amount NUMBER(12,2) cannot hold and a day that does not exist, which a
// restore of the archive could not give back.
func TestValueOutsideItsSTAR1TypeStopsTheBatch(t *testing.T) {
	for _, c := range []struct{ col, value, why string }{
		{"SUMMA", "12,5x", "decimal %q: not a decimal number"},
		{"SUMMA", "1234.567", "decimal %q: more than NUMBER(12,2) holds"},
		{"MAKSE_KP", "2021-02-29 10:00:00", "date %q: no such day or time of day in the calendar"},
	} {
		t.Run(c.value, func(t *testing.T) { valueStopsTheBatch(t, c.col, c.value, fmt.Sprintf(c.why, c.value)) })
	}
}

func valueStopsTheBatch(t *testing.T, col, value, why string) {
	path, maps := star1(t, 300, 25, nil)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := db.QueryRow(`SELECT max(MAKSE_ID) FROM MAKSE`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE MAKSE SET `+col+` = ? WHERE MAKSE_ID = ?`, value, id); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dsn, conn := target(t)
	ctx := context.Background()
	before := Digest(t, conn)
	_, err = Migrate(ctx, options(path, maps, dsn))
	want := fmt.Sprintf(`MAKSE.%s: %s (row MAKSE MAKSE_ID=%d)`, col, why, id)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error with %q", err, want)
	}
	sameDigest(t, "after the stopped batch", before, Digest(t, conn))
	// The run keeps why and where it failed, for starmig status.
	var phase, failed string
	if err := conn.QueryRow(ctx, `SELECT phase, summary->>'error' FROM migration.run WHERE state = 'failed'`).Scan(&phase, &failed); err != nil ||
		phase != "plan" || !strings.Contains(failed, want) {
		t.Errorf("the failed run: phase %q, error %q (%v)", phase, failed, err)
	}
	for _, table := range []string{"migration.row_map", "migration.quarantine"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has %d rows after the stopped batch (%v)", table, n, err)
		}
	}
}

func TestRowRefusedByDatabaseIsQuarantined(t *testing.T) {
	path, maps := star1(t, 800, 24, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	// A rule of STAR2's owners the migration does not know about.
	if _, err := conn.Exec(ctx, "ALTER TABLE star2.activity ADD CONSTRAINT no_home_visits CHECK (activity_type <> 'home_visit')"); err != nil {
		t.Fatal(err)
	}
	sum, err := Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatal(err)
	}
	var refused, inSTAR2 int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.quarantine WHERE star1_table = 'TOIMING' AND rule = 'rejected_by_database' AND detail LIKE '%no_home_visits%'").Scan(&refused); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM star2.activity").Scan(&inSTAR2); err != nil {
		t.Fatal(err)
	}
	if refused == 0 || refused != sum.Tables["TOIMING"].Rejected {
		t.Errorf("%d activities quarantined with the database's error, %d counted as refused", refused, sum.Tables["TOIMING"].Rejected)
	}
	if s := sum.Tables["TOIMING"]; s.Inserted != inSTAR2 || s.Outcomes["loaded"] != inSTAR2 {
		t.Errorf("the rest of the batch: %+v, STAR2 has %d", *s, inSTAR2)
	}
	var original string
	if err := conn.QueryRow(ctx, "SELECT original->>'LIIK' FROM migration.quarantine WHERE rule = 'rejected_by_database' LIMIT 1").Scan(&original); err != nil || original == "" {
		t.Errorf("refused row kept without its original: %q %v", original, err)
	}
}

func TestBatchSeesNoHalfChange(t *testing.T) {
	path, maps := star1(t, 2000, 25, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// A writer adds a proceeding and its decision in one transaction, over
	// and over, while the batch runs.
	var stop atomic.Bool
	var pairs atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(0); !stop.Load(); i++ {
			id := 800000 + i
			tx, err := db.Begin()
			if err != nil {
				t.Error(err)
				return
			}
			_, err1 := tx.Exec("INSERT INTO MENETLUS VALUES (?, NULL, 1, '0100', 'TOETUS', 'A', '2026-10-01 00:00:00', NULL, 'mari.tamm', NULL)", id)
			_, err2 := tx.Exec("INSERT INTO OTSUS VALUES (?, ?, 'TOIMETULEK', 'R', '10', 'EUR', '2026-10-01 00:00:00', '2027-10-01 00:00:00', '2026-10-01 00:00:00')", id, id)
			if err := errors.Join(err1, err2, tx.Commit()); err != nil {
				t.Error(err)
				return
			}
			pairs.Add(1)
		}
	}()
	for pairs.Load() < 50 {
		runtime.Gosched()
	}
	_, err = Migrate(ctx, options(path, maps, dsn))
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if pairs.Load() == 0 {
		t.Fatal("the writer wrote nothing during the batch")
	}
	var procs, decisions int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE star1_table = 'MENETLUS'), count(*) FILTER (WHERE star1_table = 'OTSUS') FROM migration.row_map WHERE star1_id >= 800000").Scan(&procs, &decisions); err != nil {
		t.Fatal(err)
	}
	if procs < 50 || procs >= pairs.Load() {
		t.Errorf("the batch saw %d of %d pairs: want those committed before its snapshot (at least 50), not those after", procs, pairs.Load())
	}
	if procs != decisions {
		t.Errorf("the batch saw %d proceedings and %d decisions of the writer's %d pairs", procs, decisions, pairs.Load())
	}
	var unpaired int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.row_map a FULL JOIN (SELECT * FROM migration.row_map WHERE star1_table = 'OTSUS') b
		ON b.star1_id = a.star1_id WHERE a.star1_table = 'MENETLUS' AND a.star1_id >= 800000 AND b.star1_id IS NULL`).Scan(&unpaired); err != nil || unpaired != 0 {
		t.Errorf("%d proceedings of the writer without their decision (%v)", unpaired, err)
	}
	t.Logf("writer committed %d pairs during the batch; the batch saw %d", pairs.Load(), procs)
}

// Chunks written on several connections at once commit in any order; the
// result is the same as on one.
func TestWritersDoNotChangeTheResult(t *testing.T) {
	path, maps := star1(t, 1500, 23, nil)
	ctx := context.Background()
	var digests []map[string]string
	for _, n := range []int{1, 4} {
		dsn, conn := target(t)
		o := options(path, maps, dsn)
		o.Writers = n
		if _, err := Migrate(ctx, o); err != nil {
			t.Fatalf("%d writers: %v", n, err)
		}
		digests = append(digests, Digest(t, conn))
	}
	sameDigest(t, "4 writers against 1", digests[0], digests[1])
}

// TestTextNotUTF8 writes bytes that are not UTF-8 into STAR1 text: into a
// live person's name, which the database refuses, so the person is
// quarantined with the database's message and the batch still reconciles;
// and into a live payment's IBAN, which rule 12 loads as NULL, with a
// correction the bookkeeping stores with the bytes shown as \xNN.
func TestTextNotUTF8(t *testing.T) {
	path, maps := star1(t, 400, 31, nil)
	ctx := context.Background()
	probe, pconn := target(t)
	if _, err := Migrate(ctx, options(path, maps, probe)); err != nil {
		t.Fatal(err)
	}
	var person, payment int64
	// The person has a proceeding with activities, which its refusal
	// quarantines in turn; the payment is another person's.
	if err := pconn.QueryRow(ctx, `WITH i AS (SELECT i.star1_id AS id, i.star2_id AS star2 FROM migration.row_map i
		  WHERE i.star1_table = 'ISIK' AND i.outcome = 'loaded'
		    AND NOT EXISTS (SELECT FROM migration.row_map d WHERE d.star1_table = 'ISIK' AND d.star2_id = i.star2_id AND d.star1_id <> i.star1_id)
		    AND EXISTS (SELECT FROM star2.proceeding p JOIN star2.activity a ON a.proceeding_id = p.id WHERE p.person_id = i.star2_id)
		  ORDER BY i.star1_id LIMIT 1)
		SELECT i.id, (SELECT min(m.star1_id) FROM migration.row_map m
		  JOIN star2.payment pa ON pa.id = m.star2_id JOIN star2.decision d ON d.id = pa.decision_id JOIN star2.proceeding p ON p.id = d.proceeding_id
		  WHERE m.star1_table = 'MAKSE' AND m.outcome = 'loaded' AND p.person_id <> i.star2)
		FROM i`).Scan(&person, &payment); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	nameNotUTF8(t, db, person)
	if _, err := db.Exec(`UPDATE MAKSE SET SAAJA_IBAN = CAST(X'4545C32831' AS TEXT) WHERE MAKSE_ID = ?`, payment); err != nil {
		t.Fatal(err)
	}

	dsn, conn := target(t)
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var rule, detail string
	if err := conn.QueryRow(ctx, `SELECT rule, detail FROM migration.quarantine WHERE star1_table = 'ISIK' AND star1_id = $1`, person).Scan(&rule, &detail); err != nil {
		t.Fatalf("person %d with a name that is not UTF-8 is not quarantined: %v", person, err)
	}
	if rule != mapping.RuleRejected || !strings.Contains(detail, "UTF8") || !strings.HasSuffix(detail, "in STAR2 column given_name") {
		t.Errorf("person %d quarantined as %s: %s", person, rule, detail)
	}
	// Its proceedings are quarantined because the database refused the
	// person, and their activities because their proceeding was: each
	// names its parent, and none goes to the database to be refused for a
	// foreign key.
	var refused, cascaded, activities int
	if err := conn.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE rule = 'rejected_by_database'),
		count(*) FILTER (WHERE rule = 'parent_quarantined' AND detail LIKE '%was refused by the database'),
		count(*) FILTER (WHERE rule = 'parent_quarantined' AND detail LIKE '%: MENETLUS % was quarantined because the database refused a row it belongs to' AND star1_table = 'TOIMING')
		FROM migration.quarantine WHERE run_id = (SELECT max(run_id) FROM migration.quarantine)`).Scan(&refused, &cascaded, &activities); err != nil {
		t.Fatal(err)
	}
	if refused != 1 || cascaded == 0 || activities == 0 {
		t.Errorf("refused by the database: %d rows (want the person alone); quarantined for a refused parent: %d, of them activities: %d", refused, cascaded, activities)
	}
	var outcome, original string
	if err := conn.QueryRow(ctx, `SELECT rm.outcome, c.original FROM migration.row_map rm
		JOIN migration.correction c ON c.star1_table = rm.star1_table AND c.star1_id = rm.star1_id AND c.rule = 'invalid_iban'
		WHERE rm.star1_table = 'MAKSE' AND rm.star1_id = $1`, payment).Scan(&outcome, &original); err != nil {
		t.Fatalf("payment %d: no invalid_iban correction: %v", payment, err)
	}
	if outcome != "loaded" || original != `EE\xC3(1` {
		t.Errorf("payment %d: %s, correction of %q", payment, outcome, original)
	}
	if _, err := Reconcile(ctx, ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}); err != nil {
		t.Errorf("reconcile --deep: %v", err)
	}
}

// TestDuplicateOfARefusedPerson: the database refuses a person that has a
// duplicate (its name is not UTF-8 in the stand-in). The duplicate is
// quarantined with it, not booked as merged into a STAR2 person that was
// never written, and the rows that refer to the duplicate are quarantined
// for it instead of going to the database to be refused for a foreign key.
// When STAR1's person is put right, the next run gives what a migration of
// the corrected STAR1 gives.
func TestDuplicateOfARefusedPerson(t *testing.T) {
	path, maps, _, pconn, db := migrated(t, 1500, 27)
	ctx := context.Background()
	// A surviving person whose duplicate has live proceedings of its own.
	var survivor, dup int64
	var children []int64
	for _, p := range star2Pairs(t, pconn) {
		for _, id := range star1IDs(t, db, `SELECT MENETLUS_ID FROM MENETLUS WHERE ISIK_ID = ?`, p[1]) {
			var loaded bool
			if err := pconn.QueryRow(ctx, `SELECT outcome = 'loaded' FROM migration.row_map WHERE star1_table = 'MENETLUS' AND star1_id = $1`, id).Scan(&loaded); err != nil {
				t.Fatal(err)
			}
			if loaded {
				children = append(children, id)
			}
		}
		if len(children) > 0 {
			survivor, dup = p[0], p[1]
			break
		}
	}
	if dup == 0 {
		t.Fatal("no duplicate with live proceedings of its own")
	}
	var name string
	if err := db.QueryRow(`SELECT EESNIMI FROM ISIK WHERE ISIK_ID = ?`, survivor).Scan(&name); err != nil {
		t.Fatal(err)
	}
	nameNotUTF8(t, db, survivor)

	dsn, conn := target(t)
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	quarantine := func(table string, id int64) (rule, detail string) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT q.rule, q.detail FROM migration.row_outcome o JOIN migration.quarantine q USING (star1_table, star1_id)
			WHERE o.star1_table = $1 AND o.star1_id = $2 AND o.outcome = 'quarantined' ORDER BY q.run_id DESC LIMIT 1`, table, id).Scan(&rule, &detail); err != nil {
			t.Fatalf("%s %d is not quarantined: %v", table, id, err)
		}
		return rule, detail
	}
	if rule, _ := quarantine("ISIK", survivor); rule != mapping.RuleRejected {
		t.Errorf("ISIK %d quarantined as %s, want %s", survivor, rule, mapping.RuleRejected)
	}
	want := fmt.Sprintf("parent_quarantined: a duplicate of ISIK %d, which was refused by the database", survivor)
	if rule, detail := quarantine("ISIK", dup); rule != mapping.RuleParentQuarantined || detail != want {
		t.Errorf("duplicate ISIK %d: %s, %q; want %q", dup, rule, detail, want)
	}
	// Each names the parent it was quarantined for: the duplicate, or its
	// application, quarantined for the duplicate in turn.
	for _, id := range children {
		if rule, detail := quarantine("MENETLUS", id); rule != mapping.RuleParentQuarantined || !strings.HasSuffix(detail, " was quarantined because the database refused a row it belongs to") {
			t.Errorf("MENETLUS %d of the duplicate: %s, %q", id, rule, detail)
		}
	}
	for _, id := range star1IDs(t, db, `SELECT POORDUMINE_ID FROM POORDUMINE WHERE ISIK_ID = ?`, dup) {
		want := fmt.Sprintf("parent_quarantined: ISIK %d was quarantined because the database refused a row it belongs to", dup)
		if rule, detail := quarantine("POORDUMINE", id); rule != mapping.RuleParentQuarantined || detail != want {
			t.Errorf("POORDUMINE %d of the duplicate: %s, %q; want %q", id, rule, detail, want)
		}
	}
	var refused int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.row_outcome WHERE rule = 'rejected_by_database'`).Scan(&refused); err != nil {
		t.Fatal(err)
	}
	if refused != 1 {
		t.Errorf("%d rows refused by the database, want the person alone", refused)
	}
	reconcilesDeep(t, path, maps, dsn, "reconcile --deep")
	rerunWritesNothing(t, conn, options(path, maps, dsn))

	// STAR1's person put right: the duplicate is merged into it again, and
	// its proceedings are loaded.
	if _, err := db.Exec(`UPDATE ISIK SET EESNIMI = ? WHERE ISIK_ID = ?`, name, survivor); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatalf("migrate after the fix: %v", err)
	}
	var outcome string
	if err := conn.QueryRow(ctx, `SELECT outcome FROM migration.row_outcome WHERE star1_table = 'ISIK' AND star1_id = $1`, dup).Scan(&outcome); err != nil || outcome != load.Merged {
		t.Errorf("duplicate ISIK %d after the fix: %q, %v", dup, outcome, err)
	}
	fresh, fconn := target(t)
	if _, err := Migrate(ctx, options(path, maps, fresh)); err != nil {
		t.Fatal(err)
	}
	sameDigest(t, "after the fix, against a fresh migration", Digest(t, fconn), Digest(t, conn))
}

// star2Pairs are the persons loaded with a duplicate merged into them, as
// pairs of STAR1 ids (the loaded, the merged), in order.
func star2Pairs(t *testing.T, conn *pgx.Conn) [][2]int64 {
	t.Helper()
	rows, _ := conn.Query(context.Background(), `SELECT l.star1_id, m.star1_id FROM migration.row_map l
		JOIN migration.row_map m ON m.star1_table = 'ISIK' AND m.star2_id = l.star2_id AND m.outcome = 'merged'
		WHERE l.star1_table = 'ISIK' AND l.outcome = 'loaded' ORDER BY 1, 2`)
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int64, error) {
		var p [2]int64
		return p, r.Scan(&p[0], &p[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	return pairs
}

// TestTwoBatchesAtOnceTakeTurns: two batches of other municipalities,
// started at the same moment on one STAR2, share persons that rows of both
// refer to. They run one after the other, and both complete with nothing
// refused.
func TestTwoBatchesAtOnceTakeTurns(t *testing.T) {
	path, maps := star1(t, 2000, 24, nil)
	dsn, _ := target(t)
	halves := twoHalves(t, maps)
	var wg sync.WaitGroup
	sums := make([]*Summary, 2)
	errs := make([]error, 2)
	for i, kov := range halves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := options(path, maps, dsn)
			o.Batch, o.KOV = fmt.Sprintf("half-%d", i), kov
			sums[i], errs[i] = Migrate(context.Background(), o)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch half-%d: %v", i, err)
		}
		for table, s := range sums[i].Tables {
			if s.Rejected != 0 {
				t.Errorf("batch half-%d: %d rows of %s refused", i, s.Rejected, table)
			}
		}
	}
}

// TestBatchesOfAllMunicipalitiesAccountForEveryRow: batches by
// municipality that together cover every municipality account for every
// STAR1 row, also the rows of no municipality: an orphan whose proceeding
// STAR1 does not hold has none, and before, no batch covered it while
// every reconciliation passed. The first batch to run takes such rows.
// A row that becomes such an orphan after it was loaded (STAR1 deletes its
// proceeding outright) stays with the batch that wrote it, which reports
// it left in STAR2 by the rules; before, no run looked at it again.
func TestBatchesOfAllMunicipalitiesAccountForEveryRow(t *testing.T) {
	path, _, _, conn, _, run := halvesMigrated(t, 1000, 7)
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accounted := func(when string) {
		t.Helper()
		everyRowBookedOnce(t, db, conn, when)
	}
	accounted("after both batches")
	var orphans int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.row_map WHERE rule = 'orphan' AND kov IS NULL AND batch = 'half-0'`).Scan(&orphans); err != nil || orphans == 0 {
		t.Errorf("orphans without a municipality taken by the first batch: %d (%v)", orphans, err)
	}

	// STAR1 deletes a loaded proceeding outright: its activities, loaded
	// by its batch, have no municipality now.
	var proc int64
	var batch string
	if err := conn.QueryRow(ctx, `SELECT rm.star1_id, rm.batch FROM migration.row_map rm WHERE rm.star1_table = 'MENETLUS' AND rm.outcome = 'loaded'
		AND EXISTS (SELECT FROM migration.row_map a JOIN star2.activity x ON x.id = a.star2_id
		            WHERE a.star1_table = 'TOIMING' AND a.outcome = 'loaded' AND x.proceeding_id = rm.star2_id)
		ORDER BY rm.batch DESC, rm.star1_id LIMIT 1`).Scan(&proc, &batch); err != nil {
		t.Fatal(err)
	}
	acts := star1IDs(t, db, "SELECT TOIMING_ID FROM TOIMING WHERE MENETLUS_ID = ?", proc)
	if _, err := db.Exec("DELETE FROM MENETLUS WHERE MENETLUS_ID = ?", proc); err != nil {
		t.Fatal(err)
	}
	i := 0
	if batch == "half-1" {
		i = 1
	}
	other := run(1 - i)
	if s := other.Tables["TOIMING"]; s.Reported != 0 {
		t.Errorf("the other batch reports activities: %+v", *s)
	}
	sum := run(i)
	if s := sum.Tables["TOIMING"]; s.Reported < int64(len(acts)) {
		t.Errorf("%s reports %d activities left in STAR2, want the %d of deleted proceeding %d", batch, s.Reported, len(acts), proc)
	}
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.conflict c JOIN migration.run r ON r.id = c.run_id
		WHERE r.batch = $1 AND c.star1_table = 'TOIMING' AND c.star1_id = ANY($2) AND c.detail LIKE 'now quarantined orphan%'`, batch, acts).Scan(&left); err != nil || left != len(acts) {
		t.Errorf("%d of the %d activities reported as orphans left in STAR2 (%v)", left, len(acts), err)
	}
	accounted("after the proceeding was deleted")
}

func TestRowsFollowTheirProceedingToAnotherMunicipality(t *testing.T) {
	// A proceeding handed over to another municipality takes its decisions,
	// payments, plans, activities and documents along: they have no
	// municipality of their own. The batch of the municipality it moved to
	// takes them over without writing them to STAR2 again, and both
	// batches reconcile.
	path, maps, dsn, conn, halves, run := halvesMigrated(t, 1000, 26)
	ctx := context.Background()
	m, err := mapping.LoadFolder(maps)
	if err != nil {
		t.Fatal(err)
	}
	var to string // a STAR1 municipality of the other half
	for code, mu := range m.Municipalities {
		if mu.Code == halves[1][0] {
			to = code
		}
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	proc := loadedProceedingWithChildren(t, conn, db, "half-0")
	if _, err := db.Exec("UPDATE MENETLUS SET KOV_KOOD = ? WHERE MENETLUS_ID = ?", to, proc); err != nil {
		t.Fatal(err)
	}
	kids := childIDs(t, db, proc)
	children := func(batch string) (n int) {
		t.Helper()
		for table, ids := range kids {
			var c int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.row_map WHERE star1_table = $1 AND batch = $2 AND kov = $3
				AND star1_id = ANY($4)`, table, batch, to, ids).Scan(&c); err != nil {
				t.Fatal(err)
			}
			n += c
		}
		return n
	}
	want := len(kids["OTSUS"]) + len(kids["TOIMING"])

	// Before the batch it moved to runs, that batch's reconciliation names
	// the proceeding as changed, and the batch it left no longer checks it.
	reconcile := func(i int) error { return deepHalf(path, maps, dsn, i) }
	if err := reconcile(0); err != nil {
		t.Errorf("half-0 after the move: %v", err)
	}
	if err := reconcile(1); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("MENETLUS %d: changed: municipality %s", proc, to)) {
		t.Errorf("half-1 after the move, before its run: %v", err)
	}

	sum := run(1) // before: reconciliation findings "changed: municipality" after every run
	if s := sum.Tables["MENETLUS"]; s.Updated != 1 {
		t.Errorf("the proceeding moved: MENETLUS %+v", *s)
	}
	for _, table := range []string{"OTSUS", "TOIMING"} {
		if s := sum.Tables[table]; s.Inserted+s.Updated+s.Conflicts != 0 {
			t.Errorf("%s of the moved proceeding written to STAR2 again: %+v", table, *s)
		}
	}
	if got := children("half-1"); got != want {
		t.Errorf("%d of the proceeding's %d decisions and activities accounted by half-1 under %s", got, want, to)
	}
	before := Digest(t, conn)
	for table, s := range run(1).Tables {
		if s.Inserted+s.Updated+s.Conflicts+s.Rejected != 0 {
			t.Errorf("%s: a run over unchanged STAR1 wrote %+v", table, *s)
		}
	}
	run(0)
	sameDigest(t, "runs after the move", before, Digest(t, conn))
	for i := range halves {
		if err := reconcile(i); err != nil {
			t.Errorf("half-%d: %v", i, err)
		}
	}
}

// TestKeptRowsFollowTheirProceedingToAnotherMunicipality: rows left in
// STAR2 by the rules and kept there by a decision follow their proceeding
// to another municipality in the bookkeeping, as other rows do. Before,
// the run counted them unchanged without writing their bookkeeping, and
// every reconciliation after named each one "changed: municipality … run
// the batch again", which running it again did not settle.
func TestKeptRowsFollowTheirProceedingToAnotherMunicipality(t *testing.T) {
	path, maps, dsn, conn, db := migrated(t, 1000, 33)
	ctx := context.Background()
	proc := loadedProceedingWithChildren(t, conn, db, "all")
	var person int64
	var from string
	if err := db.QueryRow(`SELECT ISIK_ID, KOV_KOOD FROM MENETLUS WHERE MENETLUS_ID = ?`, proc).Scan(&person, &from); err != nil {
		t.Fatal(err)
	}
	m, err := mapping.LoadFolder(maps)
	if err != nil {
		t.Fatal(err)
	}
	var to string // a STAR1 code of another STAR2 municipality
	for code, mu := range m.Municipalities {
		if f, ok := m.Municipalities[from]; ok && mu.Code != f.Code && (to == "" || code < to) {
			to = code
		}
	}
	// STAR1 deletes the person: the proceeding and its rows are left in
	// STAR2, and a decision keeps them.
	if _, err := db.Exec(`UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID = ?`, person); err != nil {
		t.Fatal(err)
	}
	opts := options(path, maps, dsn)
	if _, err := Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	keepSTAR2(t, dsn, "deleted in STAR1 by mistake")
	// The proceeding is handed over to another municipality.
	if _, err := db.Exec("UPDATE MENETLUS SET KOV_KOOD = ? WHERE MENETLUS_ID = ?", to, proc); err != nil {
		t.Fatal(err)
	}
	sum, err := Migrate(ctx, opts)
	if err != nil {
		t.Fatalf("the run after the move: %v", err)
	}
	if s := sum.Tables["MENETLUS"]; s.Reported == 0 {
		t.Errorf("the moved proceeding, which STAR1 changed, is not reported left in STAR2 again: %+v", *s)
	}
	for table, ids := range childIDs(t, db, proc) {
		if s := sum.Tables[table]; s.Inserted+s.Updated+s.Conflicts+s.Reported != 0 {
			t.Errorf("%s of the moved proceeding, kept and unchanged in STAR1: %+v", table, *s)
		}
		var moved int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.row_map WHERE star1_table = $1 AND star1_id = ANY($2) AND kov = $3`,
			table, ids, to).Scan(&moved); err != nil {
			t.Fatal(err)
		}
		if moved != len(ids) {
			t.Errorf("%d of the proceeding's %d %s rows in the bookkeeping under %s", moved, len(ids), table, to)
		}
	}
	if open, err := Conflicts(ctx, dsn, "all"); err != nil || conflictRows(open) != fmt.Sprint([]load.RowRef{{Table: "MENETLUS", ID: proc}}) {
		t.Errorf("open conflicts after the move: %s %v", conflictRows(open), err)
	}
}

// loadedProceedingWithChildren is the first proceeding with decisions and
// activities that batch loaded.
func loadedProceedingWithChildren(t *testing.T, conn *pgx.Conn, db *sql.DB, batch string) int64 {
	t.Helper()
	for _, id := range star1IDs(t, db, `SELECT m.MENETLUS_ID FROM MENETLUS m
		WHERE EXISTS (SELECT 1 FROM OTSUS o WHERE o.MENETLUS_ID = m.MENETLUS_ID)
		  AND EXISTS (SELECT 1 FROM TOIMING a WHERE a.MENETLUS_ID = m.MENETLUS_ID) ORDER BY 1`) {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM migration.row_map WHERE star1_table = 'MENETLUS' AND star1_id = $1
			AND outcome = 'loaded' AND batch = $2`, id, batch).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return id
		}
	}
	t.Fatalf("no proceeding with decisions and activities that %s loaded", batch)
	return 0
}

// childIDs are the ids of a proceeding's decisions and activities.
func childIDs(t *testing.T, db *sql.DB, proc int64) map[string][]int64 {
	t.Helper()
	ids := map[string][]int64{}
	for _, table := range []string{"OTSUS", "TOIMING"} {
		ids[table] = star1IDs(t, db, fmt.Sprintf("SELECT %[1]s_ID FROM %[1]s WHERE MENETLUS_ID = ?", table), proc)
	}
	return ids
}

func TestDeletedSurvivorLeavesThePersonToItsDuplicate(t *testing.T) {
	// Of two duplicates, the one loaded is soft-deleted in STAR1 later.
	// The other becomes the survivor and carries the STAR2 person on; the
	// deleted one is excluded like any deleted row, not "left in STAR2",
	// and the rows left in STAR2 that refer to it still reconcile deep.
	path, maps, dsn, conn, db := migrated(t, 1500, 27)
	ctx := context.Background()
	// A loaded person with a merged duplicate and a loaded relation.
	pairs := star2Pairs(t, conn)
	var gone, heir int64
	for _, p := range pairs {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ISIKU_SEOS WHERE ISIK_ID = ?1 OR SEOTUD_ISIK_ID = ?1`, p[0]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			gone, heir = p[0], p[1]
			break
		}
	}
	if gone == 0 {
		t.Fatalf("no loaded duplicate with relations among %d", len(pairs))
	}
	if _, err := db.Exec(`UPDATE ISIK SET KUSTUTATUD = 'J' WHERE ISIK_ID = ?`, gone); err != nil {
		t.Fatal(err)
	}
	sum, err := Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.Tables["ISIK"]; s.Updated != 1 || s.Inserted != 0 {
		t.Errorf("ISIK: %+v, want the heir's update of the STAR2 person", *s)
	}
	outcome := func(id int64) (o string) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT outcome FROM migration.row_outcome WHERE star1_table = 'ISIK' AND star1_id = $1`, id).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	if g, h := outcome(gone), outcome(heir); g != "excluded_deleted" || h != "loaded" {
		t.Errorf("deleted survivor %d is %s, its duplicate %d is %s", gone, g, heir, h)
	}
	var reported int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.conflict WHERE star1_table = 'ISIK' AND star1_id = $1`, gone).Scan(&reported); err != nil {
		t.Fatal(err)
	}
	if reported != 0 {
		t.Errorf("ISIK %d reported as left in STAR2, though its duplicate carries the person", gone)
	}
	reconcilesDeep(t, path, maps, dsn, "deep reconciliation")
	rerunWritesNothing(t, conn, options(path, maps, dsn))
}

func TestRowsFollowAPersonWhoseCodeChangedAndTheMappings(t *testing.T) {
	// The same STAR1 row can give another STAR2 row: a non-resident given
	// an Estonian personal code has another STAR2 person id, so the
	// applications, proceedings and relations that refer to the person
	// must follow; an analyst's new mapping of a code changes every row
	// with the code. Both are written by the next run, and reconcile deep.
	path, maps, dsn, conn, db := migrated(t, 1500, 28)
	ctx := context.Background()
	var person int64
	var old string
	for _, id := range star1IDs(t, db, `SELECT DISTINCT i.ISIK_ID FROM ISIK i JOIN MENETLUS m ON m.ISIK_ID = i.ISIK_ID
		WHERE length(i.ISIKUKOOD) <> 11 ORDER BY 1`) {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM migration.row_map p JOIN migration.row_map m ON m.star1_table = 'MENETLUS' AND m.outcome = 'loaded'
			WHERE p.star1_table = 'ISIK' AND p.star1_id = $1 AND p.outcome = 'loaded'
			  AND m.star1_id IN (SELECT unnest($2::bigint[]))`, id, star1IDs(t, db, `SELECT MENETLUS_ID FROM MENETLUS WHERE ISIK_ID = ?`, id)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			person = id
			break
		}
	}
	if person == 0 {
		t.Fatal("no loaded non-resident with a loaded proceeding")
	}
	if err := conn.QueryRow(ctx, `SELECT star2_id::text FROM migration.row_map WHERE star1_table = 'ISIK' AND star1_id = $1`, person).Scan(&old); err != nil {
		t.Fatal(err)
	}
	code, err := mapping.MakePersonalCode(mustDate("1931-02-03"), true, 999)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ISIK SET ISIKUKOOD = ? WHERE ISIK_ID = ?`, code, person); err != nil {
		t.Fatal(err)
	}
	sum, err := Migrate(ctx, options(path, maps, dsn))
	if err != nil {
		t.Fatalf("run after the code changed: %v", err)
	}
	if s := sum.Tables["ISIK"]; s.Inserted != 1 {
		t.Errorf("ISIK: %+v, want the person under its new id", *s)
	}
	if s := sum.Tables["MENETLUS"]; s.Updated == 0 {
		t.Errorf("MENETLUS: %+v, want the person's proceedings pointed at the new id", *s)
	}
	var detail string
	if err := conn.QueryRow(ctx, `SELECT detail FROM migration.conflict WHERE star1_table = 'ISIK' AND star1_id = $1`, person).Scan(&detail); err != nil {
		t.Fatalf("the person left in STAR2 is not reported: %v", err)
	}
	if !strings.Contains(detail, "personal code changed") || !strings.Contains(detail, old) {
		t.Errorf("report %q does not name the STAR2 person %s left", detail, old)
	}
	deep := func(maps string) {
		t.Helper()
		reconcilesDeep(t, path, maps, dsn, "deep reconciliation")
	}
	deep(maps)

	// An analyst maps home care to personal assistance.
	edited := filepath.Join(t.TempDir(), "mappings")
	if err := os.CopyFS(edited, os.DirFS(maps)); err != nil {
		t.Fatal(err)
	}
	cls := filepath.Join(edited, "classifiers.csv")
	b, err := os.ReadFile(cls)
	if err != nil {
		t.Fatal(err)
	}
	from, to := "TEENUS,KODUTEENUS,service,home_care,Home care", "TEENUS,KODUTEENUS,service,personal_assistance,Personal assistance"
	if !strings.Contains(string(b), from) {
		t.Fatalf("classifiers.csv has no line %q", from)
	}
	// and corrects a name, which STAR2, keeping its own names, does not take.
	named, renamed := "TEENUS,TUGIISIK,service,support_person,Support person", "TEENUS,TUGIISIK,service,support_person,Support worker"
	if !strings.Contains(string(b), named) {
		t.Fatalf("classifiers.csv has no line %q", named)
	}
	edits := strings.NewReplacer(from, to, named, renamed)
	if err := os.WriteFile(cls, []byte(edits.Replace(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	o := options(path, edited, dsn)
	if sum, err = Migrate(ctx, o); err != nil {
		t.Fatalf("run with the new mapping: %v", err)
	}
	if want := []load.NameKept{{Table: "classifier", Code: "service/support_person", Mapping: "Support worker", STAR2: "Support person"}}; !reflect.DeepEqual(sum.NamesKept, want) {
		t.Errorf("names kept: %+v, want %+v", sum.NamesKept, want)
	}
	if s := sum.Tables["OTSUS"]; s.Updated == 0 {
		t.Errorf("OTSUS: %+v, want the decisions on home care updated", *s)
	}
	deep(edited)
	rerunWritesNothing(t, conn, o)
}

func TestPersonAlreadyInSTAR2IsMergedIntoIt(t *testing.T) {
	// STAR2 took new work before the batch of a municipality ran: a social
	// worker created a person there who is in STAR1 too. The person's STAR1
	// rows are merged into that STAR2 person, which the migration does not
	// write over, and the proceedings and the rest point at it.
	path, maps := star1(t, 1500, 30, nil)
	dsn, conn := target(t)
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT i.ISIK_ID, i.ISIKUKOOD FROM ISIK i WHERE i.KUSTUTATUD = 'E'
		AND EXISTS (SELECT 1 FROM MENETLUS m WHERE m.ISIK_ID = i.ISIK_ID AND m.STAATUS = 'A') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var person int64
	var code string
	for person == 0 && rows.Next() {
		var id int64
		var c sql.NullString
		if err := rows.Scan(&id, &c); err != nil {
			t.Fatal(err)
		}
		if _, err := mapping.ParsePersonalCode(c.String); err == nil {
			person, code = id, c.String
		}
	}
	rows.Close()
	if person == 0 {
		t.Fatal("no person with a valid code and an open proceeding")
	}
	const own = "5f0c2a4e-8d1b-4c3a-9e2f-7a6b5c4d3e2f"
	if _, err := conn.Exec(ctx, `INSERT INTO star2.person (id, personal_code, given_name, family_name, created_at)
		VALUES ($1, $2, 'Loodud', 'STAR2-s', '2026-06-01T09:00:00Z')`, own, code); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatalf("batch over a person STAR2 holds already: %v", err)
	}
	var outcome, star2 string
	if err := conn.QueryRow(ctx, `SELECT outcome, star2_id::text FROM migration.row_outcome WHERE star1_table = 'ISIK' AND star1_id = $1`, person).
		Scan(&outcome, &star2); err != nil {
		t.Fatal(err)
	}
	if outcome != "merged" || star2 != own {
		t.Errorf("ISIK %d: %s into %s, want merged into STAR2's own person %s", person, outcome, star2, own)
	}
	var name string
	var proceedings, ours int
	if err := conn.QueryRow(ctx, `SELECT given_name, (SELECT count(*) FROM star2.proceeding WHERE person_id = p.id),
		(SELECT count(*) FROM star2.person WHERE id = $2) FROM star2.person p WHERE id = $1`, own, mapping.PersonID(code)).
		Scan(&name, &proceedings, &ours); err != nil {
		t.Fatal(err)
	}
	if name != "Loodud" || proceedings == 0 || ours != 0 {
		t.Errorf("STAR2's person: name %q, %d proceedings; %d persons under the migration's own id", name, proceedings, ours)
	}
	if _, err := Reconcile(ctx, ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}); err != nil {
		t.Errorf("deep reconciliation: %v", err)
	}
	for table, s := range rerunWritesNothing(t, conn, options(path, maps, dsn)).Tables {
		if s.Reported != 0 {
			t.Errorf("%s: a run over unchanged STAR1 reported %+v", table, *s)
		}
	}

	// STAR2 then loses its person (made here with its foreign keys off):
	// the reconciliation names the row merged into it, which its loaded
	// rows do not show, and the next run books it again.
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica; DELETE FROM star2.person WHERE id = '`+own+`'; SET session_replication_role = DEFAULT`); err != nil {
		t.Fatal(err)
	}
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all"}
	_, err = Reconcile(ctx, ro)
	fe := wantFindings(t, err, "reconcile after STAR2's person is gone")
	found := false
	for _, f := range fe.Report.Findings {
		if f.Table == "ISIK" && f.Star1ID == person && f.Star2ID == own && f.Kind == "missing_in_star2" {
			found = true
			t.Log(f.Detail)
		}
	}
	if !found {
		t.Errorf("ISIK %d, merged into the person STAR2 lost, is not named: %v", person, fe)
	}
	if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
		t.Fatalf("the run after: %v", err)
	}
	ro.Deep = true
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("deep reconciliation after the run: %v", err)
	}
}

// nameNotUTF8 gives a STAR1 person a first name of bytes that are not
// UTF-8 ("Ma\xc3(ri"), which the database refuses.
func nameNotUTF8(t *testing.T, db *sql.DB, person int64) {
	t.Helper()
	if _, err := db.Exec(`UPDATE ISIK SET EESNIMI = CAST(X'4D61C3287269' AS TEXT) WHERE ISIK_ID = ?`, person); err != nil {
		t.Fatal(err)
	}
}

// putRight changes STAR1 with stmt and runs the batch again.
func putRight(t *testing.T, db *sql.DB, o Options, stmt string, args ...any) *Summary {
	t.Helper()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatal(err)
	}
	sum, err := Migrate(context.Background(), o)
	if err != nil {
		t.Fatalf("migrate after STAR1 was put right: %v", err)
	}
	return sum
}

// rerunWritesNothing runs a batch again over what it ran on before and
// fails the test when the run writes to STAR2 or changes any row.
func rerunWritesNothing(t *testing.T, conn *pgx.Conn, o Options) *Summary {
	t.Helper()
	before := Digest(t, conn)
	sum, err := Migrate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for table, s := range sum.Tables {
		if s.Inserted+s.Updated+s.Conflicts != 0 {
			t.Errorf("%s: a run over unchanged STAR1 wrote %+v", table, *s)
		}
	}
	sameDigest(t, "a run after", before, Digest(t, conn))
	return sum
}

// TestRefusedUpdateLeavesTheRowInSTAR2: STAR1 changes a loaded document's
// file name to bytes that are not UTF-8, which the database refuses. The
// document stays in STAR2 as the migration wrote it, and so does its
// bookkeeping (loaded), like a row the rules no longer load: the run
// reports it, the deep reconciliation names it and the column instead of
// stopping on the bytes, and a decision keeps it. Before, the bookkeeping
// called it quarantined while STAR2 still held it, and once STAR1 was put
// right every later run tried to insert it again and was refused for a
// duplicate key.
func TestRefusedUpdateLeavesTheRowInSTAR2(t *testing.T) {
	path, maps, dsn, conn, db := migrated(t, 400, 32)
	ctx := context.Background()
	var doc int64
	var star2 string
	if err := conn.QueryRow(ctx, `SELECT star1_id, star2_id::text FROM migration.row_map WHERE star1_table = 'DOKUMENT' AND outcome = 'loaded' ORDER BY star1_id LIMIT 1`).Scan(&doc, &star2); err != nil {
		t.Fatal(err)
	}
	before := Digest(t, conn)
	if _, err := db.Exec(`UPDATE DOKUMENT SET FAILINIMI = CAST(X'CE0D55D51097' AS TEXT) WHERE DOKUMENT_ID = ?`, doc); err != nil {
		t.Fatal(err)
	}
	o := options(path, maps, dsn)
	sum, err := Migrate(ctx, o)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if s := sum.Tables["DOKUMENT"]; s.Rejected != 1 || s.Reported != 1 || s.Quarantine[mapping.RuleRejected] != 0 {
		t.Errorf("DOKUMENT: %+v, want one refusal, reported, and no row quarantined for it", *s)
	}
	sameDigest(t, "STAR2 after the refused update", before, Digest(t, conn))
	var outcome, report string
	if err := conn.QueryRow(ctx, `SELECT rm.outcome, c.detail FROM migration.row_map rm
		JOIN migration.conflict c ON c.star1_table = rm.star1_table AND c.star1_id = rm.star1_id AND c.run_id = rm.run_id AND c.kind = 'left_by_the_rules'
		WHERE rm.star1_table = 'DOKUMENT' AND rm.star1_id = $1`, doc).Scan(&outcome, &report); err != nil {
		t.Fatalf("DOKUMENT %d: no report of the refused update: %v", doc, err)
	}
	if outcome != load.Loaded || !strings.HasPrefix(report, "now quarantined rejected_by_database: ") || !strings.Contains(report, "(SQLSTATE 22021)") ||
		!strings.HasSuffix(report, "in STAR2 column file_name; left in STAR2 as it is") {
		t.Errorf("DOKUMENT %d: %s, reported %q", doc, outcome, report)
	}

	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	_, err = Reconcile(ctx, ro)
	fe := wantFindings(t, err, "deep reconciliation")
	if len(fe.Report.Findings) != 1 {
		t.Fatalf("deep reconciliation: %v, want one finding", err)
	}
	if f := fe.Report.Findings[0]; f.Table != "DOKUMENT" || f.Star1ID != doc || f.Star2ID != star2 || !strings.Contains(f.Detail, "differs from STAR1's row in: file_name;") {
		t.Errorf("finding %+v", f)
	}
	keepSTAR2(t, dsn, "ticket 5530", load.RowRef{Table: "DOKUMENT", ID: doc})
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("deep reconciliation after the decision: %v", err)
	}

	// STAR1 put right: the next run writes it.
	sum = putRight(t, db, o, `UPDATE DOKUMENT SET FAILINIMI = 'parandatud.pdf' WHERE DOKUMENT_ID = ?`, doc)
	if s := sum.Tables["DOKUMENT"]; s.Updated != 1 || s.Rejected != 0 {
		t.Errorf("DOKUMENT after the fix: %+v, want it updated", *s)
	}
	var name string
	if err := conn.QueryRow(ctx, `SELECT file_name FROM star2.document WHERE id = $1`, star2).Scan(&name); err != nil || name != "parandatud.pdf" {
		t.Errorf("star2.document %s: file name %q, %v", star2, name, err)
	}
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("deep reconciliation after the fix: %v", err)
	}
}

// TestRefusedPersonUnderANewCode: STAR1 gives a loaded non-resident an
// Estonian personal code, so that the person has another STAR2 id now,
// and a name the database refuses. The person loaded before stays in
// STAR2, and in the bookkeeping, as left in STAR2; the proceedings, which
// would follow the new id, stay as they are too, quarantined for their
// person, instead of being refused for a foreign key. Before, the
// bookkeeping called the person quarantined while STAR2 held it, and the
// run's report named a new STAR2 person that was never written.
func TestRefusedPersonUnderANewCode(t *testing.T) {
	path, maps, dsn, conn, db := migrated(t, 1500, 28)
	ctx := context.Background()
	var person int64
	var old string
	if err := conn.QueryRow(ctx, `SELECT p.star1_id, p.star2_id::text FROM migration.row_map p JOIN star2.person s ON s.id = p.star2_id
		WHERE p.star1_table = 'ISIK' AND p.outcome = 'loaded' AND s.personal_code IS NULL
		  AND EXISTS (SELECT FROM star2.proceeding m WHERE m.person_id = s.id) ORDER BY 1 LIMIT 1`).Scan(&person, &old); err != nil {
		t.Fatalf("no loaded non-resident with a loaded proceeding: %v", err)
	}
	proceedings := star1IDs(t, db, `SELECT MENETLUS_ID FROM MENETLUS WHERE ISIK_ID = ?`, person)
	code, err := mapping.MakePersonalCode(mustDate("1931-02-03"), true, 998)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ISIK SET ISIKUKOOD = ? WHERE ISIK_ID = ?`, code, person); err != nil {
		t.Fatal(err)
	}
	nameNotUTF8(t, db, person)
	before := Digest(t, conn)
	o := options(path, maps, dsn)
	sum, err := Migrate(ctx, o)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if s := sum.Tables["ISIK"]; s.Rejected != 1 || s.Inserted != 0 {
		t.Errorf("ISIK: %+v, want one refusal and nothing written", *s)
	}
	for table, s := range sum.Tables {
		if table != "ISIK" && (s.Rejected+s.Inserted+s.Updated) != 0 {
			t.Errorf("%s: %+v, want nothing written or refused", table, *s)
		}
	}
	sameDigest(t, "STAR2 after the refusal", before, Digest(t, conn))
	var star2, report string
	if err := conn.QueryRow(ctx, `SELECT rm.star2_id::text, c.detail FROM migration.row_map rm
		JOIN migration.conflict c ON c.star1_table = rm.star1_table AND c.star1_id = rm.star1_id AND c.run_id = rm.run_id AND c.kind = 'left_by_the_rules'
		WHERE rm.star1_table = 'ISIK' AND rm.star1_id = $1 AND rm.outcome = 'loaded'`, person).Scan(&star2, &report); err != nil {
		t.Fatalf("ISIK %d is not booked as left in STAR2: %v", person, err)
	}
	if star2 != old || !strings.HasPrefix(report, "now quarantined rejected_by_database: ") || !strings.Contains(report, "(SQLSTATE 22021)") {
		t.Errorf("ISIK %d: STAR2 person %s (want %s), reported %q", person, star2, old, report)
	}
	for _, id := range proceedings {
		var outcome string
		var left bool
		if err := conn.QueryRow(ctx, `SELECT rm.outcome, EXISTS (SELECT FROM migration.conflict c WHERE c.star1_table = rm.star1_table AND c.star1_id = rm.star1_id
			AND c.run_id = rm.run_id AND c.detail = 'now quarantined parent_quarantined; left in STAR2 as it is')
			FROM migration.row_map rm WHERE rm.star1_table = 'MENETLUS' AND rm.star1_id = $1`, id).Scan(&outcome, &left); err != nil {
			t.Fatal(err)
		}
		if outcome == load.Loaded && !left {
			t.Errorf("MENETLUS %d of the person: loaded, not reported left in STAR2", id)
		}
	}
	keepSTAR2(t, dsn, "ticket 5531")
	ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("deep reconciliation after the decision: %v", err)
	}

	// STAR1's name put right: the person is written under the new id, and
	// its proceedings follow.
	sum = putRight(t, db, o, `UPDATE ISIK SET EESNIMI = 'Mari' WHERE ISIK_ID = ?`, person)
	if s := sum.Tables["ISIK"]; s.Inserted != 1 || s.Rejected != 0 {
		t.Errorf("ISIK after the fix: %+v, want the person under its new id", *s)
	}
	if err := conn.QueryRow(ctx, `SELECT star2_id::text FROM migration.row_map WHERE star1_table = 'ISIK' AND star1_id = $1`, person).Scan(&star2); err != nil || star2 != mapping.PersonID(code).String() {
		t.Errorf("ISIK %d after the fix: STAR2 person %s, %v", person, star2, err)
	}
	if _, err := Reconcile(ctx, ro); err != nil {
		t.Errorf("deep reconciliation after the fix: %v", err)
	}
}

// TestUndoneSoftDeleteIsNoLongerLeft: a loaded person that STAR1
// soft-deletes is left in STAR2 and reported so; when STAR1 undoes the
// delete, the rules load the row as it was, and the next run writes its
// bookkeeping, so that the report is closed. Before, the report of the
// delete stayed open: resolve --list and reconcile --deep said "now
// excluded_deleted" of a row STAR1 no longer deletes, and --take-star1 was
// refused for it.
func TestUndoneSoftDeleteIsNoLongerLeft(t *testing.T) {
	for _, editedInSTAR2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("edited in STAR2 %v", editedInSTAR2), func(t *testing.T) {
			path, maps, dsn, conn, db := migrated(t, 300, 4)
			ctx := context.Background()
			var id int64
			var star2 string
			if err := conn.QueryRow(ctx, `SELECT star1_id, star2_id::text FROM migration.row_map WHERE star1_table = 'ISIK' AND outcome = 'loaded'
				ORDER BY star1_id OFFSET 5 LIMIT 1`).Scan(&id, &star2); err != nil {
				t.Fatal(err)
			}
			if editedInSTAR2 {
				if _, err := conn.Exec(ctx, "UPDATE star2.person SET address = 'Set in STAR2' WHERE id = $1", star2); err != nil {
					t.Fatal(err)
				}
			}
			open := func() []load.Conflict {
				cs, err := Conflicts(ctx, dsn, "all")
				if err != nil {
					t.Fatal(err)
				}
				return cs
			}
			for _, deleted := range []string{"J", "E"} {
				if _, err := db.Exec("UPDATE ISIK SET KUSTUTATUD = ? WHERE ISIK_ID = ?", deleted, id); err != nil {
					t.Fatal(err)
				}
				var fe *FindingsError
				if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil && !errors.As(err, &fe) {
					t.Fatal(err)
				}
			}
			if cs := open(); len(cs) != 0 {
				t.Errorf("open conflicts after the delete was undone: %+v", cs)
			}
			ro := ReconcileOptions{Source: "sqlite:" + path, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
			_, err := Reconcile(ctx, ro)
			if !editedInSTAR2 {
				if err != nil {
					t.Errorf("deep reconciliation: %v", err)
				}
				return
			}
			fe := wantFindings(t, err, "deep reconciliation of a row changed in STAR2")
			if len(fe.Report.Findings) != 1 || fe.Report.Findings[0].Kind != "deep" || !strings.Contains(fe.Report.Findings[0].Detail, "changed in STAR2 since the migration wrote it") {
				t.Errorf("findings %+v, want ISIK %d changed in STAR2", fe.Report.Findings, id)
			}
			// STAR1's version is taken, and the next run writes it.
			o := ResolveOptions{Target: dsn, Batch: "all", Rows: []load.RowRef{{Table: "ISIK", ID: id}}, Decision: load.TakeSTAR1,
				Reason: "STAR1 is the source", Operator: "mari.migration", Now: clock, Wait: load.DefaultWait}
			if _, err := Resolve(ctx, o); err != nil {
				t.Fatalf("take STAR1's row: %v", err)
			}
			if _, err := Migrate(ctx, options(path, maps, dsn)); err != nil {
				t.Fatal(err)
			}
			reconcilesDeep(t, path, maps, dsn, "after STAR1's row was taken")
		})
	}
}

// everyRowBookedOnce fails the test for each loaded STAR1 table whose rows
// in STAR1 are not each in the bookkeeping of the batches once.
func everyRowBookedOnce(t *testing.T, db *sql.DB, conn *pgx.Conn, when string) {
	t.Helper()
	for _, mt := range mapping.Tables {
		var inSTAR1, booked, twice int64
		if err := db.QueryRow("SELECT count(*) FROM " + mt.Star1).Scan(&inSTAR1); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(context.Background(), `SELECT count(*), count(*) - count(DISTINCT star1_id) FROM migration.row_map
			WHERE star1_table = $1 AND gone_run_id IS NULL`, mt.Star1).Scan(&booked, &twice); err != nil {
			t.Fatal(err)
		}
		if booked != inSTAR1 || twice != 0 {
			t.Errorf("%s: %s has %d rows, the bookkeeping of both batches %d (%d twice)", when, mt.Star1, inSTAR1, booked, twice)
		}
	}
}
