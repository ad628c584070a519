package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

const planChunk = 5000

var errStopped = errors.New("batch: stopped") // replaced by the error that stopped it

// narrow lists a table's columns without its LOBs and free text: pass 1
// reads only what the rules look at, and leaves the rest for the load.
func narrow(t extract.Table) (names []string, positions []int) {
	for i, c := range t.Columns {
		if c.Kind != extract.CLOB && c.Kind != extract.BLOB && !slices.Contains(mapping.FreeText[t.Name], c.Name) {
			names = append(names, c.Name)
			positions = append(positions, i)
		}
	}
	return names, positions
}

// planJob is a chunk of narrow STAR1 rows, one after another in vals.
type planJob struct {
	mt   mapping.Table
	t    extract.Table
	pt   load.PlanTable
	pos  []int
	vals []any
}

// planRows maps a chunk of narrow rows to rows of its plan table.
func (j planJob) planRows(cfg *mapping.Config) [][]any {
	full := make(extract.Row, len(j.t.Columns))
	out := make([][]any, 0, len(j.vals)/len(j.pos))
	for r := j.vals; len(r) > 0; r = r[len(j.pos):] {
		clear(full)
		for i, p := range j.pos {
			full[p] = r[i]
		}
		res := j.mt.Map(full, mapping.Refs{}, cfg)
		out = append(out, planRow(j.t.Name, full, res, cfg))
	}
	return out
}

// planMappers is how many goroutines map pass 1's rows while the STAR1 read
// goes on.
var planMappers = max(runtime.GOMAXPROCS(0), 2)

