package extract

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// readWithDatabaseSQL reads a table as the stand-in was read before, through
// database/sql and the modernc.org/sqlite driver, decoded by the same rules.
func readWithDatabaseSQL(ctx context.Context, db *sql.DB, t Table, fn func(Row) error) error {
	rows, err := db.QueryContext(ctx, SelectSQL(sqliteDialect{}, t, t.Columns, nil))
	if err != nil {
		return err
	}
	defer rows.Close()
	raw := make([]any, len(t.Columns))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	row := make(Row, len(raw))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, c := range t.Columns {
			if row[i], err = decode(t, c, raw[i]); err != nil {
				return err
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// TestSQLiteReadsAsDatabaseSQL: every value of every row of the sample
// STAR1 is read by the snapshot exactly as database/sql reads it, type
// and value.
func TestSQLiteReadsAsDatabaseSQL(t *testing.T) {
	readsAsDatabaseSQL(t, sampleCopy(t))
}

// TestLargeLOBsReadAsSelected: LOB values of largeLOB bytes or more,
// which a scan reads by incremental blob I/O, come back as selecting them
// gives them: a BLOB as bytes, text (also text that is not UTF-8, and
// text in a BLOB column) as a string, values just under the size as
// before, NULL and empty as they were. A table without rowid is read by
// selecting.
func TestLargeLOBsReadAsSelected(t *testing.T) {
	big := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7+i/251)
		}
		return b
	}
	text := func(n int) string { return strings.Repeat("õun ", n/5) + strings.Repeat("x", n-n/5*5) }
	const docs, plans = `SELECT DOKUMENT_ID FROM DOKUMENT ORDER BY DOKUMENT_ID`, `SELECT PLAAN_ID FROM JUHTUMIPLAAN ORDER BY PLAAN_ID`
	for _, withoutRowid := range []bool{false, true} {
		path := sampleCopy(t)
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if withoutRowid {
			exec(`CREATE TABLE d2 (DOKUMENT_ID INTEGER, MENETLUS_ID INTEGER, FAILINIMI TEXT, MIME_TYYP TEXT, SISU BLOB, LOODUD TEXT, PRIMARY KEY (DOKUMENT_ID)) WITHOUT ROWID`)
			exec(`INSERT INTO d2 SELECT * FROM DOKUMENT`)
			exec(`DROP TABLE DOKUMENT`)
			exec(`ALTER TABLE d2 RENAME TO DOKUMENT`)
		}
		nth := func(query string, i int) (id int64) {
			t.Helper()
			if err := db.QueryRow(query+" LIMIT 1 OFFSET ?", i).Scan(&id); err != nil {
				t.Fatalf("%s, row %d: %v", query, i, err)
			}
			return id
		}
		for i, v := range []any{big(largeLOB, 1), big(largeLOB-1, 2), big(3*largeLOB+17, 3), text(largeLOB + 3), append([]byte(text(largeLOB)), 0xff, 0xfe), []byte{}} {
			if b, ok := v.([]byte); ok && i == 4 {
				exec(`UPDATE DOKUMENT SET SISU = CAST(? AS TEXT) WHERE DOKUMENT_ID = ?`, b, nth(docs, i))
				continue
			}
			exec(`UPDATE DOKUMENT SET SISU = ? WHERE DOKUMENT_ID = ?`, v, nth(docs, i))
		}
		plan := []int64{nth(plans, 0), nth(plans, 1)}
		exec(`UPDATE JUHTUMIPLAAN SET EESMARGID = ?, HINNANG = NULL WHERE PLAAN_ID = ?`, text(2*largeLOB), plan[0])
		exec(`UPDATE JUHTUMIPLAAN SET EESMARGID = ?, HINNANG = ? WHERE PLAAN_ID = ?`, "", text(largeLOB), plan[1])
		var large int
		if err := db.QueryRow(`SELECT (SELECT count(*) FROM DOKUMENT WHERE octet_length(SISU) >= ?) + (SELECT count(*) FROM JUHTUMIPLAAN WHERE octet_length(EESMARGID) >= ? OR octet_length(HINNANG) >= ?)`, largeLOB, largeLOB, largeLOB).Scan(&large); err != nil {
			t.Fatal(err)
		}
		if large != 6 {
			t.Fatalf("%d rows hold a large LOB, want 6", large)
		}
		db.Close()
		readsAsDatabaseSQL(t, path)
	}
}

