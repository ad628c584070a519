package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/mapping"
)

// BatchSpec is what a batch covers.
type BatchSpec struct {
	Name      string
	KOV       []string // STAR2 municipality codes; empty for all
	AsOf      time.Time
	LiveYears int
	// Wait is how long the run waits for another run on STAR2 to end
	// before it gives up with ErrBatchBusy; 0 gives up at once. Waiting,
	// when set, hears the batch of the run waited for, before the wait.
	Wait    time.Duration
	Waiting func(running string)
}

// DefaultWait is how long a run waits for the run lock unless told
// otherwise. A run killed a moment ago may still hold it: the server ends
// its session only once it notices the client is gone, within a second on
// PostgreSQL 14 and later (client_connection_check_interval), and on
// older servers when the statement it was running ends.
const DefaultWait = 30 * time.Second

// ErrBatchBusy means another run holds STAR2: of the same batch, or of
// another (Running, when the bookkeeping names it).
type ErrBatchBusy struct {
	Batch, Running string
	Holder         *LockHolder // the session holding the lock, when PostgreSQL shows it
}

// LockHolder is the PostgreSQL session that holds the run lock.
type LockHolder struct {
	PID    uint32
	Client string    // its address; empty for a local socket
	State  string    // active, idle, idle in transaction; empty when not shown
	Since  time.Time // when it entered that state
}

func (e *ErrBatchBusy) Error() string {
	var msg string
	if e.Running == "" || e.Running == e.Batch {
		msg = fmt.Sprintf("batch %q is being run by another starmig process", e.Batch)
	} else {
		msg = fmt.Sprintf("batch %q cannot start: batch %q is being run into the same STAR2 by another starmig process, and one STAR2 takes one run at a time (batches share the persons their rows refer to); run %q when that run has ended, or with --wait long enough for it",
			e.Batch, e.Running, e.Batch)
	}
	if h := e.Holder; h != nil {
		from := ""
		if h.Client != "" {
			from = " from " + h.Client
		}
		state := ""
		if h.State != "" {
			state = fmt.Sprintf(", %s since %s UTC", h.State, h.Since.UTC().Format(time.DateTime))
		}
		msg += fmt.Sprintf(" (PostgreSQL session %d%s%s). If no starmig process is running any more, that session is what a killed run left; PostgreSQL ends it once it notices, or an administrator can with SELECT pg_terminate_backend(%d)",
			h.PID, from, state, h.PID)
	}
	return msg
}

// ErrBatchScope means a run asks for other municipalities than the batch
// it continues covers.
type ErrBatchScope struct {
	Batch      string
	Has, Asked []string // STAR2 codes; empty for all
}

func (e *ErrBatchScope) Error() string {
	kovs := func(k []string) string {
		if len(k) == 0 {
			return "all municipalities"
		}
		return "municipalities " + strings.Join(k, ",")
	}
	flag := "no --kov"
	if len(e.Has) > 0 {
		flag = "--kov " + strings.Join(e.Has, ",")
	}
	return fmt.Sprintf("batch %q covers %s, and this run asks for %s: a batch keeps the municipalities of its first run (%s), other municipalities are another batch",
		e.Batch, kovs(e.Has), kovs(e.Asked), flag)
}

// runLockKey is the advisory lock a run holds on STAR2 while it runs. It
// is one lock for all batches: two batches share rows (a person of one
// municipality that rows of both refer to) and the bookkeeping of those,
// and each plans from the bookkeeping as it was when it started, so two at
// once would both write such a row.
var runLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("starmig run"))
	return int64(h.Sum64() >> 1)
}()

