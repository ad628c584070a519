package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	_ "github.com/sijms/go-ora/v2" // STAR1 on Oracle

	"github.com/starmig/starmig/internal/secret"
)

// OraclePrefetchRows replaces go-ora's default of 25 rows per round trip:
// extraction reads whole tables, so fewer round trips matter most.
const OraclePrefetchRows = 5000

// OracleSchema is the schema that holds STAR1's tables.
const OracleSchema = "STAR1"

type oracleSource struct {
	sqlSource
}

var _ Source = (*oracleSource)(nil)

// OracleDefaultPort is the listener's port where a URL gives none, as in
// Oracle's Easy Connect (sqlplus reader@star1.example/STAR1).
const OracleDefaultPort = "1521"

// OracleURL adds the options extraction needs to an oracle:// URL: a
// larger PREFETCH_ROWS unless the URL sets one. It also writes the
// address as go-ora reads it where go-ora would refuse what Oracle's own
// clients take (oracleAddress).
func OracleURL(raw string) (string, error) {
	if err := secret.CheckPassword(raw); err != nil {
		return "", fmt.Errorf("extract: oracle URL %w", err)
	}
	u, err := url.Parse(oracleOneLine(raw))
	if err != nil {
		return "", fmt.Errorf("extract: oracle URL %s: %w", secret.RedactURL(raw), errors.Unwrap(err))
	}
	q := u.Query()
	if err := oracleAddress(u, q); err != nil {
		return "", fmt.Errorf("extract: oracle URL %s: %w", secret.RedactURL(raw), err)
	}
	// go-ora reads an option's name in any case, and takes a value that
	// is not a number for its default of 25, silently.
	given := optionNames(q, "PREFETCH_ROWS")
	for _, key := range given {
		if n, err := strconv.Atoi(q.Get(key)); err != nil || n < 1 {
			return "", fmt.Errorf("extract: oracle URL %s: %s=%q: want a whole number of rows, 1 or more (starmig's own is %d)",
				secret.RedactURL(raw), key, q.Get(key), OraclePrefetchRows)
		}
	}
	switch len(given) {
	case 0:
		q.Set("PREFETCH_ROWS", fmt.Sprint(OraclePrefetchRows))
	case 1:
	default:
		return "", fmt.Errorf("extract: oracle URL %s: PREFETCH_ROWS is given %d times (%s), and go-ora would take any one of them: give it once",
			secret.RedactURL(raw), len(given), strings.Join(given, ", "))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// oracleOneLine is raw with the line breaks and tabs of its query as
// spaces: a connect descriptor copied from tnsnames.ora spans lines,
// which a URL may not hold, and go-ora reads it without them.
func oracleOneLine(raw string) string {
	address, query, found := strings.Cut(raw, "?")
	if !found {
		return raw
	}
	return address + "?" + strings.Join(strings.FieldsFunc(query, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }), " ")
}

// oracleAddress writes the address of u, whose query is q, as go-ora
// reads it. A host without a port, the URL's or a SERVER option's, is
// given the listener's default, as in Easy Connect. The connect
// descriptor of tnsnames.ora, for a cluster's address list or its SCAN,
// is taken alone (oracle://reader:pw@?connStr=(DESCRIPTION=…)), as are
// go-ora's SERVER options: the URL is given go-ora's empty host, ":0",
// and connStr the name whose value go-ora reads (it matches the name in
// any case, then reads connStr's value alone).
func oracleAddress(u *url.URL, q url.Values) error {
	descriptor, servers := optionNames(q, "connStr"), optionNames(q, "SERVER")
	switch {
	case len(descriptor) > 1:
		return fmt.Errorf("connStr is given %d times (%s): give the connect descriptor once", len(descriptor), strings.Join(descriptor, ", "))
	case len(descriptor) == 1:
		v := q.Get(descriptor[0])
		q.Del(descriptor[0])
		q.Set("connStr", v)
	case u.Hostname() == "" && len(servers) == 0:
		return errors.New("no host: want oracle://user:password@host:port/service, or the connect descriptor of tnsnames.ora as oracle://user:password@?connStr=(DESCRIPTION=…)")
	}
	if u.Host == "" {
		u.Host = ":0"
	}
	u.Host = withPort(u.Host)
	for _, key := range servers {
		for i, v := range q[key] {
			q[key][i] = withPort(strings.TrimSpace(v))
		}
	}
	return nil
}

// optionNames are the names of q's options that are name in any case of
// letters, as go-ora reads them, sorted.
func optionNames(q url.Values, name string) []string {
	var names []string
	for key := range q {
		if strings.EqualFold(key, name) {
			names = append(names, key)
		}
	}
	slices.Sort(names)
	return names
}

// withPort is host:port, host given the listener's default port where
// go-ora finds none ("missing port in address"); anything else as it is,
// for go-ora to read as it would have.
func withPort(host string) string {
	_, _, err := net.SplitHostPort(host)
	var addrErr *net.AddrError
	if host == "" || err == nil || !errors.As(err, &addrErr) || addrErr.Err != "missing port in address" {
		return host
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), OracleDefaultPort)
}

