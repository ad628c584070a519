package load

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/mapping"
)

// The bookkeeping keeps, for every STAR2 row the migration wrote, the md5
// of the row's text form as PostgreSQL gives it (md5(t::text)); a re-run
// updates the row only while it still has that hash. Reading the hash back
// after every COPY cost PostgreSQL about 12 s of CPU in a migration of
// 100 000 persons, so starmig computes it itself, from the values it
// writes, when the table is exactly what it expects: the columns it
// writes, in that order, of the types below, and no trigger of the
// table's owners that could change a row as it is written. Any other
// table, any value this code does not format (a time with nanoseconds, a
// year outside 1-9999...), and any database whose character classes are
// not those of C or UTF-8, is hashed by PostgreSQL: md5(t::text) is read
// back after the write.
//
// The text form is record_out's under the settings every batch connection
// pins (DateStyle ISO, TimeZone UTC, bytea_output hex): the values in
// column order between parentheses, separated by commas, NULL as nothing,
// and a value that is empty or holds a double quote, a backslash, a
// parenthesis, a comma or white space in double quotes, with its double
// quotes and backslashes doubled.

type colType uint8

const (
	colText colType = iota + 1
	colUUID
	colDate
	colTimestamptz
	colNumeric2
	colBigint
	colBytea
)

var colTypes = map[string]colType{
	"text":                     colText,
	"uuid":                     colUUID,
	"date":                     colDate,
	"timestamp with time zone": colTimestamptz,
	"numeric(12,2)":            colNumeric2,
	"bigint":                   colBigint,
	"bytea":                    colBytea,
}

// rowHasher computes md5(t::text) of rows of one STAR2 table.
type rowHasher struct {
	types []colType
}

// hashers checks each STAR2 table the mapping writes against the catalog
// and returns a hasher for each that starmig can hash itself.
func hashers(ctx context.Context, conn *pgx.Conn) (map[string]*rowHasher, error) {
	out := map[string]*rowHasher{}
	var zone, style, bytea, ctype string
	if err := conn.QueryRow(ctx, `SELECT current_setting('TimeZone'), current_setting('DateStyle'), current_setting('bytea_output'), current_setting('lc_ctype')`).
		Scan(&zone, &style, &bytea, &ctype); err != nil {
		return nil, fmt.Errorf("load: session settings: %w", err)
	}
	if zone != "UTC" || style != "ISO, YMD" || bytea != "hex" || !asciiSpace(ctype) {
		return out, nil // PostgreSQL hashes every row
	}
	for _, t := range mapping.Tables {
		h, err := tableHasher(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		if h != nil {
			out[t.Star2] = h
		}
	}
	return out, nil
}

// asciiSpace reports whether, under the database's character classes, the
// only white space bytes record_out quotes for are ASCII ones: true for the
// C locale and UTF-8 locales, where no byte above 0x7f is a character.
func asciiSpace(ctype string) bool {
	c := strings.ToLower(ctype)
	return c == "c" || c == "posix" || strings.HasSuffix(c, ".utf-8") || strings.HasSuffix(c, ".utf8")
}

// tableHasher returns nil when PostgreSQL must hash the table's rows.
func tableHasher(ctx context.Context, conn *pgx.Conn, t mapping.Table) (*rowHasher, error) {
	rel := "star2." + t.Star2
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, rel)
	if err != nil {
		return nil, fmt.Errorf("load: columns of %s: %w", rel, err)
	}
	var names []string
	var types []colType
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load: columns of %s: %w", rel, err)
		}
		names = append(names, name)
		types = append(types, colTypes[typ])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load: columns of %s: %w", rel, err)
	}
	if !slices.Equal(names, t.Columns) || slices.Contains(types, 0) {
		return nil, nil
	}
	var triggers int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, rel).Scan(&triggers); err != nil {
		return nil, fmt.Errorf("load: triggers of %s: %w", rel, err)
	}
	if triggers > 0 {
		return nil, nil
	}
	return &rowHasher{types: types}, nil
}

// hash returns the hex md5 of the row's text form, or false when a value
// is not one this code formats exactly as PostgreSQL does. It is safe for
// concurrent use.
func (h *rowHasher) hash(vals []any) (string, bool) {
	if h == nil || len(vals) != len(h.types) {
		return "", false
	}
	for i, v := range vals {
		if x, ok := v.([]byte); ok && h.types[i] == colBytea && len(x) > hexPiece {
			return h.hashLarge(vals)
		}
	}
	bp := textBufs.Get().(*[]byte)
	b, ok := appendRowText((*bp)[:0], h.types, vals)
	var sum [md5.Size]byte
	if ok {
		sum = md5.Sum(b)
	}
	if cap(b) <= 1<<20 { // a large text's buffer is not kept
		*bp = b[:0]
		textBufs.Put(bp)
	}
	if !ok {
		return "", false
	}
	return hex.EncodeToString(sum[:]), true
}

// hexPiece is how much of a bytea value hashLarge turns into text at once.
const hexPiece = 32 << 10

