package pgcopy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

// copyCases are values of every type a migration writes, with the
// column type they go into, including values the fast path leaves to pgx.
func copyCases(t testing.TB) []struct {
	oid uint32
	v   any
} {
	tallinn, err := time.LoadLocation("Europe/Tallinn")
	if err != nil {
		t.Fatal(err)
	}
	u := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	type c = struct {
		oid uint32
		v   any
	}
	return []c{
		{pgtype.TextOID, ""}, {pgtype.TextOID, "Õnnelik Ülle 𝄞"}, {pgtype.VarcharOID, "x"}, {pgtype.TextOID, nil},
		{pgtype.TextOID, pgtype.Text{String: "t", Valid: true}}, {pgtype.TextOID, pgtype.Text{}},
		{pgtype.Int8OID, int64(0)}, {pgtype.Int8OID, int64(-1)}, {pgtype.Int8OID, int64(1<<63 - 1)}, {pgtype.Int8OID, int32(7)},
		{pgtype.Int4OID, int64(12)}, {pgtype.Int4OID, int32(-12)},
		{pgtype.BoolOID, true}, {pgtype.BoolOID, false},
		{pgtype.UUIDOID, pgtype.UUID{Bytes: u, Valid: true}}, {pgtype.UUIDOID, pgtype.UUID{}}, {pgtype.UUIDOID, u},
		{pgtype.UUIDOID, u.String()},
		{pgtype.ByteaOID, []byte(nil)}, {pgtype.ByteaOID, []byte{}}, {pgtype.ByteaOID, []byte{0, 1, 255}},
		{pgtype.TimestamptzOID, time.Date(2026, 3, 29, 3, 30, 0, 123456789, tallinn)},
		{pgtype.TimestamptzOID, time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(1969, 7, 20, 20, 17, 40, 500, time.UTC)},
		{pgtype.TimestamptzOID, time.Date(1899, 1, 1, 0, 0, 0, 1000, tallinn)},
		{pgtype.TimestampOID, time.Date(2026, 3, 29, 3, 30, 0, 123456789, tallinn)},
		{pgtype.TimestampOID, time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{pgtype.TimestampOID, time.Date(1969, 7, 20, 20, 17, 40, 500, time.UTC)},
		{pgtype.TimestampOID, time.Date(1899, 1, 1, 0, 0, 0, 1000, tallinn)},
		{pgtype.TimestampOID, time.Date(2010, 10, 31, 3, 59, 59, 0, tallinn)},
		{pgtype.TimestampOID, "2024-02-29 12:00:00"},
		{pgtype.DateOID, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)},
		{pgtype.DateOID, time.Date(2026, 11, 22, 23, 30, 0, 0, tallinn)},
		{pgtype.DateOID, time.Date(1950, 2, 28, 0, 0, 0, 0, time.UTC)},
		{pgtype.DateOID, "2024-02-29"},
		{pgtype.NumericOID, mapping.Numeric(0)}, {pgtype.NumericOID, mapping.Numeric(1)}, {pgtype.NumericOID, mapping.Numeric(-123456)},
		{pgtype.NumericOID, mapping.Numeric(99999999999999)}, {pgtype.NumericOID, mapping.Numeric(-1 << 62)},
		{pgtype.NumericOID, pgtype.Numeric{Int: big.NewInt(15), Exp: -1, Valid: true}}, {pgtype.NumericOID, pgtype.Numeric{}},
		{pgtype.NumericOID, "12.30"}, {pgtype.NumericOID, mapping.Cents(0)}, {pgtype.NumericOID, mapping.Cents(-5)}, {pgtype.NumericOID, mapping.Cents(123400)},
		{pgtype.NumericOID, mapping.Cents(-1 << 63)},
		{pgtype.JSONBOID, []byte(`{"a":1}`)},
	}
}

func typeMap() *pgtype.Map {
	m := pgtype.NewMap()
	m.RegisterType(&pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: centsCodec{}})
	return m
}

// TestCopyValueAsPgxEncodesIt checks the fast encodings byte for byte
// against pgx's own encoding of the same value for the same column type.
func TestCopyValueAsPgxEncodesIt(t *testing.T) {
	m := typeMap()
	for _, c := range copyCases(t) {
		got, err := appendCopyValue(m, []byte("prefix"), c.oid, c.v)
		if err != nil {
			t.Errorf("%T %v into oid %d: %v", c.v, c.v, c.oid, err)
			continue
		}
		want, err := appendCopyValuePgx(m, []byte("prefix"), c.oid, c.v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%T %v into oid %d: % x, pgx gives % x", c.v, c.v, c.oid, got, want)
		}
	}
	// A value pgx cannot encode is refused with pgx's error.
	if _, err := appendCopyValue(m, nil, pgtype.Int8OID, struct{}{}); err == nil {
		t.Error("a struct into a bigint column encoded")
	}
}

