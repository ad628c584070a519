package extract

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/starmig/starmig/internal/words"
)

// Dialect is what differs between the databases STAR1 can be read from:
// the SQL that selects a table's columns as STAR1 values, and how a value
// the driver returns becomes a Row value.
type Dialect interface {
	// Name is "sqlite", "oracle" or "postgres".
	Name() string
	// Table is the table's name as a query names it (with the snapshot
	// clause where the dialect needs one).
	Table(t Table) string
	// Column is the select expression that yields column c as STAR1 text
	// for money and dates, or the column itself.
	Column(c Column, qualifier string) string
}

// SelectSQL is the query a scan runs.
func SelectSQL(d Dialect, t Table, cols []Column, orderBy []string) string {
	return fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", selectList(d, cols), d.Table(t), orderList(d, t, orderBy))
}

// orderList is what a scan is ordered by: the columns named, else the
// table's key, each by the dialect's expression for it.
func orderList(d Dialect, t Table, orderBy []string) string {
	if len(orderBy) == 0 {
		orderBy = t.Key
	}
	if o, ok := d.(orderer); ok {
		exprs := make([]string, len(orderBy))
		for i, name := range orderBy {
			exprs[i] = name
			if c, ok := t.Column(name); ok {
				exprs[i] = o.Order(c)
			}
		}
		orderBy = exprs
	}
	return strings.Join(orderBy, ", ")
}

// orderer is a dialect that orders a column by an expression of its own:
// STAR1 orders text by its bytes, which a database's collation may not.
type orderer interface {
	Order(c Column) string
}

// ShapeSQL asks table t for every column a scan reads, and for no row.
func ShapeSQL(d Dialect, t Table) string {
	return fmt.Sprintf("SELECT %s FROM %s WHERE 1 = 0", selectList(d, t.Columns), d.Table(t))
}

func selectList(d Dialect, cols []Column) string {
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = d.Column(c, "")
	}
	return strings.Join(exprs, ", ")
}

// checkTables asks every STAR1 table for every column starmig reads, in
// the snapshot, before a row is read: a source that is not STAR1 (another
// schema, another version of it) is refused at once, with every table that
// is missing or lacks a column named, not half-way through a batch. Where
// the dialect can list a table's columns (columnLister), a column STAR1.md
// does not describe is refused too, naming it: starmig would neither map
// nor archive it, and the archive must hold every column STAR1 holds.
func checkTables(ctx context.Context, snap Snapshot, source string) error {
	var problems, extra []string
	lister, _ := snap.Dialect().(columnLister)
	for _, t := range Tables {
		shape := probe(ctx, snap, ShapeSQL(snap.Dialect(), t))
		if shape != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		var have, more []string
		if lister != nil {
			if err := snap.Query(ctx, lister.ColumnsSQL(t), func(v []any) error {
				name, _ := text(v[0])
				have = append(have, name)
				if !t.hasColumnFold(name) {
					more = append(more, name)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("extract: the columns of %s in %s: %w", t.Name, source, err)
			}
		}
		if shape == nil {
			for _, c := range more {
				extra = append(extra, t.Name+"."+c)
			}
			continue
		}
		// The database names the first column it misses; the list of the
		// table's columns names them all, and what the table holds instead
		// (a column renamed).
		var missing []string
		for _, c := range t.Columns {
			if len(have) > 0 && !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, c.Name) }) {
				missing = append(missing, c.Name)
			}
		}
		if len(missing) == 0 {
			problems = append(problems, t.Name+": "+strings.TrimPrefix(shape.Error(), "extract: query: "))
			continue
		}
		noun := "the column"
		if len(missing) > 1 {
			noun += "s"
		}
		p := fmt.Sprintf("%s: lacks %s %s", t.Name, noun, words.List(missing))
		if len(more) > 0 {
			p += fmt.Sprintf(" (it holds %s, which STAR1.md does not describe)", words.List(more))
		}
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		if len(extra) > 0 {
			problems = append(problems, "and columns STAR1.md does not describe: "+strings.Join(extra, ", "))
		}
		return fmt.Errorf("extract: %s does not hold the STAR1 tables and columns of STAR1.md:\n  %s", source, strings.Join(problems, "\n  "))
	}
	if len(extra) > 0 {
		return fmt.Errorf("extract: %s holds columns that STAR1.md does not describe: %s. starmig would neither migrate nor archive them, "+
			"and the archive must hold every column of STAR1; they must be described (STAR1.md, extract/schema.go) before a batch or an archive run reads STAR1",
			source, strings.Join(extra, ", "))
	}
	return nil
}

// probe runs a query that may fail, without spoiling the snapshot for
// the queries after it (prober), and gives its error.
func probe(ctx context.Context, snap Snapshot, query string) error {
	if p, ok := snap.(prober); ok {
		return p.probe(ctx, query)
	}
	return snap.Query(ctx, query, func([]any) error { return nil })
}

// prober is a snapshot on which a failed query needs undoing before the
// next one can run.
type prober interface {
	probe(ctx context.Context, query string) error
}

