// Package pgcopy writes rows into PostgreSQL by COPY in the binary
// format, encoding the values starmig writes most without pgx's
// per-value planning, and teaches pgx connections the fast encoding of
// amounts in cents. The migration's load, its deep reconciliation and the
// archive's restore all write through it.
package pgcopy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/starmig/starmig/mapping"
)

// CopyRows writes rows into table by COPY in PostgreSQL's binary format,
// as pgx's CopyFrom does, with the values of the types starmig writes
// most (text, bigint, boolean, uuid, bytea, date, timestamp, timestamptz
// and amounts in cents) encoded straight into the stream. pgx looks up an
// encoding plan for every value, which cost about two seconds of CPU in a
// 100 000-person batch; any other value is encoded by pgx, with the same
// result and the same errors as its CopyFrom.
func CopyRows(ctx context.Context, conn *pgx.Conn, table pgx.Identifier, columns []string, rows [][]any) (int64, error) {
	return Copy(ctx, conn, table, columns, pgx.CopyFromRows(rows))
}

// Copy is CopyRows with the rows taken from src as the stream is written,
// so that they need not all be in memory at once. Like pgx's CopyFrom, it
// may read src on another goroutine.
func Copy(ctx context.Context, conn *pgx.Conn, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	cols := strings.Join(quoted, ", ")
	// Named by its text, the description is asked of the server once per
	// connection (pgx keeps it), not once per chunk.
	describe := fmt.Sprintf("select %s from %s", cols, table.Sanitize())
	sd, err := conn.Prepare(ctx, describe, describe)
	if err != nil {
		return 0, fmt.Errorf("statement description failed: %w", err)
	}
	oids := make([]uint32, len(sd.Fields))
	for i, f := range sd.Fields {
		oids[i] = f.DataTypeOID
	}
	r := &copyReader{m: conn.TypeMap(), oids: oids, src: src}
	tag, err := conn.PgConn().CopyFrom(ctx, r, fmt.Sprintf("copy %s ( %s ) from stdin binary;", table.Sanitize(), cols))
	if err == nil {
		err = src.Err()
	}
	return tag.RowsAffected(), err
}

// copyReader is the binary COPY stream of rows, encoded as it is read.
// A text or bytea value larger than the buffer (a document, a long text)
// is not copied into it: the stream gives its bytes straight from the
// value, so that the buffer does not grow to the size of the largest
// document and the document is not held twice.
type copyReader struct {
	m    *pgtype.Map
	oids []uint32
	src  pgx.CopyFromSource
	head bool // the header is written
	done bool // the trailer is written
	buf  []byte
	off  int // of buf, read
	// A row whose encoding stopped at a large value: the value, given
	// after buf, and the column to go on from.
	row  []any
	col  int
	big  []byte
	bigS string
}

const copyBufSize = 64 << 10

func (r *copyReader) Read(p []byte) (int, error) {
	for {
		switch {
		case r.off < len(r.buf):
			n := copy(p, r.buf[r.off:])
			r.off += n
			return n, nil
		case len(r.big) > 0:
			n := copy(p, r.big)
			r.big = r.big[n:]
			return n, nil
		case len(r.bigS) > 0:
			n := copy(p, r.bigS)
			r.bigS = r.bigS[n:]
			return n, nil
		case r.done:
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
}

// fill encodes rows into the buffer until it holds about copyBufSize
// bytes, then the trailer after the last row; or up to the length of a
// large value, which Read gives next.
func (r *copyReader) fill() error {
	buf := r.buf[:0]
	r.off = 0
	r.big, r.bigS = nil, ""
	if !r.head {
		buf = append(buf, "PGCOPY\n\377\r\n\000"...)
		buf = binary.BigEndian.AppendUint32(buf, 0) // flags
		buf = binary.BigEndian.AppendUint32(buf, 0) // header extension
		r.head = true
	}
	for len(buf) < copyBufSize {
		if r.row == nil {
			if !r.src.Next() {
				if err := r.src.Err(); err != nil {
					return err
				}
				buf = binary.BigEndian.AppendUint16(buf, 0xffff) // -1: no more rows
				r.done = true
				break
			}
			row, err := r.src.Values()
			if err != nil {
				return err
			}
			if len(row) != len(r.oids) {
				return fmt.Errorf("expected %d values, got %d values", len(r.oids), len(row))
			}
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(row)))
			r.row, r.col = row, 0
		}
		for r.col < len(r.row) {
			v, oid := r.row[r.col], r.oids[r.col]
			r.col++
			if b, ok := v.([]byte); ok && oid == pgtype.ByteaOID && len(b) > copyBufSize {
				r.buf, r.big = binary.BigEndian.AppendUint32(buf, uint32(len(b))), b
				return nil
			}
			if t, ok := v.(string); ok && (oid == pgtype.TextOID || oid == pgtype.VarcharOID) && len(t) > copyBufSize {
				r.buf, r.bigS = binary.BigEndian.AppendUint32(buf, uint32(len(t))), t
				return nil
			}
			var err error
			if buf, err = appendCopyValue(r.m, buf, oid, v); err != nil {
				return err
			}
		}
		r.row = nil
	}
	r.buf = buf
	return nil
}

