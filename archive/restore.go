package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/internal/pgcopy"
	"github.com/starmig/starmig/mapping"
)

// RestoreOptions say where and what to restore.
type RestoreOptions struct {
	Schema string   // default star1_archive
	KOV    []string // municipality codes as STAR1 holds them; empty: everything
	Log    *slog.Logger
	// Bundles, when set, restores only these bundles of the catalog (the
	// restore drill samples bundles).
	Bundles []string
	// Progress, when set, hears how many of the rows to restore are done
	// with: 0 first, when the copying starts, then every 10 000 rows and
	// at the end. A row left out as unreadable is done with too, so that
	// the count ends at the total and never passes it.
	Progress func(rows, total int64)
	// BeforeCommit, when set, is called with what the restore loaded once
	// every check has passed, before it is committed; an error from it
	// rolls the restore back. The restore command puts the restore on
	// record there, so that a restore that fails is not on record and one
	// that cannot be put on record does not happen.
	BeforeCommit func(*RestoreStats) error
	// SkipUnreadable leaves out, and lists in Unread, the bundles and
	// payload files that cannot be read as written (missing, damaged, a
	// signature that does not verify, a value that cannot be restored)
	// instead of rolling the whole restore back. Errors of the storage,
	// of the database and of keys that do not fit (Unreadable) still stop
	// it.
	SkipUnreadable bool
}

// Unread is a part of an archive run that a restore left out because it
// could not be read as written: a whole bundle (File empty) or one
// payload file, with the rows of Table it holds as the signed catalog or
// the bundle's encrypted contents count them.
type Unread struct {
	Bundle string `json:"bundle"`
	File   string `json:"file,omitempty"`
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
	// Money holds the sums of the amounts of the rows left out, by money
	// column, when the table has money and the archive says what they
	// were: the catalog for a bundle, the bundle's encrypted contents for
	// the blocks of a payload file (bundles written before they kept it
	// do not say).
	Money  map[string]string `json:"money,omitempty"`
	Reason string            `json:"reason"`
	// Line is the row, as the archive holds it, when one row was left out
	// for a value that cannot be restored: read as written, it is kept
	// in restore_unread, not lost.
	Line string `json:"-"`
}

// RestoreStats is what a restore loaded.
type RestoreStats struct {
	Schema string
	Tables map[string]Sum // rows and money sums of each table, after any municipality filter
	// LeftOut is the catalog's: tables of STAR1 that the run did not hold,
	// as STAR1.md does not describe them.
	LeftOut []extract.TableRows `json:",omitempty"`
	// Unread is what RestoreOptions.SkipUnreadable left out, in the
	// catalog's order of bundles; the schema's table restore_unread holds
	// the same.
	Unread []Unread `json:",omitempty"`
	// MoneyUnchecked names the tables whose money sums were not checked
	// against the catalog: rows were left out of one of their payload
	// files whose bundle does not say what the rows' money was (it was
	// written before bundles kept the money of each block). The money of
	// the rest is known, and checked: the catalog's less what was left
	// out.
	MoneyUnchecked []string `json:",omitempty"`
	// FromCopy says which tables SkipUnreadable restored from a bundle's
	// reference copy (KOV and KLASSIFIKAATOR travel whole in every
	// bundle) because their own payload could not be read.
	FromCopy []string `json:",omitempty"`
}

// RestoreDDL is the schema a restore creates: extract.PostgresDDL, the
// layout the postgres source of extract reads.
func RestoreDDL(schema string) string { return extract.PostgresDDL(schema) }

