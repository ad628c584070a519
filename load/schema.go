// Package load writes STAR2: its schema, the migration's bookkeeping, and
// live rows by COPY.
package load

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/starmig/starmig/mapping"
)

//go:embed sql/star2.sql
var star2SQL string

//go:embed sql/migration.sql
var migrationSQL string

// schemaLock serialises schema changes of concurrent starmig processes.
const schemaLock = 0x53544152 // "STAR"

// ApplySchema creates the star2 schema of STAR2.md and the migration
// bookkeeping schema. It is idempotent, and leaves a star2 that someone
// else created as it is.
func ApplySchema(ctx context.Context, conn *pgx.Conn) error {
	return apply(ctx, conn, star2SQL, migrationSQL)
}

// ApplyBookkeeping creates only the migration schema, for production
// STAR2 databases whose star2 schema their owners manage.
func ApplyBookkeeping(ctx context.Context, conn *pgx.Conn) error {
	return apply(ctx, conn, migrationSQL)
}

// star2Tables are the tables of star2.sql, in the order it creates them.
var star2Tables = func() []string {
	var names []string
	for _, m := range regexp.MustCompile(`CREATE TABLE IF NOT EXISTS (star2\.\w+)`).FindAllStringSubmatch(star2SQL, -1) {
		names = append(names, m[1])
	}
	return names
}()

// MissingSTAR2Error says that the target lacks tables of the star2 schema
// that a batch writes.
type MissingSTAR2Error struct {
	Tables []string
}

func (e *MissingSTAR2Error) Error() string {
	return fmt.Sprintf("the target has no %s: it is not a STAR2 database, or its schema was never applied "+
		"(run \"starmig schema apply --target ...\" first)", strings.Join(e.Tables, ", "))
}

// STAR2RightsError says that the session's role may not do on tables of
// STAR2 what starmig does there, or that row-level security applies to it
// there, which would stop a batch at its first COPY into such a table
// ("COPY FROM not supported with row-level security") or hide rows from a
// reconciliation, which would report them missing, and from the conflicts
// of resolve, which would list them as deleted in STAR2.
type STAR2RightsError struct {
	Role   string
	Lacks  []string // one line per table: "star2.person: UPDATE"
	Grant  bool     // some table lacks a right
	Policy bool     // some table has row-level security for Role
	Write  bool     // the check was for a batch, which writes
	// Database is the target database, and DatabaseLacks the rights on
	// it that the role lacks: CREATE for the schema in which each run
	// keeps its plan, TEMPORARY for the tables in which a session stages
	// what it writes or compares. A hardened database may have TEMPORARY
	// revoked from PUBLIC, which every role has it through by default.
	Database      string
	DatabaseLacks []string
}

// databaseRights say what each right on the database is for.
var databaseRights = map[string]string{
	"CREATE":    "CREATE (for the schema in which each run keeps its plan)",
	"TEMPORARY": "TEMPORARY (for the temporary tables in which a session stages rows)",
}

func (e *STAR2RightsError) Error() string {
	var b strings.Builder
	role, rights := identifier(e.Role), "SELECT"
	if e.Write {
		rights = "SELECT, INSERT, UPDATE"
		fmt.Fprintf(&b, "role %s may not do on STAR2 what a batch does there, so nothing was written:", role)
	} else if len(e.Lacks) == 0 {
		fmt.Fprintf(&b, "role %s may not make the temporary tables in which a deep reconciliation compares rows, so nothing was read:", role)
	} else {
		fmt.Fprintf(&b, "role %s may not read all of STAR2, where starmig must see every row, so nothing was read:", role)
	}
	for _, l := range e.Lacks {
		b.WriteString("\n  " + l)
	}
	if len(e.DatabaseLacks) > 0 {
		what := make([]string, len(e.DatabaseLacks))
		for i, r := range e.DatabaseLacks {
			what[i] = databaseRights[r]
		}
		fmt.Fprintf(&b, "\n  database %s: %s", e.Database, strings.Join(what, ", "))
	}
	var do []string
	if len(e.DatabaseLacks) > 0 {
		do = append(do, fmt.Sprintf("grant the rights on the database (GRANT %s ON DATABASE %s TO %s)", strings.Join(e.DatabaseLacks, ", "), identifier(e.Database), role))
	}
	if e.Grant {
		do = append(do, fmt.Sprintf("grant the rights docs/runbook-engineers.md gives (GRANT %s ON ALL TABLES IN SCHEMA star2 TO %s)", rights, role))
	}
	if e.Policy {
		do = append(do, fmt.Sprintf("give the role BYPASSRLS, since starmig accounts for every row whatever STAR2's row-level security policies let a role see (ALTER ROLE %s BYPASSRLS, by a superuser)", role))
	}
	fmt.Fprintf(&b, "\nTo go on, %s, then run the same command again.", strings.Join(do, ", and "))
	return b.String()
}