// StartRun takes the run lock for the session (ErrBatchBusy while another
// run holds it), refuses a run that asks for other municipalities than the
// batch covers (ErrBatchScope), records the batch and a new run in state
// 'running', marks runs of the batch that never finished (killed) as
// failed, and drops their work schemas. now is the start time to record.
func StartRun(ctx context.Context, conn *pgx.Conn, b BatchSpec, now time.Time) (int64, error) {
	if err := lockRun(ctx, conn, b.Name, b.Wait, b.Waiting); err != nil {
		return 0, err
	}
	var has []string
	switch err := conn.QueryRow(ctx, `SELECT kov FROM migration.batch WHERE name = $1`, b.Name).Scan(&has); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return 0, fmt.Errorf("load: read batch %q: %w", b.Name, err)
	case !sameSet(has, b.KOV):
		return 0, &ErrBatchScope{Batch: b.Name, Has: has, Asked: b.KOV}
	}
	var kov any
	if len(b.KOV) > 0 {
		kov = b.KOV
	}
	if _, err := conn.Exec(ctx, `INSERT INTO migration.batch (name, kov, as_of, live_years, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET kov = EXCLUDED.kov, as_of = EXCLUDED.as_of, live_years = EXCLUDED.live_years`,
		b.Name, kov, b.AsOf, b.LiveYears, now); err != nil {
		return 0, fmt.Errorf("load: record batch: %w", err)
	}
	rows, err := conn.Query(ctx, `UPDATE migration.run SET state = 'failed', summary = coalesce(summary, '{}'::jsonb) || '{"interrupted": true}'
		WHERE batch = $1 AND state = 'running' RETURNING id`, b.Name)
	if err != nil {
		return 0, fmt.Errorf("load: close interrupted runs: %w", err)
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("load: close interrupted runs: %w", err)
	}
	for _, id := range stale {
		if err := DropPlan(ctx, conn, id); err != nil {
			return 0, err
		}
	}
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO migration.run (batch, started_at, state, phase) VALUES ($1, $2, 'running', 'start') RETURNING id`,
		b.Name, now).Scan(&id); err != nil {
		return 0, fmt.Errorf("load: record run: %w", err)
	}
	return id, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// lockRun takes the run lock (runLockKey) for the session of the run of
// batch name, waiting up to wait, after telling waiting (when set) whose
// run it waits for.
func lockRun(ctx context.Context, conn *pgx.Conn, name string, wait time.Duration, waiting func(running string)) error {
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", runLockKey).Scan(&got); err != nil {
		return fmt.Errorf("load: run lock: %w", err)
	}
	if got {
		return nil
	}
	busy := &ErrBatchBusy{Batch: name}
	// The newest run not ended is the one that holds the lock; a killed
	// run's is marked failed by the next run that starts.
	holder := func() {
		_ = conn.QueryRow(ctx, "SELECT batch FROM migration.run WHERE state = 'running' ORDER BY id DESC LIMIT 1").Scan(&busy.Running)
		busy.Holder = lockHolder(ctx, conn)
	}
	holder()
	ms := wait.Milliseconds()
	if ms <= 0 { // lock_timeout 0 would wait without end
		return busy
	}
	if waiting != nil {
		waiting(busy.Running)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET lock_timeout = %d", ms)); err != nil {
		return fmt.Errorf("load: run lock: %w", err)
	}
	_, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", runLockKey)
	if _, resetErr := conn.Exec(ctx, "RESET lock_timeout"); err == nil && resetErr != nil {
		err = resetErr
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		holder() // by now perhaps another run's
		return busy
	}
	if err != nil {
		return fmt.Errorf("load: run lock: %w", err)
	}
	return nil
}

// lockHolder finds the session that holds the run lock, or nil.
func lockHolder(ctx context.Context, conn *pgx.Conn) *LockHolder {
	var h LockHolder
	var since *time.Time
	// An advisory lock on a bigint key shows its high half as classid and
	// its low half as objid.
	err := conn.QueryRow(ctx, `SELECT l.pid, coalesce(host(a.client_addr), ''), coalesce(a.state, ''), a.state_change
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid::bigint = $1 AND l.objid::bigint = $2
 LIMIT 1`, runLockKey>>32, runLockKey&0xffffffff).Scan(&h.PID, &h.Client, &h.State, &since)
	if err != nil {
		return nil
	}
	if since == nil {
		h.State = "" // not shown to this role
	} else {
		h.Since = *since
	}
	return &h
}

// SetPhase records the phase a run is in.
func SetPhase(ctx context.Context, conn *pgx.Conn, runID int64, phase string) error {
	if _, err := conn.Exec(ctx, "UPDATE migration.run SET phase = $2 WHERE id = $1", runID, phase); err != nil {
		return fmt.Errorf("load: record phase: %w", err)
	}
	return nil
}

// FinishRun records the end of a run with its summary and releases STAR2
// for the next run.
func FinishRun(ctx context.Context, conn *pgx.Conn, runID int64, state string, summary any, now time.Time) error {
	js, err := json.Marshal(summary)
	if err != nil {
		return fmt.Errorf("load: summary: %w", err)
	}
	js = JSONB(js) // a STAR1 value with a NUL, in a finding or an error
	// A failed run keeps the phase it failed in.
	if _, err := conn.Exec(ctx, `UPDATE migration.run SET state = $2, finished_at = $3, summary = $4,
		phase = CASE WHEN $2 = 'completed' THEN 'done' ELSE phase END WHERE id = $1`,
		runID, state, now, js); err != nil {
		return fmt.Errorf("load: record run end: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", runLockKey); err != nil {
		return fmt.Errorf("load: release STAR2: %w", err)
	}
	return nil
}

// NameKept is a STAR2 code whose name in the mapping folder differs from
// the one STAR2 holds, which a run leaves as it is.
type NameKept struct {
	Table   string `json:"table"` // municipality or classifier
	Code    string `json:"code"`  // kind/code for a classifier
	Mapping string `json:"mapping_name"`
	STAR2   string `json:"star2_name"`
}

// EnsureReference makes every STAR2 code of the mapping folder exist in
// star2.municipality and star2.classifier, leaving existing rows alone:
// their names are STAR2's owners' to keep. It returns the codes whose name
// in the mapping folder differs from STAR2's, so that an analyst who
// corrected a name learns it did not reach STAR2.
func EnsureReference(ctx context.Context, conn *pgx.Conn, municipalities [][2]string, classifiers [][3]string) ([]NameKept, error) {
	batch := &pgx.Batch{}
	var kept []NameKept
	// compare notes a name STAR2 holds otherwise than the mapping folder.
	compare := func(table, code, want string) func(pgx.Row) error {
		return func(row pgx.Row) error {
			var name string
			if err := row.Scan(&name); err != nil {
				return err
			}
			if name != want {
				kept = append(kept, NameKept{table, code, want, name})
			}
			return nil
		}
	}
	for _, m := range municipalities {
		batch.Queue("INSERT INTO star2.municipality (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", m[0], m[1])
		batch.Queue("SELECT name FROM star2.municipality WHERE code = $1", m[0]).QueryRow(compare("municipality", m[0], m[1]))
	}
	for _, c := range classifiers {
		batch.Queue("INSERT INTO star2.classifier (kind, code, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", c[0], c[1], c[2])
		batch.Queue("SELECT name FROM star2.classifier WHERE kind = $1 AND code = $2", c[0], c[1]).QueryRow(compare("classifier", c[0]+"/"+c[1], c[2]))
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("load: reference codes: %w", err)
	}
	slices.SortFunc(kept, func(a, b NameKept) int { return strings.Compare(a.Table+" "+a.Code, b.Table+" "+b.Code) })
	return kept, nil
}

// Analyze refreshes the planner's statistics of the tables a load wrote.
// After a batch's bulk load they describe tables a fraction of the size,
// and the reconciliation's joins (and STAR2's users) would be planned for
// that.
func Analyze(ctx context.Context, conn *pgx.Conn) error {
	tables := []string{"migration.row_map", "migration.quarantine", "migration.correction"}
	for _, t := range mapping.Tables {
		tables = append(tables, "star2."+t.Star2)
	}
	if _, err := conn.Exec(ctx, "ANALYZE "+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("load: analyze: %w", err)
	}
	return nil
}

// MarkGone marks in the bookkeeping rows of a STAR1 table that the
// migration saw in an earlier run and that STAR1 no longer holds: rows
// deleted outright, not soft-deleted. They keep their outcome, and their
// STAR2 rows stay (a re-run never deletes from STAR2); gone_run_id names
// the run that found them gone. back are rows of the table marked before
// that STAR1 holds again: they lose the mark. It returns how many rows it
// marked.
func MarkGone(ctx context.Context, conn *pgx.Conn, runID int64, table string, gone, back []int64) (int64, error) {
	var marked int64
	for len(gone) > 0 || len(back) > 0 {
		n, m := min(len(gone), markChunk), min(len(back), markChunk)
		tag, err := conn.Exec(ctx, `UPDATE migration.row_map SET gone_run_id = $1 WHERE star1_table = $2 AND star1_id = ANY($3) AND gone_run_id IS NULL`, runID, table, gone[:n])
		if err != nil {
			return marked, fmt.Errorf("load: rows of %s deleted from STAR1: %w", table, err)
		}
		marked += tag.RowsAffected()
		if _, err := conn.Exec(ctx, `UPDATE migration.row_map SET gone_run_id = NULL WHERE star1_table = $1 AND star1_id = ANY($2)`, table, back[:m]); err != nil {
			return marked, fmt.Errorf("load: rows of %s back in STAR1: %w", table, err)
		}
		gone, back = gone[n:], back[m:]
	}
	return marked, nil
}

const markChunk = 10000

// BatchState is what the bookkeeping says of a batch and its newest run.
type BatchState struct {
	Name      string           `json:"name"`
	KOV       []string         `json:"municipalities"` // empty: every municipality
	AsOf      string           `json:"as_of"`
	LiveYears int              `json:"live_years"`
	Runs      int64            `json:"runs"`
	Rows      map[string]int64 `json:"rows"` // STAR1 rows by outcome
	Last      RunState         `json:"last_run"`
	// Conflicts counts the open conflicts (Conflicts).
	Conflicts int `json:"open_conflicts"`
}

// RunState is one run as the bookkeeping has it.
type RunState struct {
	ID       int64      `json:"id"`
	State    string     `json:"state"` // running, completed, failed
	Phase    string     `json:"phase"` // where a failed or running run is
	Started  time.Time  `json:"started_at"`
	Finished *time.Time `json:"finished_at,omitempty"`
	// Findings counts the findings of the run's reconciliation.
	Findings int64 `json:"findings"`
	// Error is why the run failed, other than findings.
	Error string `json:"error,omitempty"`
	// Interrupted says the run ended without recording its end (killed,
	// or its connection lost): a run of the batch completes it.
	Interrupted bool `json:"interrupted,omitempty"`
	// Tables are the run's STAR1 rows by table, as its summary keeps
	// them (none for a run that ended before it counted them).
	Tables map[string]*Stats `json:"-"`
}

// NoBookkeeping reports whether err is PostgreSQL's refusal to read a
// table that does not exist: on a query of the migration schema, a target
// that no batch was ever migrated into.
func NoBookkeeping(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01" // undefined_table
}

// BatchStates lists every batch of the bookkeeping by name, with its
// newest run and its open conflicts. A run recorded as running while no
// run holds the run lock was interrupted.
func BatchStates(ctx context.Context, conn *pgx.Conn) ([]BatchState, error) {
	rows, _ := conn.Query(ctx, `SELECT b.name, coalesce(b.kov, '{}'), b.as_of::text, b.live_years,
	       (SELECT count(*) FROM migration.run r WHERE r.batch = b.name),
	       r.id, r.state, coalesce(r.phase, ''), r.started_at, r.finished_at,
	       coalesce(jsonb_array_length(r.summary->'reconciliation'->'findings'), 0)
	         + coalesce((r.summary->'reconciliation'->>'findings_not_listed')::bigint, 0),
	       coalesce(r.summary->>'error', ''), coalesce((r.summary->>'interrupted')::boolean, false),
	       r.summary->'tables'
	  FROM migration.batch b
	  JOIN LATERAL (SELECT * FROM migration.run r WHERE r.batch = b.name ORDER BY r.id DESC LIMIT 1) r ON true
	 ORDER BY b.name`)
	var out []BatchState
	var b BatchState
	var finished pgtype.Timestamptz
	var tables []byte
	_, err := pgx.ForEachRow(rows, []any{&b.Name, &b.KOV, &b.AsOf, &b.LiveYears, &b.Runs, &b.Last.ID, &b.Last.State, &b.Last.Phase, &b.Last.Started,
		&finished, &b.Last.Findings, &b.Last.Error, &b.Last.Interrupted, &tables}, func() error {
		b.Last.Finished = nil
		// Counts of another shape (a summary edited by hand) are none:
		// they only give the run's warnings.
		b.Last.Tables = nil
		if json.Unmarshal(tables, &b.Last.Tables) != nil {
			b.Last.Tables = nil
		}
		if finished.Valid {
			t := finished.Time
			b.Last.Finished = &t
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load: batches: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// A run holds the run lock while it runs.
	var free bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", runLockKey).Scan(&free); err != nil {
		return nil, fmt.Errorf("load: run lock: %w", err)
	}
	if free {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", runLockKey); err != nil {
			return nil, fmt.Errorf("load: run lock: %w", err)
		}
	}
	index := map[string]int{}
	for i := range out {
		index[out[i].Name] = i
		out[i].Rows = map[string]int64{}
		if out[i].Last.State == "running" && free {
			out[i].Last.Interrupted = true
		}
	}
	open, err := Conflicts(ctx, conn, "")
	if err != nil {
		return nil, err
	}
	for _, c := range open {
		if i, ok := index[c.Batch]; ok {
			out[i].Conflicts++
		}
	}
	rows, _ = conn.Query(ctx, `SELECT batch, outcome, count(*) FROM migration.row_map GROUP BY 1, 2`)
	var name, outcome string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &outcome, &n}, func() error {
		if i, ok := index[name]; ok {
			out[i].Rows[outcome] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load: batches: %w", err)
	}
	return out, nil
}
