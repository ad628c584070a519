package archive

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

var restoreValueSeeds = []string{
	"0", "-0", "0.5", "-0.05", "12.3", "12.34", "100", "-100.00", "1.005", "1.", ".5", "+1", "1e3", "", "-",
	"9999999999999999.99", "99999999999999999", "9999999999.99", "10000000000.00", "1.500", "+1", "+0", "-.5", "0012.50", "1.2.3", "12,5", " 1", "--1", "١٢",
	"2026-11-22 13:45:59", "2024-02-29 00:00:00", "2023-02-29 00:00:00", "2026-04-31 12:00:00",
	"2026-13-01 00:00:00", "2026-00-10 00:00:00", "2026-01-00 00:00:00", "2026-01-01 24:00:00",
	"2026-01-01 23:60:00", "2026-01-01 23:59:60", "0000-01-01 00:00:00", "2026-1-01 00:00:00x",
	"2026-01-01T00:00:00", "2026-01-01 00:00:00.5", "2026-01-01 0a:00:00", "+026-01-01 00:00:00",
}

// checkRestoreValue checks restoreCents against pgx's numeric parser and
// restoreTime against time.Parse for one text.
func checkRestoreValue(t *testing.T, s string) {
	if c, ok := restoreCents(s); ok {
		var n pgtype.Numeric
		if err := n.Scan(s); err != nil {
			t.Errorf("restoreCents(%q) = %d, pgx: %v", s, c, err)
		} else {
			// pgx's value in cents: its digits times 10^(exp+2), exactly.
			want := new(big.Int).Set(n.Int)
			for e := n.Exp; e > -2; e-- {
				want.Mul(want, big.NewInt(10))
			}
			for e := n.Exp; e < -2; e++ {
				if new(big.Int).Rem(want, big.NewInt(10)).Sign() != 0 {
					t.Fatalf("restoreCents(%q) = %d, but pgx reads more than two decimals", s, c)
				}
				want.Quo(want, big.NewInt(10))
			}
			if !want.IsInt64() || want.Int64() != int64(c) {
				t.Errorf("restoreCents(%q) = %d, pgx reads %v", s, c, want)
			}
		}
	}
	got, gotErr := restoreTime(s)
	want, wantErr := time.Parse(time.DateTime, s)
	if (gotErr == nil) != (wantErr == nil) || !got.Equal(want) || got.Location() != want.Location() {
		t.Errorf("restoreTime(%q) = %v, %v; time.Parse gives %v, %v", s, got, gotErr, want, wantErr)
	}
}

// TestRestoreValuesAsTheParsers checks the restore's own readers of money
// and DATE text against the parsers they stand in for, on the texts the
// archive holds and on texts it never holds.
func TestRestoreValuesAsTheParsers(t *testing.T) {
	for _, s := range restoreValueSeeds {
		checkRestoreValue(t, s)
	}
	for _, s := range []string{"0", "12.3", "-0.05", "100"} {
		if _, ok := restoreCents(s); !ok {
			t.Errorf("restoreCents(%q) left to pgx", s)
		}
	}
	day := time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	for range 60000 { // every day to 2064, at a time of day that moves
		checkRestoreValue(t, day.Format(time.DateTime))
		day = day.Add(24*time.Hour + 17*time.Second)
	}
}

// FuzzRestoreValues compares the same on any text:
//
//	go test -run '^$' -fuzz FuzzRestoreValues -fuzztime 60s ./archive
func FuzzRestoreValues(f *testing.F) {
	for _, s := range restoreValueSeeds {
		f.Add(s)
	}
	f.Fuzz(checkRestoreValue)
}

// TestRestoreNamesABadValueAndRestoresNothing forges a payload file whose
// rows hold a DATE that is no date, part-way through, and checks that the
// restore fails naming the file, the row and the value, and leaves no
// schema behind.
func TestRestoreNamesABadValueAndRestoresNothing(t *testing.T) {
	root, k, cats, r, b := firstFolderBundle(t)
	ctx := context.Background()
	var f *fileInfo
	for _, x := range b.contents.Files {
		if x.Table == "MAKSE" && x.Rows > 100 {
			f = x
			break
		}
	}
	if f == nil {
		t.Fatal("no MAKSE payload file of over 100 rows")
	}
	tab, _ := extract.TableByName("MAKSE")
	var rows []extract.Row
	if err := b.ReadFile(ctx, f.Path, func(row extract.Row) error { rows = append(rows, row); return nil }); err != nil {
		t.Fatal(err)
	}
	date := -1
	for i, c := range tab.Columns {
		if c.Kind == extract.Date && c.NotNull {
			date = i
			break
		}
	}
	rows[80][date] = "2026-13-45 00:00:00"
	var plain bytes.Buffer
	for _, row := range rows {
		plain.Write(lineOf(t, tab, row))
		plain.WriteByte('\n')
	}
	rewritePlain(t, filepath.Join(root, filepath.FromSlash(b.Entry.Prefix+f.Path)), plain.Bytes(), k)

	conn := testenv.Connect(t, testenv.Postgres(t))
	_, err := r.Restore(ctx, conn, cats[0], RestoreOptions{})
	want := fmt.Sprintf("%s: MAKSE %v: %s %q is not a DATE", f.Path, rows[80][0], tab.Columns[date].Name, "2026-13-45 00:00:00")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("restore over a bad DATE: %v, want %q in it", err, want)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'star1_archive')").Scan(&exists); err != nil || exists {
		t.Errorf("after the failed restore the schema exists: %v %v", exists, err)
	}
}