// Restore loads the archived STAR1 tables of a catalog's run into a new
// PostgreSQL schema, in one transaction, after checking every bundle's
// signature and every payload file's digests as it is read; any
// mismatch, and any table whose row count or money sum disagrees with the
// catalog, rolls the whole restore back.
func (r *Reader) Restore(ctx context.Context, conn *pgx.Conn, cat *Catalog, o RestoreOptions) (*RestoreStats, error) {
	if o.Schema == "" {
		o.Schema = "star1_archive"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", o.Schema).Scan(&exists); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if exists {
		return nil, fmt.Errorf("restore: schema %s already exists: restore into a new schema (--schema), or drop it first", o.Schema)
	}
	var bundles []*Bundle
	var unread []Unread
	skip := func(err error) bool { return o.SkipUnreadable && Unreadable(err) && ctx.Err() == nil }
	want := map[string]Sum{}
	for _, e := range cat.Bundles {
		if o.Bundles != nil && !slices.Contains(o.Bundles, e.ID) {
			continue
		}
		b, err := r.OpenBundle(ctx, e)
		whole := err != nil && skip(err)
		switch {
		case whole:
			names := slices.Sorted(maps.Keys(e.Tables))
			for _, name := range names {
				if s := e.Tables[name]; s.Rows > 0 {
					unread = append(unread, Unread{Bundle: e.ID, Table: name, Rows: s.Rows, Money: maps.Clone(s.Money), Reason: err.Error()})
				}
			}
			o.Log.Warn("left out", "bundle", e.ID, "err", err)
		case err != nil:
			return nil, err
		default:
			bundles = append(bundles, b)
		}
		for name, s := range e.Tables {
			acc := want[name]
			acc.Rows += s.Rows
			if whole {
				// Its rows are counted among those left out; its money
				// is not restored.
				want[name] = acc
				continue
			}
			for col, v := range s.Money {
				if acc.Money == nil {
					acc.Money = map[string]string{}
				}
				sum, err := addDecimal(acc.Money[col], v)
				if err != nil {
					return nil, fmt.Errorf("restore: catalog money of %s.%s: %v", name, col, err)
				}
				acc.Money[col] = sum
			}
			want[name] = acc
		}
	}
	if len(o.KOV) > 0 {
		// Every bundle holds a copy of KOV: the first that reads is enough.
		for i, b := range bundles {
			err := archivedKOV(ctx, b, o.KOV)
			if err == nil {
				break
			}
			var unknown *UnknownKOVError
			if errors.As(err, &unknown) || !skip(err) || i == len(bundles)-1 {
				return nil, err
			}
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, RestoreDDL(o.Schema)); err != nil {
		return nil, fmt.Errorf("restore: creating schema %s: %w", o.Schema, err)
	}
	prog := restoreProgress{report: o.Progress}
	for _, b := range bundles {
		for _, f := range b.Files() {
			if !f.Reference {
				prog.total += f.Rows
			}
		}
	}
	prog.add(0)
	for _, b := range bundles {
		for _, f := range b.Files() {
			if f.Reference {
				continue
			}
			into := tx
			if o.SkipUnreadable {
				// A file that turns out unreadable part-way is taken back
				// to here, rows it gave before included.
				if into, err = tx.Begin(ctx); err != nil {
					return nil, fmt.Errorf("restore: %w", err)
				}
			}
			mark := prog.rows
			err := r.copyFile(ctx, into, o.Schema, b, f, &prog)
			var re readError
			switch {
			case err != nil && errors.As(err, &re) && skip(re.err):
				if err := into.Rollback(ctx); err != nil {
					return nil, fmt.Errorf("restore: %w", err)
				}
				prog.rows = mark
				left, err := r.salvageFile(ctx, tx, o.Schema, b, f, re.err, skip, &prog)
				if err != nil {
					return nil, err
				}
				// The file is done with, whatever of it was left out.
				prog.rows = mark
				prog.add(f.Rows)
				for _, u := range left {
					o.Log.Warn("left out", "bundle", b.Entry.ID, "file", f.Path, "rows", u.Rows, "err", u.Reason)
				}
				unread = append(unread, left...)
				continue
			case err != nil:
				return nil, err
			case into != tx:
				if err := into.Commit(ctx); err != nil {
					return nil, fmt.Errorf("restore: %w", err)
				}
			}
			o.Log.Info("restored", "bundle", b.Entry.ID, "file", f.Path, "rows", f.Rows)
		}
	}
	// KOV and KLASSIFIKAATOR, which every other table's codes refer to,
	// travel whole in every bundle as reference copies: rows of them left
	// out are taken from a copy that reads as written.
	var fromCopy []string
	for _, name := range []string{"KLASSIFIKAATOR", "KOV"} {
		if !slices.ContainsFunc(unread, func(u Unread) bool { return u.Table == name && u.Rows > 0 }) {
			continue
		}
		id, err := r.restoreReference(ctx, tx, o.Schema, name, bundles, want[name].Rows, skip)
		if err != nil {
			return nil, err
		}
		if id != "" {
			unread = slices.DeleteFunc(unread, func(u Unread) bool { return u.Table == name })
			fromCopy = append(fromCopy, fmt.Sprintf("%s from the reference copy in bundle %s", name, id))
			o.Log.Info("restored from a reference copy", "table", name, "bundle", id)
		}
	}
	prog.end()
	got, err := restoredSums(ctx, tx, o.Schema)
	if err != nil {
		return nil, err
	}
	left := map[string]int64{}    // rows left out, by table
	unknown := map[string]bool{}  // tables rows were left out of whose money is not known
	leftMoney := map[string]Sum{} // the money of the rows of payload files left out, by table
	for _, u := range unread {
		left[u.Table] += u.Rows
		if u.File == "" || u.Rows == 0 {
			continue // a bundle's money is not in want
		}
		t, err := extract.TableByName(u.Table)
		if err != nil || len(moneyColumns(t)) == 0 {
			continue
		}
		if u.Money == nil {
			unknown[u.Table] = true
			continue
		}
		acc := leftMoney[u.Table]
		for col, v := range u.Money {
			if acc.Money == nil {
				acc.Money = map[string]string{}
			}
			if acc.Money[col], err = addDecimal(acc.Money[col], v); err != nil {
				return nil, fmt.Errorf("restore: money left out of %s.%s: %v", u.Table, col, err)
			}
		}
		leftMoney[u.Table] = acc
	}
	var unchecked []string
	for _, t := range extract.Tables {
		w := want[t.Name]
		w.Rows -= left[t.Name]
		switch {
		case unknown[t.Name]:
			// The money of rows of a file left out is not known: only
			// the count can be checked.
			w.Money = got[t.Name].Money
			unchecked = append(unchecked, t.Name)
		case leftMoney[t.Name].Money != nil:
			less := map[string]string{}
			for col, v := range w.Money {
				out, err := subDecimal(v, leftMoney[t.Name].Money[col])
				if err != nil {
					return nil, fmt.Errorf("restore: catalog money of %s.%s: %v", t.Name, col, err)
				}
				less[col] = out
			}
			w.Money = less
		}
		if err := sameSum(t.Name, got[t.Name], w); err != nil {
			return nil, fmt.Errorf("restore: %w; nothing restored", err)
		}
	}
	if len(o.KOV) > 0 {
		if err := filterKOV(ctx, tx, o.Schema, o.KOV); err != nil {
			return nil, err
		}
		if got, err = restoredSums(ctx, tx, o.Schema); err != nil {
			return nil, err
		}
	}
	if err := recordLeftOut(ctx, tx, o.Schema, cat.LeftOut); err != nil {
		return nil, err
	}
	slices.SortStableFunc(unread, func(x, y Unread) int { return strings.Compare(x.Bundle, y.Bundle) })
	if err := recordUnread(ctx, tx, o.Schema, unread); err != nil {
		return nil, err
	}
	rs := &RestoreStats{Schema: o.Schema, Tables: got, LeftOut: cat.LeftOut, Unread: unread, MoneyUnchecked: unchecked, FromCopy: fromCopy}
	if o.BeforeCommit != nil {
		if err := o.BeforeCommit(rs); err != nil {
			return nil, err
		}
	}
	faultpoint.Hit("restore-commit")
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return rs, nil
}

// addDecimal is a plus b, and subDecimal a less b: money sums as decimal
// text, "" for zero.
func addDecimal(a, b string) (string, error) { return combineDecimal(a, b, 1) }
func subDecimal(a, b string) (string, error) { return combineDecimal(a, b, -1) }

func combineDecimal(a, b string, sign mapping.Cents) (string, error) {
	var v [2]mapping.Cents
	for i, s := range []string{a, b} {
		if s == "" {
			continue
		}
		c, err := mapping.ParseSum(s)
		if err != nil {
			return "", err
		}
		v[i] = c
	}
	return (v[0] + sign*v[1]).String(), nil
}

// moneyColumns names the money columns (NUMBER(12,2)) of t, in its
// order, which is the order of the sums of fileInfo.BlockMoney.
func moneyColumns(t extract.Table) []string {
	var cols []string
	for _, c := range t.Columns {
		if c.Kind == extract.Decimal {
			cols = append(cols, c.Name)
		}
	}
	return cols
}

// blockMoney sums the money of blocks from to to (inclusive) of payload
// file fi of table t, by money column; nil when the table has no money or
// the bundle does not say (fileInfo.BlockMoney), or says what cannot be
// summed: the rows' money is then unknown, and left unchecked.
func blockMoney(t extract.Table, fi *fileInfo, from, to int) map[string]string {
	cols := moneyColumns(t)
	if len(cols) == 0 || len(fi.BlockMoney) != len(fi.Blocks) || from < 0 || to >= len(fi.Blocks) {
		return nil
	}
	sums := make([]mapping.Cents, len(cols))
	for b := from; b <= to; b++ {
		if len(fi.BlockMoney[b]) != len(cols) {
			return nil
		}
		for k, v := range fi.BlockMoney[b] {
			c, err := mapping.ParseSum(v)
			if err == nil {
				sums[k], err = mapping.AddSum(sums[k], c)
			}
			if err != nil {
				return nil
			}
		}
	}
	out := make(map[string]string, len(cols))
	for k, col := range cols {
		out[col] = sums[k].String()
	}
	return out
}

// sameSum compares a table's restored rows and money with the catalog's.
func sameSum(table string, got, want Sum) error {
	if got.Rows != want.Rows {
		return fmt.Errorf("%s: %d rows restored, the catalog says %d", table, got.Rows, want.Rows)
	}
	for col, w := range want.Money {
		g := got.Money[col]
		if g == "" && got.Rows == 0 {
			g = "0.00" // no rows, no sum
		}
		gc, err1 := mapping.ParseSum(g)
		wc, err2 := mapping.ParseSum(w)
		if err1 != nil || err2 != nil || gc != wc {
			return fmt.Errorf("%s.%s: money sums to %s restored, the catalog says %s", table, col, g, w)
		}
	}
	return nil
}

// RestoredSums counts rows and sums money of every table of a restored
// schema.
func restoredSums(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, schema string) (map[string]Sum, error) {
	out := map[string]Sum{}
	for _, t := range extract.Tables {
		exprs := []string{"count(*)"}
		money := moneyColumns(t)
		for _, col := range money {
			exprs = append(exprs, fmt.Sprintf("coalesce(sum(%s), 0)::text", strings.ToLower(col)))
		}
		dest := make([]any, len(exprs))
		var n int64
		dest[0] = &n
		vals := make([]string, len(money))
		for i := range money {
			dest[i+1] = &vals[i]
		}
		if err := q.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(exprs, ", "), pgx.Identifier{schema}.Sanitize(), strings.ToLower(t.Name))).Scan(dest...); err != nil {
			return nil, fmt.Errorf("restore: counting %s: %w", t.Name, err)
		}
		s := Sum{Rows: n}
		for i, col := range money {
			if n == 0 {
				continue
			}
			if s.Money == nil {
				s.Money = map[string]string{}
			}
			s.Money[col] = vals[i]
		}
		out[t.Name] = s
	}
	return out, nil
}