// plainName is a name SQL takes without quotes.
var plainName = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// identifier is name as SQL takes it: quoted only where it must be.
func identifier(name string) string {
	if plainName.MatchString(name) {
		return name
	}
	return pgx.Identifier{name}.Sanitize()
}

// CheckSTAR2 makes sure the target holds every table of the star2 schema,
// and that the session's role may read each (and, with write, insert and
// update its rows), with no row-level security between it and the rows,
// before a batch writes, or a reconciliation or resolve reads, anything.
func CheckSTAR2(ctx context.Context, conn *pgx.Conn, write bool) error {
	rows, err := conn.Query(ctx, `SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n)
		WHERE to_regclass(t) IS NULL ORDER BY n`, star2Tables)
	if err != nil {
		return fmt.Errorf("schema: check star2: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("schema: check star2: %w", err)
	}
	if len(missing) > 0 {
		return &MissingSTAR2Error{Tables: missing}
	}
	rights := []string{"SELECT"}
	if write {
		rights = append(rights, "INSERT", "UPDATE")
	}
	rows, err = conn.Query(ctx, `SELECT t, ARRAY(SELECT r FROM unnest($2::text[]) r WHERE NOT has_table_privilege(t, r)), row_security_active(t), current_user
		FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n`, star2Tables, rights)
	if err != nil {
		return fmt.Errorf("schema: check the rights on star2: %w", err)
	}
	e := &STAR2RightsError{Write: write}
	var table string
	var lacks []string
	var policy bool
	// lacks names each right that is missing: "UPDATE".
	_, err = pgx.ForEachRow(rows, []any{&table, &lacks, &policy, &e.Role}, func() error {
		e.Grant = e.Grant || len(lacks) > 0
		if policy {
			lacks = append(lacks, "row-level security applies")
			e.Policy = true
		}
		if len(lacks) > 0 {
			e.Lacks = append(e.Lacks, table+": "+strings.Join(lacks, ", "))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("schema: check the rights on star2: %w", err)
	}
	if write {
		if err := databaseLacks(ctx, conn, e, "CREATE", "TEMPORARY"); err != nil {
			return err
		}
	}
	if len(e.Lacks) > 0 || len(e.DatabaseLacks) > 0 {
		return e
	}
	if err := checkColumns(ctx, conn, write); err != nil {
		return err
	}
	if write {
		return checkUnwritten(ctx, conn)
	}
	return nil
}

// databaseLacks puts into e the rights on the session's database, of
// those given, that its role lacks.
func databaseLacks(ctx context.Context, conn *pgx.Conn, e *STAR2RightsError, rights ...string) error {
	err := conn.QueryRow(ctx, `SELECT current_database(), current_user,
		ARRAY(SELECT r FROM unnest($1::text[]) WITH ORDINALITY AS u(r, n) WHERE NOT has_database_privilege(current_database(), r) ORDER BY n)`,
		rights).Scan(&e.Database, &e.Role, &e.DatabaseLacks)
	if err != nil {
		return fmt.Errorf("schema: check the rights on the database: %w", err)
	}
	return nil
}

// CheckTemporary makes sure that the session's role may make temporary
// tables, as a deep reconciliation does, before it reads anything.
func CheckTemporary(ctx context.Context, conn *pgx.Conn) error {
	e := &STAR2RightsError{}
	if err := databaseLacks(ctx, conn, e, "TEMPORARY"); err != nil {
		return err
	}
	if len(e.DatabaseLacks) > 0 {
		return e
	}
	return nil
}

// star2Types are the types star2.sql gives the columns of star2, as
// format_type names them: "star2.person.birth_date" → "date".
var star2Types = func() map[string]string {
	types := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS (star2\.\w+)\s*\((.*?)\);`).FindAllStringSubmatch(star2SQL, -1) {
		body, depth, start := m[2], 0, 0
		var items []string
		for i, r := range body {
			switch r {
			case '(':
				depth++
			case ')':
				depth--
			case ',':
				if depth == 0 {
					items = append(items, body[start:i])
					start = i + 1
				}
			}
		}
		for _, item := range append(items, body[start:]) {
			// A column, not a constraint: PRIMARY KEY (…), CHECK (…).
			f := strings.Fields(item)
			if len(f) < 2 || strings.ToUpper(f[0]) == f[0] {
				continue
			}
			typ := f[1]
			if typ == "timestamptz" {
				typ = "timestamp with time zone"
			}
			types[m[1]+"."+f[0]] = typ
		}
	}
	return types
}()

// typeFits reports whether a column of type got (format_type) takes the
// values a batch writes into a column of type want, as they are: the same
// type, varchar (a value too long is refused, row by row, by the
// database) or citext for text, numeric of two decimals and at least as
// many digits for an amount. A date does not go into text as a date, nor a moment into a
// timestamp without time zone as that moment.
func typeFits(got, want string) bool {
	switch {
	case got == want:
		return true
	case want == "text":
		return got == "character varying" || strings.HasPrefix(got, "character varying(") || got == "citext"
	case want == "numeric(12,2)":
		var p int
		n, _ := fmt.Sscanf(got, "numeric(%d,2)", &p)
		return got == "numeric" || n == 1 && p >= 12 && got == fmt.Sprintf("numeric(%d,2)", p)
	}
	return false
}

// ColumnTypesError names columns that a batch writes which STAR2 lacks,
// or holds with another type than STAR2.md gives, which the batch's values
// would not go into as they are.
type ColumnTypesError struct {
	Columns []string // "star2.person.birth_date is text; STAR2.md gives date"
	Write   bool     // a batch or resolve was to write; else to read
}

func (e *ColumnTypesError) Error() string {
	what := "so nothing was written"
	if !e.Write {
		what = "so nothing was read: what such a column holds cannot be held to the rules"
	}
	return fmt.Sprintf("STAR2 lacks columns a batch writes, or has them of other types than STAR2.md gives, %s:\n  %s\n"+
		"A value would not go into such a column as it is (a date into text as a date, a moment into a timestamp without time zone as that moment), or every row of its table would be refused. "+
		"Put each column as STAR2.md gives it (ALTER TABLE … ADD COLUMN, or ALTER COLUMN … TYPE …), then run the same command again.",
		what, strings.Join(e.Columns, "\n  "))
}

// checkColumns compares the columns of star2 that a batch writes with the
// types star2.sql gives them, before a batch or resolve writes or a
// reconciliation reads: the deep reconciliation reads STAR2 back through
// the same types, and would find a text birth_date as written. A domain
// counts as the type it is over.
func checkColumns(ctx context.Context, conn *pgx.Conn, write bool) error {
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname || '.' || a.attname,
			CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) ELSE format_type(a.atttypid, a.atttypmod) END
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
		WHERE n.nspname || '.' || c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped`, star2Tables)
	if err != nil {
		return fmt.Errorf("schema: check the column types of star2: %w", err)
	}
	found := map[string]string{}
	var column, typ string
	if _, err := pgx.ForEachRow(rows, []any{&column, &typ}, func() error {
		found[column] = typ
		return nil
	}); err != nil {
		return fmt.Errorf("schema: check the column types of star2: %w", err)
	}
	w := written()
	e := &ColumnTypesError{Write: write}
	for _, table := range star2Tables {
		for _, col := range w[table] {
			key := table + "." + col
			want := star2Types[key]
			got, ok := found[key]
			switch {
			case !ok:
				e.Columns = append(e.Columns, fmt.Sprintf("%s is missing; STAR2.md gives it as %s", key, want))
			case !typeFits(got, want):
				e.Columns = append(e.Columns, fmt.Sprintf("%s is %s; STAR2.md gives %s", key, got, want))
			}
		}
	}
	if len(e.Columns) > 0 {
		return e
	}
	return nil
}

// UnwrittenColumnsError names columns that STAR2's owners added to its
// tables, which a batch does not write and which take no row without a
// value (NOT NULL, no default): every row of those tables would be
// rejected, one by one.
type UnwrittenColumnsError struct {
	Columns []string // star2.payment.approved_by
}

func (e *UnwrittenColumnsError) Error() string {
	return fmt.Sprintf("STAR2 has columns that a batch does not write and that take no row without a value (NOT NULL, no default), so nothing was written:\n  %s\n"+
		"Every row of their tables would be rejected. Give each a default (ALTER TABLE … ALTER COLUMN … SET DEFAULT …) or let it be NULL, then run the same command again.",
		strings.Join(e.Columns, "\n  "))
}

// written are the columns of each star2 table that a batch writes.
func written() map[string][]string {
	w := map[string][]string{"star2.municipality": {"code", "name"}, "star2.classifier": {"kind", "code", "name"}}
	for _, t := range mapping.Tables {
		w["star2."+t.Star2] = t.Columns
	}
	return w
}

// checkUnwritten looks for columns of star2 that a batch does not write
// and that refuse a row without a value.
func checkUnwritten(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname, a.attname
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname || '.' || c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
		ORDER BY array_position($1, n.nspname || '.' || c.relname), a.attnum`, star2Tables)
	if err != nil {
		return fmt.Errorf("schema: check the columns of star2: %w", err)
	}
	w := written()
	e := &UnwrittenColumnsError{}
	var table, column string
	_, err = pgx.ForEachRow(rows, []any{&table, &column}, func() error {
		if !slices.Contains(w[table], column) {
			e.Columns = append(e.Columns, table+"."+column)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("schema: check the columns of star2: %w", err)
	}
	if len(e.Columns) > 0 {
		return e
	}
	return nil
}

func apply(ctx context.Context, conn *pgx.Conn, scripts ...string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("schema: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
		return fmt.Errorf("schema: lock: %w", err)
	}
	for _, s := range scripts {
		// Simple protocol: a script of several statements in one call.
		if _, err := tx.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			_ = tx.Rollback(ctx)
			schema := "migration"
			if s == star2SQL {
				schema = "star2"
			}
			return refusedSchema(ctx, conn, schema, fmt.Errorf("schema: apply: %w", err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("schema: commit: %w", err)
	}
	return nil
}

// refusedSchema adds to a refusal of the schema's statements
// (insufficient_privilege) whose schema it was, and what to do. The
// bookkeeping is kept as this starmig needs it by every command that
// writes it, so the migration's role must own it: the engineers' runbook
// has the role make it (schema apply --bookkeeping-only), but the owners
// of STAR2 may have made it themselves and granted the role its rows.
func refusedSchema(ctx context.Context, conn *pgx.Conn, schema string, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		return err
	}
	// The schema's owner, or that of one of its tables, that the role
	// may not act as.
	var owner, role string
	if conn.QueryRow(ctx, `SELECT pg_get_userbyid(o.owner), current_user FROM (
		SELECT nspowner AS owner, 0 AS n FROM pg_namespace WHERE nspname = $1
		UNION ALL SELECT c.relowner, 1 FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
		WHERE s.nspname = $1 AND c.relkind IN ('r', 'p', 'v')) o
		WHERE NOT pg_has_role(current_user, o.owner, 'USAGE') ORDER BY o.n LIMIT 1`, schema).Scan(&owner, &role) != nil {
		return err // no such schema, or the role may act as its owners: not the cause
	}
	if schema == "migration" {
		return fmt.Errorf("%w\nThe bookkeeping (schema migration and its tables) belongs to role %s, and role %s may not change it. Every batch keeps its tables as this starmig needs them, "+
			"so the migration's role must own the schema and its tables: have %s give them over (ALTER SCHEMA migration OWNER TO %s, and ALTER TABLE … OWNER TO %s for each of its tables and its view; their sequences follow), "+
			"or, before a first batch, drop the schema and run starmig schema apply --bookkeeping-only as %s (docs/runbook-engineers.md)",
			err, identifier(owner), identifier(role), identifier(owner), identifier(role), identifier(role), identifier(role))
	}
	return fmt.Errorf("%w\nSchema star2 belongs to role %s, STAR2's owners, and role %s may not change it: run starmig schema apply --bookkeeping-only, which makes the bookkeeping alone (docs/runbook-engineers.md)",
		err, identifier(owner), identifier(role))
}
