package load

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/internal/pgcopy"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

// batchConn connects with the settings every batch connection pins.
func batchConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	cfg.RuntimeParams["datestyle"] = "ISO, YMD"
	cfg.RuntimeParams["bytea_output"] = "hex"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	pgcopy.RegisterTypes(conn)
	return conn
}

// awkward values of each column type: what record_out must quote and
// escape, NULLs, the edges of each range.
func awkward(ct colType) []any {
	tallinn, _ := time.LoadLocation("Europe/Tallinn")
	switch ct {
	case colText:
		return []any{"", " ", "a", "a b", `"`, `\`, `\\"`, "(x)", "a,b", "tab\there", "line\nbreak", "\v\f\r", "end ",
			"Ülo Õunapuu", "日本語", "NULL", "null", "()", "'quoted'", "x\x01y", "ä\"ö\\ü", "{1,2}", nil}
	case colUUID:
		return []any{pgtype.UUID{Bytes: uuid.New(), Valid: true}, uuid.New(), nil, pgtype.UUID{},
			pgtype.UUID{Bytes: [16]byte{0xff, 0xee, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb, 0xc, 0xd}, Valid: true}}
	case colDate:
		return []any{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2025, 3, 30, 0, 30, 0, 0, tallinn), nil}
	case colTimestamptz:
		return []any{time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), time.Date(2025, 3, 30, 4, 30, 0, 0, tallinn),
			time.Date(2020, 1, 1, 0, 0, 0, 500_000_000, time.UTC), time.Date(2020, 1, 1, 0, 0, 0, 123_456_000, time.UTC),
			time.Date(2020, 1, 1, 0, 0, 0, 1_000, time.UTC), time.Date(1900, 1, 1, 12, 0, 0, 0, time.UTC),
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC), nil}
	case colNumeric2:
		var out []any
		for _, c := range []int64{0, 1, -1, 5, -5, 10, 99, 100, -100, 12345, -12345, 999999999999, -999999999999} {
			out = append(out, pgtype.Numeric{Int: big.NewInt(c), Exp: -2, Valid: true})
		}
		return append(out, pgtype.Numeric{}, nil)
	case colBigint:
		return []any{int64(0), int64(-1), int64(1 << 62), int64(-1 << 63), nil}
	case colBytea:
		big := bytes.Repeat([]byte{0, 1, 0x7f, 0x80, 0xfe, 0xff, '"', '\\'}, 12000) // hashed in pieces (hexPiece)
		return []any{[]byte{}, []byte(nil), []byte{0}, []byte("plain text, (with) \"quotes\""), big, nil}
	}
	return nil
}

// TestRowHashIsPostgreSQLs: for every STAR2 table, rows of awkward values
// hash in starmig exactly as md5(t::text) in PostgreSQL.
func TestRowHashIsPostgreSQLs(t *testing.T) {
	ctx := context.Background()
	conn := batchConn(t, testenv.Postgres(t))
	if err := ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	hs, err := hashers(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mapping.Tables {
		h := hs[mt.Star2]
		if h == nil {
			t.Errorf("star2.%s: starmig does not hash its rows itself", mt.Star2)
			continue
		}
		// The same columns without the constraints, so that any value goes in.
		tmp := "hash_" + mt.Star2
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s AS SELECT * FROM star2.%s WITH NO DATA", tmp, mt.Star2)); err != nil {
			t.Fatal(err)
		}
		var rows [][]any
		for i := range 40 {
			row := []any{pgtype.UUID{Bytes: uuid.New(), Valid: true}}
			for c, ct := range h.types[1:] {
				vals := awkward(ct)
				row = append(row, vals[(i+3*c)%len(vals)])
			}
			rows = append(rows, row)
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{tmp}, mt.Columns, pgx.CopyFromRows(rows)); err != nil {
			t.Fatalf("%s: %v", mt.Star2, err)
		}
		for _, row := range rows {
			want := ""
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT md5(t::text) FROM %s t WHERE id = $1", tmp), row[0]).Scan(&want); err != nil {
				t.Fatal(err)
			}
			got, ok := h.hash(row)
			if !ok || got != want {
				var text string
				_ = conn.QueryRow(ctx, fmt.Sprintf("SELECT t::text FROM %s t WHERE id = $1", tmp), row[0]).Scan(&text)
				t.Errorf("%s: starmig's hash %q (%v), PostgreSQL's %q of %.300s", mt.Star2, got, ok, want, text)
			}
		}
	}
}

// TestRowHashDeclines: values this code does not format as PostgreSQL
// would are left for PostgreSQL to hash, not hashed wrongly.
func TestRowHashDeclines(t *testing.T) {
	h := &rowHasher{types: []colType{colUUID, colText, colDate, colTimestamptz, colNumeric2}}
	ok := []any{uuid.New(), "x", time.Now(), time.Unix(1e9, 0), pgtype.Numeric{Int: big.NewInt(1), Exp: -2, Valid: true}}
	if _, fine := h.hash(ok); !fine {
		t.Fatalf("a plain row was declined")
	}
	for i, bad := range []any{
		"not a uuid", 42, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(1e9, 1),
		pgtype.Numeric{Int: big.NewInt(1), Exp: -3, Valid: true},
	} {
		row := append([]any(nil), ok...)
		row[i] = bad
		if got, fine := h.hash(row); fine {
			t.Errorf("column %d = %#v: hashed as %s, want it left to PostgreSQL", i, bad, got)
		}
	}
	if _, fine := h.hash(ok[:4]); fine {
		t.Errorf("a row with a column missing was hashed")
	}
}

