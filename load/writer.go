package load

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/semaphore"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/pgcopy"
	"github.com/starmig/starmig/mapping"
)

// Op is what a row asks of STAR2.
type Op int

const (
	OpNone   Op = iota // bookkeeping only
	OpInsert           // a new STAR2 row, by COPY
	OpUpdate           // STAR1 changed: update, unless STAR2 changed since we wrote it
)

// Outcomes of STAR2.md.
const (
	Loaded          = "loaded"
	Merged          = "merged"
	ArchivedOnly    = "archived_only"
	ExcludedDeleted = "excluded_deleted"
	Quarantined     = "quarantined"
)

// Item is one STAR1 row's result in a run: its outcome, and for a loaded
// row the STAR2 values to write.
type Item struct {
	Star1Table string
	Star1ID    int64
	Kov        any // the STAR1 municipality code the row belongs to, or nil
	Outcome    string
	Rule       string
	Detail     string
	Star2Table string
	Star2ID    uuid.UUID // for loaded and merged rows
	Amount     *mapping.Cents
	SourceHash []byte
	Op         Op
	Values     []any  // STAR2 values for OpInsert and OpUpdate
	ExpectHash string // OpUpdate: the hash of the STAR2 row as the migration last wrote it
	// Held is the STAR2 row this STAR1 row was loaded as, when the run
	// writes it again (OpUpdate), or writes another in its place
	// (OpInsert of a person whose personal code changed): if the database
	// refuses the new version, the row stays in STAR2 as the migration
	// last wrote it, and so does its bookkeeping.
	Held       *Held
	TargetHash string // kept from before when nothing is written
	Original   []byte // the STAR1 row as JSON, for a quarantined row
	// OriginalOf makes Original when the database refuses a row to be
	// written, so that the quarantine keeps it.
	OriginalOf  func() []byte
	Corrections []mapping.Correction
	Report      string // a finding for the run's report (conflict, would now be excluded...)
	// ReportSource is the STAR1 hash of the row a "now excluded" report is
	// about, so that a decision can take that row (Resolve); such a report
	// is of kind LeftByTheRules.
	ReportSource []byte
	// New says the bookkeeping has no entry for the row yet: it is written
	// by COPY alone, with nothing to replace.
	New bool
	// Unchanged says STAR2 holds the row as it should and only its
	// bookkeeping is written (OpNone): the run counts it unchanged.
	Unchanged bool
}

// Held is what the bookkeeping holds of a loaded row: its STAR2 row, and
// the hashes of the STAR1 row it was written from and of the STAR2 row as
// written.
type Held struct {
	Star2ID uuid.UUID
	Source  []byte
	Target  string
}

// Stats counts what a run did to one table.
type Stats struct {
	Inserted  int64 `json:"inserted"`
	Updated   int64 `json:"updated"`
	Unchanged int64 `json:"unchanged"`
	Conflicts int64 `json:"conflicts"`
	Rejected  int64 `json:"rejected"`
	Reported  int64 `json:"reported"`
	// Gone counts rows this run found deleted outright from STAR1 since an
	// earlier run saw them; STAR2 keeps them (MarkGone).
	Gone     int64            `json:"gone"`
	Outcomes map[string]int64 `json:"outcomes"`
	// Quarantine counts the quarantined rows by rule.
	Quarantine map[string]int64 `json:"quarantined_by_rule,omitempty"`
}

// tally counts a row of the run by its outcome, and a quarantined one by
// its rule too.
func (s *Stats) tally(outcome, rule string) {
	s.Outcomes[outcome]++
	if outcome == Quarantined {
		if s.Quarantine == nil {
			s.Quarantine = map[string]int64{}
		}
		s.Quarantine[rule]++
	}
}

