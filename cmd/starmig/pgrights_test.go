package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/testenv"
)

// TestMigrationNeedsOnlyItsRights runs the engineers' commands as a role
// with exactly the grants the engineers' runbook gives it, and no more:
// no superuser, no DELETE or TRUNCATE on STAR2, and none of the rights
// on the database that PUBLIC has by default. The owners create star2;
// the role creates its bookkeeping, runs a batch, runs it again over a
// changed STAR1 with a row changed in STAR2 meanwhile (a conflict),
// decides on the conflict, runs once more, and reconciles deep.
func TestMigrationNeedsOnlyItsRights(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 200, 12)
	maps := filepath.Join(dir, "mappings")
	target := star2(t)
	admin := testenv.Connect(t, target)
	if _, err := admin.Exec(ctx, "DROP SCHEMA migration CASCADE"); err != nil { // the owners make star2 only
		t.Fatal(err)
	}
	role, migrator := testenv.Role(t, target, "migrator_", "")
	grants := runbookGrants(t, "runbook-engineers.md")
	if len(grants) != 3 {
		t.Fatalf("the runbook gives %d GRANT lines, want 3: %q", len(grants), grants)
	}
	// What every role has by default, a hardened database takes away.
	revokeFromPublic(t, target, "CONNECT, TEMPORARY")
	grantAs(t, target, role, grants...)

	step := func(want int, args ...string) {
		t.Helper()
		if code, _, stderr := run(t, ctx, append(args, "-q")...); code != want {
			t.Fatalf("%s as the migration's role: exit %d, want %d: %s", strings.Join(args[:2], " "), code, want, stderr)
		}
	}
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", migrator, "--mappings", maps, "--batch", "all", "--as-of", "2026-11-01"}
	step(0, "schema", "apply", "--target", migrator, "--bookkeeping-only")
	step(0, migrate...)

	// Two loaded persons change in STAR1; one of them in STAR2 as well.
	rows, err := admin.Query(ctx, `SELECT star1_id, star2_id FROM migration.row_outcome WHERE star1_table = 'ISIK' AND outcome = 'loaded' ORDER BY star1_id LIMIT 2`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	var star2IDs []string
	for rows.Next() {
		var id int64
		var s2 string
		if err := rows.Scan(&id, &s2); err != nil {
			t.Fatal(err)
		}
		ids, star2IDs = append(ids, id), append(star2IDs, s2)
	}
	if rows.Err() != nil || len(ids) != 2 {
		t.Fatalf("loaded persons: %v, %v", ids, rows.Err())
	}
	src, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Exec(`UPDATE ISIK SET AADRESS = 'Uus tn 1, Tallinn', MUUDETUD = '2026-10-30 10:00:00' WHERE ISIK_ID IN (?, ?)`, ids[0], ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `UPDATE star2.person SET address = 'Sotsiaaltöötaja parandus' WHERE id = $1`, star2IDs[1]); err != nil {
		t.Fatal(err)
	}
	step(0, migrate...)
	_, out, _ := run(t, ctx, "resolve", "--target", migrator, "--batch", "all", "--list")
	if !strings.Contains(out, fmt.Sprintf("ISIK:%d", ids[1])) {
		t.Fatalf("resolve --list: %s; want ISIK:%d in conflict", out, ids[1])
	}
	step(0, "resolve", "--target", migrator, "--batch", "all", "--row", fmt.Sprintf("ISIK:%d", ids[1]), "--take-star1", "--reason", "rights test")
	step(0, migrate...)
	step(0, "reconcile", "--source", "sqlite:"+db, "--target", migrator, "--mappings", maps, "--batch", "all", "--deep")
	step(0, "status", "--target", migrator)
	var address string
	if err := admin.QueryRow(ctx, `SELECT address FROM star2.person WHERE id = $1`, star2IDs[1]).Scan(&address); err != nil || address != "Uus tn 1, Tallinn" {
		t.Errorf("the person decided for STAR1 has address %q (%v), want STAR1's", address, err)
	}
}

