package batch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// parents are the references of each STAR1 table, for rows whose parent
// the database refused in this run.
var parents = map[string][][2]string{
	"ISIKU_SEOS":   {{"ISIK_ID", "ISIK"}, {"SEOTUD_ISIK_ID", "ISIK"}},
	"POORDUMINE":   {{"ISIK_ID", "ISIK"}},
	"MENETLUS":     {{"ISIK_ID", "ISIK"}, {"POORDUMINE_ID", "POORDUMINE"}},
	"OTSUS":        {{"MENETLUS_ID", "MENETLUS"}},
	"MAKSE":        {{"OTSUS_ID", "OTSUS"}},
	"JUHTUMIPLAAN": {{"MENETLUS_ID", "MENETLUS"}},
	"TOIMING":      {{"MENETLUS_ID", "MENETLUS"}},
	"DOKUMENT":     {{"MENETLUS_ID", "MENETLUS"}},
}

// planned is one row of the plan stream: the outcome the rules gave a row,
// and what the bookkeeping holds of it from earlier runs.
type planned struct {
	id                     int64
	outcome                string
	rule, detail, kov      pgtype.Text
	amount                 pgtype.Numeric
	person, related, star2 pgtype.UUID
	prevOutcome, prevRule  pgtype.Text
	prevKov                pgtype.Text
	prevSource, prevTarget []byte
	prevStar2              pgtype.UUID
	ownerID                pgtype.Int8
	ownerTarget            []byte
	// carried says that a person row loaded before, and now no longer
	// loaded by the rules or loaded as another STAR2 person, leaves the
	// STAR2 person it had to another row that is loaded now (the survivor
	// of its duplicates), which carries that person on.
	carried bool
	// kept says a decision keeps the row's STAR2 row as STAR2 has it
	// (load.KeepSTAR2): its bookkeeping holds the source the decision took
	// and the row the migration last wrote, which the rules no longer give.
	kept bool
	// left says the run that last wrote the row's bookkeeping reported it
	// left in STAR2 by the rules (load.LeftByTheRules); the report stays
	// open until a run writes the bookkeeping again.
	left bool
	// survivor is the STAR1 id of the person a merged duplicate merges
	// into, when a STAR1 row is that person (not one made in STAR2).
	survivor pgtype.Int8
}

// pass says which rows of its plan a read of a table loads. Persons are
// read twice: every person but the duplicates merged into another, then,
// once those are written, the duplicates, which follow the person they
// merge into when the database refused it.
type pass int

const (
	allRows pass = iota
	notMerged
	mergedOnly
)

// planQuery streams a table's plan in id order with what the bookkeeping
// holds of each row, for the rows a pass loads. Persons share STAR2 rows
// between duplicates, so for them it also finds the row that owns the
// STAR2 person now, and for a duplicate the person it merges into.
func planQuery(runID int64, name string, which pass) string {
	owner := "NULL::bigint, NULL::bytea, false, NULL::bigint"
	lateral, only := "", ""
	if name == "person" {
		owner = fmt.Sprintf(`own.star1_id, own.target_hash,
       CASE WHEN rm.outcome = 'loaded' AND (o.outcome NOT IN ('loaded', 'merged') OR rm.star2_id IS DISTINCT FROM o.star2_id)
            THEN EXISTS (SELECT 1 FROM %[1]s.person_out s WHERE s.star2_id = rm.star2_id AND s.outcome = 'loaded' AND s.id <> o.id) ELSE false END,
       CASE WHEN o.outcome = 'merged'
            THEN (SELECT min(s.id) FROM %[1]s.person_out s WHERE s.star2_id = o.star2_id AND s.outcome = 'loaded') END`, load.WorkSchema(runID))
		lateral = `LEFT JOIN LATERAL (SELECT m.star1_id, m.target_hash FROM migration.row_map m
                      WHERE m.star2_id = o.star2_id AND m.star2_table = 'person' AND m.outcome = 'loaded'
                      ORDER BY m.star1_id LIMIT 1) own ON true`
	}
	switch which {
	case notMerged:
		only = "AND o.outcome <> 'merged'"
	case mergedOnly:
		only = "AND o.outcome = 'merged'"
	}
	return fmt.Sprintf(`SELECT o.id, o.outcome, o.rule, o.detail, o.kov, o.amount, o.person_star2, o.related_star2, o.star2_id,
       rm.outcome, rm.rule, rm.kov, rm.source_hash, rm.target_hash, rm.star2_id, %[3]s, res.id IS NOT NULL, lc.run_id IS NOT NULL
  FROM %[1]s.%[2]s_out o
  LEFT JOIN migration.row_map rm ON rm.star1_table = $1 AND rm.star1_id = o.id
  LEFT JOIN migration.resolution res ON res.star1_table = $1 AND res.star1_id = o.id AND res.current AND res.decision = 'keep_star2'
  LEFT JOIN migration.conflict lc ON %[6]s
  %[4]s
 WHERE o.in_scope AND $2::text IS NOT NULL %[5]s
 ORDER BY o.id`, load.WorkSchema(runID), name, owner, lateral, only, load.LeftBy("lc"))
}

