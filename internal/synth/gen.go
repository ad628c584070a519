// Package synth writes a synthetic STAR1 into the SQLite stand-in:
// deterministic from a seed, realistic in shape, with every data-quality
// problem of STAR1.md at a rate that can be set, in constant memory.
package synth

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the STAR1 stand-in, pure Go: no cgo in CI or on the operator's machine

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/fileurl"
	"github.com/starmig/starmig/internal/pathcheck"
	"github.com/starmig/starmig/mapping"
)

// Options say what to generate.
type Options struct {
	Persons int       // ISIK rows, duplicates included
	Seed    uint64    // same seed and options: byte-identical rows
	AsOf    time.Time // the reference date: nothing is dated after it but the future-date problem
	DocSize int       // average document content size in bytes
	Rates   Rates
	// Progress, when set, is called now and then with the persons written.
	Progress func(persons int)
}

// Stats counts the rows written per table.
type Stats struct {
	Rows map[string]int64
}

// Total is the number of rows in all tables.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Rows {
		n += v
	}
	return n
}

// orphanBase is above every id the generator hands out, inside NUMBER(12):
// references to it point at rows that do not exist.
const orphanBase = 900_000_000_000

var epoch = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)

// EarliestAsOf is the first reference date Generate takes: a year of
// STAR1 after it began in 2010. AsOfRule says so.
var EarliestAsOf = epoch.AddDate(1, 0, 0)

// AsOfRule is the rule of EarliestAsOf, for messages.
const AsOfRule = "want 2011-01-01 or later (STAR1 began in 2010, and a generated STAR1 holds at least a year of it)"

