package extract

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the test's own writer
)

// The extraction suite runs against the SQLite stand-in, and against a real
// Oracle when STARMIG_TEST_ORACLE_DSN names one (oracle://user:pw@host:port/
// service, a read-only account on a STAR1 schema).
const envOracle = "STARMIG_TEST_ORACLE_DSN"

// sampleCopy copies the sample STAR1 so a test may write to it.
func sampleCopy(t *testing.T) string {
	t.Helper()
	return sampleCopyAt(t, "star1.db")
}

// sampleCopyAt is sampleCopy at the path rel in a new temporary folder.
func sampleCopyAt(t *testing.T, rel string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	copyInto(t, filepath.Join("..", "testdata", "star1-small.db"), path)
	return path
}

// copyInto copies the file from to the file to.
func copyInto(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// sources are the STAR1s the suite runs on: the stand-in, under a path
// that SQLite would misread as a URI if it were not escaped (# ends a
// URI's path, ? starts its query, % starts an escape), and Oracle when
// envOracle names one.
func sources(t *testing.T) map[string]string {
	odd := "STAR1 #2 100%/star1?.db"
	if runtime.GOOS == "windows" {
		odd = "STAR1 #2 100%/star1.db" // no ? in a Windows file name
	}
	s := map[string]string{"sqlite": "sqlite:" + sampleCopyAt(t, odd)}
	if dsn := os.Getenv(envOracle); dsn != "" {
		s["oracle"] = dsn
	}
	return s
}

// OpenSnapshot is openSnapshot, for the tests of package extract_test.
var OpenSnapshot = openSnapshot

// openSnapshot opens a source and a snapshot of it, both closed when the
// test ends.
func openSnapshot(t testing.TB, url string) Snapshot {
	t.Helper()
	ctx := context.Background()
	src, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Begin(ctx)
	if err != nil {
		src.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := snap.Close(); err != nil {
			t.Error(err)
		}
		src.Close()
	})
	return snap
}

