package load

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/testenv"
)

// specSQL is the SQL block of STAR2.md, kept verbatim in testdata.
func specSQL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "star2_spec.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSpecCopyIsCurrent(t *testing.T) {
	spec, err := os.ReadFile(filepath.Join("..", "..", "shared", "spec", "STAR2.md"))
	if err != nil {
		t.Skipf("shared/spec not beside the repository: %v", err)
	}
	s := string(spec)
	start := strings.Index(s, "```sql\n") + len("```sql\n")
	end := strings.Index(s[start:], "```")
	_, copied, _ := strings.Cut(specSQL(t), "\n")
	if s[start:start+end] != copied {
		t.Fatal("testdata/star2_spec.sql differs from the SQL block of STAR2.md: copy it again")
	}
}

// catalog describes a schema from the PostgreSQL catalog: tables, columns
// with types, nullability and defaults, constraints and indexes.
func catalog(t *testing.T, conn *pgx.Conn, schema string) []string {
	t.Helper()
	var out []string
	queries := []string{
		`SELECT 'table ' || table_name || ' ' || table_type FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
		`SELECT format('column %s.%s %s %s prec=%s scale=%s null=%s default=%s', table_name, column_name, ordinal_position,
		        data_type, numeric_precision, numeric_scale, is_nullable, coalesce(column_default, '-'))
		   FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
		`SELECT format('constraint %s %s %s %s', c.conrelid::regclass, c.conname, c.contype, pg_get_constraintdef(c.oid))
		   FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 ORDER BY 1`,
		`SELECT format('index %s %s', tablename, indexdef) FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`,
	}
	for _, q := range queries {
		rows, err := conn.Query(context.Background(), q, schema)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lines...)
	}
	return out
}

func TestSchemaApplyIsTheSpec(t *testing.T) {
	ctx := context.Background()
	ours := testenv.Connect(t, testenv.Postgres(t))
	spec := testenv.Connect(t, testenv.Postgres(t))
	if err := ApplySchema(ctx, ours); err != nil {
		t.Fatal(err)
	}
	if _, err := spec.Exec(ctx, specSQL(t), pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("the spec's SQL: %v", err)
	}
	got, want := catalog(t, ours, "star2"), catalog(t, spec, "star2")
	if len(want) < 80 {
		t.Fatalf("the spec's catalog has only %d entries", len(want))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("star2 differs from the spec:\n%s", diff(got, want))
	}
}

func diff(got, want []string) string {
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var b strings.Builder
	for _, x := range want {
		if !g[x] {
			fmt.Fprintf(&b, "- %s\n", x)
		}
	}
	for _, x := range got {
		if !w[x] {
			fmt.Fprintf(&b, "+ %s\n", x)
		}
	}
	return b.String()
}

func TestSchemaApplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	if err := ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	before := append(catalog(t, conn, "star2"), catalog(t, conn, "migration")...)
	if _, err := conn.Exec(ctx, `INSERT INTO star2.municipality VALUES ('0784', 'Tallinn')`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ApplySchema(ctx, conn); err != nil {
			t.Fatalf("second apply: %v", err)
		}
	}
	after := append(catalog(t, conn, "star2"), catalog(t, conn, "migration")...)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("applying again changed the catalog:\n%s", diff(after, before))
	}
	var name string
	if err := conn.QueryRow(ctx, `SELECT name FROM star2.municipality WHERE code = '0784'`).Scan(&name); err != nil || name != "Tallinn" {
		t.Errorf("row lost on re-apply: %q %v", name, err)
	}
}