// readsAsDatabaseSQL checks every row of every table of the stand-in at
// path, read by a snapshot, against database/sql's reading.
func readsAsDatabaseSQL(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	snap := openSnapshot(t, "sqlite:"+path)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tb := range Tables {
		var want []Row
		if err := readWithDatabaseSQL(ctx, db, tb, func(r Row) error {
			want = append(want, append(Row(nil), r...))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := snap.Scan(ctx, tb, nil, nil, func(r Row) error {
			if n >= len(want) {
				return errors.New("more rows than database/sql reads")
			}
			for i, c := range tb.Columns {
				if !reflect.DeepEqual(r[i], want[n][i]) {
					t.Errorf("%s row %d %s: %.40q (%T), database/sql reads %.40q (%T)", tb.Name, n, c.Name, r[i], r[i], want[n][i], want[n][i])
				}
			}
			n++
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", tb.Name, err)
		}
		if n != len(want) {
			t.Errorf("%s: %d rows, database/sql reads %d", tb.Name, n, len(want))
		}
	}
}

// TestScanStops: a callback's error ends a scan and comes back as it is; a
// cancelled context ends it with the context's error; the snapshot can be
// read on afterwards.
func TestScanStops(t *testing.T) {
	for name, url := range sources(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			snap := openSnapshot(t, url)
			tb, _ := TableByName("MAKSE")
			mine := errors.New("stop here")
			n := 0
			err := snap.Scan(ctx, tb, nil, nil, func(Row) error {
				if n++; n == 3 {
					return mine
				}
				return nil
			})
			if err != mine || n != 3 {
				t.Errorf("callback error: got %v after %d rows, want it as it is after 3", err, n)
			}
			err = snap.Query(ctx, "SELECT MAKSE_ID FROM "+snap.Dialect().Table(tb), func([]any) error { return mine })
			if err != mine {
				t.Errorf("query callback error: got %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			n = 0
			err = snap.Scan(cctx, tb, nil, nil, func(Row) error {
				if n++; n == 2 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled scan: got %v after %d rows, want context.Canceled", err, n)
			}
			var all, again int
			for _, p := range []*int{&all, &again} {
				if err := snap.Scan(ctx, tb, []string{"MAKSE_ID"}, nil, func(Row) error { *p++; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			if all == 0 || all != again {
				t.Errorf("after the stops: %d rows, then %d", all, again)
			}
		})
	}
}

// BenchmarkSQLiteScan reads every table of the sample STAR1 in full, through
// the snapshot and, for comparison, through database/sql as before:
//
//	go test -run '^$' -bench SQLiteScan -benchmem ./extract
//
// STARMIG_BENCH_DB names another STAR1 to read, a large one made by
// `starmig gen` for instance (then -benchtime 1x).
func BenchmarkSQLiteScan(b *testing.B) {
	path := filepath.Join("..", "testdata", "star1-small.db")
	if p := os.Getenv("STARMIG_BENCH_DB"); p != "" {
		path = p
	}
	ctx := context.Background()
	b.Run("snapshot", func(b *testing.B) {
		snap := openSnapshot(b, "sqlite:"+path)
		var rows int64
		for b.Loop() {
			for _, tb := range Tables {
				if err := snap.Scan(ctx, tb, nil, nil, func(Row) error { rows++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("database-sql", func(b *testing.B) {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var rows int64
		for b.Loop() {
			for _, tb := range Tables {
				if err := readWithDatabaseSQL(ctx, db, tb, func(Row) error { rows++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
