package extract

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"zombiezen.com/go/sqlite"
)

// The stand-in is read through zombiezen.com/go/sqlite, the low-level API
// over the same pure-Go SQLite (modernc.org/sqlite) that writes it. Unlike
// the database/sql driver, it opens a connection without SQLite's own
// mutex (a snapshot is used by one goroutine at a time) and reads columns
// without database/sql's conversions: a scan costs about half as much CPU
// (BenchmarkSQLiteScan).

type sqliteSource struct {
	path string
	uri  string
}

var _ Source = (*sqliteSource)(nil)

func openSQLite(ctx context.Context, path string) (Source, error) {
	if path == "" {
		return nil, errors.New("extract: sqlite: names no file: want sqlite:PATH of the STAR1 stand-in")
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s: %w", path, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s is a folder: want the SQLite file", path)
	}
	s := &sqliteSource{path: path, uri: "file:" + path + "?mode=ro"}
	conn, err := s.open()
	if err != nil {
		return nil, err
	}
	if err := conn.Close(); err != nil {
		return nil, fmt.Errorf("extract: open %s: %w", path, err)
	}
	return s, nil
}

func (s *sqliteSource) open() (*sqlite.Conn, error) {
	conn, err := sqlite.OpenConn(s.uri, sqlite.OpenReadOnly, sqlite.OpenURI)
	if err != nil {
		return nil, fmt.Errorf("extract: open %s: %w", s.path, err)
	}
	conn.SetBusyTimeout(10 * time.Second)
	return conn, nil
}

func (s *sqliteSource) String() string { return "sqlite:" + s.path }
func (s *sqliteSource) Close() error   { return nil }

// Begin pins one read transaction on one connection: in WAL mode SQLite
// gives it a snapshot at its first read, held until it ends.
func (s *sqliteSource) Begin(ctx context.Context) (Snapshot, error) {
	conn, err := s.open()
	if err != nil {
		return nil, err
	}
	snap := &sqliteSnapshot{conn: conn, path: s.path}
	// The first read fixes the snapshot; the schema is read so that a
	// file without STAR1's tables is refused by checkTables, naming them.
	what := "begin snapshot of " + s.path
	if err := snap.exec(ctx, what, "BEGIN", nil); err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	if err := snap.exec(ctx, what, "SELECT COUNT(*) FROM sqlite_schema", nil); err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	if err := checkTables(ctx, snap, s.String()); err != nil {
		return nil, errors.Join(err, snap.Close())
	}
	return snap, nil
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

// sqliteSnapshot is a read transaction on one connection of its own.
type sqliteSnapshot struct {
	conn *sqlite.Conn
	path string
}

// exec runs one statement, calling fn for each row it returns. An error
// of fn comes back as it is, and so does the context's; SQLite's is
// wrapped with what was being done.
func (s *sqliteSnapshot) exec(ctx context.Context, what, query string, fn func(*sqlite.Stmt) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.conn.SetInterrupt(ctx.Done())
	defer s.conn.SetInterrupt(nil)
	stmt, _, err := s.conn.PrepareTransient(query)
	if err != nil {
		return fmt.Errorf("extract: %s: %w", what, err)
	}
	for {
		more, err := stmt.Step()
		if err != nil {
			_ = stmt.Finalize() // it repeats Step's error
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("extract: %s: %w", what, err)
		}
		if !more {
			break
		}
		if fn != nil {
			if err := fn(stmt); err != nil {
				_ = stmt.Finalize()
				return err
			}
		}
	}
	if err := stmt.Finalize(); err != nil {
		return fmt.Errorf("extract: %s: %w", what, err)
	}
	return nil
}

// value is column i of the current row as database/sql would give it:
// int64, float64, string, []byte (a copy; a nil slice when empty, not
// NULL) or nil.
func value(stmt *sqlite.Stmt, i int) any {
	switch stmt.ColumnType(i) {
	case sqlite.TypeInteger:
		return stmt.ColumnInt64(i)
	case sqlite.TypeFloat:
		return stmt.ColumnFloat(i)
	case sqlite.TypeText:
		return stmt.ColumnText(i)
	case sqlite.TypeBlob:
		n := stmt.ColumnLen(i)
		if n == 0 {
			return []byte(nil)
		}
		b := make([]byte, n)
		stmt.ColumnBytes(i, b)
		return b
	}
	return nil
}

func (s *sqliteSnapshot) Scan(ctx context.Context, t Table, columns []string, orderBy []string, fn func(Row) error) error {
	cols, err := scanColumns(t, columns)
	if err != nil {
		return err
	}
	raw := make([]any, len(cols))
	row := make(Row, len(cols))
	lobs := hasLOB(cols)
	return s.exec(ctx, "scan "+t.Name, SelectSQL(sqliteDialect{}, t, cols, orderBy), func(stmt *sqlite.Stmt) error {
		for i := range cols {
			raw[i] = value(stmt, i)
		}
		for i, c := range cols {
			v, err := decode(t, c, raw[i])
			if err != nil {
				return fmt.Errorf("%w (row %s)", err, describeKey(t, cols, raw))
			}
			row[i] = v
		}
		err := fn(row)
		if lobs {
			letGo(raw, row)
		}
		return err
	})
}

func (s *sqliteSnapshot) Dialect() Dialect { return sqliteDialect{} }

func (s *sqliteSnapshot) Query(ctx context.Context, query string, fn func([]any) error) error {
	var vals []any
	return s.exec(ctx, "query", query, func(stmt *sqlite.Stmt) error {
		if vals == nil {
			vals = make([]any, stmt.ColumnCount())
		}
		for i := range vals {
			vals[i] = value(stmt, i)
		}
		return fn(vals)
	})
}

func (s *sqliteSnapshot) Close() error {
	return errors.Join(s.exec(context.Background(), "end snapshot", "ROLLBACK", nil), s.conn.Close())
}