type exactText struct {
	key, column string
	original    []byte
}

// restoreProgress counts the rows a restore has read for copying. One
// goroutine at a time adds to it: each file's reader in turn.
type restoreProgress struct {
	report      func(rows, total int64)
	rows, total int64
}

func (p *restoreProgress) add(n int64) {
	if p.report == nil {
		return
	}
	before := p.rows
	p.rows += n
	if n == 0 || p.rows/10000 != before/10000 {
		p.report(p.rows, p.total)
	}
}

func (p *restoreProgress) end() {
	if p.report != nil {
		p.report(p.rows, p.total)
	}
}

func (r *Reader) copyFile(ctx context.Context, tx pgx.Tx, schema string, b *Bundle, f PayloadFile, prog *restoreProgress) error {
	t, err := extract.TableByName(f.Table)
	if err != nil {
		return err
	}
	rows := make(chan copyRow, 256)
	readErr := make(chan error, 1)
	var exact []exactText
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(rows)
		readErr <- b.ReadFile(readCtx, f.Path, func(row extract.Row) error {
			vals, ex, err := pgValues(t, row)
			if err != nil {
				return valueError{fmt.Errorf("restore: bundle %s: %s: %w", b.Entry.ID, f.Path, err)}
			}
			exact = append(exact, ex...)
			prog.add(1)
			faultpoint.Hit("restore-row")
			r := copyRow{vals: vals}
			if extract.ValueBytes(row) >= largeRow {
				r.done = make(chan struct{})
			}
			select {
			case rows <- r:
			case <-readCtx.Done():
				return readCtx.Err()
			}
			if r.done == nil {
				return nil
			}
			// A document is written before the next is read: its line
			// and the next one's are not in memory at once.
			select {
			case <-r.done:
				return nil
			case <-readCtx.Done():
				return readCtx.Err()
			}
		})
	}()
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = strings.ToLower(c.Name)
	}
	src := &chanSource{rows: rows}
	_, copyErr := pgcopy.Copy(ctx, tx.Conn(), pgx.Identifier{schema, strings.ToLower(t.Name)}, cols, src)
	cancel()
	for range rows {
	}
	if err := <-readErr; err != nil && !errors.Is(err, context.Canceled) {
		return readError{err}
	}
	if copyErr != nil {
		return fmt.Errorf("restore: bundle %s: %s: %w", b.Entry.ID, f.Path, copyErr)
	}
	return insertExact(ctx, tx, schema, t.Name, exact)
}