// Writer writes items in chunks, each chunk in one transaction: the STAR2
// rows and the bookkeeping that says they were written commit together, so
// a run killed at any moment leaves nothing half done. A chunk the database
// rejects is split until the rows at fault are found; each is quarantined
// with the database's error, and the rest is written.
//
// Chunks are written by goroutines of the Writer's, one per connection, so
// that the caller maps the next chunk while the database takes the last
// ones. Chunks of one table are independent of each other (a row's parents
// are in tables written before it), so they may commit in any order; a run
// killed with some committed and some not is completed by the next run as
// any other.
type Writer struct {
	runID    int64
	batch    string
	table    mapping.Table
	items    []Item
	size     int
	jobs     chan job
	mem      *semaphore.Weighted // bytes of chunks handed over and not yet written
	inflight sync.WaitGroup      // chunks handed over and not yet written
	ended    sync.WaitGroup      // the goroutines
	// spare holds chunks' item slices written and cleared, for the next
	// chunks: a chunk is about 1.3 MB of items, and growing a new slice for
	// each cost about a second of CPU in a 100 000-person batch.
	spare chan []Item

	hashers map[string]*rowHasher // by STAR2 table, where starmig hashes rows itself

	mu    sync.Mutex // guards what follows, shared with the goroutine
	stats map[string]*Stats
	// unknownKOV counts rows quarantined for an unmapped municipality code.
	unknownKOV map[string]int64
	rejected   map[string]map[int64]string // why: refusedByDatabase or parentRefused
	err        error
}

type job struct {
	t     mapping.Table
	items []Item
	held  int64 // of mem
}

const (
	chunkRows  = 4000
	chunkBytes = 32 << 20
	// memBudget bounds the values of the chunks handed over and not yet
	// written. A chunk larger than the budget (one large document) takes
	// all of it, so that such chunks are written one at a time and memory
	// does not grow with the number of large documents.
	memBudget = 2 * chunkBytes
)

// NewWriter prepares connections for writing a run: chunks are written on
// all of them at once.
func NewWriter(ctx context.Context, conns []*pgx.Conn, runID int64, batch string) (*Writer, error) {
	if len(conns) == 0 {
		return nil, errors.New("load: a writer needs a connection")
	}
	var b strings.Builder
	b.WriteString(`CREATE TEMP TABLE IF NOT EXISTS rm_stage (LIKE migration.row_map) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS q_stage (LIKE migration.quarantine) ON COMMIT DELETE ROWS;
`)
	for _, t := range mapping.Tables {
		fmt.Fprintf(&b, "CREATE TEMP TABLE IF NOT EXISTS upd_%s (LIKE star2.%s, expect_hash text) ON COMMIT DELETE ROWS;\n", t.Star2, t.Star2)
	}
	for _, conn := range conns {
		if _, err := conn.Exec(ctx, b.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, fmt.Errorf("load: prepare writer: %w", err)
		}
	}
	hs, err := hashers(ctx, conns[0])
	if err != nil {
		return nil, err
	}
	w := &Writer{runID: runID, batch: batch, stats: map[string]*Stats{}, rejected: map[string]map[int64]string{},
		jobs: make(chan job, 1), mem: semaphore.NewWeighted(memBudget), hashers: hs,
		spare: make(chan []Item, len(conns)+2)}
	for _, conn := range conns {
		w.ended.Add(1)
		go w.run(ctx, conn)
	}
	return w, nil
}

func (w *Writer) run(ctx context.Context, conn *pgx.Conn) {
	defer w.ended.Done()
	for j := range w.jobs {
		if w.failed() == nil {
			if err := w.write(ctx, conn, j.t, j.items); err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = err
				}
				w.mu.Unlock()
			}
		}
		w.mem.Release(j.held)
		clear(j.items) // the values go to the collector
		select {
		case w.spare <- j.items[:0]:
		default:
		}
		w.inflight.Done()
	}
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close ends the Writer's goroutines; Flush first to write what is queued.
func (w *Writer) Close() {
	close(w.jobs)
	w.ended.Wait()
}

// LeftAsItIs ends the report of a loaded row that a run leaves in STAR2 as
// the migration last wrote it, after what the row is now ("now quarantined
// invalid_period"): the rules no longer load it, or the database refused
// STAR1's new version.
const LeftAsItIs = "; left in STAR2 as it is"

// Why a row is in the Writer's list of refused rows, as the detail of its
// children's quarantine ends: "MENETLUS 7 was refused by the database".
const (
	refusedByDatabase = "was refused by the database"
	parentRefused     = "was quarantined because the database refused a row it belongs to"
)

// Rejected says why a row of a STAR1 table is held back in this run, or ""
// when it is not: the database refused it, or a row it belongs to
// (Reject). Its children are quarantined as parent_quarantined.
func (w *Writer) Rejected(star1Table string, id int64) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rejected[star1Table][id]
}

