package batch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// Counts are the rows and money of one table, for one municipality or in
// total: from STAR1, and by outcome from the bookkeeping.
type Counts struct {
	Source    int64                    `json:"source_rows"`
	SourceSum mapping.Cents            `json:"source_sum_cents"`
	Outcomes  map[string]int64         `json:"outcomes"`
	Sums      map[string]mapping.Cents `json:"outcome_sums_cents"`
	// Gone counts rows of the bookkeeping that STAR1 no longer holds and
	// that a run has found deleted outright since (load.MarkGone). They
	// are not source rows, so they are outside the identity; STAR2 keeps
	// those that were loaded.
	Gone int64 `json:"gone_from_star1"`
}

func newCounts() *Counts {
	return &Counts{Outcomes: map[string]int64{}, Sums: map[string]mapping.Cents{}}
}

// Accounted is the right-hand side of the identity: loaded + merged +
// archived_only + excluded_deleted + quarantined.
func (c *Counts) Accounted() (rows int64, sum mapping.Cents) {
	for _, n := range c.Outcomes {
		rows += n
	}
	for _, s := range c.Sums {
		sum += s
	}
	return rows, sum
}

// TableReport is the reconciliation of one STAR1 table.
type TableReport struct {
	Table     string             `json:"table"`
	Money     bool               `json:"money"`
	Total     *Counts            `json:"total"`
	ByKov     map[string]*Counts `json:"by_municipality"`
	STAR2Rows int64              `json:"star2_rows"`
	STAR2Sum  mapping.Cents      `json:"star2_sum_cents"`
	// Kept counts loaded rows that differ from what the migration wrote
	// (or are gone from STAR2) and that a decision keeps as STAR2 has them
	// (starmig resolve); they are not findings while they stay so.
	Kept   int64 `json:"kept_as_star2_has_it"`
	marked int64 // rows this reconciliation marked gone from STAR1
}

// Finding is one difference a reconciliation found, naming the row.
type Finding struct {
	Table   string `json:"table"`
	Star1ID int64  `json:"star1_id,omitempty"`
	Star2ID string `json:"star2_id,omitempty"`
	Kind    string `json:"kind"`
	Detail  string `json:"detail"`
}

// Report is a reconciliation: the identity per table, per municipality and
// in total, STAR2 checked against the bookkeeping, and every finding.
type Report struct {
	Batch    string         `json:"batch"`
	KOV      []string       `json:"municipalities,omitempty"`
	Deep     bool           `json:"deep"`
	Tables   []*TableReport `json:"tables"`
	Findings []Finding      `json:"findings"`
	More     int64          `json:"findings_not_listed,omitempty"`
}

// keptNoLonger ends the detail of a finding on a row that a decision kept
// as STAR2 had it.
const keptNoLonger = "; a decision kept this row as STAR2 had it, but it has changed since (in STAR2, or in STAR1 by a later run): decide again with starmig resolve"

// maxFindings bounds the findings a report lists; the rest are counted.
const maxFindings = 1000

func (r *Report) add(f Finding) {
	if len(r.Findings) >= maxFindings {
		r.More++
		return
	}
	r.Findings = append(r.Findings, f)
}

// OK reports whether the batch reconciles.
func (r *Report) OK() bool { return len(r.Findings) == 0 && r.More == 0 }

// FindingsError is a batch that does not reconcile.
type FindingsError struct{ Report *Report }

func (e *FindingsError) Error() string {
	n := int64(len(e.Report.Findings)) + e.Report.More
	var b strings.Builder
	fmt.Fprintf(&b, "reconciliation of batch %q failed with %s", e.Report.Batch, words.Count(n, "finding"))
	for i, f := range e.Report.Findings {
		if i == 10 {
			fmt.Fprintf(&b, "\n  … and %d more (see the report)", n-10)
			break
		}
		fmt.Fprintf(&b, "\n  %s %d: %s: %s", f.Table, f.Star1ID, f.Kind, f.Detail)
	}
	return b.String()
}

