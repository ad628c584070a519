package synth

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/starmig/starmig/extract"
)

// batchRows is how many rows go into one multi-row INSERT. It bounds the
// memory held per table (a few documents at most) and amortises the cost of
// a statement call.
const batchRows = 64

// pipelineDepth is how many full batches may wait for the inserter: the
// generator and SQLite run on separate cores, in bounded memory.
const pipelineDepth = 32

// inserter executes full batches on its own goroutine, in the order they
// were handed over, so the file is the same as with one goroutine.
type inserter struct {
	jobs chan job
	free chan []any
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

type job struct {
	w    *tableWriter
	args []any
}

func newInserter(ctx context.Context) *inserter {
	in := &inserter{jobs: make(chan job, pipelineDepth), free: make(chan []any, pipelineDepth+8)}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		for j := range in.jobs {
			if in.failed() == nil {
				if _, err := j.w.full.ExecContext(ctx, j.args...); err != nil {
					in.fail(fmt.Errorf("gen: insert into %s: %w", j.w.name, err))
				}
			}
			clear(j.args)
			select {
			case in.free <- j.args[:0]:
			default:
			}
		}
	}()
	return in
}

func (in *inserter) fail(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
}

func (in *inserter) failed() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// close waits for every batch handed over and returns the first error.
func (in *inserter) close() error {
	close(in.jobs)
	in.wg.Wait()
	return in.failed()
}

// tableWriter buffers rows of one table and hands full batches to the
// inserter as one prepared multi-row INSERT each.
type tableWriter struct {
	name  string
	ncol  int
	full  *sql.Stmt
	tx    *sql.Tx
	in    *inserter
	args  []any
	count int64
}

func newTableWriter(ctx context.Context, tx *sql.Tx, in *inserter, t extract.Table) (*tableWriter, error) {
	w := &tableWriter{name: t.Name, ncol: len(t.Columns), tx: tx, in: in}
	stmt, err := tx.PrepareContext(ctx, insertSQL(t, batchRows))
	if err != nil {
		return nil, fmt.Errorf("gen: prepare insert into %s: %w", t.Name, err)
	}
	w.full = stmt
	w.args = w.newArgs()
	return w, nil
}

func (w *tableWriter) newArgs() []any {
	select {
	case a := <-w.in.free:
		if cap(a) >= batchRows*w.ncol {
			return a[:0]
		}
	default:
	}
	return make([]any, 0, batchRows*w.ncol)
}

func insertSQL(t extract.Table, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.Columns)), ",") + ")"
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", t.Name,
		strings.Join(t.ColumnNames(), ","), strings.TrimSuffix(strings.Repeat(one+",", rows), ","))
}

func (w *tableWriter) add(ctx context.Context, vals ...any) error {
	if len(vals) != w.ncol {
		return fmt.Errorf("gen: %s row has %d values, want %d", w.name, len(vals), w.ncol)
	}
	w.args = append(w.args, vals...)
	w.count++
	if len(w.args) == batchRows*w.ncol {
		if err := w.in.failed(); err != nil {
			return err
		}
		select {
		case w.in.jobs <- job{w, w.args}:
		case <-ctx.Done():
			return fmt.Errorf("gen: %w", ctx.Err())
		}
		w.args = w.newArgs()
	}
	return nil
}

// flush writes the last, partial batch; call it after the inserter closed.
func (w *tableWriter) flush(ctx context.Context, t extract.Table) error {
	defer w.full.Close()
	if len(w.args) == 0 {
		return nil
	}
	if _, err := w.tx.ExecContext(ctx, insertSQL(t, len(w.args)/w.ncol), w.args...); err != nil {
		return fmt.Errorf("gen: insert into %s: %w", w.name, err)
	}
	w.args = w.args[:0]
	return nil
}
