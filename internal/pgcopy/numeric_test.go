package pgcopy

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

// TestAmountsReachPostgreSQLExactly writes amounts by COPY through the fast
// encoding, and through pgx's own, and reads both back as text: every value
// must arrive to the cent, the same both ways.
func TestAmountsReachPostgreSQLExactly(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	RegisterTypes(conn)
	cents := []int64{0, 1, -1, 9, 10, 99, 100, -100, 101, 1000, 10000, 99999, 100000, 123456, -123456, 1000000,
		100000000, 123456789012, -99999999999999, 99999999999999, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for i := int64(0); i < 2000; i++ {
		cents = append(cents, i*i*i*7919-i*1000003)
	}
	// Written twice: by pgx's CopyFrom through the amount codec, and by
	// CopyRows through its own encoding; "cents" holds the same amounts as
	// Cents.
	for _, tb := range []string{"amounts", "amounts_copy"} {
		if _, err := conn.Exec(ctx, "CREATE TEMP TABLE "+tb+" (i int, fast numeric, slow numeric, cents numeric)"); err != nil {
			t.Fatal(err)
		}
	}
	var rows [][]any
	for i, c := range cents {
		fast := pgtype.Numeric{Int: big.NewInt(c), Exp: -2, Valid: true}
		rows = append(rows, []any{i, fast, slowNumeric{fast}, mapping.Cents(c)})
	}
	rows = append(rows, []any{len(cents), pgtype.Numeric{}, slowNumeric{pgtype.Numeric{}}, nil},
		[]any{len(cents) + 1, pgtype.Numeric{Int: big.NewInt(12345), Exp: -3, Valid: true}, slowNumeric{pgtype.Numeric{Int: big.NewInt(12345), Exp: -3, Valid: true}}, nil})
	cols := []string{"i", "fast", "slow", "cents"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"amounts"}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyRows(ctx, conn, pgx.Identifier{"amounts_copy"}, cols, rows); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"amounts", "amounts_copy"} {
		r, err := conn.Query(ctx, "SELECT i, fast::text, slow::text, cents::text FROM "+tb+" ORDER BY i")
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(r, pgx.RowToStructByPos[struct {
			I                 int
			Fast, Slow, Cents pgtype.Text
		}])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(rows) {
			t.Fatalf("%s: %d rows back of %d", tb, len(got), len(rows))
		}
		for _, g := range got[:len(cents)] {
			c := cents[g.I]
			if want := centsText(c); g.Fast.String != want || g.Slow.String != want || g.Cents.String != want {
				t.Errorf("%s: %d cents: fast %q, pgx %q, Cents %q, want %q", tb, c, g.Fast.String, g.Slow.String, g.Cents.String, want)
			}
		}
		if g := got[len(cents)]; g.Fast.Valid || g.Slow.Valid {
			t.Errorf("%s: NULL came back as %q and %q", tb, g.Fast.String, g.Slow.String)
		}
		if g := got[len(cents)+1]; g.Fast.String != "12.345" || g.Slow.String != "12.345" {
			t.Errorf("%s: 12.345 came back as %q and %q", tb, g.Fast.String, g.Slow.String)
		}
	}
}

// slowNumeric is encoded by pgx's own numeric encoding.
type slowNumeric struct{ n pgtype.Numeric }

func (s slowNumeric) NumericValue() (pgtype.Numeric, error) { return s.n, nil }

func centsText(c int64) string {
	b := new(big.Int).SetInt64(c)
	sign := ""
	if b.Sign() < 0 {
		sign = "-"
		b.Neg(b)
	}
	q, m := new(big.Int).QuoRem(b, big.NewInt(100), new(big.Int))
	return fmt.Sprintf("%s%s.%02d", sign, q, m.Int64())
}

func BenchmarkAmountEncoding(b *testing.B) {
	n := pgtype.Numeric{Int: big.NewInt(-123456789), Exp: -2, Valid: true}
	m := pgtype.NewMap()
	slow := m.PlanEncode(pgtype.NumericOID, pgtype.BinaryFormatCode, n)
	fast := centsPlan{slow}
	buf := make([]byte, 0, 64)
	for _, c := range []struct {
		name string
		plan pgtype.EncodePlan
	}{{"pgx", slow}, {"cents", fast}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := c.plan.Encode(n, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
