package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	_ "modernc.org/sqlite" // the STAR1 stand-in
)

type sqliteSource struct {
	path string
	db   *sql.DB
}

var _ Source = (*sqliteSource)(nil)

func openSQLite(ctx context.Context, path string) (Source, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("extract: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: open %s: %w", path, err), db.Close())
	}
	return &sqliteSource{path: path, db: db}, nil
}

func (s *sqliteSource) Dialect() Dialect { return sqliteDialect{} }
func (s *sqliteSource) String() string   { return "sqlite:" + s.path }
func (s *sqliteSource) Close() error     { return s.db.Close() }

// Begin pins one read transaction on one connection: in WAL mode SQLite
// gives it a snapshot at its first read, held until it ends.
func (s *sqliteSource) Begin(ctx context.Context) (Snapshot, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: begin snapshot: %w", err), conn.Close())
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM KOV").Scan(&n); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: begin snapshot: %w", err), conn.Close())
	}
	return &sqlSnapshot{conn: conn, dialect: sqliteDialect{}, end: "ROLLBACK"}, nil
}

type sqliteDialect struct{}

func (sqliteDialect) Name() string         { return "sqlite" }
func (sqliteDialect) Table(t Table) string { return t.Name }
func (sqliteDialect) Column(c Column, q string) string {
	if q != "" {
		return q + "." + c.Name
	}
	return c.Name
}

// sqlSnapshot is a snapshot on one database/sql connection, shared by the
// SQLite and Oracle sources.
type sqlSnapshot struct {
	conn    *sql.Conn
	dialect Dialect
	end     string // statement that ends the snapshot
}

func (s *sqlSnapshot) Scan(ctx context.Context, t Table, columns []string, orderBy []string, fn func(Row) error) error {
	cols, err := scanColumns(t, columns)
	if err != nil {
		return err
	}
	q := SelectSQL(s.dialect, t, cols, orderBy)
	rows, err := s.conn.QueryContext(ctx, q)
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
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("extract: scan %s: %w", t.Name, err)
	}
	return nil
}

func (s *sqlSnapshot) Query(ctx context.Context, query string, fn func([]any) error) error {
	rows, err := s.conn.QueryContext(ctx, query)
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
	_, err := s.conn.ExecContext(context.Background(), s.end)
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