// grantAs runs GRANT lines of a runbook on the database of dsn, for role:
// the runbook's database (star2, crisis) is dsn's, and its role
// (migrator, restorer, reader) is role.
func grantAs(t *testing.T, dsn, role string, lines ...string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := testenv.Connect(t, dsn)
	database := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	for _, g := range lines {
		g = regexp.MustCompile(`ON DATABASE \w+`).ReplaceAllString(g, "ON DATABASE "+database)
		g = regexp.MustCompile(`TO \w+;$`).ReplaceAllString(g, "TO "+role+";")
		if _, err := admin.Exec(context.Background(), g); err != nil {
			t.Fatalf("%s: %v", g, err)
		}
	}
}

// revokeFromPublic revokes rights on the database of dsn from PUBLIC,
// through which every role has CONNECT and TEMPORARY by default, as a
// hardened database has them revoked.
func revokeFromPublic(t *testing.T, dsn, rights string) {
	t.Helper()
	execAll(t, testenv.Connect(t, dsn), fmt.Sprintf("REVOKE %s ON DATABASE %s FROM PUBLIC", rights, database(t, dsn)))
}

// runbookGrants are the GRANT lines of a runbook in docs/.
func runbookGrants(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "GRANT ") {
			grants = append(grants, line)
		}
	}
	return grants
}

// TestRestoreNeedsOnlyItsRights: in a crisis the archivists restore STAR1
// as a role with exactly the grant their runbook gives (to connect and
// make schemas), which also lets a restore drill make and drop its scratch
// schema; a migration then reads the restored STAR1 as a role with only
// the runbook's grants on that schema.
func TestRestoreNeedsOnlyItsRights(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, keys, to := folderArchive(t, dir, 100, 14)
	grants := runbookGrants(t, "runbook-archivists.md")
	if len(grants) != 3 {
		t.Fatalf("the runbook gives %d GRANT lines, want 3: %q", len(grants), grants)
	}
	crisis := testenv.Postgres(t)
	restorer, asRestorer := testenv.Role(t, crisis, "restorer_", "")
	revokeFromPublic(t, crisis, "TEMPORARY")
	grantAs(t, crisis, restorer, grants[0])
	if code, _, stderr := run(t, ctx, "restore", "--archive", to, "--keys", keys, "--to", asRestorer, "--reason", "crisis", "-q"); code != 0 {
		t.Fatalf("restore as the restore's role: exit %d: %s", code, stderr)
	}
	scratch := testenv.Postgres(t)
	revokeFromPublic(t, scratch, "TEMPORARY")
	grantAs(t, scratch, restorer, grants[0])
	u, err := url.Parse(scratch)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(restorer)
	drill := u.String()
	if code, _, stderr := run(t, ctx, "verify", "--archive", to, "--keys", keys, "--identity", filepath.Join(keys, "identity.txt"),
		"--sample", "100", "--restore-drill", drill, "--reason", "yearly drill", "-q"); code != 0 {
		t.Fatalf("restore drill as the restore's role: exit %d: %s", code, stderr)
	}

	reader, asReader := testenv.Role(t, crisis, "reader_", "")
	grantAs(t, crisis, reader, grants[1:]...)
	source := asReader + "&schema=star1_archive"
	if !strings.Contains(asReader, "?") {
		source = asReader + "?schema=star1_archive"
	}
	if code, _, stderr := run(t, ctx, "migrate", "--source", source, "--target", star2(t),
		"--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01", "-q"); code != 0 {
		t.Errorf("migrate from the restored STAR1 as a reader: exit %d: %s", code, stderr)
	}
}

