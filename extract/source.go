package extract

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/starmig/starmig/internal/secret"
)

// Row is one STAR1 row, its values in the order of the columns asked for,
// exactly as STAR1 holds them: nil for NULL, int64 for ids (Integer),
// string for money as decimal text (Decimal), for DATE as wall-clock text
// "YYYY-MM-DD HH:MM:SS" (Date) and for text (Text, CLOB), []byte for BLOB.
// A Row passed to a callback is valid only during the call.
type Row []any

// ValueBytes is the size of the text and binary values among vals (a Row,
// or the values mapped from one): what pipelines that must not gather
// large documents count their memory by.
func ValueBytes(vals []any) int {
	n := 0
	for _, v := range vals {
		switch x := v.(type) {
		case []byte:
			n += len(x)
		case string:
			n += len(x)
		}
	}
	return n
}

// Source is STAR1, read through one database driver.
//
// Begin opens one consistent snapshot of the whole of STAR1: every read
// through the snapshot sees STAR1 as it was at one moment, while STAR1 goes
// on taking writes. A caller may hold only one snapshot per Source at a
// time, and Close the Source after the snapshot.
type Source interface {
	Begin(ctx context.Context) (Snapshot, error)
	// String names the source with any password masked.
	String() string
	Close() error
}

// Snapshot is one consistent read of STAR1.
//
// Scan streams the rows of a table in the order of orderBy (the primary key
// when empty), with the columns asked for (all when nil), calling fn for
// each row; memory does not grow with the table. An error from fn stops the
// scan and is returned as it is. Query runs an aggregate query (built with
// Dialect) in the same snapshot. Scans and queries run one at a time.
// Dialect is the SQL dialect of queries in this snapshot: on Oracle its
// tables are named AS OF the snapshot's SCN, so a query built with any
// other would read STAR1 as it is now, not as the batch reads it.
type Snapshot interface {
	Dialect() Dialect
	Scan(ctx context.Context, t Table, columns []string, orderBy []string, fn func(Row) error) error
	Query(ctx context.Context, query string, fn func(values []any) error) error
	Close() error
}

// Open opens a source from its URL: sqlite:PATH for the stand-in,
// oracle://user:password@host:port/service for production STAR1, or
// postgres://user:password@host:port/db?schema=star1_archive for STAR1 as
// `starmig restore` left it in PostgreSQL, once STAR1 itself is gone.
func Open(ctx context.Context, url string) (Source, error) {
	open, err := opener(url)
	if err != nil {
		return nil, err
	}
	return open(ctx, url)
}

// CheckURL tells whether url names a kind of source Open knows, without
// opening it, so that a command can refuse a mistyped --source as a usage
// error before it connects to anything.
func CheckURL(url string) error {
	_, err := opener(url)
	return err
}

// opener is the function that opens a source of url's kind.
func opener(url string) (func(context.Context, string) (Source, error), error) {
	if err := secret.CheckPassword(url); err != nil {
		return nil, fmt.Errorf("extract: source %w", err)
	}
	switch {
	case url == "sqlite:":
		return nil, errors.New("extract: sqlite: names no file: want sqlite:PATH of the STAR1 stand-in")
	case strings.HasPrefix(url, "sqlite:"):
		return func(ctx context.Context, url string) (Source, error) {
			return openSQLite(ctx, strings.TrimPrefix(url, "sqlite:"))
		}, nil
	case strings.HasPrefix(url, "oracle://"):
		return openOracle, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres, nil
	default:
		return nil, fmt.Errorf("extract: source %q: want sqlite:PATH, oracle://user:password@host:port/service, or postgres://user:password@host:port/db?schema=%s (a restored archive)", secret.RedactURL(url), PostgresSchema)
	}
}

// hasLOB reports whether cols hold a BLOB or CLOB.
func hasLOB(cols []Column) bool {
	return slices.ContainsFunc(cols, func(c Column) bool { return c.Kind == BLOB || c.Kind == CLOB })
}

// largeValues is the size of a row's values from which a scan collects
// them as soon as fn is done with the row.
const largeValues = 16 << 20

// letGo lets go of a scanned row of LOB columns once fn is done with it:
// a document would otherwise stay in memory until the next row's values
// replaced it, beside the next document. After a large row it runs the
// collector, so that the next document is read into the memory this one
// held instead of beside it: nothing else would collect it before the
// next allocation of that size, and peak memory would grow by a document
// (BenchmarkLargeDocuments).
func letGo(raw []any, row Row) {
	large := ValueBytes(row) >= largeValues
	clear(raw)
	clear(row)
	if large {
		runtime.GC()
	}
}

// scanColumns resolves the columns of a scan: all when nil, and checks
// that every name is a column of t.
func scanColumns(t Table, names []string) ([]Column, error) {
	if names == nil {
		return t.Columns, nil
	}
	cols := make([]Column, len(names))
	for i, n := range names {
		c, ok := t.Column(n)
		if !ok {
			return nil, fmt.Errorf("extract: %s has no column %s", t.Name, n)
		}
		cols[i] = c
	}
	return cols, nil
}
