package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/starmig/starmig/internal/pgsession"
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
// character, bytes that are not UTF-8) is held as PostgresText says in its
// table, and exactly, byte for byte, in exact_text.
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
COMMENT ON TABLE %[1]s.exact_text IS 'STAR1 text values PostgreSQL text cannot hold (NUL, non-UTF-8), byte for byte; the table holds them with a NUL as \u0000 and other bytes as \xNN, and key values (and those with %%) percent-encoded; row_key: the key values as the table holds them, %% and / percent-encoded, joined by /';
`, s)
	return b.String()
}

// RowKey names a row in exact_text by the key values its table holds
// (PostgresText): each with "%" and the separator percent-encoded, joined
// by rowKeySeparator, so that two keys never share a name. A scan's query
// names it the same way (exactSQL). Integer keys, and text keys without
// "%" or the separator, are named as restores before this encoding
// named them.
func RowKey(keys ...any) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = rowKeyPart.Replace(fmt.Sprint(k))
	}
	return strings.Join(parts, rowKeySeparator)
}

// TableRowKey is the RowKey of a row of t whose values vals are as the
// restore's table holds them (PostgresText).
func TableRowKey(t Table, vals []any) string {
	keys := make([]any, len(t.Key))
	for i, k := range t.Key {
		keys[i] = vals[Positions[t.Name][k]]
	}
	return RowKey(keys...)
}

const rowKeySeparator = "/"

// rowKeyEscapes are the percent-encodings of a key value in a row key,
// "%" first: in that order they are applied one after the other in SQL
// (exactSQL), and at once by rowKeyPart.
var rowKeyEscapes = [][2]string{{"%", "%25"}, {rowKeySeparator, "%2F"}}

var rowKeyPart = func() *strings.Replacer {
	var pairs []string
	for _, e := range rowKeyEscapes {
		pairs = append(pairs, e[0], e[1])
	}
	return strings.NewReplacer(pairs...)
}()

// PostgresText is how PostgreSQL holds a STAR1 text value (held) in a
// restore of the archive, and whether exact_text must hold the value
// itself, byte for byte (exact). Text PostgreSQL can hold is held as it
// is. Other text (with a NUL, or bytes that are not UTF-8) is held Visible,
// as the bookkeeping of a batch holds such a code: a query of the restore
// that reads no exact_text (the pre-flight's count of codes, the
// reconciliation's municipalities) then gives what a batch makes of the
// value. A key value must stay unique as well: one that
// PostgreSQL cannot hold, or that holds "%", is held percent-encoded
// instead (each NUL, byte that is not UTF-8 and "%" as %XX), which no
// other key value is held as.
func PostgresText(s string, key bool) (held string, exact bool) {
	plain := strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
	switch {
	case key && (!plain || strings.IndexByte(s, '%') >= 0):
		return percentEncode(s), true
	case plain:
		return s, false
	default:
		return Visible(s), true
	}
}

// percentEncode writes NUL, "%" and each byte that is not part of valid
// UTF-8 as %XX, and the rest as it is.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || r == 0 || r == '%' {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Visible is s as PostgreSQL text can hold it: a NUL becomes the six
// characters \u0000 and a byte that is not UTF-8 the four characters \xNN.
// Text without either is as it is, so Visible(Visible(s)) is Visible(s).
// The archive keeps the value itself, and a restore of it exact_text.
func Visible(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02X`, s[i])
		case r == 0:
			b.WriteString(`\u0000`)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
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
	if err := secret.CheckPassword(raw); err != nil {
		return "", "", fmt.Errorf("extract: postgres URL %w", err)
	}
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
	cfg, err := pgsession.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("extract: %s: %w", s.dsn, secret.ConfigError(err, dsn))
	}
	// A run killed in the middle of a count of STAR1, or on a machine
	// that went down, would otherwise keep its snapshot and the tables it
	// reads, which dropping the schema to restore it anew waits for.
	pgsession.Configure(&cfg.Config, nil)
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
	err := s.tx.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", s.qualified(name)).Scan(&found)
	return found, err
}

// qualified is the table of that name in the snapshot's schema, quoted.
func (s *postgresSnapshot) qualified(name string) string {
	return pgx.Identifier{s.dialect.(postgresDialect).schema, name}.Sanitize()
}

// PostgresScopeTable is the table by which a restore of chosen
// municipalities (restore --kov) names them.
const PostgresScopeTable = "restore_scope"