func openOracle(ctx context.Context, raw string) (Source, error) {
	dsn, err := OracleURL(raw)
	if err != nil {
		return nil, err
	}
	// Named as given, not as written for go-ora (@:0?…&connStr=%28…).
	s := &oracleSource{sqlSource{dsn: secret.DSN(oracleOneLine(raw))}}
	s.db, err = sql.Open("oracle", dsn)
	if err != nil {
		return nil, fmt.Errorf("extract: open %s: %s", s.dsn, secret.Redact(err.Error(), dsn))
	}
	if err := s.db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: connect to %s: %s", s.dsn, secret.Redact(err.Error(), dsn)), s.db.Close())
	}
	return s, nil
}

// Begin takes the current SCN and reads every table AS OF it, so that all
// reads of the batch see one moment of STAR1. Without EXECUTE on
// DBMS_FLASHBACK, or when the tables cannot be read AS OF the SCN (that
// also needs FLASHBACK on each of them, ORA-01031 otherwise), it falls
// back to a read-only transaction on one session, which Oracle also keeps
// consistent for its whole length.
func (s *oracleSource) Begin(ctx context.Context) (Snapshot, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	for _, stmt := range OracleSessionSQL {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, errors.Join(fmt.Errorf("extract: %s: %w", stmt, err), conn.Close())
		}
	}
	snap := &sqlSnapshot{conn: conn, dialect: oracleDialect{}}
	var scn string
	if err := conn.QueryRowContext(ctx, OracleSCNSQL).Scan(&scn); err == nil {
		// The table check reads every table AS OF the SCN. If it fails,
		// the same check in a read-only transaction says whether STAR1
		// itself is at fault or only the reads AS OF the SCN were refused.
		snap.dialect = oracleDialect{scn: scn}
		err := checkTables(ctx, snap, s.String())
		if err == nil {
			return snap, nil
		}
		if ctx.Err() != nil {
			return nil, errors.Join(err, snap.Close())
		}
		snap.dialect = oracleDialect{}
	}
	// A transaction of database/sql's, so that the driver sends no commit,
	// which would end the read-only transaction: go-ora commits in
	// autocommit mode whenever it executes a statement again, as it does
	// for a query with LOB columns.
	if snap.tx, err = conn.BeginTx(ctx, nil); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: read-only transaction: %w", err), conn.Close())
	}
	if _, err := snap.tx.ExecContext(ctx, OracleReadOnlySQL); err != nil {
		return nil, errors.Join(fmt.Errorf("extract: read-only transaction: %w", err), snap.Close())
	}
	if err := checkTables(ctx, snap, s.String()); err != nil {
		return nil, errors.Join(err, snap.Close())
	}
	return snap, nil
}

// OracleSCNSQL reads the SCN a snapshot is taken at.
const OracleSCNSQL = "SELECT TO_CHAR(DBMS_FLASHBACK.GET_SYSTEM_CHANGE_NUMBER) FROM DUAL"

