package synth

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/starmig/starmig/extract"
)

// batchRows is how many rows go into one multi-row INSERT. It bounds the
// memory held per table (a few documents at most) and amortises the cost of
// a statement call.
const batchRows = 64

// tableWriter buffers rows of one table and writes them with a prepared
// multi-row INSERT.
type tableWriter struct {
	name  string
	ncol  int
	full  *sql.Stmt
	db    *sql.Tx
	args  []any
	count int64
}

func newTableWriter(ctx context.Context, tx *sql.Tx, t extract.Table) (*tableWriter, error) {
	w := &tableWriter{name: t.Name, ncol: len(t.Columns), db: tx}
	stmt, err := tx.PrepareContext(ctx, insertSQL(t, batchRows))
	if err != nil {
		return nil, fmt.Errorf("gen: prepare insert into %s: %w", t.Name, err)
	}
	w.full = stmt
	w.args = make([]any, 0, batchRows*w.ncol)
	return w, nil
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
	if len(w.args) == cap(w.args) {
		if _, err := w.full.ExecContext(ctx, w.args...); err != nil {
			return fmt.Errorf("gen: insert into %s: %w", w.name, err)
		}
		clear(w.args)
		w.args = w.args[:0]
	}
	return nil
}

func (w *tableWriter) flush(ctx context.Context, t extract.Table) error {
	defer w.full.Close()
	if len(w.args) == 0 {
		return nil
	}
	if _, err := w.db.ExecContext(ctx, insertSQL(t, len(w.args)/w.ncol), w.args...); err != nil {
		return fmt.Errorf("gen: insert into %s: %w", w.name, err)
	}
	w.args = w.args[:0]
	return nil
}
