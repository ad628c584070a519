// Package batch runs a migration batch: it reads one snapshot of STAR1
// through extract, maps it by the rules of mapping, and writes STAR2 and
// the bookkeeping through load. All the orchestration lives here; the
// packages it calls are kept simple.
package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/pgcopy"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// Options say what a batch migrates and how.
type Options struct {
	Source        string     // sqlite:PATH, oracle://user:password@host:port/service or postgres://…?schema=…
	Target        secret.DSN // the STAR2 PostgreSQL
	Mappings      string     // the mapping folder
	Batch         string
	AsOf          time.Time // reference date, midnight UTC
	LiveYears     int
	KOV           []string // STAR2 municipality codes of the batch; empty for all
	AllowUnmapped bool
	Now           func() time.Time // the clock for the bookkeeping's timestamps
	Log           *slog.Logger
	// Progress, when set, hears how far each phase and table is: rows done
	// of total, total -1 when unknown; 0 rows first, when the phase starts
	// the table, so that a rate can be measured from then. Setting it
	// costs a count of each STAR1 table in the snapshot before pass 1.
	Progress func(phase, table string, rows, total int64)
	// Writers is the number of connections the load writes on at once
	// (0: DefaultWriters).
	Writers int
	// Wait is how long the batch waits for another run on the same STAR2
	// to end (0: not at all).
	Wait time.Duration
	// Archive, when set, also writes every STAR1 row into an archive run
	// from the same snapshot and the same read as the load.
	Archive *archive.Config

	meter meter // Progress with the tables' sizes
}

// meter tells a Progress how far a phase is through a STAR1 table.
type meter struct {
	fn     func(phase, table string, rows, total int64)
	totals map[string]int64 // rows of each STAR1 table in the snapshot
}

// reportEvery is how many rows a phase reads between two reports.
const reportEvery = 5000

// newMeter counts the rows of every STAR1 table in the snapshot for fn,
// when there is one to tell.
func newMeter(ctx context.Context, fn func(phase, table string, rows, total int64), snap extract.Snapshot) (meter, error) {
	m := meter{fn: fn}
	if fn == nil {
		return m, nil
	}
	var err error
	m.totals, err = extract.Counts(ctx, snap)
	return m, err
}

// report says rows of table are done in phase.
func (m meter) report(phase, table string, rows int64) {
	if m.fn == nil {
		return
	}
	total, ok := m.totals[table]
	if !ok {
		total = -1
	}
	m.fn(phase, table, rows, total)
}

// done says phase is through table, which held rows.
func (m meter) done(phase, table string, rows int64) {
	if m.fn != nil {
		m.fn(phase, table, rows, rows)
	}
}

// DefaultWriters is how many connections the load writes on when
// Options do not say.
const DefaultWriters = 2

// Summary says what a run did.
type Summary struct {
	Batch  string                 `json:"batch"`
	RunID  int64                  `json:"run_id"`
	AsOf   string                 `json:"as_of"`
	Tables map[string]*load.Stats `json:"tables"`
	// Unknown counts the rows quarantined for a municipality code the
	// mapping folder does not map, by STAR1 code.
	Unknown  map[string]int64 `json:"unknown_municipalities,omitempty"`
	Report   *Report          `json:"reconciliation,omitempty"`
	Unmapped []UnmappedCode   `json:"unmapped_codes,omitempty"`
	Archive  *archive.Stats   `json:"archive,omitempty"`
	// NamesKept are codes named otherwise in the mapping folder than in
	// STAR2, which keeps its own names.
	NamesKept []load.NameKept `json:"star2_names_kept,omitempty"`
	// Error is why the run failed, other than reconciliation findings; it
	// is kept with the run in the bookkeeping.
	Error string `json:"error,omitempty"`
}

// UnmappedCode is a classifier code in use that the mapping folder does not
// map, with the number of rows that use it.
type UnmappedCode struct {
	Class string `json:"class"`
	Code  string `json:"code"`
	Rows  int64  `json:"rows"`
}

// UnknownKOVError is a batch asked for municipality codes that no row of
// the mapping folder's municipalities.csv maps to: such a batch would
// cover nothing, and is refused before anything is read or written.
type UnknownKOVError struct {
	Mappings string   // the mapping folder
	Codes    []string // the codes asked for that are not STAR2 codes
	Hints    []string // for a STAR1 code, a code without its zeros or a name: the code meant
	Others   bool     // other codes asked for are STAR2 codes
}