// plan is pass 1: every row of every table, mapped on its narrow columns,
// becomes a row of its plan table with the rule it breaks on its own. The
// read of STAR1, the mapping of the chunks read (on planMappers
// goroutines) and the COPY of the chunks mapped overlap. Plan tables are
// keyed by id, so chunks may arrive in any order.
func plan(ctx context.Context, conn *pgx.Conn, snap extract.Snapshot, cfg *mapping.Config, runID int64, o Options, filled func(star1 string)) (err error) {
	if err := load.CreatePlan(ctx, conn, runID); err != nil {
		return err
	}
	type copyJob struct {
		pt   load.PlanTable
		rows [][]any
	}
	// A table's plan is filled when the read of the table is over and every
	// chunk sent has been copied; chunks of two tables may be copied in
	// either order.
	var mu sync.Mutex
	sent, copiedN, read := map[string]int{}, map[string]int{}, map[string]bool{}
	check := func(table string) {
		if read[table] && sent[table] == copiedN[table] {
			delete(read, table)
			filled(table)
		}
	}
	jobs := make(chan planJob, planMappers)
	copies := make(chan copyJob, 2)
	stop := make(chan struct{}) // closed when a COPY fails
	var copyErr error
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		for c := range copies {
			if copyErr == nil {
				if copyErr = load.CopyPlan(ctx, conn, runID, c.pt, c.rows); copyErr != nil {
					close(stop)
					continue
				}
				faultpoint.Hit("plan-copy")
				mu.Lock()
				copiedN[c.pt.Star1]++
				check(c.pt.Star1)
				mu.Unlock()
			}
		}
	}()
	var mappers sync.WaitGroup
	for range planMappers {
		mappers.Add(1)
		go func() {
			defer mappers.Done()
			for j := range jobs {
				select {
				case copies <- copyJob{j.pt, j.planRows(cfg)}:
				case <-stop:
				}
			}
		}()
	}
	defer func() {
		close(jobs)
		mappers.Wait()
		close(copies)
		<-copied
		if copyErr != nil {
			err = copyErr // the cause; the scan stopped because of it
		}
	}()
	send := func(j planJob) error {
		mu.Lock()
		sent[j.t.Name]++
		mu.Unlock()
		select {
		case jobs <- j:
			return nil
		case <-stop:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, mt := range mapping.Tables {
		t, err := extract.TableByName(mt.Star1)
		if err != nil {
			return err
		}
		pt, _ := load.PlanFor(mt.Star1)
		names, pos := narrow(t)
		job := func() planJob { return planJob{mt, t, pt, pos, make([]any, 0, planChunk*len(pos))} }
		j := job()
		var n int64
		o.meter.report("plan", t.Name, 0) // the clock of its rate starts
		err = snap.Scan(ctx, t, names, nil, func(r extract.Row) error {
			j.vals = append(j.vals, r...)
			n++
			faultpoint.Hit("extract")
			if len(j.vals) == cap(j.vals) {
				if err := send(j); err != nil {
					return err
				}
				j = job()
				o.meter.report("plan", t.Name, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(j.vals) > 0 {
			if err := send(j); err != nil {
				return err
			}
		}
		o.meter.report("plan", t.Name, n)
		o.Log.Info("planned", "table", t.Name, "rows", n)
		mu.Lock()
		read[t.Name] = true
		check(t.Name)
		mu.Unlock()
	}
	return nil
}

// get returns a column of a full STAR1 row.
func get(table string, r extract.Row, col string) any {
	i, ok := extract.Positions[table][col]
	if !ok {
		panic(fmt.Sprintf("batch: %s has no column %s", table, col)) // a typo in this package
	}
	return r[i]
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// dateOf is the date part of a STAR1 DATE, or nil.
func dateOf(v any) any {
	s, ok := v.(string)
	if !ok || len(s) < 10 {
		return nil
	}
	d, err := time.Parse(time.DateOnly, s[:10])
	if err != nil {
		return nil
	}
	return d
}

// inForce tells whether a decision is in force on the reference date:
// valid from KEHTIV_ALATES, on or before it, until KEHTIV_KUNI, empty or on
// or after it. A decision with an end but no start (the specs are silent)
// is valid from the day it was taken, OTSUSE_KP; one with neither has no
// period and is not in force (docs/decisions.md, "Live window").
func inForce(table string, r extract.Row, asOf time.Time) bool {
	from, ok := dateOf(get(table, r, "KEHTIV_ALATES")).(time.Time)
	to, bounded := dateOf(get(table, r, "KEHTIV_KUNI")).(time.Time)
	if !ok && bounded {
		from, ok = dateOf(get(table, r, "OTSUSE_KP")).(time.Time)
	}
	return ok && !from.After(asOf) && (!bounded || !to.Before(asOf))
}

// endedBy is the latest day a proceeding can have ended, which the live
// window compares with its first day: LOPP_KP where STAR1 has it. A closed
// proceeding without LOPP_KP was closed by a change to its row, so by
// MUUDETUD at the latest; without MUUDETUD nothing bounds it, and the
// reference date stands in, which keeps it live. A proceeding is archived
// as history only when it certainly ended before the window
// (docs/decisions.md, "Live window").
func endedBy(table string, r extract.Row, asOf time.Time) any {
	if d := dateOf(get(table, r, "LOPP_KP")); d != nil {
		return d
	}
	if d := dateOf(get(table, r, "MUUDETUD")); d != nil {
		return d
	}
	return asOf
}

func amount(res mapping.Result) any {
	if res.AmountEUR == nil {
		return nil
	}
	return mapping.Numeric(*res.AmountEUR)
}

// kovOf is a row's STAR1 municipality code as the plan and the
// bookkeeping hold it: Visible, so that PostgreSQL takes a code with a NUL
// or bytes that are not UTF-8, and the mapping folder maps it as it maps
// the code (mapping.Mappings.Municipality).
func kovOf(table string, r extract.Row) any {
	if s, ok := get(table, r, "KOV_KOOD").(string); ok {
		return extract.Visible(s)
	}
	return get(table, r, "KOV_KOOD")
}

// planRow is the plan table row of one STAR1 row (load.PlanTables).
func planRow(table string, r extract.Row, res mapping.Result, cfg *mapping.Config) []any {
	id := r[0]
	rule, detail := nullable(res.Rule), nullable(res.Detail)
	switch table {
	case "ISIK":
		code, _, _ := mapping.PersonKey(get(table, r, "ISIKUKOOD"))
		modified := get(table, r, "MUUDETUD")
		if modified == nil {
			modified = get(table, r, "LOODUD")
		}
		return []any{id, load.PGValues(res.Values[:1])[0], nullable(code), mapping.SoftDeleted(get(table, r, "KUSTUTATUD")), modified, kovOf(table, r), nil, rule, detail}
	case "ISIKU_SEOS":
		return []any{id, get(table, r, "ISIK_ID"), get(table, r, "SEOTUD_ISIK_ID"), rule, detail}
	case "POORDUMINE":
		return []any{id, get(table, r, "ISIK_ID"), kovOf(table, r), dateOf(get(table, r, "REG_KP")), rule, detail}
	case "MENETLUS":
		return []any{id, get(table, r, "POORDUMINE_ID"), get(table, r, "ISIK_ID"), kovOf(table, r),
			mapping.MaybeOpen(get(table, r, "STAATUS")), endedBy(table, r, cfg.AsOf), rule, detail}
	case "OTSUS":
		return []any{id, get(table, r, "MENETLUS_ID"), inForce(table, r, cfg.AsOf), amount(res), rule, detail}
	case "MAKSE":
		return []any{id, get(table, r, "OTSUS_ID"), amount(res), rule, detail}
	default: // JUHTUMIPLAAN, TOIMING, DOKUMENT
		return []any{id, get(table, r, "MENETLUS_ID"), nil, rule, detail}
	}
}