// Microseconds from the Unix epoch to 2000-01-01, PostgreSQL's epoch.
const (
	microsToY2K  = 946_684_800 * 1_000_000
	secondsToY2K = 946_684_800
)

// appendCopyValue appends a value as a field of a binary COPY row: its
// length, then its bytes; -1 for NULL.
func appendCopyValue(m *pgtype.Map, buf []byte, oid uint32, v any) ([]byte, error) {
	if v == nil {
		return binary.BigEndian.AppendUint32(buf, 0xffffffff), nil
	}
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID:
		if s, ok := v.(string); ok {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
			return append(buf, s...), nil
		}
	case pgtype.Int8OID:
		if n, ok := v.(int64); ok {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(n)), nil
		}
	case pgtype.BoolOID:
		if b, ok := v.(bool); ok {
			buf = binary.BigEndian.AppendUint32(buf, 1)
			if b {
				return append(buf, 1), nil
			}
			return append(buf, 0), nil
		}
	case pgtype.UUIDOID:
		if u, ok := v.(pgtype.UUID); ok {
			if !u.Valid {
				return binary.BigEndian.AppendUint32(buf, 0xffffffff), nil
			}
			buf = binary.BigEndian.AppendUint32(buf, 16)
			return append(buf, u.Bytes[:]...), nil
		}
	case pgtype.ByteaOID:
		if b, ok := v.([]byte); ok {
			if b == nil { // as pgx: a nil slice is NULL
				return binary.BigEndian.AppendUint32(buf, 0xffffffff), nil
			}
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
			return append(buf, b...), nil
		}
	case pgtype.TimestamptzOID:
		if t, ok := v.(time.Time); ok {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(t.Unix()*1_000_000+int64(t.Nanosecond())/1000-microsToY2K)), nil
		}
	case pgtype.TimestampOID:
		if t, ok := v.(time.Time); ok {
			// The wall clock of t, where t is, as pgx takes it.
			_, off := t.Zone()
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64((t.Unix()+int64(off))*1_000_000+int64(t.Nanosecond())/1000-microsToY2K)), nil
		}
	case pgtype.DateOID:
		if t, ok := v.(time.Time); ok {
			// The calendar date of t where t is, as pgx takes it.
			days := (time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() - secondsToY2K) / 86400
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(int32(days))), nil
		}
	case pgtype.NumericOID:
		cents, ok := v.(mapping.Cents)
		if !ok {
			n, _ := v.(pgtype.Numeric)
			c, whole := wholeCents(n)
			cents, ok = mapping.Cents(c), whole
		}
		if ok {
			sp := len(buf)
			buf = appendCents(binary.BigEndian.AppendUint32(buf, 0), int64(cents))
			binary.BigEndian.PutUint32(buf[sp:], uint32(len(buf)-sp-4))
			return buf, nil
		}
	}
	return appendCopyValuePgx(m, buf, oid, v)
}

// appendCopyValuePgx encodes a value as pgx's CopyFrom does: by its type
// map, and a string the type map cannot encode in binary is parsed as the
// column's text form first.
func appendCopyValuePgx(m *pgtype.Map, buf []byte, oid uint32, v any) ([]byte, error) {
	sp := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 0xffffffff)
	out, err := m.Encode(oid, pgtype.BinaryFormatCode, v, buf)
	if err != nil {
		out2, err2 := encodeViaText(m, buf, oid, v)
		if err2 != nil {
			return nil, err
		}
		out = out2
	}
	if out == nil { // NULL: the -1 stays
		return buf, nil
	}
	binary.BigEndian.PutUint32(out[sp:], uint32(len(out)-sp-4))
	return out, nil
}

func encodeViaText(m *pgtype.Map, buf []byte, oid uint32, v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		text, err := m.Encode(oid, pgtype.TextFormatCode, v, nil)
		if err != nil {
			return nil, errors.New("not a string and cannot be encoded as text")
		}
		s = string(text)
	}
	if typ, ok := m.TypeForOID(oid); ok {
		if _, ok := typ.Codec.(*pgtype.ArrayCodec); ok {
			var arr pgtype.Array[any]
			if err := m.Scan(oid, pgtype.TextFormatCode, []byte(s), &arr); err == nil {
				return m.Encode(oid, pgtype.BinaryFormatCode, arr, buf)
			}
		}
	}
	var parsed any
	if err := m.Scan(oid, pgtype.TextFormatCode, []byte(s), &parsed); err != nil {
		return nil, err
	}
	return m.Encode(oid, pgtype.BinaryFormatCode, parsed, buf)
}