func (e *UnknownKOVError) Error() string {
	these := "this code"
	if len(e.Codes) > 1 {
		these = "these codes"
	}
	so := "the batch would cover nothing"
	if e.Others {
		so = "the batch would cover none of their rows"
	}
	msg := fmt.Sprintf("--kov %s: no row of %s maps to %s, so %s (--kov takes STAR2 municipality codes, the star2_code column)",
		strings.Join(e.Codes, ","), filepath.Join(e.Mappings, "municipalities.csv"), these, so)
	for _, h := range e.Hints {
		msg += "; " + h
	}
	return msg
}

// knownKOV refuses codes that are not STAR2 municipality codes of maps.
func knownKOV(maps *mapping.Mappings, dir string, kovs []string) error {
	star2 := map[string]string{} // STAR2 code -> name
	for _, m := range maps.Municipalities {
		star2[m.Code] = m.Name
	}
	e := &UnknownKOVError{Mappings: dir}
	for _, k := range kovs {
		if _, ok := star2[k]; ok {
			e.Others = true
			continue
		}
		e.Codes = append(e.Codes, k)
		if m, ok := maps.Municipality(k); ok {
			e.Hints = append(e.Hints, fmt.Sprintf("%s is the STAR1 code of %s, whose STAR2 code is %s", k, m.Name, m.Code))
		} else if h := mapping.CodeMeant(k, star2); h != "" {
			e.Hints = append(e.Hints, h)
		}
	}
	if len(e.Codes) > 0 {
		return e
	}
	return nil
}

// PreflightError stops a batch before anything is written: classifier
// codes in use have no mapping (STAR2.md rule 8).
type PreflightError struct{ Codes []UnmappedCode }

func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pre-flight: %s in use without a mapping (add them to classifiers.csv, or run with --allow-unmapped to quarantine their rows):", words.Count(len(e.Codes), "classifier code"))
	for _, c := range e.Codes {
		fmt.Fprintf(&b, "\n  %s/%s: %s", c.Class, words.Shown(c.Code), words.Count(c.Rows, "row"))
	}
	return b.String()
}

// classifierColumns are the STAR1 columns holding codes of a code list.
var classifierColumns = []struct{ table, column, class string }{
	{"ISIKU_SEOS", "SEOSE_LIIK", "SEOSE_LIIK"},
	{"POORDUMINE", "KANAL", "KANAL"},
	{"MENETLUS", "LIIK", "MENETLUSE_LIIK"},
	{"OTSUS", "TEENUS_KOOD", "TEENUS"},
	{"TOIMING", "LIIK", "TOIMINGU_LIIK"},
}

// Preflight lists the classifier codes in use that have no mapping.
func Preflight(ctx context.Context, snap extract.Snapshot, maps *mapping.Mappings) ([]UnmappedCode, error) {
	var out []UnmappedCode
	for _, cc := range classifierColumns {
		t, err := extract.TableByName(cc.table)
		if err != nil {
			return nil, err
		}
		q := fmt.Sprintf("SELECT %s, COUNT(*) FROM %s WHERE %s IS NOT NULL GROUP BY %s", cc.column, snap.Dialect().Table(t), cc.column, cc.column)
		err = snap.Query(ctx, q, func(v []any) error {
			code := extract.Visible(fmt.Sprint(asText(v[0])))
			if _, ok := maps.Classifier(cc.class, code); !ok {
				var n int64
				if _, err := fmt.Sscan(fmt.Sprint(asText(v[1])), &n); err != nil {
					return fmt.Errorf("pre-flight: count of %s/%s: %w", cc.class, code, err)
				}
				out = append(out, UnmappedCode{Class: cc.class, Code: code, Rows: n})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Code < out[j].Code
	})
	return out, nil
}

func asText(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// connect opens a STAR2 connection whose text rendering of rows is fixed,
// so that row hashes computed in SQL are stable. Its session asks for the
// keepalives and the client check of pgsession: the statement of a run
// killed in the middle of it, and the sessions of a machine that went
// down, let go of the run lock and the tables they hold.
func connect(ctx context.Context, dsn secret.DSN) (*pgx.Conn, error) {
	if err := secret.CheckPassword(dsn.Reveal()); err != nil {
		return nil, fmt.Errorf("target %w", err)
	}
	cfg, err := pgsession.ParseConfig(dsn.Reveal())
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dsn, secret.ConfigError(err, dsn.Reveal()))
	}
	cfg.RuntimeParams["application_name"] = pgsession.Application
	pgsession.Configure(&cfg.Config, map[string]string{
		"timezone": "UTC", "datestyle": "ISO, YMD", "bytea_output": "hex", "extra_float_digits": "3",
	})
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", dsn, secret.Redact(err.Error(), dsn.Reveal()))
	}
	pgcopy.RegisterTypes(conn)
	return conn, nil
}