func TestExtractionSuite(t *testing.T) {
	for name, url := range sources(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			snap := openSnapshot(t, url)
			first := map[string]string{}
			for _, tb := range Tables {
				count, err := Count(ctx, snap, tb)
				if err != nil {
					t.Fatal(err)
				}
				var n int64
				var digest strings.Builder
				err = snap.Scan(ctx, tb, nil, nil, func(r Row) error {
					n++
					if len(r) != len(tb.Columns) {
						return fmt.Errorf("%s: %d values", tb.Name, len(r))
					}
					for i, c := range tb.Columns {
						if err := checkKind(c, r[i]); err != nil {
							return fmt.Errorf("%s.%s row %d: %w", tb.Name, c.Name, n, err)
						}
					}
					if n <= 50 {
						fmt.Fprintf(&digest, "%v\n", r)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if n != count {
					t.Errorf("%s: scanned %d rows, COUNT(*) says %d", tb.Name, n, count)
				}
				first[tb.Name] = digest.String()
			}
			// Reading again in the same snapshot gives the same rows.
			for _, tb := range Tables {
				var digest strings.Builder
				var n int
				if err := snap.Scan(ctx, tb, nil, nil, func(r Row) error {
					if n++; n <= 50 {
						fmt.Fprintf(&digest, "%v\n", r)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if digest.String() != first[tb.Name] {
					t.Errorf("%s: second read differs", tb.Name)
				}
			}
			// A scan of a table with documents lets go of each row once
			// fn has returned, so that a document is not held beside the
			// next one (letGo); the row is the scan's, not fn's, to keep.
			var last Row
			dokument, _ := TableByName("DOKUMENT")
			if err := snap.Scan(ctx, dokument, nil, nil, func(r Row) error {
				last = r
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if last == nil {
				t.Fatal("DOKUMENT: no rows")
			}
			if slices.ContainsFunc(last, func(v any) bool { return v != nil }) {
				t.Errorf("DOKUMENT %v: the last row still holds its values after the scan", last[0])
			}
		})
	}
}

func checkKind(c Column, v any) error {
	if v == nil {
		if c.NotNull {
			return fmt.Errorf("NULL in a NOT NULL column")
		}
		return nil
	}
	var ok bool
	switch c.Kind {
	case Integer:
		_, ok = v.(int64)
	case Decimal:
		var s string
		if s, ok = v.(string); ok {
			if n, err := NormalizeDecimal(s); err != nil || n != s {
				return fmt.Errorf("money %q not canonical", s)
			}
		}
	case Date:
		var s string
		if s, ok = v.(string); ok {
			if _, err := WallClockText(s); err != nil {
				return err
			}
		}
	case Text, CLOB:
		_, ok = v.(string)
	case BLOB:
		_, ok = v.([]byte)
	}
	if !ok {
		return fmt.Errorf("value of type %T", v)
	}
	return nil
}

// TestSnapshotIgnoresConcurrentWrites: a writer commits a change to two
// tables while a snapshot is open; the snapshot sees neither half, a new
// snapshot sees both.
func TestSnapshotIgnoresConcurrentWrites(t *testing.T) {
	path := sampleCopy(t)
	SnapshotIgnoresWrites(t, "sqlite:"+path, func() {
		w, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO ISIK (ISIK_ID, ISIKUKOOD, LOODUD, KUSTUTATUD) VALUES (99999, '37605030299', '2026-11-20 10:00:00', 'E')`,
			`INSERT INTO MENETLUS (MENETLUS_ID, ISIK_ID, KOV_KOOD, LIIK, STAATUS, ALGUS_KP) VALUES (99999, 99999, '0100', 'TEENUS', 'A', '2026-11-20 00:00:00')`,
		} {
			if _, err := tx.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})
}

// SnapshotIgnoresWrites opens a snapshot of the source at url, has write
// commit one person and one proceeding, and checks that the open snapshot
// sees neither and a new one sees both. The postgres source's test uses it
// too.
func SnapshotIgnoresWrites(t *testing.T, url string, write func()) {
	ctx := context.Background()
	src, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	count := func(s Snapshot, table string) int {
		tb, _ := TableByName(table)
		n := 0
		if err := s.Scan(ctx, tb, []string{tb.Key[0]}, nil, func(Row) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	snap, err := src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	persons, procs := count(snap, "ISIK"), count(snap, "MENETLUS")
	write()
	if p, m := count(snap, "ISIK"), count(snap, "MENETLUS"); p != persons || m != procs {
		t.Errorf("open snapshot saw the write: %d/%d persons, %d/%d proceedings", p, persons, m, procs)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	snap, err = src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if p, m := count(snap, "ISIK"), count(snap, "MENETLUS"); p != persons+1 || m != procs+1 {
		t.Errorf("new snapshot: %d persons (want %d), %d proceedings (want %d)", p, persons+1, m, procs+1)
	}
}

func TestOpenErrorsNameTheSource(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "sqlite:/nonexistent/star1.db"); err == nil || !strings.Contains(err.Error(), "/nonexistent/star1.db") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(ctx, "mysql://u:hunter2@h/db"); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "sqlite:PATH") {
		t.Errorf("unknown scheme: %v", err)
	}
	// An Oracle is named as the URL gave it, not as it was written for
	// go-ora (a port added, @:0?…&connStr=%28…, PREFETCH_ROWS).
	for _, c := range []struct{ url, want string }{
		{"oracle://u:hunter2@127.0.0.1:1/STAR1?CONNECTION TIMEOUT=2", "connect to oracle://u:**redacted**@127.0.0.1:1/STAR1?CONNECTION TIMEOUT=2: "},
		{"oracle://u:hunter2@127.0.0.1/STAR1?CONNECTION TIMEOUT=2", "connect to oracle://u:**redacted**@127.0.0.1/STAR1?CONNECTION TIMEOUT=2: "},
		{"oracle://u:hunter2@?connStr=(DESCRIPTION=\n  (ADDRESS=(PROTOCOL=TCP)(HOST=127.0.0.1)(PORT=1))\n  (CONNECT_DATA=(SERVICE_NAME=STAR1)))",
			"connect to oracle://u:**redacted**@?connStr=(DESCRIPTION=   (ADDRESS=(PROTOCOL=TCP)(HOST=127.0.0.1)(PORT=1))   (CONNECT_DATA=(SERVICE_NAME=STAR1))): "},
	} {
		if _, err := Open(ctx, c.url); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("unreachable Oracle: %v, want %q", err, c.want)
		}
	}
	if _, err := Open(ctx, "postgres://u:hunter2@127.0.0.1:1/crisis?schema=star1_archive&connect_timeout=2"); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable PostgreSQL: %v", err)
	}
}