// loadAll is pass 2: every table read in full, parents first, merged with
// its plan by id, and written.
func loadAll(ctx context.Context, read *pgx.Conn, w *load.Writer, aw *archive.Writer, snap extract.Snapshot, cfg *mapping.Config, runID int64, o Options) error {
	for _, mt := range mapping.Tables {
		which := allRows
		if mt.Star1 == "ISIK" {
			which = notMerged
		}
		if err := loadTable(ctx, read, w, aw, snap, cfg, runID, mt, o, which); err != nil {
			return err
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
		if which != notMerged {
			continue
		}
		// The duplicates, now that the Writer knows which persons the
		// database refused: a duplicate of one is quarantined with it,
		// and so are the rows that refer to the duplicate, instead of
		// being booked as merged into a person STAR2 does not have.
		if err := loadTable(ctx, read, w, nil, snap, cfg, runID, mt, o, mergedOnly); err != nil {
			return err
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

func loadTable(ctx context.Context, read *pgx.Conn, w *load.Writer, aw *archive.Writer, snap extract.Snapshot, cfg *mapping.Config, runID int64, mt mapping.Table, o Options, which pass) error {
	t, err := extract.TableByName(mt.Star1)
	if err != nil {
		return err
	}
	if aw != nil {
		if err := aw.Table(t); err != nil {
			return err
		}
	}
	pt, _ := load.PlanFor(mt.Star1)
	pf := startPrefetch(ctx, read, func(r pgx.Rows, p *planned) error {
		return r.Scan(&p.id, &p.outcome, &p.rule, &p.detail, &p.kov, &p.amount, &p.person, &p.related, &p.star2,
			&p.prevOutcome, &p.prevRule, &p.prevKov, &p.prevSource, &p.prevTarget, &p.prevStar2, &p.ownerID, &p.ownerTarget, &p.carried, &p.survivor, &p.kept, &p.left)
	}, planQuery(runID, pt.Name, which), mt.Star1, mt.Star2)
	defer pf.Close()
	var n, seen int64 // rows loaded, rows read
	var p *planned
	done := false
	advance := func() error {
		if p = pf.Next(); p == nil {
			done = true
			return pf.Err()
		}
		return nil
	}
	if err := advance(); err != nil {
		return fmt.Errorf("batch: plan of %s: %w", t.Name, err)
	}
	if which == mergedOnly && done {
		return nil // no duplicates
	}
	// The pass over the duplicates reads the table a second time; its
	// progress is not the table's, and it stops after the last of them.
	report := o.meter.report
	if which == mergedOnly {
		report = func(string, string, int64) {}
	}
	report("load", t.Name, 0) // the clock of its rate starts
	err = snap.Scan(ctx, t, nil, nil, func(r extract.Row) error {
		if seen++; seen%reportEvery == 0 {
			report("load", t.Name, seen)
		}
		if done && which == mergedOnly {
			return errPassDone
		}
		if aw != nil {
			if err := aw.Row(r); err != nil {
				return err
			}
		}
		id, _ := r[0].(int64)
		if done || p.id > id {
			return nil // outside the batch's municipalities
		}
		if p.id < id {
			return fmt.Errorf("batch: %s %d is in the plan but not in STAR1: the snapshot moved", t.Name, p.id)
		}
		if err := loadRow(ctx, w, cfg, mt, t, r, p); err != nil {
			return err
		}
		n++
		if err := advance(); err != nil {
			return fmt.Errorf("batch: plan of %s: %w", t.Name, err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPassDone) {
		return err
	}
	if !done {
		return fmt.Errorf("batch: %s %d is in the plan but not in STAR1: the snapshot moved", t.Name, p.id)
	}
	report("load", t.Name, seen)
	// n is every row of the batch's municipalities, whatever its outcome:
	// the summary gives them by outcome.
	if which == mergedOnly {
		o.Log.Info("load done", "table", t.Name, "duplicates", n)
		return nil
	}
	o.Log.Info("load done", "table", t.Name, "star1_rows", seen, "batch_rows", n)
	return nil
}

// errPassDone stops a pass's read of its table after the last row it loads.
var errPassDone = errors.New("batch: the pass has loaded its rows")

func uuidOf(u pgtype.UUID) uuid.UUID {
	if !u.Valid {
		return uuid.Nil
	}
	return uuid.UUID(u.Bytes)
}

func text(t pgtype.Text) string {
	if !t.Valid {
		return ""
	}
	return t.String
}

// centsOf reads a numeric(…,2) amount.
func centsOf(n pgtype.Numeric) (*mapping.Cents, error) {
	if !n.Valid {
		return nil, nil
	}
	if n.Int.IsInt64() && n.Exp >= -2 && n.Exp <= 0 {
		// The usual case, without big arithmetic: the scale is at most 2
		// and the value fits with it.
		v := n.Int.Int64()
		scaled := true
		for e := n.Exp; e > -2 && scaled; e-- {
			scaled = v >= math.MinInt64/10 && v <= math.MaxInt64/10
			v *= 10
		}
		if scaled {
			c := mapping.Cents(v)
			return &c, nil
		}
	}
	v := new(big.Int).Set(n.Int)
	for e := n.Exp; e < -2; e++ {
		v.Quo(v, big.NewInt(10))
	}
	for e := n.Exp; e > -2; e-- {
		v.Mul(v, big.NewInt(10))
	}
	if !v.IsInt64() {
		return nil, fmt.Errorf("batch: amount %v out of range", n)
	}
	c := mapping.Cents(v.Int64())
	return &c, nil
}

func loadRow(ctx context.Context, w *load.Writer, cfg *mapping.Config, mt mapping.Table, t extract.Table, r extract.Row, p *planned) error {
	src := SourceHash(t, r)
	amount, err := centsOf(p.amount)
	if err != nil {
		return err
	}
	it := load.Item{
		Star1Table: t.Name, Star1ID: p.id, Outcome: p.outcome, Rule: text(p.rule), Detail: text(p.detail),
		Star2Table: mt.Star2, Amount: amount, SourceHash: src,
	}
	if p.kov.Valid {
		it.Kov = p.kov.String
	}
	if it.Outcome != load.Quarantined {
		it.Rule, it.Detail = "", ""
	}
	it.New = !p.prevOutcome.Valid
	if it.Outcome == load.Merged && p.survivor.Valid {
		// A duplicate follows the person it merges into (rule 3), read
		// and written before it.
		if why := w.Rejected(t.Name, p.survivor.Int64); why != "" {
			it.Outcome, it.Rule = load.Quarantined, mapping.RuleParentQuarantined
			it.Detail = fmt.Sprintf("%s: a duplicate of %s %d, which %s", mapping.RuleParentQuarantined, t.Name, p.survivor.Int64, why)
			w.Reject(t.Name, p.id)
		}
	}
	if it.Outcome == load.Loaded || it.Outcome == load.Merged {
		for _, ref := range parents[t.Name] {
			pid, ok := get(t.Name, r, ref[0]).(int64)
			if why := w.Rejected(ref[1], pid); ok && why != "" {
				it.Outcome, it.Rule = load.Quarantined, mapping.RuleParentQuarantined
				it.Detail = fmt.Sprintf("%s: %s %d %s", mapping.RuleParentQuarantined, ref[1], pid, why)
				w.Reject(t.Name, p.id)
			}
		}
	}
	prev := text(p.prevOutcome)
	sameSource := bytes.Equal(p.prevSource, src)
	// A row without a municipality of its own (a decision, a payment, an
	// activity, a relation) belongs to its parent's: when the parent moves
	// to another municipality, the row's source is the same but the
	// bookkeeping must follow, or the reconciliation of the municipality
	// it moved to finds it "changed" after every run.
	sameKov := p.prevKov.Valid == p.kov.Valid && p.prevKov.String == p.kov.String
	switch it.Outcome {
	case load.Loaded:
		res := mt.Map(r, mapping.Refs{Person: uuidOf(p.person), Related: uuidOf(p.related)}, cfg)
		if res.Rule != "" {
			return fmt.Errorf("batch: %s %d: the load found %q where the plan found none", t.Name, p.id, res.Detail)
		}
		it.Star2ID, it.Values, it.Corrections = res.Values[0].(uuid.UUID), res.Values, res.Corrections
		kept := append(extract.Row(nil), r...)
		it.OriginalOf = func() []byte { return RowJSON(t, kept) }
		ownerID, ownerTarget := p.ownerID, p.ownerTarget
		if !p.star2.Valid && prev == load.Loaded { // every table but ISIK: the row owns its STAR2 row
			ownerID, ownerTarget = pgtype.Int8{Int64: p.id, Valid: true}, p.prevTarget
		}
		if prev == load.Loaded && p.prevStar2.Valid && uuidOf(p.prevStar2) != it.Star2ID && !p.carried {
			// A person whose personal code changed (a non-resident given
			// an Estonian code, a typo corrected) has another STAR2 id
			// now; its rows follow it, and the STAR2 person it had stays.
			it.Report = fmt.Sprintf("personal code changed: now STAR2 person %s; person %s left in STAR2 as it is", it.Star2ID, uuidOf(p.prevStar2))
			it.Held = &load.Held{Star2ID: uuidOf(p.prevStar2), Source: p.prevSource, Target: hex.EncodeToString(p.prevTarget)}
		}
		// The same source can give another STAR2 row: a parent's STAR2
		// id or a mapping changed since the row was written.
		same := ownerID.Valid && ownerID.Int64 == p.id && prev == load.Loaded && sameSource
		if same && !p.kept {
			if h, ok := w.Hash(mt, it.Values); ok && h != hex.EncodeToString(ownerTarget) {
				same = false
			}
		}
		switch {
		case !ownerID.Valid:
			it.Op = load.OpInsert
		case same && sameKov && !p.left:
			w.CountUnchanged(&it)
			return nil
		case same:
			// STAR2 holds what it should: only the bookkeeping changes.
			// So it does for a row an earlier run left in STAR2 by the
			// rules, which they load again (STAR1 undid a soft delete):
			// written by this run, it is no longer reported left.
			it.Op, it.Values, it.TargetHash = load.OpNone, nil, hex.EncodeToString(p.prevTarget)
			it.Unchanged = true
		default:
			it.Op, it.ExpectHash = load.OpUpdate, hex.EncodeToString(ownerTarget)
			if prev == load.Loaded && ownerID.Int64 == p.id {
				it.Held = &load.Held{Star2ID: it.Star2ID, Source: p.prevSource, Target: it.ExpectHash}
			}
		}
	case load.Merged:
		it.Star2ID = uuidOf(p.star2)
		if prev == load.Loaded && p.prevStar2.Valid && uuidOf(p.prevStar2) != it.Star2ID && !p.carried {
			it.Report = fmt.Sprintf("now merged into STAR2 person %s; person %s left in STAR2 as it is", it.Star2ID, uuidOf(p.prevStar2))
		}
		if prev == load.Merged && sameSource {
			if sameKov {
				w.CountUnchanged(&it)
				return nil
			}
			it.Unchanged = true
		}
	default:
		if prev == load.Loaded && !p.carried {
			if p.kept && sameSource {
				// A decision keeps it in STAR2 as it is, taken on this
				// STAR1 row: nothing to report until STAR1 changes it.
				it.Outcome, it.Rule, it.Detail = load.Loaded, "", ""
				if sameKov {
					w.CountUnchanged(&it)
					return nil
				}
				// Its parent moved to another municipality: the
				// bookkeeping follows, or the reconciliation finds it
				// "changed" after every run.
				it.Star2ID, it.TargetHash, it.SourceHash = uuidOf(p.prevStar2), hex.EncodeToString(p.prevTarget), p.prevSource
				it.Op, it.Unchanged = load.OpNone, true
				break
			}
			// Never deleted from STAR2: the row stays, and the run says so.
			it.Report, it.ReportSource = strings.TrimSpace("now "+it.Outcome+" "+it.Rule)+load.LeftAsItIs, src
			it.Outcome, it.Rule, it.Detail = load.Loaded, "", ""
			it.Star2ID, it.TargetHash, it.SourceHash = uuidOf(p.prevStar2), hex.EncodeToString(p.prevTarget), p.prevSource
			break
		}
		if prev == it.Outcome && text(p.prevRule) == it.Rule && sameSource {
			if sameKov {
				w.CountUnchanged(&it)
				return nil
			}
			it.Unchanged = true
		}
		if it.Outcome == load.Quarantined {
			it.Original = RowJSON(t, r)
		}
	}
	return w.Add(ctx, mt, it)
}

// moneyAt gives the positions of the money columns of each STAR1 table.
var moneyAt = func() map[string][]int {
	out := map[string][]int{}
	for _, t := range extract.Tables {
		for i, c := range t.Columns {
			if c.Kind == extract.Decimal {
				out[t.Name] = append(out[t.Name], i)
			}
		}
	}
	return out
}()

// SourceHash is the hash of a STAR1 row that tells a re-run whether the row
// changed: HashRow of its values, money taken as the number it is, without
// trailing zeros. A NUMBER(12,2) has no text of its own: Oracle renders
// 656.30 as 656.3, a restored archive's numeric(12,2) as 656.30, and the
// stand-in holds either; the same row read from any of them is unchanged.
func SourceHash(t extract.Table, r extract.Row) []byte {
	for _, i := range moneyAt[t.Name] {
		if s, ok := r[i].(string); ok && extract.MinimalDecimal(s) != s {
			h := slices.Clone(r)
			for _, j := range moneyAt[t.Name] {
				if s, ok := h[j].(string); ok {
					h[j] = extract.MinimalDecimal(s)
				}
			}
			return HashRow(h)
		}
	}
	return HashRow(r)
}

// HashRow is the SHA-256 of a STAR1 row's values, each tagged with its type
// and length, so that any change of any value changes it. Values are
// gathered in a buffer and hashed at once, but for long ones (documents),
// which are hashed where they are.
func HashRow(r extract.Row) []byte {
	bp := rowHashBufs.Get().(*[]byte)
	b := (*bp)[:0]
	var h hash.Hash
	for _, v := range r {
		var tag byte
		var bs []byte
		var str string
		isStr := false
		switch x := v.(type) {
		case nil:
			tag = 0
		case int64:
			b = append(b, 1)
			b = binary.BigEndian.AppendUint64(b, 8)
			b = binary.BigEndian.AppendUint64(b, uint64(x))
			continue
		case string:
			tag, str, isStr = 2, x, true
		case []byte:
			tag, bs = 3, x
		default:
			tag, str, isStr = 4, fmt.Sprint(x), true
		}
		n := len(bs)
		if isStr {
			n = len(str)
		}
		b = append(b, tag)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
		switch {
		case n <= rowHashLong && isStr:
			b = append(b, str...)
		case n <= rowHashLong:
			b = append(b, bs...)
		default:
			if h == nil {
				h = sha256.New()
			}
			h.Write(b)
			b = b[:0]
			if isStr {
				io.WriteString(h, str) //nolint:errcheck // a hash takes every write
			} else {
				h.Write(bs)
			}
		}
	}
	var sum []byte
	if h == nil {
		s := sha256.Sum256(b)
		sum = s[:]
	} else {
		h.Write(b)
		sum = h.Sum(nil)
	}
	if cap(b) <= 4*rowHashLong {
		*bp = b[:0]
		rowHashBufs.Put(bp)
	}
	return sum
}

// rowHashLong is the length above which HashRow hashes a value where it is
// instead of copying it into its buffer.
const rowHashLong = 16 << 10

var rowHashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// RowJSON is a STAR1 row as a JSON object, BLOBs in base64, for the
// quarantine: the original row, as STAR1 held it.
func RowJSON(t extract.Table, r extract.Row) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		b.Write(k)
		b.WriteByte(':')
		v := r[i]
		if bs, ok := v.([]byte); ok {
			v = base64.StdEncoding.EncodeToString(bs)
		}
		js, err := json.Marshal(v)
		if err != nil {
			js = []byte("null")
		}
		// NUL is valid in STAR1 text but not in jsonb: keep it visible as
		// the six characters \u0000.
		b.Write(load.JSONB(js))
	}
	b.WriteByte('}')
	return b.Bytes()
}