// sourceQuery selects (id, municipality code, amount, currency) of a STAR1
// table in id order; a row's municipality is its own, its person's, or its
// proceeding's, as the plan gives it.
func sourceQuery(d extract.Dialect, table string) string {
	tb := func(name, alias string) string {
		t, _ := extract.TableByName(name)
		return d.Table(t) + " " + alias
	}
	col := func(table, name, alias string) string {
		t, _ := extract.TableByName(table)
		c, _ := t.Column(name)
		return d.Column(c, alias)
	}
	id := func(table, alias string) string {
		t, _ := extract.TableByName(table)
		return col(table, t.Key[0], alias)
	}
	noMoney := "NULL, NULL"
	switch table {
	case "ISIK":
		return fmt.Sprintf("SELECT %s, x.KOV_KOOD, %s FROM %s ORDER BY x.ISIK_ID", id("ISIK", "x"), noMoney, tb("ISIK", "x"))
	case "ISIKU_SEOS":
		return fmt.Sprintf("SELECT %s, p.KOV_KOOD, %s FROM %s LEFT JOIN %s ON p.ISIK_ID = x.ISIK_ID ORDER BY x.SEOS_ID",
			id("ISIKU_SEOS", "x"), noMoney, tb("ISIKU_SEOS", "x"), tb("ISIK", "p"))
	case "POORDUMINE", "MENETLUS":
		t, _ := extract.TableByName(table)
		return fmt.Sprintf("SELECT %s, x.KOV_KOOD, %s FROM %s ORDER BY x.%s", id(table, "x"), noMoney, tb(table, "x"), t.Key[0])
	case "OTSUS":
		return fmt.Sprintf("SELECT %s, m.KOV_KOOD, %s, x.VALUUTA FROM %s LEFT JOIN %s ON m.MENETLUS_ID = x.MENETLUS_ID ORDER BY x.OTSUS_ID",
			id("OTSUS", "x"), col("OTSUS", "SUMMA", "x"), tb("OTSUS", "x"), tb("MENETLUS", "m"))
	case "MAKSE":
		return fmt.Sprintf("SELECT %s, m.KOV_KOOD, %s, x.VALUUTA FROM %s LEFT JOIN %s ON o.OTSUS_ID = x.OTSUS_ID LEFT JOIN %s ON m.MENETLUS_ID = o.MENETLUS_ID ORDER BY x.MAKSE_ID",
			id("MAKSE", "x"), col("MAKSE", "SUMMA", "x"), tb("MAKSE", "x"), tb("OTSUS", "o"), tb("MENETLUS", "m"))
	default:
		t, _ := extract.TableByName(table)
		return fmt.Sprintf("SELECT %s, m.KOV_KOOD, %s FROM %s LEFT JOIN %s ON m.MENETLUS_ID = x.MENETLUS_ID ORDER BY x.%s",
			id(table, "x"), noMoney, tb(table, "x"), tb("MENETLUS", "m"), t.Key[0])
	}
}

func kovKey(maps *mapping.Mappings, raw any) string {
	s, ok := asText(raw).(string)
	switch {
	case raw == nil || !ok:
		return "-"
	case s == "":
		return "-"
	}
	if m, ok := maps.Municipality(s); ok {
		return m.Code
	}
	return "?" + extract.Visible(s)
}

func toInt(v any) (int64, error) {
	switch x := asText(v).(type) {
	case int64:
		return x, nil
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	}
	return 0, fmt.Errorf("id %v of type %T", v, v)
}

type booked struct {
	id      int64
	outcome string
	kov     pgtype.Text
	amount  pgtype.Numeric
	star2   pgtype.UUID
	gone    bool // marked gone from STAR1 by a run
	batch   string
}