// insertExact keeps the exact text of values of table's rows.
func insertExact(ctx context.Context, tx pgx.Tx, schema, table string, exact []exactText) error {
	for _, e := range exact {
		if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s.exact_text VALUES ($1, $2, $3, $4)", pgx.Identifier{schema}.Sanitize()), table, e.key, e.column, e.original); err != nil {
			return fmt.Errorf("restore: exact text of %s %s: %w", table, e.key, err)
		}
	}
	return nil
}

// salvageFile restores what can be read as written of payload file f,
// which failed to read whole (failed): block by block, each read as a
// retrieval reads it, age authenticating its chunks and the bundle's
// encrypted contents giving its digest. A file age cannot open for random
// access (cut short, added to, its last chunk damaged) is read from its
// start instead, up to the fault. A block that cannot be read is left out
// with its rows and money; a row that holds a value that cannot be
// restored is left out alone, and kept. The file is left out whole when
// its plaintext digest differs while its ciphertext is as written (its
// blocks' digests were taken from the same bytes, and cannot tell which
// are wrong), when nothing of it reads (its header damaged, missing),
// and when its blocks have no digests (bundles written before they were
// kept). Errors of the storage and of the database are returned.
func (r *Reader) salvageFile(ctx context.Context, tx pgx.Tx, schema string, b *Bundle, f PayloadFile, failed error, skip func(error) bool, prog *restoreProgress) ([]Unread, error) {
	whole := []Unread{{Bundle: b.Entry.ID, File: f.Path, Table: f.Table, Rows: f.Rows, Reason: failed.Error()}}
	i := slices.IndexFunc(b.contents.Files, func(fi *fileInfo) bool { return fi.Path == f.Path })
	if i < 0 {
		return whole, nil
	}
	fi := b.contents.Files[i]
	t, err := extract.TableByName(fi.Table)
	if err != nil {
		return whole, nil
	}
	whole[0].Money = blockMoney(t, fi, 0, len(fi.Blocks)-1)
	var value valueError
	if errors.As(failed, &value) {
		// A value that cannot be restored was met before the file's
		// digests were checked: the file is read through to check them.
		// Read as written, only the rows that hold such values are left
		// out; otherwise what is wrong with the file decides.
		switch err := b.ReadFile(ctx, f.Path, func(extract.Row) error { return nil }); {
		case err == nil:
		case !skip(err):
			return nil, err
		default:
			failed, value = err, valueError{}
			whole[0].Reason = err.Error()
		}
	}
	if (value.err == nil && !errors.Is(failed, ErrDigest)) || len(fi.Blocks) == 0 || len(fi.BlockDigests) != len(fi.Blocks) {
		return whole, nil
	}
	of := b.opened(ctx, i, 0)
	next := func(block int) ([]extract.Row, error) {
		_, rows, err := b.readBlock(ctx, i, block)
		return rows, err
	}
	if of.err != nil {
		if !skip(of.err) {
			return nil, of.err
		}
		// age cannot open it for random access (cut short or added to,
		// its last chunk damaged): the blocks before the fault are read
		// from its start.
		bs, err := b.streamBlocks(ctx, i)
		if err != nil {
			if !skip(err) {
				return nil, err
			}
			return whole, nil
		}
		defer bs.Close()
		next = bs.next
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = strings.ToLower(c.Name)
	}
	var left []Unread
	var restored int64
	lastBad, firstBad, firstErr := -2, 0, ""
	for block, blk := range fi.Blocks {
		rows, err := next(block)
		var vals [][]any
		var exact []exactText
		for _, row := range rows {
			if err != nil {
				break
			}
			v, ex, verr := pgValues(t, row)
			if verr != nil {
				// The block reads as written: the row is left out alone,
				// and kept, as it is, with its reason.
				line, _ := appendRow(nil, t, row)
				line = bytes.TrimSuffix(line, []byte{'\n'})
				left = append(left, Unread{Bundle: b.Entry.ID, File: f.Path, Table: f.Table, Rows: 1, Money: rowMoney(t, row),
					Reason: fmt.Sprintf("archive: bundle %s: %s block %d: %v", b.Entry.ID, f.Path, block, verr), Line: string(line)})
				lastBad = -2
				continue
			}
			vals, exact = append(vals, v), append(exact, ex...)
			restored++
		}
		// The pages of the blocks read are not needed again.
		if of.cache != nil && block+1 < len(fi.Blocks) {
			if from, _, ok := cipherRange(fi.Blocks, fi.Blocks[block+1], of.cache); ok {
				of.cache.forget(from)
			}
		}
		prog.add(blk[2])
		if err != nil {
			if !skip(err) {
				return nil, err
			}
			// Blocks lost one after another (a damaged age chunk holds
			// parts of two or more) are one part left out, named by the
			// first's error.
			if n := len(left); n > 0 && lastBad == block-1 {
				left[n-1].Rows += blk[2]
				left[n-1].Money = blockMoney(t, fi, firstBad, block)
				left[n-1].Reason = fmt.Sprintf("blocks %d to %d: %s", firstBad, block, firstErr)
			} else {
				firstBad, firstErr = block, err.Error()
				left = append(left, Unread{Bundle: b.Entry.ID, File: f.Path, Table: f.Table, Rows: blk[2], Money: blockMoney(t, fi, block, block), Reason: firstErr})
			}
			lastBad = block
			continue
		}
		if _, err := pgcopy.CopyRows(ctx, tx.Conn(), pgx.Identifier{schema, strings.ToLower(t.Name)}, cols, vals); err != nil {
			return nil, fmt.Errorf("restore: bundle %s: %s block %d: %w", b.Entry.ID, f.Path, block, err)
		}
		if err := insertExact(ctx, tx, schema, t.Name, exact); err != nil {
			return nil, err
		}
	}
	if restored == 0 {
		// Nothing of it could be read: the file is left out whole, as
		// the error that stopped reading it says.
		return whole, nil
	}
	return left, nil
}