// Reject records a row quarantined because the database refused a parent
// of it, so that its own children are quarantined too instead of going to
// the database, which would refuse them for a foreign key.
func (w *Writer) Reject(star1Table string, id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reject(star1Table, id, parentRefused)
}

// reject records a row held back; the caller holds w.mu.
func (w *Writer) reject(star1Table string, id int64, why string) {
	if w.rejected[star1Table] == nil {
		w.rejected[star1Table] = map[int64]string{}
	}
	w.rejected[star1Table][id] = why
}

// Stats returns the counts per STAR1 table; call it after Flush.
func (w *Writer) Stats() map[string]*Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// stat returns a table's counts; the caller holds w.mu.
func (w *Writer) stat(table string) *Stats {
	s := w.stats[table]
	if s == nil {
		s = &Stats{Outcomes: map[string]int64{}}
		w.stats[table] = s
	}
	return s
}

// Add queues an item, writing a chunk when it is full. Items of one call
// sequence must come table by table; Flush between tables.
func (w *Writer) Add(ctx context.Context, t mapping.Table, it Item) error {
	if len(w.items) > 0 && w.table.Star1 != t.Star1 {
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	w.table = t
	if w.items == nil {
		select {
		case w.items = <-w.spare:
		default:
			w.items = make([]Item, 0, chunkRows)
		}
	}
	w.items = append(w.items, it)
	w.size += extract.ValueBytes(it.Values) + 200
	if len(w.items) >= chunkRows || w.size >= chunkBytes {
		if err := w.failed(); err != nil {
			return err
		}
		if err := w.hand(ctx); err != nil {
			return err
		}
	}
	return nil
}

// hand gives the queued items to the goroutines.
func (w *Writer) hand(ctx context.Context) error {
	held := min(int64(w.size), memBudget)
	if err := w.mem.Acquire(ctx, held); err != nil {
		return err
	}
	w.inflight.Add(1)
	select {
	case w.jobs <- job{t: w.table, items: w.items, held: held}:
	case <-ctx.Done():
		w.mem.Release(held)
		w.inflight.Done()
		return ctx.Err()
	}
	w.items, w.size = nil, 0
	if held == memBudget {
		// A chunk this large (a document) is written before the caller
		// reads on, so that the next document is not read while this
		// one waits for its COPY: one at a time in memory, not two.
		if err := w.mem.Acquire(ctx, memBudget); err != nil {
			return err
		}
		w.mem.Release(memBudget)
	}
	return nil
}

// Hash is the hash of the STAR2 row values make (md5 of its text, as
// PostgreSQL gives it), or false when starmig cannot compute it for this
// table or these values and only PostgreSQL can.
func (w *Writer) Hash(t mapping.Table, values []any) (string, bool) {
	return w.hashers[t.Star2].hash(values)
}

// CountUnchanged records a row the run found as it was and did not write.
func (w *Writer) CountUnchanged(it *Item) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stat(it.Star1Table)
	s.Unchanged++
	s.tally(it.Outcome, it.Rule)
	w.unknown(it)
}

// unknown counts a row quarantined for a municipality code the mapping
// folder does not map, by that code; the caller holds w.mu.
func (w *Writer) unknown(it *Item) {
	if it.Outcome != Quarantined || it.Rule != mapping.RuleUnknownMunicipality {
		return
	}
	if w.unknownKOV == nil {
		w.unknownKOV = map[string]int64{}
	}
	w.unknownKOV[fmt.Sprint(it.Kov)]++
}

// UnknownMunicipalities counts the rows of the run quarantined because
// the mapping folder does not map their municipality code, by code.
func (w *Writer) UnknownMunicipalities() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unknownKOV
}

// Flush writes the queued items and waits until every chunk handed over
// is written.
func (w *Writer) Flush(ctx context.Context) error {
	if len(w.items) > 0 {
		if err := w.hand(ctx); err != nil {
			return err
		}
	}
	w.inflight.Wait()
	return w.failed()
}