// TestMissingRightsOnSTAR2AreNamed: a migration's role that lacks a right
// the runbook grants, or that STAR2's row-level security applies to, is
// told so before a batch writes anything, each table with what is wrong,
// and what to do. Before, the batch stopped at its first COPY into such a
// table ("COPY FROM not supported with row-level security") or, for a
// missing UPDATE, only on the run that had a row to update; and a
// reconciliation under a policy reported the rows it hid as deleted in
// STAR2, which resolve --keep-star2 would have accepted. The rights on
// the database are named too: without TEMPORARY (revoked from PUBLIC, as
// on a hardened database) a batch stopped once it had planned, and a deep
// reconciliation once it had read STAR1, in PostgreSQL's words alone.
func TestMissingRightsOnSTAR2AreNamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 12)
	maps := filepath.Join(dir, "mappings")
	target := star2(t)
	admin := testenv.Connect(t, target)
	role, migrator := testenv.Role(t, target, "migrator_", "")
	grantAs(t, target, role, runbookGrants(t, "runbook-engineers.md")...)
	revokeFromPublic(t, target, "TEMPORARY")
	execAll(t, admin,
		"DROP SCHEMA migration CASCADE", // the migration's role makes it
		"REVOKE TEMPORARY ON DATABASE "+database(t, target)+" FROM "+role,
		"REVOKE UPDATE ON star2.decision FROM "+role,
		"ALTER TABLE star2.person ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY by_municipality ON star2.person USING (municipality_code = current_setting('app.municipality', true))")
	if code, _, stderr := run(t, ctx, "schema", "apply", "--target", migrator, "--bookkeeping-only", "-q"); code != 0 {
		t.Fatalf("schema apply --bookkeeping-only: exit %d: %s", code, stderr)
	}
	execAll(t, admin, "REVOKE CREATE ON DATABASE "+database(t, target)+" FROM "+role)
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", migrator, "--mappings", maps, "--batch", "all", "--as-of", "2026-11-01", "-q"}
	code, _, stderr := run(t, ctx, migrate...)
	for _, want := range []string{
		"role " + role + " may not do on STAR2 what a batch does there, so nothing was written",
		"star2.person: row-level security applies", "star2.decision: UPDATE",
		"database " + database(t, target) + ": CREATE (for the schema in which each run keeps its plan), TEMPORARY (for the temporary tables in which a session stages rows)\n",
		"GRANT CREATE, TEMPORARY ON DATABASE " + database(t, target) + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA star2 TO " + role, "ALTER ROLE " + role + " BYPASSRLS",
	} {
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("migrate: exit %d, %s\nwant exit %d and %q", code, stderr, exitError, want)
		}
	}
	noRunsOnRecord(t, admin)

	// The owners put the rights right; the policy stays, which the
	// reconciliation, reading as the same role, is stopped by.
	execAll(t, admin, "GRANT UPDATE ON star2.decision TO "+role, "ALTER ROLE "+role+" BYPASSRLS",
		"GRANT CREATE, TEMPORARY ON DATABASE "+database(t, target)+" TO "+role)
	if code, _, stderr := run(t, ctx, migrate...); code != 0 {
		t.Fatalf("migrate with the rights: exit %d: %s", code, stderr)
	}
	if _, err := admin.Exec(ctx, "ALTER ROLE "+role+" NOBYPASSRLS"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", migrator, "--mappings", maps, "--batch", "all", "-q")
	if code != exitError || !strings.Contains(stderr, "may not read all of STAR2, where starmig must see every row, so nothing was read") ||
		!strings.Contains(stderr, "star2.person: row-level security applies") || strings.Contains(stderr, "GRANT") {
		t.Errorf("reconcile under a policy: exit %d, %s", code, stderr)
	}
	code, out, stderr := run(t, ctx, "resolve", "--target", migrator, "--batch", "all", "--list")
	if code != exitError || !strings.Contains(stderr, "star2.person: row-level security applies") {
		t.Errorf("resolve --list under a policy: exit %d, %s%s", code, out, stderr)
	}

	// Without TEMPORARY, the plain reconciliation runs; the deep one,
	// which compares in temporary tables, stops before it reads.
	execAll(t, admin, "ALTER ROLE "+role+" BYPASSRLS", "REVOKE TEMPORARY ON DATABASE "+database(t, target)+" FROM "+role)
	reconcile := []string{"reconcile", "--source", "sqlite:" + db, "--target", migrator, "--mappings", maps, "--batch", "all", "-q"}
	if code, _, stderr := run(t, ctx, reconcile...); code != 0 {
		t.Errorf("reconcile without TEMPORARY: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, ctx, append(reconcile, "--deep")...)
	if code != exitError || !strings.Contains(stderr, "may not make the temporary tables in which a deep reconciliation compares rows, so nothing was read") ||
		!strings.Contains(stderr, "GRANT TEMPORARY ON DATABASE "+database(t, target)+" TO "+role) || strings.Contains(stderr, "ON ALL TABLES") {
		t.Errorf("reconcile --deep without TEMPORARY: exit %d, %s", code, stderr)
	}
}

// database is the name of the database of dsn; the tests' databases
// have names SQL takes without quotes.
func database(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// TestColumnsSTAR2sOwnersAdded: STAR2's owners may add columns to its
// tables. One that takes no row without a value (NOT NULL, no default)
// and that a batch does not write would have every row of its table
// rejected, one by one, with exit 0; a batch now stops before writing
// anything, naming it. Columns with a default, an identity or NULLs
// allowed are no obstacle, and do not disturb the deep reconciliation.
func TestColumnsSTAR2sOwnersAdded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 13)
	maps := filepath.Join(dir, "mappings")
	target := star2(t)
	admin := testenv.Connect(t, target)
	execAll(t, admin,
		"ALTER TABLE star2.payment ADD COLUMN approved_by text NOT NULL",
		"ALTER TABLE star2.payment ADD COLUMN entry bigint GENERATED ALWAYS AS IDENTITY",
		"ALTER TABLE star2.person ADD COLUMN note text NOT NULL DEFAULT ''",
		"ALTER TABLE star2.decision ADD COLUMN reviewed_on date")
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--as-of", "2026-11-01", "-q"}
	code, _, stderr := run(t, ctx, migrate...)
	if code != exitError || !strings.Contains(stderr, "so nothing was written:\n  star2.payment.approved_by\n") ||
		strings.Contains(stderr, "entry") || strings.Contains(stderr, "note") || strings.Contains(stderr, "reviewed_on") {
		t.Errorf("migrate: exit %d, %s; want exit %d naming star2.payment.approved_by alone", code, stderr, exitError)
	}
	noRunsOnRecord(t, admin)
	if _, err := admin.Exec(ctx, "ALTER TABLE star2.payment ALTER COLUMN approved_by SET DEFAULT 'migration'"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, ctx, migrate...); code != 0 {
		t.Fatalf("migrate once the column has a default: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", target, "--mappings", maps, "--batch", "all", "--deep", "-q"); code != 0 {
		t.Errorf("reconcile --deep with the owners' columns: exit %d: %s", code, stderr)
	}
}

// TestARuleOfSTAR2ThatRefusesATableIsWarned: a CHECK constraint of
// STAR2's owners that no payment meets has every payment refused, each
// quarantined with the database's reason, and the run ends with exit 0,
// every row accounted for. The run now warns of it, with --json under
// warnings for monitoring and again in status; once the constraint is
// put right, the next run loads those rows and warns of nothing.
func TestARuleOfSTAR2ThatRefusesATableIsWarned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 15)
	target := star2(t)
	admin := testenv.Connect(t, target)
	if _, err := admin.Exec(ctx, "ALTER TABLE star2.payment ADD CONSTRAINT refunds_only CHECK (amount_eur < 0)"); err != nil {
		t.Fatal(err)
	}
	migrate := func() (tables map[string]struct{ Inserted, Rejected int64 }, warnings map[string]string) {
		t.Helper()
		code, out, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "all", "--as-of", "2026-11-01", "--json", "-q")
		var res struct {
			Tables   map[string]struct{ Inserted, Rejected int64 }
			Warnings []struct{ Kind, Text string }
		}
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
			t.Fatalf("migrate: exit %d, %v: %s%s", code, err, out, stderr)
		}
		warnings = map[string]string{}
		for _, w := range res.Warnings {
			warnings[w.Kind] = w.Text
		}
		return res.Tables, warnings
	}
	tables, warnings := migrate()
	refused := tables["MAKSE"].Rejected
	if want := fmt.Sprintf("%d of %d written to MAKSE", refused, refused); refused == 0 || tables["MAKSE"].Inserted != 0 || !strings.Contains(warnings["many_rejected"], want) {
		t.Errorf("a CHECK no payment meets: MAKSE %+v, warnings %q; want every payment refused and %q", tables["MAKSE"], warnings, want)
	}
	if _, out, _ := run(t, ctx, "status", "--target", target); !strings.Contains(out, "refused by STAR2 (rejected_by_database)") {
		t.Errorf("status does not give the warning again:\n%s", out)
	}
	if _, err := admin.Exec(ctx, "ALTER TABLE star2.payment DROP CONSTRAINT refunds_only"); err != nil {
		t.Fatal(err)
	}
	tables, warnings = migrate()
	if tables["MAKSE"].Inserted != refused || len(warnings) != 0 {
		t.Errorf("once the constraint is gone: MAKSE %+v, warnings %q; want the %d payments inserted and no warning", tables["MAKSE"], warnings, refused)
	}
}