// TestRowHashOnlyForTablesAsExpected: a table its owners changed (another
// column, a trigger) or a session with other settings is hashed by
// PostgreSQL, and the writer still records md5(t::text).
func TestRowHashOnlyForTablesAsExpected(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	conn := batchConn(t, dsn)
	if err := ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE star2.case_plan ADD COLUMN reviewed_by text DEFAULT 'nobody';
		CREATE FUNCTION star2.shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.activity_type := upper(NEW.activity_type); RETURN NEW; END $$;
		CREATE TRIGGER shout BEFORE INSERT ON star2.activity FOR EACH ROW EXECUTE FUNCTION star2.shout();`); err != nil {
		t.Fatal(err)
	}
	hs, err := hashers(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"case_plan", "activity"} {
		if hs[name] != nil {
			t.Errorf("star2.%s was changed by its owners, and starmig still hashes it itself", name)
		}
	}
	if hs["decision"] == nil {
		t.Errorf("star2.decision is as expected, and starmig does not hash it")
	}
	other, err := pgx.Connect(ctx, dsn+"&timezone=Europe/Tallinn")
	if !strings.Contains(dsn, "?") {
		other, err = pgx.Connect(ctx, dsn+"?timezone=Europe/Tallinn")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if hs, err := hashers(ctx, other); err != nil || len(hs) != 0 {
		t.Errorf("a session in another time zone: %d tables hashed by starmig (%v)", len(hs), err)
	}

	// The writer records PostgreSQL's hash for the changed tables too.
	if _, err := conn.Exec(ctx, `INSERT INTO star2.municipality VALUES ('0784', 'Tallinn');
		INSERT INTO star2.person (id, created_at) VALUES ('00000000-0000-0000-0000-000000000001', now());
		INSERT INTO star2.proceeding (id, person_id, municipality_code, proceeding_type, status, started_on)
		VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', '0784', 'benefit', 'open', '2025-01-01');
		INSERT INTO migration.batch VALUES ('b', NULL, '2026-11-01', 5, now());
		INSERT INTO migration.run (batch, started_at, state) VALUES ('b', now(), 'running')`); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(ctx, []*pgx.Conn{conn}, 1, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	proc := uuid.MustParse("00000000-0000-0000-0000-000000000002")
	at := time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		star1 string
		vals  []any
	}{
		{"JUHTUMIPLAAN", []any{mapping.ID("JUHTUMIPLAAN", 1), proc, at, "goals, (all)", nil, nil}},
		{"TOIMING", []any{mapping.ID("TOIMING", 1), proc, "phone_call", at, "said \"hi\"", "mari"}},
		{"OTSUS", []any{mapping.ID("OTSUS", 1), proc, "svc", "granted", mapping.Numeric(12345), at, nil, at}},
	} {
		mt, _ := mapping.TableFor(c.star1)
		if err := w.Add(ctx, mt, Item{Star1Table: c.star1, Star1ID: 1, Outcome: Loaded, Star2Table: mt.Star2, Star2ID: c.vals[0].(uuid.UUID),
			SourceHash: []byte{1}, Op: OpInsert, Values: c.vals, New: true}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var same bool
		if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT rm.target_hash = decode(md5(t::text), 'hex') FROM migration.row_map rm
			JOIN star2.%s t ON t.id = rm.star2_id WHERE rm.star1_table = $1 AND rm.star1_id = 1`, mt.Star2), c.star1).Scan(&same); err != nil || !same {
			t.Errorf("%s: the recorded hash is not md5(t::text) (%v)", mt.Star2, err)
		}
	}
}

// BenchmarkRowHash: starmig's hash of an activity row.
func BenchmarkRowHash(b *testing.B) {
	h := &rowHasher{types: []colType{colUUID, colUUID, colText, colTimestamptz, colText, colText}}
	row := []any{pgtype.UUID{Bytes: uuid.New(), Valid: true}, pgtype.UUID{Bytes: uuid.New(), Valid: true}, "phone_call",
		time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC), "Helistas kliendile, lepiti kokku kohtumine", "mari.maasikas"}
	for b.Loop() {
		if _, ok := h.hash(row); !ok {
			b.Fatal("declined")
		}
	}
}

func TestAsciiSpaceLocales(t *testing.T) {
	for ctype, want := range map[string]bool{"C": true, "POSIX": true, "C.UTF-8": true, "et_EE.UTF-8": true, "en_US.utf8": true,
		"et_EE.ISO-8859-15": false, "et_EE": false, "": false} {
		if got := asciiSpace(ctype); got != want {
			t.Errorf("%q: %v, want %v", ctype, got, want)
		}
	}
}
