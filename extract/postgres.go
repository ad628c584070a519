package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/starmig/starmig/internal/secret"
)

// PostgresSchema is the schema a postgres:// source reads unless its URL
// names another with ?schema=: the one `starmig restore` creates by
// default.
const PostgresSchema = "star1_archive"

// PostgresDDL is STAR1 held in PostgreSQL, as `starmig restore` creates it
// from the archive and the postgres source reads it: each STAR1 table under
// its name in lower case, ids as bigint, money as numeric(12,2) (the NUMBER
// it was), DATE as timestamp without time zone (the wall-clock time it
// was), text as text, BLOB as bytea. Text PostgreSQL cannot hold (a NUL
// character, bytes that are not UTF-8) is held without them in its table,
// and exactly, byte for byte, in exact_text.
func PostgresDDL(schema string) string {
	s := pgx.Identifier{schema}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA %s;\n", s)
	for _, t := range Tables {
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (\n", s, strings.ToLower(t.Name))
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "  %s %s", strings.ToLower(c.Name), pgType(c))
			if c.NotNull {
				b.WriteString(" NOT NULL")
			}
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n);\n", strings.ToLower(strings.Join(t.Key, ", ")))
		fmt.Fprintf(&b, "COMMENT ON TABLE %s.%s IS %s;\n", s, strings.ToLower(t.Name), sqlString("STAR1 "+t.Name+": "+t.Comment))
	}
	fmt.Fprintf(&b, `CREATE TABLE %s.exact_text (
  table_name text NOT NULL, row_key text NOT NULL, column_name text NOT NULL, original bytea NOT NULL,
  PRIMARY KEY (table_name, row_key, column_name)
);
COMMENT ON TABLE %[1]s.exact_text IS 'STAR1 text values PostgreSQL text cannot hold (NUL, non-UTF-8), byte for byte; the table holds them without those characters';
`, s)
	return b.String()
}

// RowKey names a row in exact_text: its key values, joined by "/".
func RowKey(keys ...any) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprint(k)
	}
	return strings.Join(parts, "/")
}

func pgType(c Column) string {
	switch c.Kind {
	case Integer:
		return "bigint"
	case Decimal:
		return "numeric(12,2)"
	case Date:
		return "timestamp(0) without time zone"
	case BLOB:
		return "bytea"
	default:
		return "text"
	}
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// postgresSource is STAR1 as a restore left it in PostgreSQL: the source
// to migrate or archive from once STAR1 itself is gone.
type postgresSource struct {
	sqlSource
	schema string
}

// PostgresURL splits a postgres:// source URL into the URL to connect
// with and the schema to read (?schema=, else PostgresSchema).
func PostgresURL(raw string) (connect, schema string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("extract: postgres URL %s: %w", secret.RedactURL(raw), errors.Unwrap(err))
	}
	q := u.Query()
	schema = q.Get("schema")
	if schema == "" {
		schema = PostgresSchema
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

func openPostgres(ctx context.Context, raw string) (Source, error) {
	dsn, schema, err := PostgresURL(raw)
	if err != nil {
		return nil, err
	}
	s := &postgresSource{sqlSource: sqlSource{dsn: secret.DSN(raw)}, schema: schema}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("extract: %s: %s", s.dsn, secret.Redact(err.Error(), dsn))
	}
	s.db = stdlib.OpenDB(*cfg)
	var found bool
	if err := s.db.QueryRowContext(ctx, "SELECT to_regnamespace($1) IS NOT NULL", pgx.Identifier{schema}.Sanitize()).Scan(&found); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: connect to %s: %s", s.dsn, secret.Redact(err.Error(), dsn)), s.db.Close())
	}
	if !found {
		return nil, errors.Join(fmt.Errorf("extract: %s has no schema %q: name the schema a restore wrote with ?schema= (restore writes %s unless --schema names another)", s.dsn, schema, PostgresSchema), s.db.Close())
	}
	return s, nil
}

// Begin opens a read-only transaction at REPEATABLE READ on one
// connection: every read of the batch sees the database as it was at the
// transaction's first query, whatever is written meanwhile.
func (s *postgresSource) Begin(ctx context.Context) (Snapshot, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("extract: read-only transaction: %w", err), conn.Close())
	}
	snap := &postgresSnapshot{sqlSnapshot: sqlSnapshot{conn: conn, tx: tx, dialect: postgresDialect{schema: s.schema}}}
	if err := checkTables(ctx, snap, s.String()); err != nil {
		return nil, errors.Join(err, snap.Close())
	}
	if err := snap.whole(ctx, s.String()); err != nil {
		return nil, errors.Join(err, snap.Close())
	}
	if snap.exact, err = snap.table(ctx, "exact_text"); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: %s: %w", s, err), snap.Close())
	}
	return snap, nil
}

// table says whether the snapshot's schema holds a table of that name.
func (s *postgresSnapshot) table(ctx context.Context, name string) (bool, error) {
	var found bool
	err := s.tx.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", pgx.Identifier{s.dialect.(postgresDialect).schema, name}.Sanitize()).Scan(&found)
	return found, err
}

// PostgresScopeTable is the table by which a restore of chosen
// municipalities (restore --kov) names them.
const PostgresScopeTable = "restore_scope"

