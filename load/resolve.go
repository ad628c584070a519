package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/mapping"
)

// The decisions a migration engineer can take on a loaded row that was
// changed in STAR2 after the migration wrote it.
const (
	// KeepSTAR2 lets the STAR2 row stand as it is now: runs leave it
	// alone until STAR1 changes again, and reconciliation counts it apart
	// as long as it stays as it was when decided.
	KeepSTAR2 = "keep_star2"
	// TakeSTAR1 has the next run write STAR1's version over it.
	TakeSTAR1 = "take_star1"
)

// RowRef names a STAR1 row.
type RowRef struct {
	Table string // STAR1 table name, as in mapping.Tables
	ID    int64
}

func (r RowRef) String() string { return fmt.Sprintf("%s %d", r.Table, r.ID) }

// ParseRowRef reads TABLE:ID (a STAR1 table of the mapping, in any case).
func ParseRowRef(s string) (RowRef, error) {
	name, id, ok := strings.Cut(s, ":")
	var r RowRef
	if ok {
		var err error
		r.ID, err = strconv.ParseInt(id, 10, 64)
		ok = err == nil
	}
	if !ok {
		return r, fmt.Errorf("row %q: expected TABLE:ID, a STAR1 table and a row id, such as MENETLUS:1042", s)
	}
	for _, t := range mapping.Tables {
		if strings.EqualFold(t.Star1, name) {
			r.Table = t.Star1
			return r, nil
		}
	}
	names := make([]string, len(mapping.Tables))
	for i, t := range mapping.Tables {
		names[i] = t.Star1
	}
	return r, fmt.Errorf("row %q: %q is not a STAR1 table the migration loads (%s)", s, name, strings.Join(names, ", "))
}

// conflictKind is the kind of a row c of migration.conflict, also for rows
// written before the column was.
const conflictKind = `coalesce(c.kind, CASE WHEN c.source_hash IS NOT NULL THEN '` + ChangedOnBothSides + `' END)`

// Kinds of open conflict.
const (
	// ChangedOnBothSides is a row a run found changed in STAR1 and in
	// STAR2 both, and left as it is.
	ChangedOnBothSides = "changed_on_both_sides"
	// LeftByTheRules is a loaded row the rules now exclude, quarantine or
	// archive, which stays in STAR2 (a run never deletes) and is reported
	// by every run.
	LeftByTheRules = "left_by_the_rules"
	// DeletedInSTAR2 is a loaded row whose STAR2 row has been deleted
	// since the migration wrote it: the reconciliation names it until a
	// decision keeps the deletion.
	DeletedInSTAR2 = "deleted_in_star2"
	// AmountChangedInSTAR2 is a loaded decision or payment whose amount
	// has been changed in STAR2 since the migration wrote it (STAR1 has
	// not changed it): the reconciliation's money sums name it until a
	// decision keeps or takes it.
	AmountChangedInSTAR2 = "amount_changed_in_star2"
)

// Conflict is a loaded row that the newest run of a batch to report it
// left as it is in STAR2, of one of the kinds above. Decision is a current
// decision taken since that run ("" when none); a row kept as STAR2 has it
// is no longer listed.
type Conflict struct {
	Batch      string    `json:"batch"`
	Kind       string    `json:"kind"`
	Table      string    `json:"table"`
	Star1ID    int64     `json:"star1_id"`
	Star2Table string    `json:"star2_table"`
	Star2ID    string    `json:"star2_id"`
	RunID      int64     `json:"run_id"`
	Detail     string    `json:"detail"`
	Decision   string    `json:"decision,omitempty"`
	Operator   string    `json:"operator,omitempty"`
	DecidedAt  time.Time `json:"decided_at,omitzero"`
}