// TestCopyRowsAsCopyFrom writes the same rows with CopyRows and with pgx's
// CopyFrom into two tables of every column type, in a real PostgreSQL, and
// compares what they hold.
func TestCopyRowsAsCopyFrom(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	RegisterTypes(conn)
	names := map[uint32]string{pgtype.TextOID: "text", pgtype.VarcharOID: "varchar", pgtype.Int8OID: "bigint", pgtype.Int4OID: "integer",
		pgtype.BoolOID: "boolean", pgtype.UUIDOID: "uuid", pgtype.ByteaOID: "bytea", pgtype.TimestamptzOID: "timestamptz",
		pgtype.DateOID: "date", pgtype.NumericOID: "numeric", pgtype.JSONBOID: "jsonb", pgtype.TimestampOID: "timestamp"}
	cases := copyCases(t)
	var cols, defs []string
	row := []any{}
	for i, c := range cases {
		cols = append(cols, fmt.Sprintf("c%d", i))
		defs = append(defs, fmt.Sprintf("c%d %s", i, names[c.oid]))
		row = append(row, c.v)
	}
	// Enough rows for several buffers of the stream, one a large value.
	big := bytes.Repeat([]byte("x"), 3*copyBufSize)
	rows := [][]any{}
	for i := range 500 {
		r := append([]any{}, row...)
		r = append(r, int64(i), []byte(nil))
		if i == 250 {
			r[len(r)-1] = big
		}
		rows = append(rows, r)
	}
	cols = append(cols, "n", "doc")
	defs = append(defs, "n bigint", "doc bytea")
	for _, tb := range []string{"ours", "pgx"} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", tb, strings.Join(defs, ", "))); err != nil {
			t.Fatal(err)
		}
	}
	n, err := CopyRows(ctx, conn, pgx.Identifier{"ours"}, cols, rows)
	if err != nil || n != int64(len(rows)) {
		t.Fatalf("CopyRows: %d rows, %v", n, err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"pgx"}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	var differ int
	// As text, so that a numeric's display scale counts too.
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM ours o FULL JOIN pgx p USING (n) WHERE o::text IS DISTINCT FROM p::text`).Scan(&differ); err != nil {
		t.Fatal(err)
	}
	if differ != 0 {
		t.Errorf("%d rows differ between CopyRows and CopyFrom", differ)
	}
	// Twice on one connection: the description is kept, and no rows is a
	// COPY of none.
	if n, err := CopyRows(ctx, conn, pgx.Identifier{"ours"}, cols, nil); err != nil || n != 0 {
		t.Errorf("no rows: %d, %v", n, err)
	}
	// A row of the wrong width and a value that cannot be encoded fail the
	// COPY, and the connection goes on.
	if _, err := CopyRows(ctx, conn, pgx.Identifier{"ours"}, cols, [][]any{row}); err == nil || !strings.Contains(err.Error(), "values") {
		t.Errorf("short row: %v", err)
	}
	bad := append([]any{}, rows[0]...)
	bad[6] = struct{}{}
	if _, err := CopyRows(ctx, conn, pgx.Identifier{"ours"}, cols, [][]any{bad}); err == nil {
		t.Error("a struct into a bigint column was copied")
	}
	var count int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ours").Scan(&count); err != nil || count != len(rows) {
		t.Errorf("after the failed copies: %d rows, %v", count, err)
	}
}

// BenchmarkCopyEncoding encodes rows shaped like STAR2's (uuids, text,
// dates, instants, an amount, a flag, NULLs) as CopyRows does and as pgx's
// CopyFrom does, value by value through the type map.
//
//	go test -run '^$' -bench CopyEncoding -benchmem ./load
func BenchmarkCopyEncoding(b *testing.B) {
	m := typeMap()
	u := pgtype.UUID{Bytes: uuid.New(), Valid: true}
	day := time.Date(2021, 5, 4, 0, 0, 0, 0, time.UTC)
	oids := []uint32{pgtype.UUIDOID, pgtype.UUIDOID, pgtype.TextOID, pgtype.TextOID, pgtype.DateOID, pgtype.DateOID,
		pgtype.TimestamptzOID, pgtype.NumericOID, pgtype.BoolOID, pgtype.Int8OID, pgtype.TextOID}
	row := []any{u, u, "0104", "Hooldusteenus kodus", day, nil, day.Add(90 * time.Minute), mapping.Numeric(12345), true, int64(42), nil}
	rows := make([][]any, 4000)
	for i := range rows {
		rows[i] = row
	}
	b.Run("starmig", func(b *testing.B) {
		for range b.N {
			r := &copyReader{m: m, oids: oids, src: pgx.CopyFromRows(rows)}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pgx-per-value", func(b *testing.B) {
		var buf []byte
		for range b.N {
			buf = buf[:0]
			for _, r := range rows {
				for i, v := range r {
					var err error
					if buf, err = appendCopyValuePgx(m, buf, oids[i], v); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
}

// TestCopyStreams writes rows taken one by one from a source, more than
// fit in one buffer of the stream, and checks that an error of the source
// fails the COPY with that error, leaving nothing of it in the table.
func TestCopyStreams(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Connect(t, testenv.Postgres(t))
	if _, err := conn.Exec(ctx, "CREATE TABLE streamed (n bigint, s text, at timestamp, amount numeric(12,2))"); err != nil {
		t.Fatal(err)
	}
	source := func(rows, failAt int) pgx.CopyFromSource {
		i := 0
		return pgx.CopyFromFunc(func() ([]any, error) {
			if i == failAt {
				return nil, fmt.Errorf("row %d cannot be read", i)
			}
			if i == rows {
				return nil, nil
			}
			i++
			return []any{int64(i), strings.Repeat("x", i%100), time.Date(2010, 1, 1, 0, 0, i, 0, time.UTC), mapping.Cents(i)}, nil
		})
	}
	cols := []string{"n", "s", "at", "amount"}
	n, err := Copy(ctx, conn, pgx.Identifier{"streamed"}, cols, source(20000, -1))
	if err != nil || n != 20000 {
		t.Fatalf("Copy: %d rows, %v", n, err)
	}
	var sum string
	if err := conn.QueryRow(ctx, "SELECT sum(amount)::text FROM streamed").Scan(&sum); err != nil || sum != "2000100.00" {
		t.Errorf("sum of the amounts %q (%v), want 2000100.00", sum, err)
	}
	if _, err := Copy(ctx, conn, pgx.Identifier{"streamed"}, cols, source(20000, 15000)); err == nil || !strings.Contains(err.Error(), "row 15000 cannot be read") {
		t.Errorf("a failing source: %v", err)
	}
	var count int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM streamed").Scan(&count); err != nil || count != 20000 {
		t.Errorf("after the failed copy: %d rows, %v", count, err)
	}
}

// TestLargeValuesAreNotCopied streams rows with texts and byteas larger
// than the stream's buffer, among small values, read in pieces of several
// sizes: the stream is the one the values encode to, and the buffer does
// not grow to the size of the large values.
func TestLargeValuesAreNotCopied(t *testing.T) {
	m := typeMap()
	oids := []uint32{pgtype.Int8OID, pgtype.ByteaOID, pgtype.TextOID, pgtype.TextOID}
	doc := bytes.Repeat([]byte{0, 1, 2, 250}, 1<<18) // 1 MiB
	text := strings.Repeat("Õ", 3*copyBufSize)
	rows := [][]any{
		{int64(1), doc, text, "small"},
		{int64(2), []byte("small"), nil, text},
		{int64(3), doc, text, text},
		{int64(4), doc[:copyBufSize], text[:copyBufSize], ""}, // as large as the buffer: copied
	}
	want := []byte("PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000")
	for _, row := range rows {
		want = binary.BigEndian.AppendUint16(want, uint16(len(row)))
		for i, v := range row {
			var err error
			if want, err = appendCopyValue(m, want, oids[i], v); err != nil {
				t.Fatal(err)
			}
		}
	}
	want = binary.BigEndian.AppendUint16(want, 0xffff)
	for _, piece := range []int{1, 7, 4096, 65536, 1 << 20} {
		r := &copyReader{m: m, oids: oids, src: pgx.CopyFromRows(rows)}
		var got bytes.Buffer
		p := make([]byte, piece)
		for {
			n, err := r.Read(p)
			got.Write(p[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("read in pieces of %d: the stream differs (%d bytes, want %d)", piece, got.Len(), len(want))
		}
		if cap(r.buf) > 3*copyBufSize {
			t.Errorf("read in pieces of %d: the buffer grew to %d bytes", piece, cap(r.buf))
		}
	}
}