// OracleReadOnlySQL starts the read-only transaction a snapshot is when
// the account may not read the SCN; it must be the transaction's first
// statement.
const OracleReadOnlySQL = "SET TRANSACTION READ ONLY"

// OracleSessionSQL fixes the session settings that would otherwise change
// how values are rendered as text, and how text keys (KOV, KLASSIFIKAATOR)
// are ordered: an Estonian NLS_LANGUAGE defaults NLS_SORT to ESTONIAN, a
// linguistic order, where the stand-in orders by bytes.
var OracleSessionSQL = []string{
	"ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'",
	"ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'",
	"ALTER SESSION SET NLS_SORT = BINARY",
	"ALTER SESSION SET NLS_COMP = BINARY",
}

type oracleDialect struct {
	scn string // "" for a read-only transaction
}

func (oracleDialect) Name() string { return "oracle" }

// ColumnsSQL lists the columns of table t (columnLister) from the data
// dictionary, which AS OF SCN does not apply to. Hidden and virtual
// columns hold no data of their own, and are left out.
func (oracleDialect) ColumnsSQL(t Table) string {
	return "SELECT COLUMN_NAME FROM ALL_TAB_COLS WHERE OWNER = " + sqlString(OracleSchema) +
		" AND TABLE_NAME = " + sqlString(t.Name) + " AND HIDDEN_COLUMN = 'NO' AND VIRTUAL_COLUMN = 'NO' ORDER BY COLUMN_ID"
}

// TablesSQL lists the tables of the STAR1 schema (tableLister) that hold
// data of their own: not temporary, nested or secondary (a domain index's)
// tables, not an index-organized table's overflow or mapping, not in the
// recycle bin, not a materialized view or its log.
func (oracleDialect) TablesSQL() string {
	owner := sqlString(OracleSchema)
	return "SELECT TABLE_NAME FROM ALL_TABLES WHERE OWNER = " + owner +
		" AND TEMPORARY = 'N' AND SECONDARY = 'N' AND NESTED = 'NO' AND DROPPED = 'NO'" +
		" AND (IOT_TYPE IS NULL OR IOT_TYPE = 'IOT')" +
		" AND TABLE_NAME NOT IN (SELECT MVIEW_NAME FROM ALL_MVIEWS WHERE OWNER = " + owner + ")" +
		" AND TABLE_NAME NOT IN (SELECT LOG_TABLE FROM ALL_MVIEW_LOGS WHERE LOG_OWNER = " + owner + " AND LOG_TABLE IS NOT NULL)" +
		" ORDER BY TABLE_NAME"
}

// CountSQL counts the rows of the table named in the snapshot
// (tableLister).
func (d oracleDialect) CountSQL(name string) string {
	q := "SELECT COUNT(*) FROM " + OracleSchema + "." + quoteName(name)
	if d.scn != "" {
		q += " AS OF SCN " + d.scn
	}
	return q
}

func (d oracleDialect) Table(t Table) string {
	name := OracleSchema + "." + t.Name
	if d.scn != "" {
		name += " AS OF SCN " + d.scn
	}
	return name
}

// Column renders money and dates as text in Oracle itself, so that no
// driver conversion can change them: NUMBER(12,2) as decimal text in the
// text-minimum format, DATE as wall-clock text with no zone (STAR1 DATE
// values are Europe/Tallinn wall-clock times). Ids come as NUMBER and are
// read into int64.
func (oracleDialect) Column(c Column, q string) string {
	name := c.Name
	if q != "" {
		name = q + "." + name
	}
	switch c.Kind {
	case Decimal:
		return fmt.Sprintf("TO_CHAR(%s, 'TM9', 'NLS_NUMERIC_CHARACTERS=''.,''') AS %s", name, c.Name)
	case Date:
		return fmt.Sprintf("TO_CHAR(%s, 'YYYY-MM-DD HH24:MI:SS') AS %s", name, c.Name)
	case Integer:
		return fmt.Sprintf("TO_CHAR(%s) AS %s", name, c.Name)
	default:
		return name
	}
}