// reconcile checks the accounting identity of every STAR1 table against the
// bookkeeping, and STAR2 against the bookkeeping. The STAR2 checks, which do
// not depend on STAR1, run table after table on the second connection
// while the identities are checked on the first; findings are reported in
// table order all the same. With analyze, the second connection first
// refreshes the statistics of the tables a load wrote, which its joins
// need and the identities' ordered reads of the bookkeeping do not.
func reconcile(ctx context.Context, conn, conn2 *pgx.Conn, snap extract.Snapshot, maps *mapping.Mappings, sc scope, analyze bool, m meter) (*Report, error) {
	rep := &Report{Batch: sc.batch, KOV: sc.kov, Findings: []Finding{}}
	identity := make([]*Report, len(mapping.Tables))
	star2 := make([]*Report, len(mapping.Tables))
	for i, mt := range mapping.Tables {
		identity[i], star2[i] = &Report{}, &Report{}
		rep.Tables = append(rep.Tables, &TableReport{Table: mt.Star1, Money: mt.Money(), Total: newCounts(), ByKov: map[string]*Counts{}})
	}
	stop := make(chan struct{})
	checked := make(chan error, 1)
	go func() {
		if analyze {
			if err := load.Analyze(ctx, conn2); err != nil {
				checked <- err
				return
			}
		}
		for i, mt := range mapping.Tables {
			select {
			case <-stop:
				checked <- nil
				return
			default:
			}
			if err := checkSTAR2(ctx, conn2, maps, sc, mt, rep.Tables[i], star2[i]); err != nil {
				checked <- err
				return
			}
		}
		checked <- nil
	}()
	for i, mt := range mapping.Tables {
		m.report("reconcile", mt.Star1, 0) // the clock of its rate starts
		read, err := reconcileTable(ctx, conn, snap, maps, sc, mt, rep.Tables[i], identity[i], func(n int64) { m.report("reconcile", mt.Star1, n) })
		if err != nil {
			close(stop)
			err2 := <-checked
			if conn.IsClosed() && conn2.IsClosed() {
				err2 = nil // STAR2 is lost: the same cause again
			}
			return nil, errors.Join(err, err2)
		}
		// Every STAR1 row was read, also those of other municipalities,
		// so the bar ends at the total it started with.
		m.done("reconcile", mt.Star1, read)
	}
	if err := <-checked; err != nil {
		return nil, err
	}
	for i := range mapping.Tables {
		for _, p := range []*Report{identity[i], star2[i]} {
			for _, f := range p.Findings {
				rep.add(f)
			}
			rep.More += p.More
		}
	}
	return rep, nil
}

// scope is the part of STAR1 a batch covers: its municipalities (STAR2
// codes), or all when kov is empty.
type scope struct {
	batch string
	kov   []string
	// markRun, when not 0, is the migrate run whose reconciliation marks
	// the rows it finds deleted from STAR1 (load.MarkGone); a
	// reconciliation on its own writes nothing and names them instead.
	markRun int64
}

func (s scope) has(kov string) bool {
	if len(s.kov) == 0 {
		return true
	}
	for _, k := range s.kov {
		if k == kov {
			return true
		}
	}
	return false
}

// covers says whether a row of municipality key kov, which the bookkeeping
// says batch wrote ("" when it holds no entry for the row), is the batch's.
// A row of no STAR2 municipality ("-", "?CODE") is the batch's that wrote
// it, or any batch's while none has (load.Scope).
func (s scope) covers(kov, wrote string) bool {
	if s.has(kov) {
		return true
	}
	return (kov == "-" || strings.HasPrefix(kov, "?")) && (wrote == "" || wrote == s.batch)
}

