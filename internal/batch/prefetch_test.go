package batch

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/testenv"
)

// TestPrefetch reads every row in order, reports a query that fails
// midway, and leaves the connection usable when the reader stops early.
func TestPrefetch(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	scan := func(r pgx.Rows, v *int64) error { return r.Scan(v) }

	const n = 3*prefetchBatch + 7
	pf := startPrefetch(ctx, conn, scan, "SELECT g FROM generate_series(1, $1::int) g", n)
	var want int64 = 1
	for v := pf.Next(); v != nil; v = pf.Next() {
		if *v != want {
			t.Fatalf("row %d is %d", want, *v)
		}
		want++
	}
	if err := pf.Err(); err != nil || want != n+1 {
		t.Fatalf("read %d rows of %d, err %v", want-1, n, err)
	}
	pf.Close()

	pf = startPrefetch(ctx, conn, scan, "SELECT 10 / (2000 - g) FROM generate_series(1, 3000) g")
	for pf.Next() != nil {
	}
	if err := pf.Err(); err == nil {
		t.Error("a division by zero after 2000 rows went unreported")
	}
	pf.Close()

	pf = startPrefetch(ctx, conn, scan, "SELECT g FROM generate_series(1, 100000) g")
	if v := pf.Next(); v == nil || *v != 1 {
		t.Fatal("no first row")
	}
	pf.Close()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("connection after an early Close: %v", err)
	}
}