// TestColumnsOfOtherTypesAreRefused: the owners of STAR2 may have made a
// column another type than STAR2.md gives. A date went into a text column
// as Go prints a time ("1978-07-18 00:00:00 +0000 UTC"), a moment into a
// timestamp without time zone as its UTC wall clock, and the deep
// reconciliation, which reads STAR2 through the same types, passed. A
// batch now refuses such columns, and missing ones, before writing,
// naming each; the types that take the values as they are (varchar or
// citext for text, a wider amount, a domain over the type) are loaded as
// before. A reconciliation refuses to read STAR2 through such a column.
func TestColumnsOfOtherTypesAreRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 17)
	maps := filepath.Join(dir, "mappings")
	target := star2(t)
	admin := testenv.Connect(t, target)
	execAll(t, admin, "ALTER TABLE star2.person ALTER COLUMN birth_date TYPE text",
		"ALTER TABLE star2.person ALTER COLUMN created_at TYPE timestamp",
		"ALTER TABLE star2.activity DROP COLUMN performed_by")
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--as-of", "2026-11-01", "-q"}
	code, _, stderr := run(t, ctx, migrate...)
	want := "so nothing was written:\n" +
		"  star2.person.birth_date is text; STAR2.md gives date\n" +
		"  star2.person.created_at is timestamp without time zone; STAR2.md gives timestamp with time zone\n" +
		"  star2.activity.performed_by is missing; STAR2.md gives it as text\n"
	if code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("migrate: exit %d, %s; want exit %d and\n%s", code, stderr, exitError, want)
	}
	noRunsOnRecord(t, admin)
	execAll(t, admin, "ALTER TABLE star2.person ALTER COLUMN birth_date TYPE date USING birth_date::date",
		"ALTER TABLE star2.person ALTER COLUMN created_at TYPE timestamptz",
		"ALTER TABLE star2.activity ADD COLUMN performed_by text",
		"ALTER TABLE star2.person ALTER COLUMN personal_code TYPE varchar(11)",
		"ALTER TABLE star2.payment ALTER COLUMN amount_eur TYPE numeric(14,2)",
		"CREATE DOMAIN star2.name_text AS text CHECK (VALUE <> '')",
		"ALTER TABLE star2.person ALTER COLUMN family_name TYPE star2.name_text",
		"CREATE EXTENSION IF NOT EXISTS citext",
		"ALTER TABLE star2.person ALTER COLUMN given_name TYPE citext")
	if code, _, stderr := run(t, ctx, migrate...); code != 0 {
		t.Fatalf("migrate into types that take the values: exit %d: %s", code, stderr)
	}
	reconcile := []string{"reconcile", "--source", "sqlite:" + db, "--target", target, "--mappings", maps, "--batch", "all", "--deep", "-q"}
	if code, _, stderr := run(t, ctx, reconcile...); code != 0 {
		t.Errorf("reconcile --deep: exit %d: %s", code, stderr)
	}
	// A column changed after the batch wrote it: the reconciliation
	// refuses to read STAR2 through it.
	execAll(t, admin, "ALTER TABLE star2.person ALTER COLUMN created_at TYPE timestamp")
	code, _, stderr = run(t, ctx, reconcile...)
	if want := "so nothing was read: what such a column holds cannot be held to the rules:\n  star2.person.created_at is timestamp without time zone"; code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("reconcile over a column changed since: exit %d, %s; want exit %d and %q", code, stderr, exitError, want)
	}
}

