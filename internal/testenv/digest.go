package testenv

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/mapping"
)

// STAR2Digest hashes every row of every STAR2 data table, and the outcome
// of every STAR1 row in migration.row_outcome, so that two states of a
// target can be compared exactly.
func STAR2Digest(t testing.TB, conn *pgx.Conn) map[string]string {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, mt := range mapping.Tables {
		var h string
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(md5(string_agg(md5(t::text), ',' ORDER BY t.id)), '') || count(*) FROM star2.%s t", mt.Star2)).Scan(&h); err != nil {
			t.Fatal(err)
		}
		out[mt.Star2] = h
	}
	var h string
	if err := conn.QueryRow(ctx, `SELECT coalesce(md5(string_agg(concat_ws('|', star1_table, star1_id, outcome, rule, star2_id), ',' ORDER BY star1_table, star1_id)), '')
		FROM migration.row_outcome`).Scan(&h); err != nil {
		t.Fatal(err)
	}
	out["row_outcome"] = h
	return out
}

// SameDigest fails the test for every part of two digests that differs.
func SameDigest(t testing.TB, what string, a, b map[string]string) {
	t.Helper()
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %s differs", what, k)
		}
	}
}