// rowMoney is the money of one row, by money column, as Unread keeps it;
// nil when the table has none, or a value is not an amount.
func rowMoney(t extract.Table, row extract.Row) map[string]string {
	var out map[string]string
	for _, col := range moneyColumns(t) {
		if out == nil {
			out = map[string]string{}
		}
		var cents mapping.Cents
		if s, ok := row[extract.Positions[t.Name][col]].(string); ok {
			var err error
			if cents, err = mapping.ParseCents(s); err != nil {
				return nil
			}
		}
		out[col] = cents.String()
	}
	return out
}

// restoreReference restores table (KOV or KLASSIFIKAATOR) from the first
// reference copy among bundles that holds rows rows and reads as written,
// in place of what was restored of it, and returns that bundle's id; ""
// when no copy does. Errors that skip does not take are returned.
func (r *Reader) restoreReference(ctx context.Context, tx pgx.Tx, schema, table string, bundles []*Bundle, rows int64, skip func(error) bool) (string, error) {
	for _, b := range bundles {
		for _, f := range b.Files() {
			if !f.Reference || refTable(f.Path) != table || f.Rows != rows {
				continue
			}
			sp, err := tx.Begin(ctx)
			if err != nil {
				return "", fmt.Errorf("restore: %w", err)
			}
			if _, err := sp.Exec(ctx, fmt.Sprintf("DELETE FROM %s; DELETE FROM %s.exact_text WHERE table_name = '%s'",
				pgx.Identifier{schema, strings.ToLower(table)}.Sanitize(), pgx.Identifier{schema}.Sanitize(), table)); err != nil {
				return "", fmt.Errorf("restore: %w", err)
			}
			f.Table = table
			// The table's rows were counted as its payload files were
			// done with: the copy does not count them again.
			err = r.copyFile(ctx, sp, schema, b, f, &restoreProgress{})
			var re readError
			switch {
			case err != nil && errors.As(err, &re) && skip(re.err):
				if err := sp.Rollback(ctx); err != nil {
					return "", fmt.Errorf("restore: %w", err)
				}
				continue
			case err != nil:
				return "", err
			}
			if err := sp.Commit(ctx); err != nil {
				return "", fmt.Errorf("restore: %w", err)
			}
			return b.Entry.ID, nil
		}
	}
	return "", nil
}