// write commits items in one transaction, or splits them on a data error.
// A transaction PostgreSQL ended to break a deadlock, or for a
// serialization failure, is tried again as it was, after a pause
// (transientPause): STAR2 is in use while a batch writes, and a social
// worker's transaction may lock the same rows in another order. Its
// updates still write only rows whose hash is what the migration wrote
// (the UPDATE's own condition), so a change made by the other
// transaction meanwhile is a conflict, not overwritten.
func (w *Writer) write(ctx context.Context, conn *pgx.Conn, t mapping.Table, items []Item) error {
	res, err := w.tx(ctx, conn, t, items)
	tries, paused := 1, time.Duration(0)
	for ; err != nil && isTransient(err) && tries < transientTries; tries++ {
		d := transientPause(tries)
		if !sleep(ctx, d) {
			break
		}
		paused += d
		res, err = w.tx(ctx, conn, t, items)
	}
	if err != nil && isTransient(err) {
		return fmt.Errorf("%w (tried %d times, %s of pauses)", err, tries, paused.Round(10*time.Millisecond))
	}
	if err == nil {
		w.count(t.Star1, items, res)
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !isDataError(pgErr) {
		return err
	}
	if len(items) > 1 {
		half := len(items) / 2
		if err := w.write(ctx, conn, t, items[:half]); err != nil {
			return err
		}
		return w.write(ctx, conn, t, items[half:])
	}
	// The row at fault: keep it, quarantined with the database's words.
	it := items[0]
	if it.Op == OpNone {
		return fmt.Errorf("load: bookkeeping of %s %d refused: %w", it.Star1Table, it.Star1ID, err)
	}
	detail := fmt.Sprintf("%s: %s (SQLSTATE %s)", mapping.RuleRejected, pgErr.Message, pgErr.Code)
	if pgErr.Detail != "" {
		detail += ": " + pgErr.Detail
	}
	// A new version of a loaded row goes through upd_<table>.
	if col := copyColumn(pgErr.Where, []string{t.Star2, "upd_" + t.Star2}, t.Columns); col != "" {
		detail += " in STAR2 column " + col
	}
	w.mu.Lock()
	w.stat(t.Star1).Rejected++
	if it.Op == OpInsert || it.Held == nil {
		// Its children are held back: the row they would refer to is
		// not in STAR2.
		w.reject(t.Star1, it.Star1ID, refusedByDatabase)
	}
	w.mu.Unlock()
	if h := it.Held; h != nil {
		// STAR1's new version of a loaded row: STAR2 keeps the version
		// the migration wrote, and so does the bookkeeping, as for a row
		// left in STAR2 by the rules; the run reports it, and the next
		// run tries again.
		it.Report, it.ReportSource = "now "+Quarantined+" "+detail+LeftAsItIs, it.SourceHash
		it.Op, it.Values, it.Corrections = OpNone, nil, nil
		it.Star2ID, it.SourceHash, it.TargetHash = h.Star2ID, h.Source, h.Target
		return w.write(ctx, conn, t, []Item{it})
	}
	it.Outcome, it.Rule, it.Op, it.Values, it.Star2ID = Quarantined, mapping.RuleRejected, OpNone, nil, uuid.Nil
	it.Detail = detail
	it.Corrections = nil
	if it.Original == nil && it.OriginalOf != nil {
		it.Original = it.OriginalOf()
	}
	return w.write(ctx, conn, t, []Item{it})
}

// PGValues replaces each uuid.UUID in vals with a pgtype.UUID, in place:
// pgx would otherwise encode it through its driver.Valuer, as text, at many
// times the cost.
func PGValues(vals []any) []any {
	for i, v := range vals {
		if u, ok := v.(uuid.UUID); ok {
			vals[i] = pgUUID(u)
		}
	}
	return vals
}

func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: true} }