// PostgresUnreadTable is the table by which a restore names the parts of
// the archive run it left out because they could not be read as written
// (restore --skip-unreadable).
const PostgresUnreadTable = "restore_unread"

// PostgresLeftOutTable is the table by which a restore names the tables
// of STAR1 that the archive run it restores left out (catalog left_out).
const PostgresLeftOutTable = "left_out"

// recorded lists the tables a restore records as left out of its archive
// run (recorder).
func (s *postgresSnapshot) recorded(ctx context.Context) ([]TableRows, error) {
	found, err := s.table(ctx, PostgresLeftOutTable)
	if err != nil || !found {
		return nil, err
	}
	var out []TableRows
	err = s.Query(ctx, "SELECT table_name, rows, unread FROM "+s.qualified(PostgresLeftOutTable)+" ORDER BY table_name",
		func(v []any) error {
			name, _ := text(v[0])
			n, _ := v[1].(int64)
			unread, _ := text(v[2])
			out = append(out, TableRows{Name: name, Rows: n, Unread: unread})
			return nil
		})
	return out, err
}

// whole refuses a restore that is not all of its archive run: one that
// left out what it could not read, whose rows nothing would account for,
// and one of chosen municipalities, as the rules give a row its outcome
// from rows of other municipalities too (a person's decisions in force,
// the relations to other persons). A batch read from either would not be
// the batch STAR1 gives.
func (s *postgresSnapshot) whole(ctx context.Context, source string) error {
	unread, err := s.table(ctx, PostgresUnreadTable)
	if err != nil {
		return fmt.Errorf("extract: %s: %w", source, err)
	}
	if unread {
		var lacks sql.NullString
		if err := s.tx.QueryRowContext(ctx, "SELECT string_agg(n || CASE n WHEN 1 THEN ' row of ' ELSE ' rows of ' END || table_name, ', ' ORDER BY table_name) FROM (SELECT table_name, sum(rows) AS n FROM "+
			s.qualified(PostgresUnreadTable)+" GROUP BY table_name) t").Scan(&lacks); err != nil {
			return fmt.Errorf("extract: %s: %w", source, err)
		}
		if lacks.Valid {
			return fmt.Errorf("extract: %s holds a restore that left out what it could not read of the archive run (restore --skip-unreadable; %s lists it): it lacks %s, so a batch read from it would not account for them; restore from a run that reads whole", source, PostgresUnreadTable, lacks.String)
		}
	}
	scoped, err := s.table(ctx, PostgresScopeTable)
	if err != nil || !scoped {
		if err != nil {
			return fmt.Errorf("extract: %s: %w", source, err)
		}
		return nil
	}
	scope := s.qualified(PostgresScopeTable)
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

// probe runs a query that may fail, such as a shape check, within a
// savepoint: in PostgreSQL a failed query aborts its transaction, and
// every later query of the snapshot would fail with it.
func (s *postgresSnapshot) probe(ctx context.Context, query string) error {
	if _, err := s.tx.ExecContext(ctx, "SAVEPOINT starmig_probe"); err != nil {
		return fmt.Errorf("extract: query: %w", err)
	}
	err := s.Query(ctx, query, func([]any) error { return nil })
	undo := "RELEASE SAVEPOINT starmig_probe"
	if err != nil {
		undo = "ROLLBACK TO SAVEPOINT starmig_probe"
	}
	if _, uerr := s.tx.ExecContext(ctx, undo); uerr != nil {
		return errors.Join(err, fmt.Errorf("extract: query: %w", uerr))
	}
	return err
}

func (s *postgresSnapshot) Scan(ctx context.Context, t Table, columns []string, orderBy []string, fn func(Row) error) error {
	cols, err := scanColumns(t, columns)
	if err != nil {
		return err
	}
	// The values exact_text holds come with their rows, joined by the
	// row's key, so that a scan holds no more of them than the row it is
	// on, however many there are. A scan without the key columns reads
	// them too, and the columns it is ordered by, and hands on only what
	// it was asked for.
	all := slices.Clone(cols)
	for _, name := range slices.Concat(t.Key, orderBy) {
		if c, ok := t.Column(name); ok && !slices.ContainsFunc(all, func(c Column) bool { return c.Name == name }) {
			all = append(all, c)
		}
	}
	exact, err := s.exactColumns(ctx, t, all)
	if err != nil || len(exact) == 0 {
		if err != nil {
			return err
		}
		return s.sqlSnapshot.Scan(ctx, t, columns, orderBy, fn)
	}
	plain := len(all)
	at := make([]int, len(exact))
	for i, name := range exact {
		at[i] = slices.IndexFunc(all, func(c Column) bool { return c.Name == name })
		all = append(all, Column{Name: exactAlias(i), Kind: all[at[i]].Kind})
	}
	q := s.dialect.(postgresDialect).exactSQL(t, all[:plain], exact, orderBy)
	return s.scanSQL(ctx, t, all, q, func(r Row) error {
		for i, p := range at {
			if v := r[plain+i]; v != nil {
				r[p] = v
			}
		}
		return fn(r[:len(cols)])
	})
}

// exactColumns names the text columns of a scan of which exact_text holds
// values for table t: usually none, and a scan then reads the table alone.
// A schema without exact_text (STAR1 copied into PostgreSQL by other
// means) holds none.
func (s *postgresSnapshot) exactColumns(ctx context.Context, t Table, cols []Column) ([]string, error) {
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
	rows, err := s.tx.QueryContext(ctx, fmt.Sprintf("SELECT column_name FROM %s WHERE table_name = $1 AND column_name = ANY($2) GROUP BY column_name ORDER BY column_name",
		pgx.Identifier{schema, "exact_text"}.Sanitize()), t.Name, wanted)
	if err != nil {
		return nil, fmt.Errorf("extract: exact text of %s: %w", t.Name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("extract: exact text of %s: %w", t.Name, err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("extract: exact text of %s: %w", t.Name, err)
	}
	return out, nil
}

// exactAlias names the result column that brings the exact_text value of
// the i-th such column of a scan.
func exactAlias(i int) string { return fmt.Sprintf("starmig_exact_%d", i) }

// exactSQL is the query of a scan of columns cols of table t (the key
// columns among them) that also brings, for each column named in exact,
// the value exact_text holds for the row (found by its key, as RowKey
// names it), or NULL. The table's own select is a subquery, so the order
// is that of the same scan without exact_text (SelectSQL), except that a
// column it is ordered by whose value exact_text holds is ordered by that
// value's bytes, as STAR1 orders it.
func (d postgresDialect) exactSQL(t Table, cols []Column, exact []string, orderBy []string) string {
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = "s." + k + "::text"
		if c, _ := t.Column(k); c.Kind == Text {
			keys[i] = "s." + k
			for _, e := range rowKeyEscapes {
				keys[i] = fmt.Sprintf("replace(%s, %s, %s)", keys[i], sqlString(e[0]), sqlString(e[1]))
			}
		}
	}
	rowKey := "concat_ws(" + sqlString(rowKeySeparator) + ", " + strings.Join(keys, ", ") + ")"
	et := pgx.Identifier{d.schema, "exact_text"}.Sanitize()
	var b strings.Builder
	b.WriteString("SELECT s.*")
	for i := range exact {
		fmt.Fprintf(&b, ", x%d.original AS %s", i, exactAlias(i))
	}
	fmt.Fprintf(&b, " FROM (SELECT %s FROM %s) s", selectList(d, cols), d.Table(t))
	for i, name := range exact {
		fmt.Fprintf(&b, " LEFT JOIN %[1]s x%[2]d ON x%[2]d.table_name = %[3]s AND x%[2]d.column_name = %[4]s AND x%[2]d.row_key = %[5]s",
			et, i, sqlString(t.Name), sqlString(name), rowKey)
	}
	if len(orderBy) == 0 {
		orderBy = t.Key
	}
	order := make([]string, len(orderBy))
	for i, name := range orderBy {
		order[i] = orderList(d, t, []string{name})
		if j := slices.Index(exact, name); j >= 0 {
			order[i] = fmt.Sprintf("coalesce(x%d.original, convert_to(s.%s, 'UTF8'))", j, name)
		}
	}
	fmt.Fprintf(&b, " ORDER BY %s", strings.Join(order, ", "))
	return b.String()
}

type postgresDialect struct {
	schema string
}

func (postgresDialect) Name() string { return "postgres" }

// ColumnsSQL lists the columns of table t (columnLister) from the
// catalog, in capitals as STAR1.md names them: the restore writes them in
// small letters.
func (d postgresDialect) ColumnsSQL(t Table) string {
	return "SELECT upper(attname) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(" + sqlString(d.Table(t)) +
		") AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
}

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
