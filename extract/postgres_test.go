package extract_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/testenv"
)

// connectPostgres makes a new database on the tests' PostgreSQL and
// connects to it until the test ends.
func connectPostgres(tb testing.TB) (string, *pgx.Conn) {
	tb.Helper()
	dsn := testenv.Postgres(tb)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return dsn, conn
}

// readAll reads every table of a source in one snapshot, each row as text,
// money as the number it is.
func readAll(t *testing.T, url string, columns func(extract.Table) []string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	snap := extract.OpenSnapshot(t, url)
	out := map[string][]string{}
	for _, tb := range extract.Tables {
		names := columns(tb)
		err := snap.Scan(ctx, tb, names, nil, func(r extract.Row) error {
			vals := slices.Clone(r)
			for i, v := range vals {
				if s, ok := v.(string); ok && strings.Trim(s, "-0123456789.") == "" && strings.Contains(s, ".") {
					vals[i] = extract.MinimalDecimal(s)
				}
			}
			out[tb.Name] = append(out[tb.Name], fmt.Sprintf("%q", vals))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestPostgresSourceReadsWhatSTAR1Held: STAR1 in PostgreSQL, as a restore
// of the archive leaves it, reads row for row as the STAR1 it came from:
// every table in the same order, every value of the same kind and value,
// NUL characters and bytes that are not UTF-8 included, in full scans and
// in narrow ones without the key columns.
func TestPostgresSourceReadsWhatSTAR1Held(t *testing.T) {
	sqlitePath := filepath.Join(t.TempDir(), "star1.db")
	copyFile(t, filepath.Join("..", "testdata", "star1-small.db"), sqlitePath)
	execSQLite(t, sqlitePath,
		`UPDATE JUHTUMIPLAAN SET EESMARGID = CAST(X'4162FF6320C3A4' AS TEXT), HINNANG = 'a' || char(0) || 'b' WHERE PLAAN_ID = (SELECT MIN(PLAAN_ID) FROM JUHTUMIPLAAN)`,
		`UPDATE TOIMING SET KIRJELDUS = 'x' || char(0) WHERE TOIMING_ID = (SELECT MAX(TOIMING_ID) FROM TOIMING)`,
		// A table keyed by two text columns: exact_text finds the row by
		// both, joined by "/".
		`UPDATE KLASSIFIKAATOR SET NIMETUS = NIMETUS || char(0) || CAST(X'FE' AS TEXT) WHERE rowid = (SELECT MAX(rowid) FROM KLASSIFIKAATOR)`,
		// Key values PostgreSQL cannot hold, beside the values they would
		// be held as without those characters, or percent-encoded without
		// care; keys that joined by "/" alone would name one row. (Without
		// those characters was how restores held them at first.)
		`INSERT INTO KLASSIFIKAATOR (KLASS, KOOD, NIMETUS) VALUES
			('TEENUS', 'Z', 'plain'), ('TEENUS', 'Z' || char(0), 'NUL' || char(0)), ('TEENUS', 'Z%00', 'percent'),
			('TEENUS', CAST(X'5AFE' AS TEXT), 'not UTF-8'), ('TEENUS', 'Z!', 'after Z and NUL'),
			('TEENUS/X', 'Y', 'a' || char(0)), ('TEENUS', 'X/Y', 'b' || char(0))`,
		`INSERT INTO KOV (KOV_KOOD, NIMI) VALUES ('9' || char(0), 'NUL vald'), ('9', 'plain vald'), ('9%', 'percent vald')`)
	dsn := testenv.STAR1InPostgres(t, "sqlite:"+sqlitePath)
	pg := testenv.WithSchema(dsn, extract.PostgresSchema)
	all := func(extract.Table) []string { return nil }
	want, got := readAll(t, "sqlite:"+sqlitePath, all), readAll(t, pg, all)
	for _, tb := range extract.Tables {
		if len(want[tb.Name]) == 0 {
			t.Errorf("%s: the sample holds no rows", tb.Name)
		}
		if !slices.Equal(got[tb.Name], want[tb.Name]) {
			t.Errorf("%s: %d rows read from PostgreSQL differ from the %d of STAR1", tb.Name, len(got[tb.Name]), len(want[tb.Name]))
			firstDifference(t, got[tb.Name], want[tb.Name])
		}
	}
	// Text columns alone, without the key that finds them in exact_text.
	texts := func(tb extract.Table) []string {
		var names []string
		for _, c := range tb.Columns {
			if (c.Kind == extract.Text || c.Kind == extract.CLOB) && !slices.Contains(tb.Key, c.Name) {
				names = append(names, c.Name)
			}
		}
		if names == nil {
			names = tb.Key
		}
		return names
	}
	want, got = readAll(t, "sqlite:"+sqlitePath, texts), readAll(t, pg, texts)
	for _, tb := range extract.Tables {
		if !slices.Equal(got[tb.Name], want[tb.Name]) {
			t.Errorf("%s: a narrow scan of text columns differs from STAR1's", tb.Name)
			firstDifference(t, got[tb.Name], want[tb.Name])
		}
	}
}

// firstDifference reports the first row in which got and want differ.
func firstDifference(t *testing.T, got, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf(" got %s\nwant %s", got[i], want[i])
			return
		}
	}
}

// TestPostgresSnapshotIgnoresConcurrentWrites: a write committed while a
// snapshot is open is not seen by it, half or whole; a new snapshot sees it.
func TestPostgresSnapshotIgnoresConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	sqlitePath := filepath.Join(t.TempDir(), "star1.db")
	copyFile(t, filepath.Join("..", "testdata", "star1-small.db"), sqlitePath)
	dsn := testenv.STAR1InPostgres(t, "sqlite:"+sqlitePath)
	extract.SnapshotIgnoresWrites(t, testenv.WithSchema(dsn, extract.PostgresSchema), func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO star1_archive.isik (isik_id, isikukood, loodud, kustutatud) VALUES (99999, '37605030299', '2026-11-20 10:00:00', 'E')`,
			`INSERT INTO star1_archive.menetlus (menetlus_id, isik_id, kov_kood, liik, staatus, algus_kp) VALUES (99999, 99999, '0100', 'TEENUS', 'A', '2026-11-20')`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPostgresSourceSessionAsksToBeDropped: the session a run reads a
// restored STAR1 on names itself starmig and asks for the keepalives and
// the client check, so that a run killed in the middle of a count does
// not keep its snapshot and tables (see internal/pgsession).
func TestPostgresSourceSessionAsksToBeDropped(t *testing.T) {
	ctx := context.Background()
	sqlitePath := filepath.Join(t.TempDir(), "star1.db")
	copyFile(t, filepath.Join("..", "testdata", "star1-small.db"), sqlitePath)
	dsn := testenv.STAR1InPostgres(t, "sqlite:"+sqlitePath)
	snap := extract.OpenSnapshot(t, testenv.WithSchema(dsn, extract.PostgresSchema))
	want := map[string]string{"application_name": "starmig", "client_connection_check_interval": "1s"}
	for k, v := range pgsession.Keepalives {
		want[k] = v
	}
	for k, v := range want {
		var got string
		err := snap.Query(ctx, "SELECT current_setting('"+k+"')", func(r []any) error {
			got = fmt.Sprint(r[0])
			return nil
		})
		if err != nil || got != v {
			t.Errorf("%s = %q (%v), want %s", k, got, err, v)
		}
	}
}

// TestPostgresSourceNamesEveryMissingColumn: a schema that is not the
// restore's layout is refused when the snapshot begins, naming every
// column a table lacks and what it holds instead, as for the stand-in:
// PostgreSQL itself names only the first column a query misses.
func TestPostgresSourceNamesEveryMissingColumn(t *testing.T) {
	ctx := context.Background()
	dsn, conn := connectPostgres(t)
	for _, q := range []string{
		extract.PostgresDDL(extract.PostgresSchema),
		"ALTER TABLE star1_archive.makse RENAME COLUMN summa TO summa_eur",
		"ALTER TABLE star1_archive.toiming DROP COLUMN kirjeldus",
		"ALTER TABLE star1_archive.toiming DROP COLUMN kasutaja",
		"DROP TABLE star1_archive.dokument",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	url := testenv.WithSchema(dsn, extract.PostgresSchema)
	src, err := extract.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err == nil {
		snap.Close()
		t.Fatal("a snapshot of a schema without MAKSE.SUMMA and DOKUMENT began")
	}
	for _, want := range []string{"does not hold the STAR1 tables and columns",
		"\n  MAKSE: lacks the column SUMMA (it holds SUMMA_EUR, which STAR1.md does not describe)\n",
		"\n  TOIMING: lacks the columns KIRJELDUS and KASUTAJA", "\n  DOKUMENT: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ISIK: ") {
		t.Errorf("the error names ISIK, which is whole:\n%v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func execSQLite(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// BenchmarkPostgresScanExactText reads TOIMING from a restored archive in
// PostgreSQL in which every row's description is text PostgreSQL cannot
// hold (1 KiB each, in exact_text), at two sizes: the scan's live heap
// (measured after a collection every 10 000 rows) must not grow with the
// number of such values. STARMIG_BENCH_ROWS sets the larger size (default
// 200 000).
func BenchmarkPostgresScanExactText(b *testing.B) {
	large := 200_000
	if v := os.Getenv("STARMIG_BENCH_ROWS"); v != "" {
		if _, err := fmt.Sscan(v, &large); err != nil {
			b.Fatalf("STARMIG_BENCH_ROWS=%s: %v", v, err)
		}
	}
	toiming, _ := extract.TableByName("TOIMING")
	for _, n := range []int{large / 10, large} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			ctx := context.Background()
			dsn, conn := connectPostgres(b)
			for _, q := range []string{
				extract.PostgresDDL(extract.PostgresSchema),
				`INSERT INTO star1_archive.toiming SELECT g, 1, 'HINDAMINE', timestamp '2020-01-01 10:00:00', 'x', 'kasutaja' FROM generate_series(1, $1) g`,
				`INSERT INTO star1_archive.exact_text SELECT 'TOIMING', g::text, 'KIRJELDUS', convert_to(repeat('ä', 511) || g, 'UTF8') || '\x00'::bytea FROM generate_series(1, $1) g`,
			} {
				var args []any
				if strings.Contains(q, "$1") {
					args = append(args, n)
				}
				if _, err := conn.Exec(ctx, q, args...); err != nil {
					b.Fatal(err)
				}
			}
			snap := extract.OpenSnapshot(b, testenv.WithSchema(dsn, extract.PostgresSchema))
			var peak uint64
			var ms runtime.MemStats
			b.ResetTimer()
			for range b.N {
				rows := 0
				err := snap.Scan(ctx, toiming, nil, nil, func(r extract.Row) error {
					if s := r[4].(string); !strings.HasSuffix(s, "\x00") {
						return fmt.Errorf("TOIMING %v: description %q is not the exact text", r[0], s[len(s)-8:])
					}
					if rows++; rows%10_000 == 0 {
						runtime.GC()
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapAlloc)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if rows != n {
					b.Fatalf("read %d rows of %d", rows, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "live-heap-MiB")
		})
	}
}