func TestBookkeepingOnForeignStar2(t *testing.T) {
	// Production STAR2 exists already, created by its owners: only the
	// migration schema is added and star2 is left exactly as it was.
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	if _, err := conn.Exec(ctx, specSQL(t), pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE INDEX person_family ON star2.person (family_name)`); err != nil {
		t.Fatal(err)
	}
	before := catalog(t, conn, "star2")
	if err := ApplyBookkeeping(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if after := catalog(t, conn, "star2"); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("star2 of its owners changed:\n%s", diff(after, before))
	}
	rows, err := conn.Query(ctx, `SELECT column_name || ' ' || data_type FROM information_schema.columns
		WHERE table_schema = 'migration' AND table_name = 'row_outcome' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := "star1_table text,star1_id bigint,outcome text,rule text,star2_id uuid,gone_run_id bigint"
	if strings.Join(cols, ",") != want {
		t.Errorf("migration.row_outcome is (%s), want (%s)", strings.Join(cols, ","), want)
	}
}

func TestPostgresRoundTrip(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	if err := ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, `INSERT INTO star2.municipality VALUES ('0784', 'Tallinn');
		INSERT INTO star2.person (id, personal_code, given_name, family_name, birth_date, gender, municipality_code, created_at)
		VALUES ('6f1c1f3e-7c4e-5b7a-9c41-1f0d2e3a4b5c', '37605030299', 'Jüri', 'Õunapuu', '1976-05-03', 'male', '0784', '2015-03-29 04:30:00+03')`,
		pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var given, family, birth, created string
	err = conn.QueryRow(ctx, `SELECT given_name, family_name, birth_date::text, (created_at AT TIME ZONE 'UTC')::text
		FROM star2.person WHERE personal_code = '37605030299'`).Scan(&given, &family, &birth, &created)
	if err != nil {
		t.Fatal(err)
	}
	if given != "Jüri" || family != "Õunapuu" || birth != "1976-05-03" || created != "2015-03-29 01:30:00" {
		t.Errorf("read back %s %s %s %s", given, family, birth, created)
	}
	// The spec's constraints hold: a second person with the same code is refused.
	_, err = conn.Exec(ctx, `INSERT INTO star2.person (id, personal_code, created_at)
		VALUES ('00000000-0000-5000-8000-000000000001', '37605030299', now())`)
	if err == nil || !strings.Contains(err.Error(), "person_personal_code_key") {
		t.Errorf("duplicate personal code: %v", err)
	}
}

func TestBatchLockWaitsThenRefuses(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	a, b := testenv.Connect(t, dsn), testenv.Connect(t, dsn)
	if err := ApplySchema(ctx, a); err != nil {
		t.Fatal(err)
	}
	spec := BatchSpec{Name: "x", AsOf: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), LiveYears: 5, Wait: DefaultWait}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if _, err := StartRun(ctx, a, spec, now); err != nil {
		t.Fatal(err)
	}
	// The holder's session ends a moment later, as a killed run's does.
	go func() {
		time.Sleep(time.Second)
		a.Close(context.Background())
	}()
	var waitedFor []string
	spec.Waiting = func(running string) { waitedFor = append(waitedFor, running) }
	if _, err := StartRun(ctx, b, spec, now); err != nil {
		t.Fatalf("a run after the holder ended: %v", err)
	}
	if len(waitedFor) != 1 || waitedFor[0] != "x" {
		t.Errorf("the waiting run heard of %v, want the run of x", waitedFor)
	}
	var busy *ErrBatchBusy
	if err := lockRun(ctx, testenv.Connect(t, dsn), "x", 200*time.Millisecond, nil); !errors.As(err, &busy) {
		t.Errorf("a held batch: %v, want ErrBatchBusy", err)
	}
	// It names the session that holds the lock, for the case of a killed
	// run whose session the server has not yet ended.
	if h := busy.Holder; h == nil || h.PID != b.PgConn().PID() || h.Client != "127.0.0.1" || h.State != "idle" ||
		!strings.Contains(busy.Error(), fmt.Sprintf("(PostgreSQL session %d from 127.0.0.1, idle since ", h.PID)) ||
		!strings.Contains(busy.Error(), fmt.Sprintf("SELECT pg_terminate_backend(%d)", h.PID)) {
		t.Errorf("a held batch names its holder as %+v: %v", busy.Holder, busy)
	}
	// Another batch waits for the run too, and is told whose it is: two
	// batches share the persons their rows refer to.
	err := lockRun(ctx, testenv.Connect(t, dsn), "y", 200*time.Millisecond, nil)
	if !errors.As(err, &busy) || busy.Running != "x" || !strings.Contains(err.Error(), `batch "y" cannot start: batch "x" is being run into the same STAR2`) ||
		!strings.Contains(err.Error(), "--wait") {
		t.Errorf("another batch while x runs: %v", err)
	}
	// No wait: refused at once, without a word of waiting.
	waitedFor = nil
	err = lockRun(ctx, testenv.Connect(t, dsn), "y", 0, func(running string) { waitedFor = append(waitedFor, running) })
	if !errors.As(err, &busy) || busy.Running != "x" || len(waitedFor) != 0 {
		t.Errorf("--wait 0 while x runs: %v, heard of %v", err, waitedFor)
	}
}

func TestErrBatchScopeSaysWhatToRunWith(t *testing.T) {
	for _, c := range []struct {
		e    ErrBatchScope
		want string
	}{
		{ErrBatchScope{Batch: "north", Has: []string{"0100", "0111"}, Asked: []string{"0122"}}, `batch "north" covers municipalities 0100,0111, and this run asks for municipalities 0122: a batch keeps the municipalities of its first run (--kov 0100,0111)`},
		{ErrBatchScope{Batch: "all", Asked: []string{"0100"}}, `batch "all" covers all municipalities, and this run asks for municipalities 0100: a batch keeps the municipalities of its first run (no --kov)`},
	} {
		if got := c.e.Error(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q, want it to begin %q", got, c.want)
		}
	}
}

// TestStar2TypesAreTheSchemas: the types the column check holds STAR2 to
// are those of star2.sql as PostgreSQL creates it, for every column.
func TestStar2TypesAreTheSchemas(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	if err := ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'star2' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var column, typ string
	if _, err := pgx.ForEachRow(rows, []any{&column, &typ}, func() error { got[column] = typ; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) < 70 || !maps.Equal(got, star2Types) {
		t.Errorf("star2Types (%d columns) differ from the schema (%d):\n%v\n%v", len(star2Types), len(got), star2Types, got)
	}
	if err := checkColumns(ctx, conn, true); err != nil {
		t.Errorf("the schema as applied: %v", err)
	}
}

func TestTypeFits(t *testing.T) {
	for _, c := range []struct {
		got, want string
		fits      bool
	}{
		{"text", "text", true},
		{"character varying", "text", true},
		{"character varying(11)", "text", true},
		{"citext", "text", true},
		{"date", "text", false},
		{"date", "date", true},
		{"text", "date", false},
		{"timestamp without time zone", "timestamp with time zone", false},
		{"timestamp with time zone", "timestamp with time zone", true},
		{"numeric(12,2)", "numeric(12,2)", true},
		{"numeric(14,2)", "numeric(12,2)", true},
		{"numeric", "numeric(12,2)", true},
		{"numeric(10,2)", "numeric(12,2)", false},
		{"numeric(12,0)", "numeric(12,2)", false},
		{"numeric(14,3)", "numeric(12,2)", false},
		{"double precision", "numeric(12,2)", false},
		{"integer", "bigint", false},
		{"uuid", "uuid", true},
		{"text", "uuid", false},
	} {
		if typeFits(c.got, c.want) != c.fits {
			t.Errorf("typeFits(%q, %q) = %v", c.got, c.want, !c.fits)
		}
	}
}