// whole refuses a restore of chosen municipalities: the rules give a row
// its outcome from rows of other municipalities too (a person's decisions
// in force, the relations to other persons), so a batch read from it would
// not be the batch STAR1 gives.
func (s *postgresSnapshot) whole(ctx context.Context, source string) error {
	scoped, err := s.table(ctx, PostgresScopeTable)
	if err != nil || !scoped {
		if err != nil {
			return fmt.Errorf("extract: %s: %w", source, err)
		}
		return nil
	}
	scope := pgx.Identifier{s.dialect.(postgresDialect).schema, PostgresScopeTable}.Sanitize()
	var codes sql.NullString
	if err := s.tx.QueryRowContext(ctx, "SELECT string_agg(municipality, ', ' ORDER BY municipality) FROM "+scope).Scan(&codes); err != nil {
		return fmt.Errorf("extract: %s: %w", source, err)
	}
	if !codes.Valid {
		return nil
	}
	return fmt.Errorf("extract: %s holds a restore of municipalities %s only (restore --kov): rows of other municipalities that its rows depend on (a person's decisions in force, relations to other persons) are not in it, so a batch read from it is not the batch STAR1 gives; restore without --kov to read the archive as STAR1", source, codes.String)
}

// postgresSnapshot reads like any database/sql snapshot, and puts back
// the text values exact_text holds byte for byte.
type postgresSnapshot struct {
	sqlSnapshot
	exact bool // the schema has exact_text
}

func (s *postgresSnapshot) Scan(ctx context.Context, t Table, columns []string, orderBy []string, fn func(Row) error) error {
	cols, err := scanColumns(t, columns)
	if err != nil {
		return err
	}
	exact, err := s.exactText(ctx, t, cols)
	if err != nil || len(exact) == 0 {
		if err != nil {
			return err
		}
		return s.sqlSnapshot.Scan(ctx, t, columns, orderBy, fn)
	}
	// The rows exact_text names are found by their key: a scan without
	// the key columns reads them too, and hands on only what it was
	// asked for.
	names := make([]string, len(cols))
	at := make(map[string]int, len(cols))
	for i, c := range cols {
		names[i] = c.Name
		at[c.Name] = i
	}
	keyAt := make([]int, len(t.Key))
	for i, k := range t.Key {
		p, ok := at[k]
		if !ok {
			p = len(names)
			names = append(names, k)
		}
		keyAt[i] = p
	}
	key := make([]any, len(t.Key))
	return s.sqlSnapshot.Scan(ctx, t, names, orderBy, func(r Row) error {
		for i, p := range keyAt {
			key[i] = r[p]
		}
		for col, v := range exact[RowKey(key...)] {
			r[at[col]] = v
		}
		return fn(r[:len(cols)])
	})
}

// exactText reads what exact_text holds for the text columns of a scan,
// by row key and column. It holds only values PostgreSQL text could not
// (rare in STAR1), so a table's share of it fits in memory; a schema
// without exact_text (STAR1 copied into PostgreSQL by other means) has
// none.
func (s *postgresSnapshot) exactText(ctx context.Context, t Table, cols []Column) (map[string]map[string]string, error) {
	var wanted []string
	for _, c := range cols {
		if c.Kind == Text || c.Kind == CLOB {
			wanted = append(wanted, c.Name)
		}
	}
	if len(wanted) == 0 || !s.exact {
		return nil, nil
	}
	schema := s.dialect.(postgresDialect).schema
	rows, err := s.tx.QueryContext(ctx, fmt.Sprintf("SELECT row_key, column_name, original FROM %s WHERE table_name = $1 AND column_name = ANY($2)",
		pgx.Identifier{schema, "exact_text"}.Sanitize()), t.Name, wanted)
	if err != nil {
		return nil, fmt.Errorf("extract: exact text of %s: %w", t.Name, err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var key, col string
		var original []byte
		if err := rows.Scan(&key, &col, &original); err != nil {
			return nil, fmt.Errorf("extract: exact text of %s: %w", t.Name, err)
		}
		if out[key] == nil {
			out[key] = map[string]string{}
		}
		out[key][col] = string(original)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("extract: exact text of %s: %w", t.Name, err)
	}
	return out, nil
}

type postgresDialect struct {
	schema string
}

func (postgresDialect) Name() string { return "postgres" }

func (d postgresDialect) Table(t Table) string {
	return pgx.Identifier{d.schema}.Sanitize() + "." + strings.ToLower(t.Name)
}

// Column renders money and dates as STAR1 text in PostgreSQL itself:
// numeric without the trailing zeros its scale adds (272.80 was STAR1's
// 272.8), timestamps as wall-clock text.
func (postgresDialect) Column(c Column, q string) string {
	name := c.Name
	if q != "" {
		name = q + "." + name
	}
	switch c.Kind {
	case Decimal:
		return fmt.Sprintf("trim_scale(%s)::text AS %s", name, c.Name)
	case Date:
		return fmt.Sprintf("to_char(%s, 'YYYY-MM-DD HH24:MI:SS') AS %s", name, c.Name)
	default:
		return name
	}
}

// Order orders text by its bytes, as STAR1 does (the stand-in, and Oracle
// with NLS_SORT = BINARY), not by the database's collation.
func (postgresDialect) Order(c Column) string {
	if c.Kind == Text || c.Kind == CLOB {
		return c.Name + ` COLLATE "C"`
	}
	return c.Name
}