// reconcileTable returns how many STAR1 rows it read, and tells progress
// every reportEvery rows.
func reconcileTable(ctx context.Context, conn *pgx.Conn, snap extract.Snapshot, maps *mapping.Mappings, sc scope, mt mapping.Table, tr *TableReport, rep *Report, progress func(read int64)) (int64, error) {
	pf := startPrefetch(ctx, conn, func(r pgx.Rows, b *booked) error {
		return r.Scan(&b.id, &b.outcome, &b.kov, &b.amount, &b.star2, &b.gone, &b.batch)
	}, `SELECT star1_id, outcome, kov, amount_eur, star2_id, gone_run_id IS NOT NULL, batch FROM migration.row_map WHERE star1_table = $1 ORDER BY star1_id`, mt.Star1)
	defer pf.Close()
	var b booked
	have := false
	next := func() error {
		x := pf.Next()
		if have = x != nil; !have {
			if err := pf.Err(); err != nil {
				return fmt.Errorf("reconcile: bookkeeping of %s: %w", mt.Star1, err)
			}
			return nil
		}
		b = *x
		return nil
	}
	if err := next(); err != nil {
		return 0, err
	}
	var read int64
	account := func(kov string, c *Counts) {
		a, _ := centsOf(b.amount)
		for _, x := range []*Counts{tr.Total, c} {
			x.Outcomes[b.outcome]++
			if a != nil {
				x.Sums[b.outcome] += *a
			}
		}
	}
	byKov := func(k string) *Counts {
		c := tr.ByKov[k]
		if c == nil {
			c = newCounts()
			tr.ByKov[k] = c
		}
		return c
	}
	// absent accounts for the bookkeeping row b, which STAR1 does not hold.
	// gone and back collect the rows to mark and unmark, few unless STAR1
	// lost many rows at once.
	var gone, back []int64
	absent := func() {
		k := kovKey(maps, nullText(b.kov))
		switch {
		case !sc.covers(k, b.batch):
		case b.gone || sc.markRun != 0:
			if !b.gone {
				gone = append(gone, b.id)
			}
			tr.Total.Gone++
			byKov(k).Gone++
		default:
			rep.add(Finding{Table: mt.Star1, Star1ID: b.id, Kind: "not_in_star1",
				Detail: "in the bookkeeping (" + b.outcome + ") but STAR1 no longer holds it (deleted since the batch last ran): run the batch again, which marks it gone and keeps any STAR2 row"})
		}
	}
	err := snap.Query(ctx, sourceQuery(snap.Dialect(), mt.Star1), func(v []any) error {
		if read++; read%reportEvery == 0 {
			progress(read)
		}
		id, err := toInt(v[0])
		if err != nil {
			return fmt.Errorf("reconcile: %s: %w", mt.Star1, err)
		}
		kov := kovKey(maps, v[1])
		for have && b.id < id {
			absent()
			if err := next(); err != nil {
				return err
			}
		}
		wrote := ""
		if have && b.id == id {
			wrote = b.batch
		}
		if !sc.covers(kov, wrote) {
			if wrote != "" {
				return next()
			}
			return nil
		}
		c := byKov(kov)
		var amount *mapping.Cents
		if s, ok := asText(v[2]).(string); ok {
			norm, err1 := extract.NormalizeDecimal(s)
			a, err2 := mapping.ParseCents(norm)
			cur, _ := asText(v[3]).(string)
			eur, err3 := mapping.ToEUR(a, cur)
			if err := errors.Join(err1, err2, err3); err == nil {
				amount = &eur
			}
		}
		for _, x := range []*Counts{tr.Total, c} {
			x.Source++
			if amount != nil {
				x.SourceSum += *amount
			}
		}
		if !have || b.id != id {
			rep.add(Finding{Table: mt.Star1, Star1ID: id, Kind: "unaccounted", Detail: "in STAR1 but in no outcome: run the batch again"})
			return nil
		}
		if b.gone && sc.markRun != 0 {
			back = append(back, id)
		}
		account(kov, c)
		booked, _ := centsOf(b.amount)
		// The bookkeeping holds the code Visible (kovOf).
		star1Kov := extract.Visible(fmt.Sprint(nilAsEmpty(asText(v[1]))))
		switch {
		case text(b.kov) != star1Kov:
			rep.add(Finding{Table: mt.Star1, Star1ID: id, Kind: "changed", Detail: fmt.Sprintf("municipality %s in STAR1, %q when migrated: run the batch again", star1Kov, text(b.kov))})
		case (amount == nil) != (booked == nil) || amount != nil && *amount != *booked:
			rep.add(Finding{Table: mt.Star1, Star1ID: id, Kind: "money", Detail: fmt.Sprintf("%s EUR in STAR1, %s EUR when migrated", centsText(amount), centsText(booked))})
		}
		return next()
	})
	if err != nil {
		return read, err
	}
	for have {
		absent()
		if err := next(); err != nil {
			return read, err
		}
	}
	if len(gone)+len(back) > 0 {
		pf.Close() // the connection is free for the marks
		if tr.marked, err = load.MarkGone(ctx, conn, sc.markRun, mt.Star1, gone, back); err != nil {
			return read, err
		}
	}
	for k, c := range tr.ByKov {
		if n, s := c.Accounted(); n != c.Source || s != c.SourceSum {
			rep.add(Finding{Table: mt.Star1, Kind: "identity", Detail: fmt.Sprintf("municipality %s: %d source rows (%s EUR), %d accounted (%s EUR)", k, c.Source, c.SourceSum, n, s)})
		}
	}
	return read, nil
}

func nilAsEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func centsText(c *mapping.Cents) string {
	if c == nil {
		return "no"
	}
	return c.String()
}

// checkSTAR2 checks that every loaded row is in STAR2 and that STAR2's
// money for them is the bookkeeping's.
func nullText(t pgtype.Text) any {
	if !t.Valid {
		return nil
	}
	return t.String
}

func checkSTAR2(ctx context.Context, conn *pgx.Conn, maps *mapping.Mappings, sc scope, mt mapping.Table, tr *TableReport, rep *Report) error {
	if mt.Star2 == "person" {
		if err := checkMerged(ctx, conn, maps, sc, rep); err != nil {
			return err
		}
	}
	// Counted and summed by the database per municipality; the rows that
	// are missing or hold another amount are read one by one afterwards,
	// at most as many as a report lists, and only when there are any.
	sumExpr, bad := "NULL::numeric", load.STAR2Differs(mt)
	if tr.Money {
		sumExpr = "t.amount_eur"
	}
	// A row kept as STAR2 has it by a decision (load.Resolve) is counted
	// apart, not at fault, while it stays as it was then.
	bad = fmt.Sprintf("(%s) AND NOT %s", bad, load.KeptPredicate)
	from := fmt.Sprintf(`FROM migration.row_map rm LEFT JOIN star2.%s t ON t.id = rm.star2_id %s
		WHERE rm.star1_table = $1 AND rm.outcome = 'loaded'`, mt.Star2, load.KeptJoin)
	var kov pgtype.Text
	var wrote string
	var present, faulty, kept int64
	var sum pgtype.Numeric
	// The municipalities (NULL for none) and batches, in scope, with rows
	// at fault.
	var kovs []pgtype.Text
	var batches []string
	var faults int64
	rows, _ := conn.Query(ctx, fmt.Sprintf(`SELECT rm.kov, rm.batch, count(t.id), sum(%s), count(*) FILTER (WHERE %s), count(res.id) FILTER (WHERE %s) %s GROUP BY rm.kov, rm.batch`,
		sumExpr, bad, load.KeptPredicate, from), mt.Star1)
	_, err := pgx.ForEachRow(rows, []any{&kov, &wrote, &present, &sum, &faulty, &kept}, func() error {
		if !sc.covers(kovKey(maps, nullText(kov)), wrote) {
			return nil
		}
		tr.STAR2Rows += present
		tr.Kept += kept
		s, err := centsOf(sum)
		if s != nil {
			tr.STAR2Sum += *s
		}
		if faulty > 0 {
			faults += faulty
			kovs, batches = append(kovs, kov), append(batches, wrote)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("reconcile: STAR2 %s: %w", mt.Star2, err)
	}
	if faults == 0 {
		return nil
	}
	var id int64
	var star2 string
	var isThere bool
	var got, want pgtype.Numeric
	var decided bool
	var left pgtype.Text // the run's report, when the run that last wrote its bookkeeping left the row by the rules
	rows, _ = conn.Query(ctx, fmt.Sprintf(`SELECT rm.star1_id, rm.star2_id::text, t.id IS NOT NULL, %s, rm.amount_eur, res.id IS NOT NULL, rm.batch,
		(SELECT c.detail FROM migration.conflict c WHERE %s) %s
		AND (%s) AND EXISTS (SELECT FROM unnest($2::text[], $3::text[]) u(kov, batch) WHERE u.kov IS NOT DISTINCT FROM rm.kov AND u.batch = rm.batch)
		ORDER BY rm.star1_id LIMIT %d`, sumExpr, load.LeftBy("c"), from, bad, maxFindings),
		mt.Star1, kovs, batches)
	listed, err := pgx.ForEachRow(rows, []any{&id, &star2, &isThere, &got, &want, &decided, &wrote, &left}, func() error {
		list := resolveList(wrote, sc.batch)
		f := Finding{Table: mt.Star1, Star1ID: id, Star2ID: star2, Kind: "missing_in_star2", Detail: "loaded, but star2." + mt.Star2 + " has no row " + star2}
		g, _ := centsOf(got)
		w, _ := centsOf(want)
		if isThere {
			f.Kind, f.Detail = "star2_money", fmt.Sprintf("star2.%s holds %s EUR, the rules give %s EUR", mt.Star2, centsText(g), centsText(w))
		}
		switch {
		case decided:
			f.Detail += keptNoLonger
		case isThere && left.Valid:
			// STAR1 changed the amount of a row the rules no longer
			// load: the bookkeeping holds STAR1's amount, STAR2 the one
			// the migration wrote.
			star1 := "an amount the rules cannot give in EUR" // a currency they do not know
			if w != nil {
				star1 = w.String() + " EUR"
			}
			f.Detail = fmt.Sprintf("star2.%s holds %s EUR, STAR1 %s; a run left it in STAR2 as it is (%s): %s, --keep-star2 acknowledges it",
				mt.Star2, centsText(g), star1, strings.TrimSuffix(left.String, load.LeftAsItIs), list)
		case isThere:
			f.Detail += "; changed in STAR2 since the migration wrote it: " + list + ", --keep-star2 or --take-star1 decides"
		default:
			f.Detail += "; deleted in STAR2 since the migration wrote it: " + list + ", --keep-star2 accepts the deletion"
		}
		rep.add(f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: STAR2 %s: %w", mt.Star2, err)
	}
	rep.More += faults - listed.RowsAffected()
	return nil
}

// checkMerged finds the duplicates booked as merged into a STAR2 person
// that STAR2 does not have. A person that a loaded row is has its own
// finding when it is gone, or a decision that accepts it; the others are
// found here: a person made in STAR2 and deleted there since, or one the
// database refused, which an earlier version booked duplicates as merged
// into. The rows that refer to the duplicate point at that person too.
func checkMerged(ctx context.Context, conn *pgx.Conn, maps *mapping.Mappings, sc scope, rep *Report) error {
	rows, _ := conn.Query(ctx, `SELECT rm.star1_id, rm.star2_id::text, rm.kov, rm.batch FROM migration.row_map rm
		WHERE rm.star1_table = 'ISIK' AND rm.outcome = 'merged'
		  AND NOT EXISTS (SELECT FROM star2.person p WHERE p.id = rm.star2_id)
		  AND NOT EXISTS (SELECT FROM migration.row_map l WHERE l.star2_id = rm.star2_id AND l.star2_table = 'person' AND l.outcome = 'loaded')
		ORDER BY rm.star1_id`)
	var id int64
	var star2, wrote string
	var kov pgtype.Text
	_, err := pgx.ForEachRow(rows, []any{&id, &star2, &kov, &wrote}, func() error {
		if !sc.covers(kovKey(maps, nullText(kov)), wrote) {
			return nil
		}
		rep.add(Finding{Table: "ISIK", Star1ID: id, Star2ID: star2, Kind: "missing_in_star2",
			Detail: fmt.Sprintf("merged, but star2.person has no row %s, and no row of STAR1 is loaded as it; the next run of batch %s books the duplicate again", star2, wrote)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: merged persons: %w", err)
	}
	return nil
}

// resolveList says where the conflict list shows a row that batch wrote,
// for a finding of the reconciliation of batch sc. The list is by the
// batch that wrote the row, which may be another batch (a person of this
// municipality that a row of another batch refers to): it names that
// batch, or --list of this batch would say there is nothing to decide.
func resolveList(wrote, sc string) string {
	if wrote != sc {
		return fmt.Sprintf("batch %s wrote it, and starmig resolve --list --batch %s shows it", wrote, wrote)
	}
	return "starmig resolve --list shows it"
}

// Municipalities lists a report's municipality keys in order.
func (t *TableReport) Municipalities() []string {
	keys := make([]string, 0, len(t.ByKov))
	for k := range t.ByKov {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ReconcileOptions say what to reconcile.
type ReconcileOptions struct {
	Source   string
	Target   secret.DSN
	Mappings string
	Batch    string
	Deep     bool
	// Progress, when set, hears how far each phase and table is: rows done
	// of total, total -1 when unknown. With Deep, setting it costs a count
	// of each STAR1 table.
	Progress func(phase, table string, rows, total int64)
}

// Reconcile checks a batch that ran: the identity of every STAR1 table
// against the bookkeeping, and STAR2 against both. It returns a
// *FindingsError with the report when anything differs.
func Reconcile(ctx context.Context, o ReconcileOptions) (rep *Report, err error) {
	maps, err := mapping.LoadFolder(o.Mappings)
	if err != nil {
		return nil, err
	}
	conn, err := connect(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	conn2, err := connect(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	defer conn2.Close(context.Background())
	sc := scope{batch: o.Batch}
	var asOf time.Time
	var kov []string
	if err := conn.QueryRow(ctx, "SELECT kov, as_of FROM migration.batch WHERE name = $1", o.Batch).Scan(&kov, &asOf); err != nil {
		return nil, fmt.Errorf("reconcile: %w", batchError(ctx, conn, o.Target, o.Batch, err))
	}
	if err := load.CheckSTAR2(ctx, conn, false); err != nil {
		return nil, err
	}
	if o.Deep {
		if err := load.CheckTemporary(ctx, conn); err != nil {
			return nil, err
		}
	}
	sc.kov = kov
	_, snap, closeSource, err := snapshot(ctx, o.Source)
	if err != nil {
		return nil, err
	}
	defer closing(&err, closeSource)
	m, err := newMeter(ctx, o.Progress, snap)
	if err != nil {
		return nil, err
	}
	rep, err = reconcile(ctx, conn, conn2, snap, maps, sc, false, m)
	if err != nil {
		return nil, err
	}
	if o.Deep {
		if err := deepCheck(ctx, conn, o.Target, snap, &mapping.Config{Mappings: maps, AsOf: asOf}, sc, maps, rep, m); err != nil {
			return nil, err
		}
		rep.Deep = true
	}
	if !rep.OK() {
		return rep, &FindingsError{Report: rep}
	}
	return rep, nil
}

// batchNames says which batches the bookkeeping holds, for a message.
func batchNames(ctx context.Context, conn *pgx.Conn) string {
	var names []string
	if err := conn.QueryRow(ctx, "SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM migration.batch").Scan(&names); err != nil {
		return "its batches could not be read"
	}
	if len(names) == 0 {
		return "it holds none"
	}
	if len(names) == 1 {
		return "it holds batch " + names[0]
	}
	return "it holds batches " + strings.Join(names, ", ")
}