// columnLister is a dialect that can list the columns a STAR1 table has,
// by a query whose rows hold one column name each.
type columnLister interface {
	ColumnsSQL(t Table) string
}

// TableRows is a table of the STAR1 schema that STAR1.md does not
// describe, and how many rows it holds in the snapshot.
type TableRows struct {
	Name string `json:"table"`
	Rows int64  `json:"rows"` // -1 when Unread
	// Unread is why the table's rows could not be counted in the snapshot
	// (an Oracle external table cannot be read AS OF an SCN), "" when
	// they were.
	Unread string `json:"unread,omitempty"`
}

// String names the table with its rows: "ISIK_VANA (2 rows)".
func (t TableRows) String() string {
	if t.Unread != "" {
		return fmt.Sprintf("%s (rows not counted: %s)", t.Name, t.Unread)
	}
	return fmt.Sprintf("%s (%s)", t.Name, words.Count(t.Rows, "row"))
}

// Undescribed lists the tables of the STAR1 schema that STAR1.md does
// not describe, with their rows in the snapshot (or why they could not
// be counted), by name: starmig reads none of them, so the archive would
// not hold them. Tables that hold no
// data of their own (SQLite's internal tables; Oracle's temporary,
// nested and secondary tables, index-organized overflow, the recycle bin,
// materialized views and their logs) are not listed. A dialect that
// cannot list its tables (the postgres source, a restored archive) gives
// none.
func Undescribed(ctx context.Context, snap Snapshot) ([]TableRows, error) {
	lister, ok := snap.Dialect().(tableLister)
	if !ok {
		return nil, nil
	}
	var out []TableRows
	if err := snap.Query(ctx, lister.TablesSQL(), func(v []any) error {
		name, _ := text(v[0])
		if !slices.ContainsFunc(Tables, func(t Table) bool { return strings.EqualFold(t.Name, name) }) {
			out = append(out, TableRows{Name: name})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("extract: listing the tables of STAR1: %w", err)
	}
	for i := range out {
		n, err := count(ctx, snap, lister.CountSQL(out[i].Name))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// Kept, not returned: --skip-table must stay a way on.
			n, out[i].Unread = -1, strings.TrimPrefix(err.Error(), "extract: query: ")
		}
		out[i].Rows = n
	}
	slices.SortFunc(out, func(a, b TableRows) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Recorded lists the tables that the source records as left out of the
// archive it came from: a STAR1 restored into PostgreSQL holds the
// catalog's left_out of the archive run it restores (PostgresLeftOutTable).
// Those tables are not in the source; an archive written from it leaves
// them out too, and says so. Other sources record none.
func Recorded(ctx context.Context, snap Snapshot) ([]TableRows, error) {
	r, ok := snap.(recorder)
	if !ok {
		return nil, nil
	}
	out, err := r.recorded(ctx)
	if err != nil {
		return nil, fmt.Errorf("extract: reading the tables left out of the archive the source was restored from: %w", err)
	}
	return out, nil
}

// recorder is a snapshot that records tables left out of an archive.
type recorder interface {
	recorded(ctx context.Context) ([]TableRows, error)
}

// tableLister is a dialect that can list the tables of the STAR1 schema,
// by a query whose rows hold one table name each, and count the rows of
// any of them in the snapshot.
type tableLister interface {
	TablesSQL() string
	CountSQL(name string) string
}

// quoteName quotes an identifier for SQL.
func quoteName(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Count returns how many rows table t holds in the snapshot.
func Count(ctx context.Context, snap Snapshot, t Table) (int64, error) {
	n, err := count(ctx, snap, "SELECT COUNT(*) FROM "+snap.Dialect().Table(t))
	if err != nil {
		return 0, fmt.Errorf("extract: counting %s: %w", t.Name, err)
	}
	return n, nil
}

// count runs a query that gives one count.
func count(ctx context.Context, snap Snapshot, query string) (int64, error) {
	var n int64
	err := snap.Query(ctx, query, func(v []any) error {
		if b, ok := v[0].([]byte); ok {
			v[0] = string(b)
		}
		var err error
		n, err = strconv.ParseInt(strings.TrimSpace(fmt.Sprint(v[0])), 10, 64)
		return err
	})
	return n, err
}

// Counts returns how many rows each STAR1 table holds in the snapshot, by
// table name.
func Counts(ctx context.Context, snap Snapshot) (map[string]int64, error) {
	out := make(map[string]int64, len(Tables))
	for _, t := range Tables {
		n, err := Count(ctx, snap, t)
		if err != nil {
			return nil, err
		}
		out[t.Name] = n
	}
	return out, nil
}

// NormalizeDecimal turns a database's decimal text into canonical STAR1
// money text: a leading zero before the point ("0.5", not ".5"), no plus
// sign, no trailing point. It refuses anything that is not a plain decimal,
// naming the value.
func NormalizeDecimal(s string) (string, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	intPart, frac, hasDot := strings.Cut(t, ".")
	if intPart == "" && frac == "" || strings.ContainsAny(frac, ".") {
		return "", fmt.Errorf("decimal %q: not a decimal number", s)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return "", fmt.Errorf("decimal %q: not a decimal number", s)
			}
		}
	}
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasDot && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, nil
}

// number12x2 refuses canonical decimal text that STAR1's money type,
// NUMBER(12,2), cannot hold: more than ten digits before the point, or
// more than two after it that are not zeros. Such text can only be stored
// in the SQLite stand-in; the archive could not sum it, and a restore
// could not give it back.
func number12x2(d string) error {
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(d, "-"), ".")
	if len(strings.TrimLeft(intPart, "0")) > 10 || len(strings.TrimRight(frac, "0")) > 2 {
		return fmt.Errorf("decimal %q: more than NUMBER(12,2) holds", d)
	}
	return nil
}

// MinimalDecimal drops the trailing zeros of canonical decimal text's
// fraction, and the point when nothing is left after it: "656.30" is
// "656.3", "100.00" is "100".
func MinimalDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// WallClockText checks that s is a STAR1 DATE as wall-clock text
// "YYYY-MM-DD HH:MM:SS", a day and time of day that exist, and returns it;
// a date alone gets midnight.
func WallClockText(s string) (string, error) {
	orig := s
	if len(s) == 10 {
		s += " 00:00:00"
	}
	f, shape := WallClockFields(s)
	switch {
	case !shape:
		return "", fmt.Errorf("date %q: want YYYY-MM-DD HH:MM:SS", orig)
	case f[0] < 1:
		// The calendar too, as an Oracle DATE is: a day that does not
		// exist ("2020-02-30", month 13, 24:00:00) could be archived as
		// text but never restored into a timestamp. Oracle has no year 0.
		return "", fmt.Errorf("date %q: no such day or time of day in the calendar", orig)
	}
	return s, nil
}

// WallClockFields reads "YYYY-MM-DD HH:MM:SS", or "YYYY-MM-DD" as
// midnight, into year, month, day, hour, minute and second, without
// time.Parse, which costs a second of CPU in a migration of 100 000
// persons. shape is false for text of another shape; the fields are all
// zero for one that names no day and time of day of the calendar (month
// 13, 29 February of a common year, 24:00:00). Year 0 is read as given.
func WallClockFields(s string) (f [6]int, shape bool) {
	if len(s) != 10 && (len(s) != 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':') || s[4] != '-' || s[7] != '-' {
		return f, false
	}
	for i, at := range [6]int{0, 5, 8, 11, 14, 17} {
		n := 2
		if i == 0 {
			n = 4
		}
		if at >= len(s) {
			break
		}
		for _, c := range []byte(s[at : at+n]) {
			if c < '0' || c > '9' {
				return [6]int{}, false
			}
			f[i] = f[i]*10 + int(c-'0')
		}
	}
	y, mo, d := f[0], f[1], f[2]
	days := 0
	if mo >= 1 && mo <= 12 {
		days = monthDays[mo-1]
		if mo == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			days = 29
		}
	}
	if d < 1 || d > days || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return [6]int{}, true
	}
	return f, true
}