// Migrate runs one batch: pre-flight, pass 1 (plan), the outcome rules,
// pass 2 (load), and the reconciliation of what it did. A run that is
// interrupted is completed by running the same batch again.
func Migrate(ctx context.Context, o Options) (sum *Summary, err error) {
	if o.Now == nil {
		return nil, errors.New("batch: no clock")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	maps, err := mapping.LoadFolder(o.Mappings)
	if err != nil {
		return nil, err
	}
	if err := knownKOV(maps, o.Mappings, o.KOV); err != nil {
		return nil, err
	}
	src, snap, closeSource, err := snapshot(ctx, o.Source)
	if err != nil {
		return nil, err
	}
	defer closing(&err, closeSource)
	if o.Archive != nil {
		ac := *o.Archive
		if ac.LeftOut, err = archive.LeftOut(ctx, snap, ac.SkipTables); err != nil {
			return nil, err
		}
		o.Archive = &ac
	}

	sum = &Summary{Batch: o.Batch, AsOf: o.AsOf.Format(time.DateOnly)}
	unmapped, err := Preflight(ctx, snap, maps)
	if err != nil {
		return nil, err
	}
	sum.Unmapped = unmapped
	if len(unmapped) > 0 && !o.AllowUnmapped {
		return sum, &PreflightError{Codes: unmapped}
	}
	if o.meter, err = newMeter(ctx, o.Progress, snap); err != nil {
		return nil, err
	}

	conn, err := connect(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	read, err := connect(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	defer read.Close(context.Background())
	// Every session the load writes on is opened now, before anything is
	// written: a limit on the role's or the database's connections then
	// stops the batch here, not once its plan is made.
	conns := []*pgx.Conn{conn}
	if o.Writers <= 0 {
		o.Writers = DefaultWriters
	}
	for len(conns) < o.Writers {
		c, err := connect(ctx, o.Target)
		if err != nil {
			return nil, err
		}
		defer c.Close(context.Background())
		conns = append(conns, c)
	}
	if err := load.CheckSTAR2(ctx, conn, true); err != nil {
		return nil, err
	}
	if err := load.ApplyBookkeeping(ctx, conn); err != nil {
		return nil, err
	}
	runID, err := load.StartRun(ctx, conn, load.BatchSpec{
		Name: o.Batch, KOV: o.KOV, AsOf: o.AsOf, LiveYears: o.LiveYears, Wait: o.Wait,
		Waiting: func(running string) {
			o.Log.Info("STAR2 takes one run at a time: waiting for the run of another batch to end", "batch", o.Batch, "running", running, "wait", o.Wait.String())
		},
	}, o.Now())
	if err != nil {
		return nil, err
	}
	sum.RunID = runID
	o.Log.Info("run started", "batch", o.Batch, "run", runID, "source", src.String())
	defer func() {
		state := "completed"
		if err != nil {
			state = "failed"
			if _, findings := errors.AsType[*FindingsError](err); !findings {
				sum.Error = err.Error()
			}
		}
		ctx := context.Background()
		finishErr := load.FinishRun(ctx, conn, runID, state, sum, o.Now())
		if finishErr != nil && err != nil && conn.IsClosed() {
			// STAR2 is lost, which err says: the run stays 'running',
			// status shows it interrupted, and the next run closes it
			// and drops its plan, as after a kill.
			return
		}
		dropErr := load.DropPlan(ctx, conn, runID)
		err = errors.Join(err, finishErr, dropErr)
	}()

	if sum.NamesKept, err = ensureReference(ctx, conn, maps); err != nil {
		return sum, err
	}
	cfg := &mapping.Config{Mappings: maps, AsOf: o.AsOf}
	if err := load.SetPhase(ctx, conn, runID, "plan"); err != nil {
		return sum, err
	}
	if err := planAndOutcomes(ctx, conn, read, snap, cfg, runID, o); err != nil {
		return sum, err
	}
	o.Log.Info("outcomes computed", "run", runID)
	if len(o.KOV) > 0 {
		kovMap := map[string]string{}
		for raw, m := range maps.Municipalities {
			kovMap[raw] = m.Code
		}
		if err := load.Scope(ctx, conn, runID, o.Batch, kovMap, o.KOV); err != nil {
			return sum, err
		}
	}
	if err := load.SetPhase(ctx, conn, runID, "load"); err != nil {
		return sum, err
	}
	var aw *archive.Writer
	if o.Archive != nil {
		ac := *o.Archive
		ac.Source = src.String()
		if aw, err = archive.NewWriter(ctx, ac); err != nil {
			return sum, err
		}
		o.Log.Info("archive run started", "store", ac.Store.String(), "run", aw.Run())
		if err := archiveReference(ctx, snap, aw); err != nil {
			aw.Abort(err)
			return sum, err
		}
	}
	w, err := load.NewWriter(ctx, conns, runID, o.Batch)
	if err != nil {
		if aw != nil {
			aw.Abort(err)
		}
		return sum, err
	}
	err = loadAll(ctx, read, w, aw, snap, cfg, runID, o)
	w.Close()
	if err != nil {
		if aw != nil {
			aw.Abort(err)
		}
		return sum, err
	}
	sum.Tables = w.Stats()
	sum.Unknown = w.UnknownMunicipalities()
	if aw != nil {
		st, err := aw.Close()
		if err != nil {
			return sum, err
		}
		sum.Archive = &st
		o.Log.Info("archive run written", "run", st.Run, "bundles", st.Bundles, "rows", st.Rows, "bytes", st.Bytes)
	}
	if err := load.SetPhase(ctx, conn, runID, "reconcile"); err != nil {
		return sum, err
	}
	faultpoint.Hit("reconcile")
	rep, err := reconcile(ctx, conn, read, snap, maps, scope{batch: o.Batch, kov: o.KOV, markRun: runID}, true, o.meter)
	if err != nil {
		return sum, err
	}
	for _, tr := range rep.Tables {
		if tr.marked > 0 {
			if sum.Tables == nil {
				sum.Tables = map[string]*load.Stats{}
			}
			s := sum.Tables[tr.Table]
			if s == nil {
				s = &load.Stats{Outcomes: map[string]int64{}}
				sum.Tables[tr.Table] = s
			}
			s.Gone = tr.marked
		}
	}
	sum.Report = rep
	o.Log.Info("reconciled", "batch", o.Batch, "findings", int64(len(rep.Findings))+rep.More)
	if !rep.OK() {
		return sum, &FindingsError{Report: rep}
	}
	return sum, nil
}

// archiveReference archives the tables the load does not read: the
// municipalities and code lists, which also travel in every bundle.
func archiveReference(ctx context.Context, snap extract.Snapshot, aw *archive.Writer) error {
	for _, name := range []string{"KOV", "KLASSIFIKAATOR"} {
		t, err := extract.TableByName(name)
		if err != nil {
			return err
		}
		if err := aw.Table(t); err != nil {
			return err
		}
		if err := snap.Scan(ctx, t, nil, nil, func(r extract.Row) error { return aw.Row(r) }); err != nil {
			return err
		}
	}
	return nil
}

// closing runs close, and gives its error to a run that had none: after
// a run failed, often because STAR1's connection was lost, what the close
// of STAR1 says adds nothing to the cause.
func closing(err *error, close func() error) {
	if cerr := close(); *err == nil {
		*err = cerr
	}
}

// snapshot opens STAR1 and one snapshot of it; the function it returns
// ends both.
func snapshot(ctx context.Context, url string) (extract.Source, extract.Snapshot, func() error, error) {
	src, err := extract.Open(ctx, url)
	if err != nil {
		return nil, nil, nil, err
	}
	snap, err := src.Begin(ctx)
	if err != nil {
		return nil, nil, nil, errors.Join(err, src.Close())
	}
	return src, snap, func() error { return errors.Join(snap.Close(), src.Close()) }, nil
}

func ensureReference(ctx context.Context, conn *pgx.Conn, maps *mapping.Mappings) ([]load.NameKept, error) {
	var ms [][2]string
	seen := map[string]bool{}
	for _, m := range maps.Municipalities {
		if !seen[m.Code] {
			seen[m.Code] = true
			ms = append(ms, [2]string{m.Code, m.Name})
		}
	}
	var cs [][3]string
	seenC := map[[2]string]bool{}
	for _, c := range maps.Classifiers {
		if k := [2]string{c.Kind, c.Code}; !seenC[k] {
			seenC[k] = true
			cs = append(cs, [3]string{c.Kind, c.Code, c.Name})
		}
	}
	return load.EnsureReference(ctx, conn, ms, cs)
}

// Connect opens a PostgreSQL connection with starmig's session settings,
// never showing the password in an error.
func Connect(ctx context.Context, dsn secret.DSN) (*pgx.Conn, error) { return connect(ctx, dsn) }