// largeRow is the size of values from which the restore writes a row
// before reading on.
const largeRow = 16 << 20

// copyRow is a row for the COPY; done, unless nil, is closed once the
// COPY is done with it.
type copyRow struct {
	vals []any
	done chan struct{}
}

// chanSource gives the COPY the rows of a channel. The COPY asks for the
// next row only once it has written the last (pgcopy writes a large
// value straight from it), so that row is then done with.
type chanSource struct {
	rows <-chan copyRow
	cur  copyRow
}

func (s *chanSource) Next() bool {
	if s.cur.done != nil {
		close(s.cur.done)
	}
	v, ok := <-s.rows
	s.cur = v
	return ok
}
func (s *chanSource) Values() ([]any, error) { return s.cur.vals, nil }
func (s *chanSource) Err() error             { return nil }

// pgValues converts an archived row to COPY values.
func pgValues(t extract.Table, row extract.Row) ([]any, []exactText, error) {
	vals := make([]any, len(row))
	var exact []exactText
	for i, c := range t.Columns {
		v := row[i]
		if v == nil {
			continue
		}
		switch c.Kind {
		case extract.Decimal:
			if cents, ok := restoreCents(v.(string)); ok {
				vals[i] = cents
				break
			}
			var n pgtype.Numeric
			if err := n.Scan(v.(string)); err != nil {
				return nil, nil, fmt.Errorf("%s %v: %s %q is not a number", t.Name, row[0], c.Name, v)
			}
			vals[i] = n
		case extract.Date:
			tm, err := restoreTime(v.(string))
			if err != nil {
				return nil, nil, fmt.Errorf("%s %v: %s %q is not a DATE", t.Name, row[0], c.Name, v)
			}
			vals[i] = tm
		case extract.Text, extract.CLOB:
			s := v.(string)
			held, ex := extract.PostgresText(s, slices.Contains(t.Key, c.Name))
			if !ex {
				vals[i] = v // as it is, not boxed again
				break
			}
			exact = append(exact, exactText{column: c.Name, original: []byte(s)})
			vals[i] = held
		default:
			vals[i] = v
		}
	}
	if exact != nil {
		// exact_text finds the row by the key values the table holds.
		key := extract.TableRowKey(t, vals)
		for i := range exact {
			exact[i].key = key
		}
	}
	return vals, exact, nil
}

