package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"zombiezen.com/go/sqlite"

	"github.com/starmig/starmig/internal/fileurl"
	"github.com/starmig/starmig/internal/pathcheck"
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
	if fi, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s does not exist", path)
	} else if err != nil {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s: %w", path, pathcheck.Reason(path, err))
	} else if fi.IsDir() {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s is a folder: want the SQLite file", path)
	}
	uri, err := fileurl.SQLite(path, "mode=ro")
	if err != nil {
		return nil, fmt.Errorf("extract: STAR1 stand-in %s: %w", path, err)
	}
	s := &sqliteSource{path: path, uri: uri}
	err = s.probe()
	if code := sqlite.ErrCode(err).ToPrimary(); code == sqlite.ResultReadOnly || code == sqlite.ResultCantOpen {
		// A file in WAL mode is read with a shared-memory file beside it,
		// which SQLite makes on first reading where it may write.
		if why := unchangeable(path); why != "" {
			if s.uri, err = fileurl.SQLite(path, "mode=ro&immutable=1"); err == nil {
				err = s.probe()
			}
		} else {
			err = fmt.Errorf("%w: starmig only reads it, but SQLite reads a file in WAL mode with a %s-shm file beside it, "+
				"which it cannot make there; copy the file, and its %s-wal file if there is one, into a folder that can be written", err, path, path)
		}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// probe opens the file and reads its schema, as a snapshot begins.
func (s *sqliteSource) probe() error {
	conn, err := s.open()
	if err != nil {
		return err
	}
	stmt, _, err := conn.PrepareTransient("SELECT COUNT(*) FROM sqlite_schema")
	if err == nil {
		_, err = stmt.Step()
		err = errors.Join(err, stmt.Finalize())
	}
	if err != nil {
		return errors.Join(fmt.Errorf("extract: read %s: %w", s.path, err), conn.Close())
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("extract: open %s: %w", s.path, err)
	}
	return nil
}

// unchangeable says why nothing can change the SQLite file at path while
// it is read, so that SQLite may read it as immutable, without the
// shared-memory file it cannot make beside it: neither the file nor its
// folder can be written by anyone, or both are on a read-only file
// system, and no -wal file beside it holds changes not yet in the file
// itself. "" when something could change it.
func unchangeable(path string) string {
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 || err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if readOnlyFS(path) {
		return "a read-only file system"
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o222 != 0 {
			return ""
		}
	}
	return "read-only for everyone"
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

// ColumnsSQL lists the columns of table t (columnLister).
func (sqliteDialect) ColumnsSQL(t Table) string {
	return "SELECT name FROM pragma_table_info(" + sqlString(t.Name) + ")"
}

// TablesSQL lists the tables of the file (tableLister), without SQLite's
// own.
func (sqliteDialect) TablesSQL() string {
	return `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
}

// CountSQL counts the rows of the table named (tableLister).
func (sqliteDialect) CountSQL(name string) string { return "SELECT COUNT(*) FROM " + quoteName(name) }

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
	query, large := SelectSQL(sqliteDialect{}, t, cols, orderBy), false
	if lobs {
		if large, err = s.hasRowid(ctx, t); err != nil {
			return err
		}
		if large {
			query = largeLOBSQL(t, cols, orderBy)
		}
	}
	return s.exec(ctx, "scan "+t.Name, query, func(stmt *sqlite.Stmt) error {
		for i := range cols {
			raw[i] = value(stmt, i)
		}
		if large {
			if err := s.readLargeLOBs(t, cols, stmt, raw); err != nil {
				return err
			}
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

// largeLOB is the size from which a scan reads a LOB value by SQLite's
// incremental blob I/O instead of selecting it. A selected value is built
// whole in SQLite's memory and then copied into Go's, so a document cost
// twice its size; read by sqlite3_blob_read, it comes from the file page
// by page into the one buffer it takes in Go.
const largeLOB = 1 << 20

// largeLOBSQL is SelectSQL for a rowid table with LOB columns: each LOB
// column is selected only when smaller than largeLOB, and after the
// columns come, for each LOB column in order, its size in bytes and its
// type, then the row's rowid. SQLite tells a value's size and type from
// the record's header, without reading the value.
func largeLOBSQL(t Table, cols []Column, orderBy []string) string {
	exprs := make([]string, 0, len(cols)+3)
	var extra []string
	for _, c := range cols {
		if c.Kind != BLOB && c.Kind != CLOB {
			exprs = append(exprs, c.Name)
			continue
		}
		exprs = append(exprs, fmt.Sprintf("CASE WHEN octet_length(%[1]s) < %[2]d THEN %[1]s END", c.Name, largeLOB))
		extra = append(extra, "octet_length("+c.Name+")", "typeof("+c.Name+")")
	}
	exprs = append(append(exprs, extra...), "rowid")
	if len(orderBy) == 0 {
		orderBy = t.Key
	}
	return fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(exprs, ", "), t.Name, strings.Join(orderBy, ", "))
}

// hasRowid tells whether t has a rowid by which its LOBs can be opened:
// not a WITHOUT ROWID table, nor a view.
func (s *sqliteSnapshot) hasRowid(ctx context.Context, t Table) (bool, error) {
	err := s.exec(ctx, "rowid of "+t.Name, "SELECT rowid FROM "+t.Name+" WHERE 0", nil)
	if err != nil && ctx.Err() != nil {
		return false, ctx.Err()
	}
	return err == nil, nil
}

// readLargeLOBs reads into raw, by their rowid, the LOB values of the
// current row of a largeLOBSQL statement that it left out, as value
// would have read them: string for text, []byte for a BLOB.
func (s *sqliteSnapshot) readLargeLOBs(t Table, cols []Column, stmt *sqlite.Stmt, raw []any) error {
	at := len(cols)
	for i, c := range cols {
		if c.Kind != BLOB && c.Kind != CLOB {
			continue
		}
		size, kind := at, at+1
		at += 2
		if raw[i] != nil || stmt.ColumnType(size) == sqlite.TypeNull {
			continue
		}
		rowid := stmt.ColumnInt64(stmt.ColumnCount() - 1)
		b, err := s.readBlob(t, c, rowid, stmt.ColumnInt64(size))
		if err != nil {
			return err
		}
		switch stmt.ColumnText(kind) {
		case "text":
			raw[i] = unsafe.String(unsafe.SliceData(b), len(b)) // b is not kept elsewhere
		case "blob":
			raw[i] = b
		default: // a number of 1 MiB cannot be; read as selected
			return fmt.Errorf("extract: %s.%s (rowid %d): a %s value of %d bytes", t.Name, c.Name, rowid, stmt.ColumnText(kind), len(b))
		}
	}
	return nil
}

// readBlob reads n bytes of column c of the row rowid of t.
func (s *sqliteSnapshot) readBlob(t Table, c Column, rowid, n int64) ([]byte, error) {
	blob, err := s.conn.OpenBlob("main", t.Name, c.Name, rowid, false)
	if err != nil {
		return nil, fmt.Errorf("extract: %s.%s (rowid %d): %w", t.Name, c.Name, rowid, err)
	}
	defer blob.Close()
	if blob.Size() != n {
		return nil, fmt.Errorf("extract: %s.%s (rowid %d): %d bytes to read, the row says %d", t.Name, c.Name, rowid, blob.Size(), n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(blob, b); err != nil {
		return nil, fmt.Errorf("extract: %s.%s (rowid %d): %w", t.Name, c.Name, rowid, err)
	}
	return b, nil
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
