package testenv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
)

// STAR1InPostgres writes every row of a STAR1 source into a new database
// on the tests' PostgreSQL, in the layout of extract.PostgresDDL, as a
// restore of the archive does, and returns the database's DSN; the source
// URL of the copy is that DSN with ?schema=star1_archive. Text PostgreSQL
// cannot hold goes into exact_text.
func STAR1InPostgres(t testing.TB, from string) string {
	t.Helper()
	ctx := context.Background()
	dsn := Postgres(t)
	conn := Connect(t, dsn)
	if _, err := conn.Exec(ctx, extract.PostgresDDL(extract.PostgresSchema)); err != nil {
		t.Fatal(err)
	}
	snap, done := Snapshot(t, from)
	defer done()
	for _, tb := range extract.Tables {
		var rows [][]any
		err := snap.Scan(ctx, tb, nil, nil, func(r extract.Row) error {
			vals := make([]any, len(r))
			var exact []int
			for i, c := range tb.Columns {
				vals[i] = r[i]
				if b, ok := r[i].([]byte); ok && b == nil {
					vals[i] = []byte{} // an empty BLOB, which pgx would write as NULL
				}
				if s, ok := r[i].(string); ok && (c.Kind == extract.Text || c.Kind == extract.CLOB) {
					held, ex := extract.PostgresText(s, slices.Contains(tb.Key, c.Name))
					if ex {
						exact = append(exact, i)
					}
					vals[i] = held
				}
			}
			for _, i := range exact {
				if _, err := conn.Exec(ctx, "INSERT INTO star1_archive.exact_text VALUES ($1, $2, $3, $4)", tb.Name, extract.TableRowKey(tb, vals), tb.Columns[i].Name, []byte(r[i].(string))); err != nil {
					return err
				}
			}
			rows = append(rows, vals)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cols := make([]string, len(tb.Columns))
		for i, c := range tb.Columns {
			cols[i] = strings.ToLower(c.Name)
		}
		// Text into numeric and timestamp columns, as PostgreSQL reads it.
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			params := make([]string, len(cols))
			for i := range cols {
				params[i] = fmt.Sprintf("$%d", i+1)
				if tb.Columns[i].Kind == extract.Decimal || tb.Columns[i].Kind == extract.Date {
					params[i] += "::text::" + map[extract.Kind]string{extract.Decimal: "numeric", extract.Date: "timestamp"}[tb.Columns[i].Kind]
				}
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO star1_archive.%s (%s) VALUES (%s)", strings.ToLower(tb.Name), strings.Join(cols, ", "), strings.Join(params, ", ")), r...); err != nil {
				t.Fatalf("%s %v: %v", tb.Name, r[0], err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

// WithSchema is the source URL that reads STAR1 from that schema of the
// database dsn names.
func WithSchema(dsn, schema string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&schema=" + schema
	}
	return dsn + "?schema=" + schema
}

// Snapshot opens the STAR1 source at url and one snapshot of it; done
// closes both.
func Snapshot(t testing.TB, url string) (snap extract.Snapshot, done func()) {
	t.Helper()
	ctx := context.Background()
	src, err := extract.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	snap, err = src.Begin(ctx)
	if err != nil {
		src.Close()
		t.Fatal(err)
	}
	return snap, func() { snap.Close(); src.Close() }
}