// copyColumn is the column of a value the COPY into one of tables
// refused (text that is not UTF-8, say), which the error names only in
// its context: "COPY person, line 1, column given_name: "…"", in the
// language of the server's lc_messages ("COPY person, строка 1, столбец
// given_name", "personのCOPY、行 1、列 given_name", "person 복사, 1번째
// 줄, given_name 열"). It is the last of the columns that the context's
// last line names after the table and before the value, "" where the
// line is not of such a COPY or names none. starmig's COPY is binary,
// whose context ends with the column and never quotes the value (so a
// value's newlines cannot make another line the last); the value is cut
// off all the same, should the text format ever be used.
func copyColumn(where string, tables, columns []string) string {
	line := where[strings.LastIndexByte(where, '\n')+1:]
	if i := strings.IndexAny(line, "\"»«“„「"); i >= 0 {
		line = line[:i]
	}
	words := strings.FieldsFunc(line, func(r rune) bool {
		return !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	first := slices.IndexFunc(words[:min(2, len(words))], func(w string) bool {
		return slices.Contains(tables, w[strings.LastIndexByte(w, '.')+1:])
	})
	for i := len(words) - 1; first >= 0 && i > first; i-- {
		if slices.Contains(columns, words[i]) {
			return words[i]
		}
	}
	return ""
}

// isDataError reports errors caused by a row's values, which splitting a
// chunk can isolate: data exceptions, integrity violations, and the errors
// of PL/pgSQL (class P0), which a trigger of STAR2's owners raises to
// refuse a row (RAISE EXCEPTION gives P0001, ASSERT P0004), or of a class
// of their own (RAISE … USING ERRCODE = 'SR001'), as PostgreSQL's manual
// advises for errors of one's own.
func isDataError(e *pgconn.PgError) bool {
	class := e.Code[:min(2, len(e.Code))]
	return class == "22" || class == "23" || class == "P0" || len(e.Code) == 5 && !postgresClasses[class]
}

// postgresClasses are the classes of the SQLSTATE codes PostgreSQL itself
// gives (its manual, appendix A); those of other classes were given by
// the functions of a database's owners.
var postgresClasses = map[string]bool{
	"00": true, "01": true, "02": true, "03": true, "08": true, "09": true, "0A": true, "0B": true, "0F": true, "0L": true,
	"0P": true, "0Z": true, "20": true, "21": true, "22": true, "23": true, "24": true, "25": true, "26": true, "27": true,
	"28": true, "2B": true, "2D": true, "2F": true, "34": true, "38": true, "39": true, "3B": true, "3D": true, "3F": true,
	"40": true, "42": true, "44": true, "53": true, "54": true, "55": true, "57": true, "58": true, "72": true, "F0": true,
	"HV": true, "P0": true, "XX": true,
}

// transientTries is how many times a chunk is written before a deadlock
// or serialization failure stops the run.
const transientTries = 5

// transientPause is how long the writer waits after the n-th deadlock or
// serialization failure of a chunk: a random time between half and all of
// n² × 100 ms, so about 3 s at most before the last try. The pause lets
// the other transaction finish its work; taking it at random keeps the
// run's own writers, and other clients that pause the same way, from
// meeting again in step.
func transientPause(n int) time.Duration {
	full := time.Duration(n*n) * 100 * time.Millisecond
	return full/2 + rand.N(full/2+1)
}

// sleep waits d, or until ctx is done; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// isTransient reports an error after which the same transaction, tried
// again, may succeed: a deadlock PostgreSQL broke by ending it (40P01), a
// serialization failure (40001).
func isTransient(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40P01" || e.Code == "40001")
}

type txResult struct {
	conflicts map[uuid.UUID]bool
	differ    map[uuid.UUID]string // of a conflict: how STAR2's row differs from STAR1's
	hashes    map[uuid.UUID]string
}

func (w *Writer) tx(ctx context.Context, conn *pgx.Conn, t mapping.Table, items []Item) (txResult, error) {
	res := txResult{conflicts: map[uuid.UUID]bool{}, hashes: map[uuid.UUID]string{}}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("load: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op

	var inserts, updates [][]any
	var written []pgtype.UUID // rows whose hash PostgreSQL computes
	hasher := w.hashers[t.Star2]
	for _, it := range items {
		switch it.Op {
		case OpInsert:
			inserts = append(inserts, PGValues(it.Values))
			if h, ok := hasher.hash(it.Values); ok {
				res.hashes[it.Star2ID] = h
			} else {
				written = append(written, pgUUID(it.Star2ID))
			}
		case OpUpdate:
			updates = append(updates, append(append([]any{}, PGValues(it.Values)...), it.ExpectHash))
		}
	}
	if len(inserts) > 0 {
		if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{"star2", t.Star2}, t.Columns, inserts); err != nil {
			return res, fmt.Errorf("load: copy %s: %w", t.Star2, err)
		}
		faultpoint.Hit("copy")
	}
	if len(updates) > 0 {
		cols := append(append([]string{}, t.Columns...), "expect_hash")
		if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{"upd_" + t.Star2}, cols, updates); err != nil {
			return res, fmt.Errorf("load: stage updates of %s: %w", t.Star2, err)
		}
		set := make([]string, 0, len(t.Columns))
		vals := make([]string, 0, len(t.Columns))
		for _, c := range t.Columns[1:] {
			set = append(set, c)
			vals = append(vals, "u."+c)
		}
		q := fmt.Sprintf(`UPDATE star2.%[1]s t SET (%[2]s) = ROW(%[3]s) FROM upd_%[1]s u
			WHERE t.id = u.id AND md5(t::text) = u.expect_hash RETURNING t.id`, t.Star2, strings.Join(set, ", "), strings.Join(vals, ", "))
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return res, fmt.Errorf("load: update %s: %w", t.Star2, err)
		}
		updated, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.UUID])
		if err != nil {
			return res, fmt.Errorf("load: update %s: %w", t.Star2, err)
		}
		done := map[uuid.UUID]bool{}
		for _, id := range updated {
			done[id.Bytes] = true
		}
		var conflicted []pgtype.UUID
		for _, it := range items {
			switch {
			case it.Op != OpUpdate:
			case !done[it.Star2ID]:
				res.conflicts[it.Star2ID] = true
				conflicted = append(conflicted, pgUUID(it.Star2ID))
			default:
				if h, ok := hasher.hash(it.Values); ok {
					res.hashes[it.Star2ID] = h
				} else {
					written = append(written, pgUUID(it.Star2ID))
				}
			}
		}
		if len(conflicted) > 0 {
			if res.differ, err = differ(ctx, tx, t, conflicted); err != nil {
				return res, err
			}
		}
	}
	if len(written) > 0 {
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT id, md5(t::text) FROM star2.%s t WHERE id = ANY($1)", t.Star2), written)
		if err != nil {
			return res, fmt.Errorf("load: hash %s: %w", t.Star2, err)
		}
		for rows.Next() {
			var id pgtype.UUID
			var h string
			if err := rows.Scan(&id, &h); err != nil {
				rows.Close()
				return res, fmt.Errorf("load: hash %s: %w", t.Star2, err)
			}
			res.hashes[id.Bytes] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("load: hash %s: %w", t.Star2, err)
		}
	}
	if err := w.bookkeeping(ctx, tx, t, items, res); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("load: commit: %w", err)
	}
	return res, nil
}