// restoreCents reads money text as cents for the numeric(12,2) columns
// of the restore, by mapping.ParseCents; false for text it refuses, and
// for text the archive never holds that pgx's numeric, used for it as
// before, reads otherwise (spaces around it, a plus sign).
func restoreCents(s string) (mapping.Cents, bool) {
	if s != strings.TrimSpace(s) || strings.HasPrefix(s, "+") {
		return 0, false
	}
	c, err := mapping.ParseCents(s)
	return c, err == nil
}

// restoreTime reads a DATE as the archive holds it, "2006-01-02 15:04:05",
// as time.Parse(time.DateTime, s) does: by mapping.ParseWallClock, which
// reads that shape without time.Parse's layout interpreter. A date alone,
// which ParseWallClock takes too, is refused as before.
func restoreTime(s string) (time.Time, error) {
	if len(s) == len(time.DateTime) {
		return mapping.ParseWallClock(s)
	}
	return time.Parse(time.DateTime, s)
}

// UnknownKOVError is a restore asked to keep municipality codes the
// archive's KOV table does not hold: it would keep none of their rows.
type UnknownKOVError struct {
	Codes []string
	// Hints name, for a code the archived KOV table holds with leading
	// zeros that the code given lacks (100 for 0100), that code, and for
	// a municipality's name given as its code, the codes of that name.
	Hints []string
}

func (e *UnknownKOVError) Error() string {
	msg := fmt.Sprintf("restore: --kov %s: not a municipality code of the archived KOV table (codes as STAR1 holds them, as KOV_KOOD); nothing restored",
		strings.Join(e.Codes, ","))
	for _, h := range e.Hints {
		msg += "; " + h
	}
	return msg
}

// archivedKOV checks kovs against the copy of KOV that every bundle
// holds, before anything is restored.
func archivedKOV(ctx context.Context, b *Bundle, kovs []string) error {
	known := map[string]string{} // KOV_KOOD -> NIMI
	pos, name := extract.Positions["KOV"]["KOV_KOOD"], extract.Positions["KOV"]["NIMI"]
	textOf := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	for _, f := range b.Files() {
		if !f.Reference || refTable(f.Path) != "KOV" {
			continue
		}
		if err := b.ReadFile(ctx, f.Path, func(r extract.Row) error {
			if r[pos] != nil {
				known[textOf(r[pos])] = textOf(r[name])
			}
			return nil
		}); err != nil {
			return err
		}
	}
	e := &UnknownKOVError{}
	for _, k := range kovs {
		if _, ok := known[k]; ok {
			continue
		}
		e.Codes = append(e.Codes, k)
		if h := mapping.CodeMeant(k, known); h != "" {
			e.Hints = append(e.Hints, h)
		}
	}
	if len(e.Codes) > 0 {
		return e
	}
	return nil
}

// valueError is a value of a payload file's row that cannot be restored
// (extract's checks came later than the archive run).
type valueError struct{ err error }

func (e valueError) Error() string { return e.err.Error() }
func (e valueError) Unwrap() error { return e.err }