// hashLarge is hash for a row with a large bytea value (a document): the
// row's text is hashed in pieces, so that a document does not cost a
// buffer of its text, twice its size.
func (h *rowHasher) hashLarge(vals []any) (string, bool) {
	d := md5.New()
	b := make([]byte, 0, 2*hexPiece+1024)
	b = append(b, '(')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if x, ok := v.([]byte); ok && h.types[i] == colBytea && x != nil {
			// As appendValue writes it: `\x` and hex digits, quoted, the
			// backslash doubled.
			b = append(b, `"\\x`...)
			for len(x) > 0 {
				n := min(len(x), hexPiece)
				b = hex.AppendEncode(b, x[:n])
				x = x[n:]
				d.Write(b)
				b = b[:0]
			}
			b = append(b, '"')
			continue
		}
		var ok bool
		if b, ok = appendValue(b, h.types[i], v); !ok {
			return "", false
		}
		if len(b) > hexPiece {
			d.Write(b)
			b = b[:0]
		}
	}
	d.Write(append(b, ')'))
	return hex.EncodeToString(d.Sum(nil)), true
}

var textBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendRowText appends the row's text form.
func appendRowText(b []byte, types []colType, vals []any) ([]byte, bool) {
	b = append(b, '(')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendValue(b, types[i], v); !ok {
			return b, false
		}
	}
	return append(b, ')'), true
}

// needsQuotes reports whether record_out quotes a value.
func needsQuotes(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '(', ')', ',', ' ', '\t', '\n', '\v', '\f', '\r':
			return true
		}
	}
	return false
}

// appendField appends one value's text, quoted where record_out quotes it,
// its double quotes and backslashes doubled.
func appendField(b []byte, s string) []byte {
	if !needsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, s[start:i+1]...)
			b = append(b, c)
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendValue(b []byte, t colType, v any) ([]byte, bool) {
	if v == nil {
		return b, true
	}
	switch t {
	case colText:
		s, ok := v.(string)
		if !ok {
			return b, false
		}
		return appendField(b, s), true
	case colUUID:
		switch x := v.(type) {
		case pgtype.UUID:
			if !x.Valid {
				return b, true
			}
			return appendUUID(b, x.Bytes), true
		case uuid.UUID:
			return appendUUID(b, x), true
		}
	case colDate:
		d, ok := v.(time.Time)
		if !ok {
			return b, false
		}
		y, m, day := d.Date()
		if y < 1 || y > 9999 {
			return b, false
		}
		return appendDate(b, y, int(m), day), true
	case colTimestamptz:
		ts, ok := v.(time.Time)
		if !ok {
			return b, false
		}
		ts = ts.UTC()
		y, m, day := ts.Date()
		if y < 1 || y > 9999 || ts.Nanosecond()%1000 != 0 {
			return b, false
		}
		// Always quoted: date and time are separated by a space.
		b = append(b, '"')
		b = appendDate(b, y, int(m), day)
		hh, mm, ss := ts.Clock()
		b = append(b, ' ', byte('0'+hh/10), byte('0'+hh%10), ':', byte('0'+mm/10), byte('0'+mm%10), ':', byte('0'+ss/10), byte('0'+ss%10))
		if us := ts.Nanosecond() / 1000; us != 0 {
			digits := 6
			for us%10 == 0 {
				us /= 10
				digits--
			}
			b = append(b, '.')
			for i := digits - 1; i >= 0; i-- {
				b = append(b, '0')
			}
			n := len(b)
			for i := 1; i <= digits; i++ {
				b[n-i] = byte('0' + us%10)
				us /= 10
			}
		}
		return append(b, '+', '0', '0', '"'), true
	case colNumeric2:
		n, ok := v.(pgtype.Numeric)
		if !ok {
			return b, false
		}
		if !n.Valid {
			return b, true
		}
		if n.NaN || n.InfinityModifier != pgtype.Finite || n.Exp != -2 || n.Int == nil || !n.Int.IsInt64() {
			return b, false
		}
		return appendCentsText(b, n.Int.Int64()), true
	case colBigint:
		n, ok := v.(int64)
		if !ok {
			return b, false
		}
		return strconv.AppendInt(b, n, 10), true
	case colBytea:
		x, ok := v.([]byte)
		if !ok {
			return b, false
		}
		if x == nil { // pgx writes a nil slice as NULL
			return b, true
		}
		// `\x` and hex digits: always quoted, the backslash doubled.
		b = append(b, `"\\x`...)
		b = hex.AppendEncode(b, x)
		return append(b, '"'), true
	}
	return b, false
}

// appendDate appends YYYY-MM-DD for a year of 1 to 9999.
func appendDate(b []byte, y, m, d int) []byte {
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// appendCentsText appends cents as numeric(12,2) text: "-0.05", "12.30".
func appendCentsText(b []byte, cents int64) []byte {
	u := uint64(cents)
	if cents < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/100, 10)
	return append(b, '.', byte('0'+u%100/10), byte('0'+u%10))
}

// appendUUID appends u as PostgreSQL writes a uuid: lower-case hex in
// groups of 8-4-4-4-12.
func appendUUID(b []byte, u [16]byte) []byte {
	b = hex.AppendEncode(b, u[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, u[10:16])
}