// Generate writes a synthetic STAR1 to path, replacing any file there. It
// writes to a temporary file beside it and renames it at the end, so an
// interrupted run never leaves a file that looks complete.
func Generate(ctx context.Context, path string, o Options) (Stats, error) {
	if o.Persons < 0 {
		return Stats{}, fmt.Errorf("gen: persons %d: must not be negative", o.Persons)
	}
	if o.AsOf.Before(EarliestAsOf) {
		return Stats{}, fmt.Errorf("gen: as-of %s: %s", o.AsOf.Format(time.DateOnly), AsOfRule)
	}
	if o.DocSize <= 0 {
		o.DocSize = 2048
	}
	if err := checkOutPath(path); err != nil {
		return Stats{}, err
	}
	tmp := path + ".partial"
	_ = os.Remove(tmp)
	stats, err := generate(ctx, tmp, o)
	if err != nil {
		return stats, errors.Join(err, removeIfExists(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return stats, fmt.Errorf("gen: %w", err)
	}
	return stats, nil
}

// applicationID marks a SQLite file as a synthetic STAR1 that gen wrote
// (SQLite's application_id, "STRM"), so that gen replaces its own files
// and no other.
const applicationID = 0x5354524D

// checkOutPath refuses an output path whose folder is not there, or that
// is a folder itself, naming the path once.
func checkOutPath(path string) error {
	if err := pathcheck.NewFile(path); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if dir := filepath.Dir(path); notExist(dir) {
		return fmt.Errorf("gen: folder %s does not exist", dir)
	}
	return nil
}

func notExist(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// NotSyntheticError says that the file gen would replace is not one it
// wrote: it may be a STAR1 exported from Oracle, or anything else.
type NotSyntheticError struct {
	Path   string
	Reason string
}

func (e *NotSyntheticError) Error() string {
	return fmt.Sprintf("gen: %s exists and is not a synthetic STAR1 that gen wrote (%s)", e.Path, e.Reason)
}

// CheckOut reports (as *NotSyntheticError) a file at path that Generate
// would replace and that gen did not write. No file, and a file gen wrote,
// are fine.
func CheckOut(path string) error {
	if err := checkOutPath(path); err != nil {
		return err
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("gen: %w", err)
	}
	defer f.Close()
	// The SQLite header: its magic string, and the application id at
	// offset 68, big endian.
	var head [72]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[:16]) != "SQLite format 3\x00" {
		return &NotSyntheticError{Path: path, Reason: "not a SQLite database"}
	}
	if id := binary.BigEndian.Uint32(head[68:72]); id != applicationID {
		return &NotSyntheticError{Path: path, Reason: fmt.Sprintf("its SQLite application_id is %d, not gen's", id)}
	}
	return nil
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func generate(ctx context.Context, path string, o Options) (stats Stats, err error) {
	uri, err := fileurl.SQLite(path, "_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-32768)")
	if err != nil {
		return stats, fmt.Errorf("gen: %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return stats, fmt.Errorf("gen: open %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return stats, fmt.Errorf("gen: mark %s: %w", path, err)
	}
	for _, t := range extract.Tables {
		if _, err := db.ExecContext(ctx, extract.SQLiteDDL(t)); err != nil {
			return stats, fmt.Errorf("gen: create %s: %w", t.Name, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return stats, fmt.Errorf("gen: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	in := newInserter(ctx)
	g, err := newGenerator(ctx, tx, in, o)
	if err != nil {
		return stats, errors.Join(err, in.close())
	}
	runErr := g.run(ctx)
	if err := errors.Join(runErr, in.close()); err != nil {
		if ctx.Err() != nil {
			// Cancelled: the transaction is rolled back under the inserter,
			// whose errors only echo that.
			return stats, fmt.Errorf("gen: %w", ctx.Err())
		}
		return stats, err
	}
	stats.Rows = map[string]int64{}
	for _, t := range extract.Tables {
		w := g.w[t.Name]
		if err := w.flush(ctx, t); err != nil {
			return stats, err
		}
		stats.Rows[t.Name] = w.count
	}
	if err := tx.Commit(); err != nil {
		return stats, fmt.Errorf("gen: commit: %w", err)
	}
	// WAL lets a writer go on while a migration reads a snapshot, as STAR1
	// does in production.
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return stats, fmt.Errorf("gen: set WAL: %w", err)
	}
	return stats, nil
}

type generator struct {
	o     Options
	r     *rand.Rand
	w     map[string]*tableWriter
	kov   []Municipality
	cur   []Municipality // current municipalities, weighted picks
	total int            // sum of weights
	old   []Municipality

	teenus, seos, mliik, tliik, kanal codeSet

	// bounded state, independent of the number of persons
	serials   []uint16 // next serial per birth day since 1900
	recent    [256]recentPerson
	nextID    map[string]int64
	orphanSeq int64
	asOfDays  int
}

type recentPerson struct {
	id        int64
	code      string
	birth     time.Time
	male      bool
	family    string
	kov       string
	loodud    time.Time
	liveValid bool
}

func newGenerator(ctx context.Context, tx *sql.Tx, in *inserter, o Options) (*generator, error) {
	g := &generator{
		o:      o,
		r:      rand.New(rand.NewPCG(o.Seed, o.Seed^0x5354415231)),
		w:      map[string]*tableWriter{},
		kov:    Municipalities(),
		teenus: codesOf("TEENUS"), seos: codesOf("SEOSE_LIIK"), mliik: codesOf("MENETLUSE_LIIK"),
		tliik: codesOf("TOIMINGU_LIIK"), kanal: codesOf("KANAL"),
		serials:  make([]uint16, 80000),
		nextID:   map[string]int64{},
		asOfDays: int(o.AsOf.Sub(epoch).Hours() / 24),
	}
	for _, m := range g.kov {
		if m.Successor == "" {
			g.cur = append(g.cur, m)
			g.total += m.Weight
		} else {
			g.old = append(g.old, m)
		}
	}
	for _, t := range extract.Tables {
		w, err := newTableWriter(ctx, tx, in, t)
		if err != nil {
			return nil, err
		}
		g.w[t.Name] = w
	}
	return g, nil
}

func (g *generator) id(table string) int64 {
	g.nextID[table]++
	return g.nextID[table]
}

func (g *generator) chance(p float64) bool { return p > 0 && g.r.Float64() < p }

func (g *generator) pick(n int) int { return g.r.IntN(n) }

func pickOf[T any](g *generator, s []T) T { return s[g.r.IntN(len(s))] }

// count draws a small count, uniform over 0..2*mean.
func (g *generator) count(mean float64) int { return int(g.r.Float64() * (2*mean + 1)) }

func (g *generator) orphanID() int64 {
	g.orphanSeq++
	return orphanBase + g.orphanSeq
}

// dateIn draws a wall-clock time between a and b (b after a) with a
// daytime hour.
func (g *generator) dateIn(a, b time.Time) time.Time {
	days := int(b.Sub(a).Hours() / 24)
	if days <= 0 {
		return day(a).Add(time.Duration(8+g.pick(10))*time.Hour + time.Duration(g.pick(3600))*time.Second)
	}
	d := day(a).AddDate(0, 0, g.pick(days))
	return d.Add(time.Duration(8+g.pick(10))*time.Hour + time.Duration(g.pick(3600))*time.Second)
}

func day(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }

func fmtDate(t time.Time) string { return t.Format(mapping.WallClockLayout) }

func nullDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtDate(t)
}

func (g *generator) run(ctx context.Context) error {
	if err := g.writeReference(ctx); err != nil {
		return err
	}
	for i := 0; i < g.o.Persons; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			if g.o.Progress != nil {
				g.o.Progress(i)
			}
		}
		if err := g.person(ctx); err != nil {
			return err
		}
	}
	if g.o.Progress != nil {
		g.o.Progress(g.o.Persons)
	}
	return nil
}

func (g *generator) writeReference(ctx context.Context) error {
	for _, m := range g.kov {
		var until any
		if m.Successor != "" {
			until = reformDate
		}
		if err := g.w["KOV"].add(ctx, m.Code, m.Name, until); err != nil {
			return err
		}
	}
	for _, c := range Codes {
		var until any
		if c.Expired != "" {
			until = c.Expired
		}
		if err := g.w["KLASSIFIKAATOR"].add(ctx, c.Class, c.Code, c.Name, until); err != nil {
			return err
		}
	}
	return nil
}

var reform = time.Date(2017, 10, 21, 0, 0, 0, 0, time.UTC)

// kovFor picks the municipality code of a row dated at: a current one, or
// before the reform possibly a pre-reform one, or rarely a code nobody knows.
func (g *generator) kovFor(home string, at time.Time) string {
	if g.chance(g.o.Rates.UnknownKOV) {
		return pickOf(g, unknownKOV)
	}
	if at.Before(reform) && g.chance(g.o.Rates.OldKOV) {
		return pickOf(g, g.old).Code
	}
	if home != "" {
		for _, m := range g.old {
			if m.Code == home {
				return m.Successor
			}
		}
		for _, u := range unknownKOV {
			if u == home {
				return g.weightedKOV()
			}
		}
		return home
	}
	return g.weightedKOV()
}

func (g *generator) weightedKOV() string {
	n := g.pick(g.total)
	for _, m := range g.cur {
		if n < m.Weight {
			return m.Code
		}
		n -= m.Weight
	}
	return g.cur[0].Code
}

// classCode picks a code of a list for a row dated at: a legacy code before
// its expiry now and then, an unmapped code at the unmapped rate.
func (g *generator) classCode(s codeSet, at time.Time, filter func(Code) bool) Code {
	if len(s.unmapped) > 0 && g.chance(g.o.Rates.Unmapped) {
		return pickOf(g, s.unmapped)
	}
	if len(s.legacy) > 0 && g.chance(0.15) {
		c := pickOf(g, s.legacy)
		if exp, _ := time.Parse(mapping.WallClockLayout, c.Expired); at.Before(exp) && (filter == nil || filter(c)) {
			return c
		}
	}
	for {
		c := pickOf(g, s.current)
		if filter == nil || filter(c) {
			return c
		}
	}
}
