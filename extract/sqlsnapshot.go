package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/starmig/starmig/internal/secret"
)

// sqlSource is what the database/sql sources (Oracle, a restored archive)
// share: the pool, and the URL they name themselves by, password masked.
type sqlSource struct {
	dsn secret.DSN
	db  *sql.DB
}

func (s *sqlSource) String() string { return s.dsn.String() }
func (s *sqlSource) Close() error   { return s.db.Close() }

// sqlSnapshot is a snapshot on one database/sql connection, the Oracle
// source's.
type sqlSnapshot struct {
	conn    *sql.Conn
	tx      *sql.Tx // the transaction every read runs in, when the snapshot is one
	dialect Dialect
}

// querier is what the snapshot's reads run on.
func (s *sqlSnapshot) querier() interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
} {
	if s.tx != nil {
		return s.tx
	}
	return s.conn
}

func (s *sqlSnapshot) Dialect() Dialect { return s.dialect }

func (s *sqlSnapshot) Scan(ctx context.Context, t Table, columns []string, orderBy []string, fn func(Row) error) error {
	cols, err := scanColumns(t, columns)
	if err != nil {
		return err
	}
	return s.scanSQL(ctx, t, cols, SelectSQL(s.dialect, t, cols, orderBy), fn)
}

// scanSQL runs query q, whose result columns are cols, and hands each row
// to fn decoded by the columns' kinds.
func (s *sqlSnapshot) scanSQL(ctx context.Context, t Table, cols []Column, q string, fn func(Row) error) error {
	rows, err := s.querier().QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("extract: scan %s: %w", t.Name, err)
	}
	defer rows.Close()
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	row := make(Row, len(cols))
	lobs := hasLOB(cols)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("extract: scan %s: %w", t.Name, err)
		}
		for i, c := range cols {
			if row[i], err = decode(t, c, raw[i]); err != nil {
				return fmt.Errorf("%w (row %s)", err, describeKey(t, cols, raw))
			}
		}
		if err := fn(row); err != nil {
			return err
		}
		if lobs {
			letGo(raw, row)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("extract: scan %s: %w", t.Name, err)
	}
	return nil
}

func (s *sqlSnapshot) Query(ctx context.Context, query string, fn func([]any) error) error {
	rows, err := s.querier().QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("extract: query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("extract: query: %w", err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("extract: query: %w", err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqlSnapshot) Close() error {
	var err error
	if s.tx != nil {
		err = s.tx.Rollback()
	}
	return errors.Join(err, s.conn.Close())
}

// describeKey names a row by its key columns where the scan has them.
func describeKey(t Table, cols []Column, raw []any) string {
	out := t.Name
	for _, k := range t.Key {
		for i, c := range cols {
			if c.Name == k {
				out += fmt.Sprintf(" %s=%v", k, raw[i])
			}
		}
	}
	return out
}