// Conflicts lists the open conflicts of a batch: rows its runs reported
// changed on both sides, that no run has written since, and rows the
// newest run reported left in STAR2 because the rules no longer load them;
// in either case not decided to be kept as STAR2 has them. Rows decided to
// take STAR1 are listed with that decision until the next run writes them.
// It also lists the rows the batch loaded that the reconciliation names
// because STAR2 changed them alone (DeletedInSTAR2, AmountChangedInSTAR2):
// no run reports those, since a run only compares STAR2 with what it
// wrote when STAR1 changed. A deleted row is of that kind whatever else
// was found, since only keeping the deletion resolves it.
//
// An edit conflict leaves the bookkeeping without a source hash until a
// run writes the row or a decision keeps it; a row left by the rules is
// open while the run that last wrote its bookkeeping reported it and no
// decision keeps it.
//
// With batch "", it lists those of every batch, in one pass over the
// bookkeeping.
func Conflicts(ctx context.Context, conn *pgx.Conn, batch string) ([]Conflict, error) {
	rows, _ := conn.Query(ctx, `SELECT DISTINCT ON (c.star1_table, c.star1_id)
	       run.batch, `+conflictKind+`, c.star1_table, c.star1_id, c.star2_table, c.star2_id::text, c.run_id, c.detail,
	       coalesce(r.decision, ''), coalesce(r.operator, ''), r.decided_at
	  FROM migration.conflict c
	  JOIN migration.run run ON run.id = c.run_id AND ($1 = '' OR run.batch = $1)
	  JOIN migration.row_map rm ON rm.star1_table = c.star1_table AND rm.star1_id = c.star1_id AND rm.outcome = 'loaded'
	  LEFT JOIN migration.resolution r ON r.star1_table = c.star1_table AND r.star1_id = c.star1_id
	                                  AND r.current AND r.after_run >= c.run_id
	 WHERE `+conflictKind+` = '`+ChangedOnBothSides+`' AND rm.source_hash IS NULL
	    OR `+conflictKind+` = '`+LeftByTheRules+`' AND c.run_id = rm.run_id AND r.decision IS DISTINCT FROM '`+KeepSTAR2+`'
	 ORDER BY c.star1_table, c.star1_id, c.run_id DESC`, batch)
	var out []Conflict
	var c Conflict
	var at pgtype.Timestamptz
	_, err := pgx.ForEachRow(rows, []any{&c.Batch, &c.Kind, &c.Table, &c.Star1ID, &c.Star2Table, &c.Star2ID, &c.RunID, &c.Detail, &c.Decision, &c.Operator, &at}, func() error {
		c.DecidedAt = time.Time{}
		if at.Valid {
			c.DecidedAt = at.Time.UTC()
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load: conflicts of batch %q: %w", batch, err)
	}
	alone, err := changedInSTAR2(ctx, conn, batch)
	if err != nil {
		return nil, err
	}
	index := map[RowRef]int{}
	for i, c := range out {
		index[RowRef{c.Table, c.Star1ID}] = i
	}
	for _, c := range alone {
		i, listed := index[RowRef{c.Table, c.Star1ID}]
		switch {
		case !listed:
			out = append(out, c)
		case c.Kind == DeletedInSTAR2:
			out[i] = c
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		return out[i].Star1ID < out[j].Star1ID
	})
	return out, nil
}

// STAR2Differs is SQL that is true for a loaded row rm whose STAR2 row t
// (LEFT JOINed, NULL columns when missing) is gone, or holds another
// amount than the migration wrote: what the reconciliation's check of
// STAR2 finds without reading STAR1.
func STAR2Differs(mt mapping.Table) string {
	if mt.Money() {
		return "t.id IS NULL OR t.amount_eur IS DISTINCT FROM rm.amount_eur"
	}
	return "t.id IS NULL"
}

// changedInSTAR2 lists the loaded rows of a batch whose STAR2 row has
// been deleted, or whose amount differs from the one the migration wrote,
// and that no decision keeps as they are: the rows the reconciliation's
// check of STAR2 names (missing_in_star2, star2_money).
func changedInSTAR2(ctx context.Context, conn *pgx.Conn, batch string) ([]Conflict, error) {
	var out []Conflict
	for _, mt := range mapping.Tables {
		now, was := "NULL::text", "NULL::text"
		if mt.Money() {
			now, was = "t.amount_eur::text", "rm.amount_eur::text"
		}
		rows, _ := conn.Query(ctx, fmt.Sprintf(`SELECT rm.batch, rm.star1_id, rm.star2_id::text, rm.run_id, t.id IS NULL, %s, %s,
		       coalesce(d.decision, ''), coalesce(d.operator, ''), d.decided_at
		  FROM migration.row_map rm LEFT JOIN star2.%s t ON t.id = rm.star2_id %s
		  LEFT JOIN migration.resolution d ON d.star1_table = rm.star1_table AND d.star1_id = rm.star1_id
		                                  AND d.current AND d.decision = '%s'
		 WHERE rm.star1_table = $1 AND ($2 = '' OR rm.batch = $2) AND rm.outcome = 'loaded' AND (%s) AND NOT %s
		 ORDER BY rm.star1_id`, now, was, mt.Star2, KeptJoin, TakeSTAR1, STAR2Differs(mt), KeptPredicate), mt.Star1, batch)
		c := Conflict{Table: mt.Star1, Star2Table: mt.Star2}
		var gone bool
		var amountNow, amountWas pgtype.Text
		var at pgtype.Timestamptz
		_, err := pgx.ForEachRow(rows, []any{&c.Batch, &c.Star1ID, &c.Star2ID, &c.RunID, &gone, &amountNow, &amountWas, &c.Decision, &c.Operator, &at}, func() error {
			c.DecidedAt = time.Time{}
			if at.Valid {
				c.DecidedAt = at.Time.UTC()
			}
			c.Kind, c.Detail = DeletedInSTAR2, "deleted in STAR2 since the migration wrote it; keep_star2 accepts the deletion"
			if !gone {
				c.Kind, c.Detail = AmountChangedInSTAR2, fmt.Sprintf("amount changed in STAR2 to %s EUR since the migration wrote %s EUR", amountNow.String, amountWas.String)
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load: rows of batch %q changed in star2.%s: %w", batch, mt.Star2, err)
		}
	}
	return out, nil
}

// Decision is one decision to record.
type Decision struct {
	Batch    string // the batch the decision is taken for, for the run lock
	Decision string // KeepSTAR2 or TakeSTAR1
	Reason   string
	Operator string
	At       time.Time
	Wait     time.Duration // for a run holding STAR2, as for a batch
}

// Resolved is what was recorded for a row.
type Resolved struct {
	Table      string `json:"table"`
	Star1ID    int64  `json:"star1_id"`
	Star2Table string `json:"star2_table"`
	Star2ID    string `json:"star2_id"`
	Decision   string `json:"decision"`
	Deleted    bool   `json:"deleted_in_star2,omitempty"`  // kept as STAR2 has it: without the row
	Conflict   bool   `json:"was_conflict"`                // a run had found STAR1 changed too
	Left       bool   `json:"left_by_the_rules,omitempty"` // the newest run reported the rules no longer load it
}

// ResolveError names a row a decision cannot be taken on, and why.
type ResolveError struct {
	Row    RowRef
	Reason string
}

func (e *ResolveError) Error() string { return fmt.Sprintf("%s: %s", e.Row, e.Reason) }

// Resolve records d for every row, in one transaction under the run lock,
// so that no run plans from the bookkeeping half-way. A row must be loaded
// and its STAR2 row changed since the migration last wrote it (or deleted,
// which only KeepSTAR2 accepts); otherwise nothing is recorded and the
// error (*ResolveError) names the row.
func Resolve(ctx context.Context, conn *pgx.Conn, rows []RowRef, d Decision) ([]Resolved, error) {
	if d.Decision != KeepSTAR2 && d.Decision != TakeSTAR1 {
		return nil, fmt.Errorf("load: decision %q: must be %s or %s", d.Decision, KeepSTAR2, TakeSTAR1)
	}
	if strings.TrimSpace(d.Reason) == "" {
		return nil, errors.New("load: a decision needs its reason")
	}
	if err := lockRun(ctx, conn, d.Batch, d.Wait, nil); err != nil {
		return nil, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", runLockKey) //nolint:errcheck // the session's end releases it too
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("load: resolve: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	// Rows hash as the migration hashed them (see rowtext.go).
	if _, err := tx.Exec(ctx, `SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL bytea_output = 'hex'; SET LOCAL extra_float_digits = 3`,
		pgx.QueryExecModeSimpleProtocol); err != nil {
		return nil, fmt.Errorf("load: resolve: %w", err)
	}
	var out []Resolved
	seen := map[RowRef]bool{}
	for _, r := range rows {
		if seen[r] {
			continue
		}
		seen[r] = true
		res, err := resolveRow(ctx, tx, r, d)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("load: resolve: %w", err)
	}
	return out, nil
}

func resolveRow(ctx context.Context, tx pgx.Tx, r RowRef, d Decision) (Resolved, error) {
	res := Resolved{Table: r.Table, Star1ID: r.ID, Decision: d.Decision}
	var outcome string
	var star2Table pgtype.Text
	var star2ID pgtype.UUID
	var target, source []byte
	var runID int64
	err := tx.QueryRow(ctx, `SELECT outcome, star2_table, star2_id, target_hash, source_hash, run_id FROM migration.row_map
		WHERE star1_table = $1 AND star1_id = $2`, r.Table, r.ID).Scan(&outcome, &star2Table, &star2ID, &target, &source, &runID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return res, &ResolveError{r, "not in the bookkeeping: no run has migrated it"}
	case err != nil:
		return res, fmt.Errorf("load: resolve %s: %w", r, err)
	case outcome != Loaded:
		return res, &ResolveError{r, fmt.Sprintf("its outcome is %s, not loaded: only a loaded row has a STAR2 row of its own to keep or to overwrite", outcome)}
	}
	mt, ok := tableByStar2(star2Table.String)
	if !ok {
		return res, &ResolveError{r, fmt.Sprintf("the bookkeeping names STAR2 table %q, which the migration does not load", star2Table.String)}
	}
	res.Star2Table, res.Star2ID = mt.Star2, uuid.UUID(star2ID.Bytes).String()
	var now []byte // the STAR2 row's hash now; nil when it is gone
	err = tx.QueryRow(ctx, fmt.Sprintf(`SELECT decode(md5(t::text), 'hex') FROM star2.%s t WHERE id = $1`, mt.Star2), star2ID).Scan(&now)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		res.Deleted = true
	case err != nil:
		return res, fmt.Errorf("load: resolve %s: %w", r, err)
	}
	// A row the rules no longer load, which the run that last wrote its
	// bookkeeping reported left in STAR2: the report holds the STAR1 row
	// it was about.
	var left []byte
	var leftDetail string
	if source != nil {
		err := tx.QueryRow(ctx, `SELECT source_hash, detail FROM migration.conflict WHERE star1_table = $1 AND star1_id = $2 AND run_id = $3
			AND kind = '`+LeftByTheRules+`'`, r.Table, r.ID, runID).Scan(&left, &leftDetail)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return res, fmt.Errorf("load: resolve %s: %w", r, err)
		}
	}
	res.Left = left != nil
	where := fmt.Sprintf("star2.%s %s", mt.Star2, res.Star2ID)
	switch {
	case res.Deleted && d.Decision == TakeSTAR1:
		return res, &ResolveError{r, where + " has been deleted in STAR2, and a run never writes a row again that STAR2 deleted; keep_star2 accepts the deletion"}
	case res.Left && d.Decision == TakeSTAR1:
		return res, &ResolveError{r, fmt.Sprintf("%s: the rules no longer load it (%s), so no run writes it; keep_star2 records that STAR2 keeps it", where, leftDetail)}
	case !res.Deleted && bytes.Equal(now, target) && !res.Left:
		return res, &ResolveError{r, where + " is as the migration last wrote it: nothing to resolve (if reconcile --deep finds it differing, STAR1 changed since: run the batch again)"}
	}
	// The STAR1 row the decision takes as seen: the one the newest
	// conflict saw while the conflict is open, else the bookkeeping's.
	taken := source
	if res.Left {
		taken = left
	} else if source == nil {
		err := tx.QueryRow(ctx, `SELECT source_hash FROM migration.conflict c WHERE star1_table = $1 AND star1_id = $2
			AND `+conflictKind+` = '`+ChangedOnBothSides+`' ORDER BY run_id DESC LIMIT 1`, r.Table, r.ID).Scan(&taken)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return res, fmt.Errorf("load: resolve %s: %w", r, err)
		default:
			res.Conflict = true
		}
	}
	if d.Decision == KeepSTAR2 {
		_, err = tx.Exec(ctx, `UPDATE migration.row_map SET source_hash = $3 WHERE star1_table = $1 AND star1_id = $2`, r.Table, r.ID, taken)
	} else {
		// The next run finds the source changed and updates the row,
		// expecting it as it is now.
		_, err = tx.Exec(ctx, `UPDATE migration.row_map SET target_hash = $3, source_hash = NULL WHERE star1_table = $1 AND star1_id = $2`, r.Table, r.ID, now)
		if err == nil && mt.Star2 == "person" {
			// Duplicates share a STAR2 person; the row that owns it now
			// is the one a run expects the hash of.
			_, err = tx.Exec(ctx, `UPDATE migration.row_map SET target_hash = $2 WHERE star2_table = 'person' AND outcome = 'loaded' AND star2_id = $1`, star2ID, now)
		}
	}
	if err != nil {
		return res, fmt.Errorf("load: resolve %s: %w", r, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE migration.resolution SET current = false WHERE star1_table = $1 AND star1_id = $2 AND current`, r.Table, r.ID); err != nil {
		return res, fmt.Errorf("load: resolve %s: %w", r, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO migration.resolution (star1_table, star1_id, star2_table, star2_id, decision, star2_hash, source_hash, reason, operator, decided_at, after_run)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, (SELECT coalesce(max(id), 0) FROM migration.run))`,
		r.Table, r.ID, mt.Star2, star2ID, d.Decision, now, taken, d.Reason, d.Operator, d.At); err != nil {
		return res, fmt.Errorf("load: resolve %s: %w", r, err)
	}
	return res, nil
}

func tableByStar2(name string) (mapping.Table, bool) {
	for _, t := range mapping.Tables {
		if t.Star2 == name {
			return t, true
		}
	}
	return mapping.Table{}, false
}

// KeptPredicate is SQL that is true for a loaded row whose current
// decision keeps its STAR2 row, and whose STAR2 row is still as it was
// then (gone, when it was gone) and its STAR1 row as the decision took
// it. It reads rm (migration.row_map), t (the STAR2 table, NULL columns
// when the row is missing, tested by t.id) and res (the current
// KeepSTAR2 decision of the row, LEFT JOINed by KeptJoin).
const KeptPredicate = `coalesce(CASE WHEN res.id IS NULL THEN false
	ELSE res.source_hash IS NOT DISTINCT FROM rm.source_hash
	 AND res.star2_hash IS NOT DISTINCT FROM CASE WHEN t.id IS NULL THEN NULL ELSE decode(md5(t::text), 'hex') END END, false)`

// LeftBy is SQL that is true for a row c of migration.conflict that is
// the report of the run that last wrote rm's bookkeeping, of kind
// LeftByTheRules: the row is open as left in STAR2 by the rules.
func LeftBy(c string) string {
	return fmt.Sprintf(`%[1]s.star1_table = rm.star1_table AND %[1]s.star1_id = rm.star1_id AND %[1]s.run_id = rm.run_id AND %[1]s.kind = '%[2]s'`, c, LeftByTheRules)
}

// KeptJoin joins the current KeepSTAR2 decision of rm's row as res.
const KeptJoin = `LEFT JOIN migration.resolution res ON res.star1_table = rm.star1_table AND res.star1_id = rm.star1_id
	AND res.current AND res.decision = 'keep_star2'`