// monthDays are the days of each month in a year that is not a leap year.
var monthDays = [12]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// decode turns a driver value of a column into a Row value, naming the
// table, column and value on error.
func decode(t Table, c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func(err error) error {
		return fmt.Errorf("extract: %s.%s: %w", t.Name, c.Name, err)
	}
	switch c.Kind {
	case Integer:
		switch x := v.(type) {
		case int64:
			return v, nil // not boxed again
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, bad(fmt.Errorf("id %q: not an integer", x))
			}
			return n, nil
		case float64:
			if x != float64(int64(x)) {
				return nil, bad(fmt.Errorf("id %v: not an integer", x))
			}
			return int64(x), nil
		}
	case Decimal:
		s, ok := text(v)
		if !ok {
			return nil, bad(fmt.Errorf("money value %q of type %T: want decimal text", fmt.Sprint(v), v))
		}
		d, err := NormalizeDecimal(s)
		if err == nil {
			err = number12x2(d)
		}
		if err != nil {
			return nil, bad(err)
		}
		return same(v, d), nil
	case Date:
		s, ok := text(v)
		if !ok {
			return nil, bad(fmt.Errorf("date value %q of type %T: want wall-clock text", fmt.Sprint(v), v))
		}
		d, err := WallClockText(s)
		if err != nil {
			return nil, bad(err)
		}
		return same(v, d), nil
	case Text, CLOB:
		if s, ok := text(v); ok {
			return same(v, s), nil
		}
	case BLOB:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	}
	return nil, bad(fmt.Errorf("unexpected value %q of type %T", fmt.Sprint(v), v))
}

// same returns v when it already holds the string s, so that the value
// is not boxed again: decode runs on every value STAR1 holds.
func same(v any, s string) any {
	if x, ok := v.(string); ok && x == s {
		return v
	}
	return s
}

func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}