// BothSides is the reason a run gives a row changed in STAR1 and in STAR2
// since the migration wrote it; what follows it says where the two now
// differ (ConflictColumns).
const BothSides = "changed in STAR2 since the migration wrote it; STAR1 changed too; left as it is"

// differ names, for each row of a chunk's staged updates that a conflict
// left as it is, the columns in which STAR2's row differs from what the
// rules give from STAR1 now: what an engineer deciding between the two
// looks at first. A run reads them for its conflicts only, a few rows.
func differ(ctx context.Context, tx pgx.Tx, t mapping.Table, ids []pgtype.UUID) (map[uuid.UUID]string, error) {
	which := make([]string, 0, len(t.Columns)-1)
	for _, c := range t.Columns[1:] {
		which = append(which, fmt.Sprintf("CASE WHEN t.%[1]s IS DISTINCT FROM u.%[1]s THEN '%[1]s' END", c))
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT u.id, t.id IS NULL, concat_ws(', ', %[2]s)
		FROM upd_%[1]s u LEFT JOIN star2.%[1]s t ON t.id = u.id WHERE u.id = ANY($1)`, t.Star2, strings.Join(which, ", ")), ids)
	if err != nil {
		return nil, fmt.Errorf("load: conflicts of %s: %w", t.Star2, err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id pgtype.UUID
		var gone bool
		var cols string
		if err := rows.Scan(&id, &gone, &cols); err != nil {
			return nil, fmt.Errorf("load: conflicts of %s: %w", t.Star2, err)
		}
		switch {
		case gone:
			out[id.Bytes] = "; STAR2 no longer holds the row"
		case cols == "":
			out[id.Bytes] = "; STAR2 holds what the rules give from STAR1 now"
		default:
			out[id.Bytes] = "; STAR2 differs from what the rules give from STAR1 now in: " + cols
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load: conflicts of %s: %w", t.Star2, err)
	}
	return out, nil
}

// ConflictColumns is what a conflict's reason says beyond BothSides: where
// STAR2's row and STAR1's differ ("" for conflicts recorded before runs
// said so).
func ConflictColumns(detail string) string {
	if rest, ok := strings.CutPrefix(detail, BothSides); ok {
		return rest
	}
	return ""
}

func (w *Writer) bookkeeping(ctx context.Context, tx pgx.Tx, t mapping.Table, items []Item, res txResult) error {
	ids := make([]int64, 0, len(items)) // rows the bookkeeping had before
	var rm, fresh, q, corr, conflicts [][]any
	// The values every row of the chunk shares are boxed once, and the
	// rows are cut from one slice: a chunk's bookkeeping is 4 000 rows of
	// 12 values.
	const width = 12
	cells := make([]any, len(items)*width)
	star1Table, batch, runID, star2Name := any(t.Star1), any(w.batch), any(w.runID), any(t.Star2)
	for i, it := range items {
		outcome, source, target := it.Outcome, it.SourceHash, it.TargetHash
		var star2 any
		if it.Star2ID != uuid.Nil {
			star2 = pgUUID(it.Star2ID)
		}
		switch it.Op {
		case OpInsert:
			target = res.hashes[it.Star2ID]
		case OpUpdate:
			if res.conflicts[it.Star2ID] {
				// Left as it is: the bookkeeping forgets the source hash, so
				// the next run finds the conflict again. The conflict keeps
				// the hash this run saw, for a decision to keep the STAR2
				// row (Resolve).
				conflicts = append(conflicts, []any{w.runID, it.Star1Table, it.Star1ID, t.Star2, pgUUID(it.Star2ID),
					BothSides + res.differ[it.Star2ID], source, ChangedOnBothSides})
				source = nil
			} else {
				target = res.hashes[it.Star2ID]
			}
		}
		if it.Report != "" {
			var kind any
			if it.ReportSource != nil {
				kind = LeftByTheRules
			}
			conflicts = append(conflicts, []any{w.runID, it.Star1Table, it.Star1ID, t.Star2, pgUUID(it.Star2ID), it.Report, it.ReportSource, kind})
		}
		var amount any
		if it.Amount != nil {
			amount = mapping.Numeric(*it.Amount)
		}
		var rule, star2Table any
		if it.Rule != "" {
			rule = it.Rule
		}
		if star2 != nil {
			star2Table = star2Name
		}
		var th any
		if target != "" {
			b, err := hex.DecodeString(target)
			if err != nil {
				return fmt.Errorf("load: target hash %q: %w", target, err)
			}
			th = b
		}
		var sh any
		if source != nil {
			sh = source
		}
		row := cells[i*width : (i+1)*width : (i+1)*width]
		row[0], row[1], row[2], row[3], row[4], row[5] = star1Table, it.Star1ID, batch, it.Kov, boxedOutcome(outcome), rule
		row[6], row[7], row[8], row[9], row[10], row[11] = star2Table, star2, amount, sh, th, runID
		if it.Star1Table != t.Star1 {
			row[0] = it.Star1Table
		}
		if it.New {
			fresh = append(fresh, row)
		} else {
			ids = append(ids, it.Star1ID)
			rm = append(rm, row)
		}
		if outcome == Quarantined {
			q = append(q, []any{it.Star1Table, it.Star1ID, it.Rule, it.Detail, it.Original, w.runID})
		}
		if outcome == Loaded || outcome == Merged {
			for _, c := range it.Corrections {
				corr = append(corr, []any{it.Star1Table, it.Star1ID, c.Column, c.Rule, c.Original, c.Corrected, w.runID})
			}
		}
	}
	rmCols := []string{"star1_table", "star1_id", "batch", "kov", "outcome", "rule", "star2_table", "star2_id", "amount_eur", "source_hash", "target_hash", "run_id"}
	if len(fresh) > 0 {
		if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{"migration", "row_map"}, rmCols, fresh); err != nil {
			return fmt.Errorf("load: bookkeeping: %w", err)
		}
	}
	if err := w.replace(ctx, tx, rmCols, rm, ids, items[0].Star1Table); err != nil {
		return err
	}
	faultpoint.Hit("bookkeeping")
	if len(q) > 0 {
		if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{"migration", "quarantine"}, []string{"star1_table", "star1_id", "rule", "detail", "original", "run_id"}, q); err != nil {
			return fmt.Errorf("load: quarantine: %w", err)
		}
	}
	if len(corr) > 0 {
		if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{"migration", "correction"}, []string{"star1_table", "star1_id", "column_name", "rule", "original", "corrected", "run_id"}, dedupCorrections(corr)); err != nil {
			return fmt.Errorf("load: corrections: %w", err)
		}
	}
	for _, c := range conflicts {
		if _, err := tx.Exec(ctx, `INSERT INTO migration.conflict (run_id, star1_table, star1_id, star2_table, star2_id, detail, source_hash, kind)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, c...); err != nil {
			return fmt.Errorf("load: conflicts: %w", err)
		}
	}
	return nil
}

