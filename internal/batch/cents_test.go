package batch

import (
	"math"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestCentsOf(t *testing.T) {
	num := func(i int64, exp int32) pgtype.Numeric {
		return pgtype.Numeric{Int: big.NewInt(i), Exp: exp, Valid: true}
	}
	huge := pgtype.Numeric{Int: new(big.Int).Lsh(big.NewInt(1), 70), Exp: -2, Valid: true}
	cases := []struct {
		n    pgtype.Numeric
		want int64
		err  bool
	}{
		{num(27280, -2), 27280, false},
		{num(2728, -1), 27280, false},
		{num(272, 0), 27200, false},
		{num(-5, -2), -5, false},
		{num(0, 0), 0, false},
		{num(12345, -3), 1234, false}, // more than cents: cut, as numeric(…,2) never holds
		{num(3, 2), 30000, false},
		{num(math.MaxInt64/10, -1), math.MaxInt64 / 10 * 10, false},
		{num(math.MaxInt64/10+1, -1), 0, true},
		{num(math.MinInt64/100, 0), math.MinInt64 / 100 * 100, false},
		{num(math.MinInt64/100-1, 0), 0, true},
		{huge, 0, true},
	}
	for _, c := range cases {
		got, err := centsOf(c.n)
		switch {
		case c.err && err == nil:
			t.Errorf("%v e%d: %v, want an error", c.n.Int, c.n.Exp, *got)
		case !c.err && (err != nil || int64(*got) != c.want):
			t.Errorf("%v e%d: %v %v, want %d", c.n.Int, c.n.Exp, got, err, c.want)
		}
	}
	if got, err := centsOf(pgtype.Numeric{}); got != nil || err != nil {
		t.Errorf("NULL: %v %v", got, err)
	}
}
