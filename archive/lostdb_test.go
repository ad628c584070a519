package archive

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/testenv"
)

// TestRestoreThatLostPostgreSQL ends the restore's session in the middle
// of its copying, as a failover or an administrator does: the restore
// fails with the cause alone, leaves no schema, and the same restore on a
// new connection gives every row.
func TestRestoreThatLostPostgreSQL(t *testing.T) {
	st, _ := NewFileStore(t.TempDir())
	k := testKeys(t)
	path := star1(t, 300)
	archiveSTAR1(t, path, small(config(st, k)))
	ctx := context.Background()
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(st, k.pub, k.identities, nil)
	dsn := testenv.Postgres(t)
	admin := testenv.Connect(t, dsn)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pid := conn.PgConn().PID()
	ended := false
	_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Progress: func(rows, total int64) {
		if rows > 0 && !ended {
			ended = true
			if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
				t.Error(err)
			}
		}
	}})
	if !ended {
		t.Fatalf("the restore ended before its session could be: %v", err)
	}
	t.Log(err)
	if err == nil || strings.Contains(err.Error(), "\n") || !testenv.SessionEnded(err) {
		t.Errorf("the restore that lost PostgreSQL: %v; want its cause alone", err)
	}
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'star1_archive')").Scan(&exists); err != nil || exists {
		t.Errorf("the restore that lost PostgreSQL left its schema (%v)", err)
	}

	again := testenv.Connect(t, dsn)
	stats, err := r.Restore(ctx, again, cats[0], RestoreOptions{})
	if err != nil {
		t.Fatalf("the restore after: %v", err)
	}
	for _, tab := range []string{"ISIK", "MAKSE", "DOKUMENT"} {
		var n int64
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM star1_archive."+strings.ToLower(tab)).Scan(&n); err != nil || n == 0 || n != stats.Tables[tab].Rows {
			t.Errorf("%s: %d rows restored (%v), the restore counted %d", tab, n, err, stats.Tables[tab].Rows)
		}
	}
}