// readError is an error of reading a payload file, as opposed to one of
// writing its rows.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// recordUnread keeps what a restore left out as unreadable in the
// restored schema (extract.PostgresUnreadTable), when it left out
// anything: read as STAR1, the schema lacks those rows.
func recordUnread(ctx context.Context, tx pgx.Tx, schema string, unread []Unread) error {
	if len(unread) == 0 {
		return nil
	}
	t := pgx.Identifier{schema, extract.PostgresUnreadTable}.Sanitize()
	for _, q := range []string{
		`CREATE TABLE ` + t + ` (bundle text NOT NULL, file text NOT NULL, table_name text NOT NULL, rows bigint NOT NULL, reason text NOT NULL, money jsonb, line text)`,
		`COMMENT ON COLUMN ` + t + `.line IS 'the row, as the archive holds it (one JSON object), when one row was left out for a value that cannot be restored'`,
		`COMMENT ON COLUMN ` + t + `.money IS 'sums of the amounts of the rows left out, by money column, as decimal text; NULL when the table has no money or the archive does not say'`,
		`COMMENT ON TABLE ` + t + ` IS 'parts of the archive run that this restore left out because they could not be read as written (restore --skip-unreadable): a whole bundle where file is empty'`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("restore: recording what was left out: %w", err)
		}
	}
	for _, u := range unread {
		var money any // NULL
		if u.Money != nil {
			money = u.Money
		}
		var line any // NULL
		if u.Line != "" {
			line = u.Line
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+t+` VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.Bundle, u.File, u.Table, u.Rows, u.Reason, money, line); err != nil {
			return fmt.Errorf("restore: recording what was left out: %w", err)
		}
	}
	return nil
}

// recordLeftOut keeps the catalog's left_out in the restored schema, when
// it lists tables: an archive written from the restore, which is STAR1
// once STAR1 is gone, carries it forward (extract.Recorded).
func recordLeftOut(ctx context.Context, tx pgx.Tx, schema string, left []extract.TableRows) error {
	if len(left) == 0 {
		return nil
	}
	t := pgx.Identifier{schema, extract.PostgresLeftOutTable}.Sanitize()
	names := make([]string, len(left))
	rows := make([]int64, len(left))
	unread := make([]string, len(left))
	for i, l := range left {
		names[i], rows[i], unread[i] = l.Name, l.Rows, l.Unread
	}
	for _, q := range []string{
		`CREATE TABLE ` + t + ` (table_name text PRIMARY KEY, rows bigint NOT NULL, unread text NOT NULL)`,
		`COMMENT ON TABLE ` + t + ` IS 'tables of STAR1 that STAR1.md does not describe, which the archive run restored here did not hold, with their rows then (-1, and why in unread, when they could not be counted)'`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("restore: recording the tables left out: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+t+` SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`, names, rows, unread); err != nil {
		return fmt.Errorf("restore: recording the tables left out: %w", err)
	}
	return nil
}

// filterKOV keeps the rows of the given municipalities: their persons,
// applications and proceedings, everything under those proceedings, the
// persons those rows name, and all of KOV and KLASSIFIKAATOR.
func filterKOV(ctx context.Context, tx pgx.Tx, schema string, kovs []string) error {
	s := pgx.Identifier{schema}.Sanitize()
	stmts := []string{
		`DELETE FROM %[1]s.menetlus WHERE kov_kood <> ALL($1)`,
		`DELETE FROM %[1]s.poordumine p WHERE kov_kood <> ALL($1) AND NOT EXISTS (SELECT FROM %[1]s.menetlus m WHERE m.poordumine_id = p.poordumine_id)`,
		`DELETE FROM %[1]s.otsus x WHERE NOT EXISTS (SELECT FROM %[1]s.menetlus m WHERE m.menetlus_id = x.menetlus_id)`,
		`DELETE FROM %[1]s.juhtumiplaan x WHERE NOT EXISTS (SELECT FROM %[1]s.menetlus m WHERE m.menetlus_id = x.menetlus_id)`,
		`DELETE FROM %[1]s.toiming x WHERE NOT EXISTS (SELECT FROM %[1]s.menetlus m WHERE m.menetlus_id = x.menetlus_id)`,
		`DELETE FROM %[1]s.dokument x WHERE NOT EXISTS (SELECT FROM %[1]s.menetlus m WHERE m.menetlus_id = x.menetlus_id)`,
		`DELETE FROM %[1]s.makse x WHERE NOT EXISTS (SELECT FROM %[1]s.otsus o WHERE o.otsus_id = x.otsus_id)`,
		`DELETE FROM %[1]s.isiku_seos r WHERE NOT EXISTS (SELECT FROM %[1]s.isik i WHERE i.kov_kood = ANY($1) AND i.isik_id IN (r.isik_id, r.seotud_isik_id))`,
		`DELETE FROM %[1]s.isik i WHERE (i.kov_kood IS NULL OR i.kov_kood <> ALL($1))
		   AND NOT EXISTS (SELECT FROM %[1]s.menetlus m WHERE m.isik_id = i.isik_id)
		   AND NOT EXISTS (SELECT FROM %[1]s.poordumine p WHERE p.isik_id = i.isik_id)
		   AND NOT EXISTS (SELECT FROM %[1]s.isiku_seos r WHERE i.isik_id IN (r.isik_id, r.seotud_isik_id))`,
	}
	// The schema says what it keeps: read as STAR1, it would lack the rows
	// of other municipalities that its own rows depend on.
	stmts = append(stmts,
		`CREATE TABLE %[1]s.`+extract.PostgresScopeTable+` (municipality text PRIMARY KEY)`,
		`COMMENT ON TABLE %[1]s.`+extract.PostgresScopeTable+` IS 'this restore keeps only these municipalities (restore --kov)'`,
		`INSERT INTO %[1]s.`+extract.PostgresScopeTable+` SELECT DISTINCT unnest($1::text[])`)
	for _, st := range stmts {
		q := fmt.Sprintf(st, s)
		var err error
		if strings.Contains(q, "$1") {
			_, err = tx.Exec(ctx, q, kovs)
		} else {
			_, err = tx.Exec(ctx, q)
		}
		if err != nil {
			return fmt.Errorf("restore: keeping municipalities %s: %w", strings.Join(kovs, ","), err)
		}
	}
	return nil
}