// The outcomes boxed once, for the bookkeeping's rows.
var boxedLoaded, boxedMerged, boxedArchived, boxedExcluded, boxedQuarantined any = Loaded, Merged, ArchivedOnly, ExcludedDeleted, Quarantined

func boxedOutcome(o string) any {
	switch o {
	case Loaded:
		return boxedLoaded
	case Merged:
		return boxedMerged
	case ArchivedOnly:
		return boxedArchived
	case ExcludedDeleted:
		return boxedExcluded
	case Quarantined:
		return boxedQuarantined
	}
	return o
}

// replace rewrites the bookkeeping of rows it had before: their row_map
// entries by upsert, and their quarantine and corrections, which the new
// ones replace.
func (w *Writer) replace(ctx context.Context, tx pgx.Tx, rmCols []string, rm [][]any, ids []int64, table string) error {
	if len(rm) == 0 {
		return nil
	}
	if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{"rm_stage"}, rmCols, rm); err != nil {
		return fmt.Errorf("load: bookkeeping: %w", err)
	}
	upsert := `INSERT INTO migration.row_map SELECT * FROM rm_stage
		ON CONFLICT (star1_table, star1_id) DO UPDATE SET batch = EXCLUDED.batch, kov = EXCLUDED.kov, outcome = EXCLUDED.outcome,
		  rule = EXCLUDED.rule, star2_table = EXCLUDED.star2_table, star2_id = EXCLUDED.star2_id, amount_eur = EXCLUDED.amount_eur,
		  source_hash = EXCLUDED.source_hash, target_hash = coalesce(EXCLUDED.target_hash, migration.row_map.target_hash), run_id = EXCLUDED.run_id`
	if _, err := tx.Exec(ctx, upsert); err != nil {
		return fmt.Errorf("load: bookkeeping: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM migration.quarantine WHERE star1_table = $1 AND star1_id = ANY($2)`, table, ids); err != nil {
		return fmt.Errorf("load: quarantine: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM migration.correction WHERE star1_table = $1 AND star1_id = ANY($2)`, table, ids); err != nil {
		return fmt.Errorf("load: corrections: %w", err)
	}
	return nil
}

// dedupCorrections keeps one correction per row, column and rule (the
// table's key): the last.
func dedupCorrections(rows [][]any) [][]any {
	seen := map[string]int{}
	out := rows[:0]
	for _, r := range rows {
		k := fmt.Sprint(r[0], r[1], r[2], r[3])
		if i, ok := seen[k]; ok {
			out[i] = r
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	return out
}

func (w *Writer) count(table string, items []Item, res txResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stat(table)
	for i := range items {
		it := &items[i]
		s.tally(it.Outcome, it.Rule)
		w.unknown(it)
		if it.Report != "" {
			s.Reported++
		}
		switch it.Op {
		case OpNone:
			if it.Unchanged {
				s.Unchanged++
			}
		case OpInsert:
			s.Inserted++
		case OpUpdate:
			if res.conflicts[it.Star2ID] {
				s.Conflicts++
			} else {
				s.Updated++
			}
		}
	}
}