// execAll runs each statement on conn, and stops the test at the first
// that fails.
func execAll(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if _, err := conn.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// noRunsOnRecord checks that the bookkeeping holds no run: a command
// stopped before it wrote anything.
func noRunsOnRecord(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	var runs int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM migration.run").Scan(&runs); err != nil || runs != 0 {
		t.Errorf("%d runs on record (%v), want none", runs, err)
	}
}

// TestAConnectionLimitStopsTheBatchBeforeItWrites: a role whose CONNECTION
// LIMIT is below the sessions a batch writes on (two writers and a reader)
// stopped the batch once its plan was made, after a run was on record. The
// batch now opens every session before it writes anything; the error
// names the limit and --writers, and with --writers 1 the batch runs.
func TestAConnectionLimitStopsTheBatchBeforeItWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 25)
	target := star2(t)
	admin := testenv.Connect(t, target)
	role, limited := testenv.Role(t, target, "limited_", "CONNECTION LIMIT 2")
	grantAs(t, target, role, runbookGrants(t, "runbook-engineers.md")...)
	execAll(t, admin, "DROP SCHEMA migration CASCADE")
	if code, _, stderr := run(t, ctx, "schema", "apply", "--target", limited, "--bookkeeping-only", "-q"); code != 0 {
		t.Fatalf("schema apply --bookkeeping-only: exit %d: %s", code, stderr)
	}
	// The sessions of a command that ended end on the server a moment
	// after it: until then they count against the limit.
	sessionsEnded := func() {
		t.Helper()
		for i := 0; ; i++ {
			var n int
			if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if i == 100 {
				t.Fatalf("%d sessions of %s still open", n, role)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	sessionsEnded()
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", limited, "--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01", "-q"}
	code, _, stderr := run(t, ctx, migrate...)
	if code != exitError || !strings.Contains(stderr, "too_many_connections") || !strings.Contains(stderr, "--writers") {
		t.Errorf("migrate with a role limited to 2 sessions: exit %d: %s", code, stderr)
	}
	noRunsOnRecord(t, admin)
	sessionsEnded()
	if code, _, stderr := run(t, ctx, append(migrate, "--writers", "1")...); code != 0 {
		t.Errorf("migrate --writers 1 with a role limited to 2 sessions: exit %d: %s", code, stderr)
	}
}

// TestABookkeepingOfAnotherRoleIsNamed: the owners of STAR2 may have made
// the bookkeeping themselves (a full schema apply) and granted the
// migration's role its rows. Every batch keeps the bookkeeping's tables
// current, which only their owner may, and the batch stopped with
// PostgreSQL's "permission denied for schema migration" alone. It now
// names the owner and what to do; done so, the batch runs. A full schema
// apply by the role is told to make the bookkeeping alone.
func TestABookkeepingOfAnotherRoleIsNamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 60, 27)
	target := star2(t)
	admin := testenv.Connect(t, target)
	role, migrator := testenv.Role(t, target, "migrator_", "")
	grantAs(t, target, role, runbookGrants(t, "runbook-engineers.md")...)
	execAll(t, admin, "GRANT USAGE ON SCHEMA migration TO "+role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA migration TO "+role,
		"GRANT USAGE ON ALL SEQUENCES IN SCHEMA migration TO "+role)
	migrate := []string{"migrate", "--source", "sqlite:" + db, "--target", migrator, "--mappings", filepath.Join(dir, "mappings"), "--batch", "all", "--as-of", "2026-11-01", "-q"}
	code, _, stderr := run(t, ctx, migrate...)
	for _, want := range []string{"The bookkeeping (schema migration and its tables) belongs to role ", "and role " + role + " may not change it",
		"ALTER SCHEMA migration OWNER TO " + role, "run starmig schema apply --bookkeeping-only as " + role} {
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("migrate with a bookkeeping of another role: exit %d, %s\nwant %q", code, stderr, want)
		}
	}
	noRunsOnRecord(t, admin)
	if code, _, stderr := run(t, ctx, "schema", "apply", "--target", migrator, "-q"); code != exitError || !strings.Contains(stderr, "Schema star2 belongs to role ") ||
		!strings.Contains(stderr, "run starmig schema apply --bookkeeping-only") {
		t.Errorf("schema apply of star2 by the migration's role: exit %d, %s", code, stderr)
	}

	// The owners give the bookkeeping over, as the error says.
	execAll(t, admin, "ALTER SCHEMA migration OWNER TO "+role,
		`DO $$ DECLARE r record; BEGIN
			FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'migration' AND c.relkind IN ('r', 'v') LOOP
				EXECUTE format('ALTER TABLE migration.%I OWNER TO `+role+`', r.relname);
			END LOOP;
		END $$`)
	if code, _, stderr := run(t, ctx, migrate...); code != 0 {
		t.Errorf("migrate once the bookkeeping is the role's: exit %d: %s", code, stderr)
	}
}
