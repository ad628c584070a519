package extract

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sijms/go-ora/v2/configurations"
)

func TestOracleSelectSQL(t *testing.T) {
	otsus, _ := TableByName("OTSUS")
	got := SelectSQL(oracleDialect{scn: "81234567"}, otsus, otsus.Columns, nil)
	want := "SELECT TO_CHAR(OTSUS_ID) AS OTSUS_ID, TO_CHAR(MENETLUS_ID) AS MENETLUS_ID, TEENUS_KOOD, TULEMUS, " +
		"TO_CHAR(SUMMA, 'TM9', 'NLS_NUMERIC_CHARACTERS=''.,''') AS SUMMA, VALUUTA, " +
		"TO_CHAR(KEHTIV_ALATES, 'YYYY-MM-DD HH24:MI:SS') AS KEHTIV_ALATES, TO_CHAR(KEHTIV_KUNI, 'YYYY-MM-DD HH24:MI:SS') AS KEHTIV_KUNI, " +
		"TO_CHAR(OTSUSE_KP, 'YYYY-MM-DD HH24:MI:SS') AS OTSUSE_KP FROM STAR1.OTSUS AS OF SCN 81234567 ORDER BY OTSUS_ID"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A read-only transaction has no AS OF clause; a narrow scan selects
	// only its columns, in the order asked for.
	isik, _ := TableByName("ISIK")
	cols, err := scanColumns(isik, []string{"ISIK_ID", "LOODUD"})
	if err != nil {
		t.Fatal(err)
	}
	got = SelectSQL(oracleDialect{}, isik, cols, []string{"ISIKUKOOD", "ISIK_ID"})
	want = "SELECT TO_CHAR(ISIK_ID) AS ISIK_ID, TO_CHAR(LOODUD, 'YYYY-MM-DD HH24:MI:SS') AS LOODUD FROM STAR1.ISIK ORDER BY ISIKUKOOD, ISIK_ID"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := scanColumns(isik, []string{"NOPE"}); err == nil || !strings.Contains(err.Error(), "ISIK has no column NOPE") {
		t.Errorf("unknown column: %v", err)
	}
}

// The columns of a STAR1 table are listed from Oracle's data dictionary,
// without the hidden and virtual columns that hold no data of their own.
func TestOracleColumnsSQL(t *testing.T) {
	isik, _ := TableByName("ISIK")
	got := oracleDialect{scn: "81234567"}.ColumnsSQL(isik)
	want := "SELECT COLUMN_NAME FROM ALL_TAB_COLS WHERE OWNER = 'STAR1' AND TABLE_NAME = 'ISIK' " +
		"AND HIDDEN_COLUMN = 'NO' AND VIRTUAL_COLUMN = 'NO' ORDER BY COLUMN_ID"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// The snapshot's own dialect names tables AS OF its SCN, and so does every
// query built with it: the shape check, counts, the pre-flight and the
// reconciliation, which take their dialect from the snapshot only.
func TestOracleSnapshotQueriesReadAtItsSCN(t *testing.T) {
	var snap Snapshot = &sqlSnapshot{dialect: oracleDialect{scn: "81234567"}}
	makse, _ := TableByName("MAKSE")
	got := ShapeSQL(snap.Dialect(), makse)
	want := "SELECT TO_CHAR(MAKSE_ID) AS MAKSE_ID, TO_CHAR(OTSUS_ID) AS OTSUS_ID, " +
		"TO_CHAR(SUMMA, 'TM9', 'NLS_NUMERIC_CHARACTERS=''.,''') AS SUMMA, VALUUTA, " +
		"TO_CHAR(MAKSE_KP, 'YYYY-MM-DD HH24:MI:SS') AS MAKSE_KP, SAAJA_IBAN, STAATUS FROM STAR1.MAKSE AS OF SCN 81234567 WHERE 1 = 0"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A source that is not STAR1 as STAR1.md describes it is refused when the
// snapshot begins, before a row is read, naming every table that is
// missing or lacks a column.
func TestBeginRefusesASourceThatIsNotSTAR1(t *testing.T) {
	path := sampleCopy(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ALTER TABLE MAKSE RENAME COLUMN SUMMA TO SUMMA_EUR", "DROP TABLE DOKUMENT",
		"ALTER TABLE TOIMING DROP COLUMN KIRJELDUS", "ALTER TABLE TOIMING DROP COLUMN KASUTAJA", "ALTER TABLE ISIKU_SEOS ADD COLUMN MARKUS TEXT"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	err = begin("sqlite:" + path)
	if err == nil {
		t.Fatal("a snapshot of a source without MAKSE.SUMMA and DOKUMENT began")
	}
	for _, want := range []string{path + " does not hold the STAR1 tables and columns", "MAKSE: lacks the column SUMMA (it holds SUMMA_EUR, which STAR1.md does not describe)", "DOKUMENT: ", "no such table: DOKUMENT",
		"\n  TOIMING: lacks the columns KIRJELDUS and KASUTAJA\n", "\n  and columns STAR1.md does not describe: ISIKU_SEOS.MARKUS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	for _, fine := range []string{"ISIK: ", "OTSUS: "} {
		if strings.Contains(err.Error(), fine) {
			t.Errorf("the error names %s, which is whole:\n%v", fine, err)
		}
	}
}

// A column STAR1.md does not describe would be neither migrated nor
// archived: a source that holds one is refused when the snapshot begins,
// naming every such column, whatever the case of its name. A column
// named in another case than STAR1.md writes it is STAR1's column.
func TestBeginRefusesColumnsSTAR1MdDoesNotDescribe(t *testing.T) {
	path := sampleCopy(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ALTER TABLE MAKSE RENAME COLUMN SAAJA_IBAN TO saaja_iban"); err != nil {
		t.Fatal(err)
	}
	if err := begin("sqlite:" + path); err != nil {
		t.Fatalf("a column named in small letters: %v", err)
	}
	for _, q := range []string{"ALTER TABLE ISIK ADD COLUMN TELEFON TEXT", "ALTER TABLE DOKUMENT ADD COLUMN allkiri BLOB"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	err = begin("sqlite:" + path)
	if err == nil {
		t.Fatal("a snapshot of a source with columns STAR1.md does not describe began")
	}
	for _, want := range []string{path + " holds columns that STAR1.md does not describe: ISIK.TELEFON, DOKUMENT.allkiri.", "neither migrate nor archive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

// The tables of the stand-in that STAR1.md does not describe are listed
// with their rows in the snapshot, in any case of their name, empty ones
// too; SQLite's own tables (here sqlite_stat1, made by ANALYZE) are not.
func TestUndescribedListsTablesSTAR1MdDoesNotDescribe(t *testing.T) {
	path := sampleCopy(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE isik_vana (ISIK_ID INTEGER, NIMI TEXT)",
		"INSERT INTO isik_vana VALUES (1, 'Mari'), (2, 'Jaan'), (3, 'Juhan')",
		`CREATE TABLE "TÜHI ""tabel""" (X TEXT)`,
		"ANALYZE",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	got, err := Undescribed(context.Background(), openSnapshot(t, "sqlite:"+path))
	if err != nil {
		t.Fatal(err)
	}
	want := []TableRows{{Name: `TÜHI "tabel"`}, {Name: "isik_vana", Rows: 3}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A table whose rows Oracle cannot count in the snapshot (an external
// table AS OF an SCN) is listed with why, not made an error: naming it in
// --skip-table must stay a way on.
func TestUndescribedKeepsATableItCannotCount(t *testing.T) {
	d := oracleDialect{scn: "81234567"}
	snap := fakeSnapshot{d: d, query: func(q string, fn func([]any) error) error {
		switch {
		case q == d.TablesSQL():
			for _, name := range []string{"EXT_LOGI", "ISIK", "ISIK_VANA"} {
				if err := fn([]any{name}); err != nil {
					return err
				}
			}
			return nil
		case strings.Contains(q, `"EXT_LOGI"`):
			return fmt.Errorf("extract: query: ORA-08188: this flashback syntax is not supported in this context")
		}
		return fn([]any{"7"})
	}}
	got, err := Undescribed(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	want := []TableRows{{"EXT_LOGI", -1, "ORA-08188: this flashback syntax is not supported in this context"}, {"ISIK_VANA", 7, ""}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s := got[0].String(); s != "EXT_LOGI (rows not counted: ORA-08188: this flashback syntax is not supported in this context)" {
		t.Errorf("String: %s", s)
	}
}

// fakeSnapshot answers queries with a function; nothing else is called.
type fakeSnapshot struct {
	Snapshot
	d     Dialect
	query func(q string, fn func([]any) error) error
}

func (f fakeSnapshot) Dialect() Dialect { return f.d }
func (f fakeSnapshot) Query(_ context.Context, q string, fn func([]any) error) error {
	return f.query(q, fn)
}

func TestOracleTablesSQL(t *testing.T) {
	d := oracleDialect{scn: "81234567"}
	want := "SELECT TABLE_NAME FROM ALL_TABLES WHERE OWNER = 'STAR1' AND TEMPORARY = 'N' AND SECONDARY = 'N' AND NESTED = 'NO' AND DROPPED = 'NO' " +
		"AND (IOT_TYPE IS NULL OR IOT_TYPE = 'IOT') " +
		"AND TABLE_NAME NOT IN (SELECT MVIEW_NAME FROM ALL_MVIEWS WHERE OWNER = 'STAR1') " +
		"AND TABLE_NAME NOT IN (SELECT LOG_TABLE FROM ALL_MVIEW_LOGS WHERE LOG_OWNER = 'STAR1' AND LOG_TABLE IS NOT NULL) ORDER BY TABLE_NAME"
	if got := d.TablesSQL(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got, want := d.CountSQL(`ISIK_"VANA`), `SELECT COUNT(*) FROM STAR1."ISIK_""VANA" AS OF SCN 81234567`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := (oracleDialect{}).CountSQL("ISIK_VANA"), `SELECT COUNT(*) FROM STAR1."ISIK_VANA"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// begin opens source and begins a snapshot of it, and closes both: the
// error is Open's or Begin's.
func begin(source string) error {
	ctx := context.Background()
	src, err := Open(ctx, source)
	if err != nil {
		return err
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err == nil {
		snap.Close()
	}
	return err
}

// TestOpenNamesWhatIsNotASTAR1File: a wrong sqlite: path is refused with
// what is wrong with it, naming it; a database without STAR1's tables is
// refused naming each of them, KOV too.
func TestOpenNamesWhatIsNotASTAR1File(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "municipalities.csv")
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(text, []byte("star1_code,star2_code,star2_name\n0100,0100,Tallinn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (a TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, c := range []struct {
		source string
		want   []string
	}{
		{"sqlite:", []string{"names no file"}},
		{"sqlite:" + dir, []string{dir + " is a folder"}},
		{"sqlite:" + filepath.Join(dir, "missing.db"), []string{"missing.db does not exist"}},
		{"sqlite:" + text, []string{text, "not a database"}},
		{"sqlite:" + empty, []string{empty + " does not hold the STAR1 tables", "no such table: KOV", "no such table: DOKUMENT"}},
	} {
		err := begin(c.source)
		if err == nil {
			t.Errorf("%s: began a snapshot", c.source)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", c.source, err, w)
			}
		}
		if path := strings.TrimPrefix(c.source, "sqlite:"); path != "" && strings.Count(err.Error(), path) > 1 {
			t.Errorf("%s: %v; want the path named once", c.source, err)
		}
	}
}

func TestSQLiteSelectSQL(t *testing.T) {
	makse, _ := TableByName("MAKSE")
	got := SelectSQL(sqliteDialect{}, makse, makse.Columns, nil)
	want := "SELECT MAKSE_ID, OTSUS_ID, SUMMA, VALUUTA, MAKSE_KP, SAAJA_IBAN, STAATUS FROM MAKSE ORDER BY MAKSE_ID"
	if got != want {
		t.Errorf("got %s", got)
	}
}

func TestOracleURLRaisesPrefetch(t *testing.T) {
	got, err := OracleURL("oracle://reader:pw@star1.example:1521/STAR1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "PREFETCH_ROWS=5000") {
		t.Errorf("%s: no PREFETCH_ROWS=5000", got)
	}
	got, _ = OracleURL("oracle://reader:pw@star1.example:1521/STAR1?PREFETCH_ROWS=200")
	if !strings.Contains(got, "PREFETCH_ROWS=200") || strings.Contains(got, "5000") {
		t.Errorf("%s: an explicit PREFETCH_ROWS must stay", got)
	}
	if _, err := OracleURL("oracle://reader:s3cret@%zz"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: %v", err)
	}
	// go-ora reads the option's name in any case.
	got, _ = OracleURL("oracle://reader:pw@star1.example:1521/STAR1?prefetch_rows=300")
	if !strings.Contains(got, "prefetch_rows=300") || strings.Contains(got, "5000") {
		t.Errorf("%s: an explicit prefetch_rows must stay, alone", got)
	}
	for url, want := range map[string]string{
		// go-ora would take 25 for these, without a word.
		"oracle://reader:s3cret@star1:1521/STAR1?PREFETCH_ROWS=5k":                  `PREFETCH_ROWS="5k": want a whole number of rows, 1 or more`,
		"oracle://reader:s3cret@star1:1521/STAR1?Prefetch_Rows=0":                   `Prefetch_Rows="0": want a whole number of rows, 1 or more`,
		"oracle://reader:s3cret@star1:1521/STAR1?PREFETCH_ROWS=":                    `PREFETCH_ROWS="": want`,
		"oracle://reader:s3cret@star1:1521/STAR1?PREFETCH_ROWS=-1":                  `PREFETCH_ROWS="-1": want`,
		"oracle://reader:s3cret@star1:1521/STAR1?PREFETCH_ROWS=10&prefetch_rows=20": "PREFETCH_ROWS is given 2 times (PREFETCH_ROWS, prefetch_rows), and go-ora would take any one of them",
	} {
		_, err := OracleURL(url)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v, want an error saying %s", url, err, want)
		}
	}
}

// TestOracleURLAsOraclesClientsTakeIt: a URL without a port, and one
// whose address is a connect descriptor of tnsnames.ora, reach go-ora as
// it reads them, with the servers and the service they name; go-ora's own
// parser, which the driver connects by, checks it.
func TestOracleURLAsOraclesClientsTakeIt(t *testing.T) {
	const rac = "(DESCRIPTION=(ADDRESS_LIST=(LOAD_BALANCE=on)(ADDRESS=(PROTOCOL=TCP)(HOST=star1-a.example)(PORT=1522))(ADDRESS=(PROTOCOL=TCP)(HOST=star1-b.example)(PORT=1522)))(CONNECT_DATA=(SERVICE_NAME=STAR1.example)))"
	for _, c := range []struct {
		raw, service string
		servers      []string
	}{
		{"oracle://reader:pw@star1.example/STAR1", "STAR1", []string{"star1.example:1521"}},
		{"oracle://reader:pw@star1.example:/STAR1", "STAR1", []string{"star1.example:1521"}},
		{"oracle://reader:pw@[2001:db8::1]/STAR1", "STAR1", []string{"2001:db8::1:1521"}},
		{"oracle://reader:pw@star1.example:1530/STAR1", "STAR1", []string{"star1.example:1530"}},
		{"oracle://reader:pw@?connStr=" + url.QueryEscape(rac), "STAR1.example", []string{"star1-a.example:1522", "star1-b.example:1522"}},
		{"oracle://reader:pw@/?CONNSTR=" + url.QueryEscape(rac) + "&PREFETCH_ROWS=100", "STAR1.example", []string{"star1-a.example:1522", "star1-b.example:1522"}},
		{"oracle://reader:pw@:0/?connStr=" + url.QueryEscape(rac), "STAR1.example", []string{"star1-a.example:1522", "star1-b.example:1522"}},
		// As tnsnames.ora has it, not encoded.
		{"oracle://reader:pw@?connStr=(DESCRIPTION = (ADDRESS = (PROTOCOL = TCP)(HOST = star1.example)(PORT = 1522))\n  (CONNECT_DATA = (SERVICE_NAME = STAR1)))", "STAR1", []string{"star1.example:1522"}},
		{"oracle://reader:pw@/STAR1?SERVER=star1-a.example:1522&SERVER=star1-b.example", "STAR1", []string{"star1-a.example:1522", "star1-b.example:1521"}},
	} {
		got, err := OracleURL(c.raw)
		if err != nil {
			t.Errorf("OracleURL(%s): %v", c.raw, err)
			continue
		}
		cfg, err := configurations.ParseConfig(got)
		if err != nil {
			t.Errorf("OracleURL(%s) = %s, which go-ora refuses: %v", c.raw, got, err)
			continue
		}
		var servers []string
		for _, s := range cfg.Servers {
			servers = append(servers, fmt.Sprintf("%s:%d", s.Addr, s.Port))
		}
		if !slices.Equal(servers, c.servers) || cfg.ServiceName != c.service || cfg.UserID != "reader" || cfg.PrefetchRows < 100 {
			t.Errorf("OracleURL(%s) = %s: go-ora reads servers %v, service %q, user %q, %d rows per round trip; want %v, %q, reader",
				c.raw, got, servers, cfg.ServiceName, cfg.UserID, cfg.PrefetchRows, c.servers, c.service)
		}
	}
	// A database known by its SID alone, as the line for ORA-12514
	// advises to give it: go-ora asks the listener for (SID=…).
	sid, err := OracleURL("oracle://reader:pw@star1.example?SID=STAR")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := configurations.ParseConfig(sid); err != nil || cfg.SID != "STAR" || !strings.Contains(cfg.ConnectionData(), "(CONNECT_DATA=(SID=STAR)") || len(cfg.Servers) != 1 || cfg.Servers[0].Port != 1521 {
		t.Errorf("OracleURL(…?SID=STAR) = %s, which go-ora reads otherwise (%v); want the SID STAR on star1.example:1521", sid, err)
	}
	for raw, want := range map[string]string{
		"oracle://reader:s3cret@/STAR1":                                         "no host: want oracle://user:password@host:port/service, or the connect descriptor",
		"oracle://reader:s3cret@?connStr=(DESCRIPTION=)&CONNSTR=(DESCRIPTION=)": "connStr is given 2 times (CONNSTR, connStr)",
	} {
		_, err := OracleURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v, want an error saying %s", raw, err, want)
		}
	}
}

func TestNormalizeDecimal(t *testing.T) {
	for in, want := range map[string]string{
		".5": "0.5", "-.5": "-0.5", "1234.5": "1234.5", "1234.50": "1234.50", "12": "12", "0": "0",
		"-0": "0", " 7.25 ": "7.25", "+3.1": "3.1", "12.": "12", "9999999999.99": "9999999999.99",
	} {
		got, err := NormalizeDecimal(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDecimal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1,5", "1e3", "abc", "1.2.3", "-", "."} {
		if got, err := NormalizeDecimal(in); err == nil {
			t.Errorf("NormalizeDecimal(%q) = %q, want an error", in, got)
		}
	}
}

func TestDecodeOracleValues(t *testing.T) {
	otsus, _ := TableByName("OTSUS")
	col := func(n string) Column { c, _ := otsus.Column(n); return c }
	cases := []struct {
		col  string
		in   any
		want any
	}{
		{"OTSUS_ID", "812345678901", int64(812345678901)},
		{"OTSUS_ID", int64(5), int64(5)},
		{"SUMMA", ".5", "0.5"},
		{"SUMMA", "1564.66", "1564.66"},
		{"SUMMA", nil, nil},
		{"OTSUSE_KP", "2015-03-29 03:30:00", "2015-03-29 03:30:00"},
		{"OTSUSE_KP", "2015-03-29", "2015-03-29 00:00:00"},
		{"OTSUSE_KP", "2020-02-29 23:59:59", "2020-02-29 23:59:59"},
		{"SUMMA", "9999999999.99", "9999999999.99"},
		{"SUMMA", "-0009999999999.990", "-0009999999999.990"},
		{"OTSUSE_KP", "0001-01-01", "0001-01-01 00:00:00"},
		{"TEENUS_KOOD", []byte("KODUTEENUS"), "KODUTEENUS"},
	}
	for _, c := range cases {
		got, err := decode(otsus, col(c.col), c.in)
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %v (%T), %v; want %v", c.col, c.in, got, got, err, c.want)
		}
	}
	for _, c := range []struct {
		col string
		in  any
	}{{"OTSUS_ID", "12a"}, {"SUMMA", "1,5"}, {"OTSUSE_KP", "29.03.2015"}, {"SUMMA", 1.5},
		// Numbers NUMBER(12,2) cannot hold.
		{"SUMMA", "1234.567"}, {"SUMMA", "12345678901"}, {"SUMMA", "-12345678901.5"},
		// Days and times that do not exist: an Oracle DATE cannot hold
		// them, and a restore could not give them back.
		{"OTSUSE_KP", "2020-13-01 00:00:00"}, {"OTSUSE_KP", "2021-02-29"}, {"OTSUSE_KP", "1900-02-29 00:00:00"},
		{"OTSUSE_KP", "2015-04-31 00:00:00"}, {"OTSUSE_KP", "2015-01-00 00:00:00"}, {"OTSUSE_KP", "2015-01-01 24:00:00"},
		{"OTSUSE_KP", "2015-01-01 23:60:00"}, {"OTSUSE_KP", "2015-01-01 23:59:60"}, {"OTSUSE_KP", "0000-01-01 00:00:00"}} {
		_, err := decode(otsus, col(c.col), c.in)
		if err == nil || !strings.Contains(err.Error(), "OTSUS."+c.col) || !strings.Contains(err.Error(), fmt.Sprintf("%q", fmt.Sprint(c.in))) {
			t.Errorf("%s %v: error %v should name the column and the value as STAR1 holds it", c.col, c.in, err)
		}
	}
}

func FuzzNormalizeDecimal(f *testing.F) {
	for _, s := range []string{".5", "-12.30", "1e3", "", "9999999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeDecimal(s)
		if err != nil {
			return
		}
		again, err := NormalizeDecimal(out)
		if err != nil || again != out {
			t.Fatalf("%q -> %q -> %q, %v: not stable", s, out, again, err)
		}
	})
}

func FuzzWallClockText(f *testing.F) {
	for _, s := range []string{"2015-03-29 03:30:00", "2015-03-29", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := WallClockText(s)
		if err != nil {
			return
		}
		// What it takes is a time of the calendar, as a restore holds it.
		if tm, err := time.Parse(time.DateTime, out); err != nil || tm.Format(time.DateTime) != out {
			t.Fatalf("%q -> %q: %v", s, out, err)
		}
	})
}

// FuzzOracleURLKeepsWhatGoOraReads: whatever a URL's host and options,
// where go-ora reads the URL as given, OracleURL either refuses it on
// purpose (PREFETCH_ROWS or connStr given twice, a PREFETCH_ROWS that is
// not a number of rows, an @ that is not encoded) without the password,
// or gives a URL that go-ora reads with the same servers, service and
// user.
func FuzzOracleURLKeepsWhatGoOraReads(f *testing.F) {
	f.Add("star1.example:1521", "SSL=enable")
	f.Add("[::1]:1522", "PREFETCH_ROWS=100&connStr=(DESCRIPTION=(ADDRESS=(HOST=a)(PORT=1)))")
	f.Add(":0", "SERVER=a:1&SERVER=b:2")
	f.Add("h:1", "prefetch_rows=x")
	f.Fuzz(func(t *testing.T, host, query string) {
		if strings.ContainsAny(strings.ToUpper(query), "\x00") || strings.Contains(strings.ToUpper(query), "WALLET") || strings.Contains(strings.ToUpper(query), "TRACE") {
			return // go-ora would read files
		}
		raw := "oracle://reader:s3cret@" + host + "/STAR1?" + query
		before, err := configurations.ParseConfig(raw)
		if err != nil {
			return
		}
		got, err := OracleURL(raw)
		if err != nil {
			onPurpose := strings.Contains(strings.ToUpper(err.Error()), "PREFETCH_ROWS") || strings.Contains(err.Error(), "connStr is given") ||
				strings.Contains(err.Error(), "write it percent-encoded") // an @ after the password's
			if strings.Contains(err.Error(), "s3cret") || !onPurpose {
				t.Fatalf("OracleURL(%q): %v; go-ora reads it", raw, err)
			}
			return
		}
		after, err := configurations.ParseConfig(got)
		if err != nil {
			t.Fatalf("OracleURL(%q) = %q, which go-ora refuses: %v", raw, got, err)
		}
		if !slices.Equal(before.Servers, after.Servers) || before.ServiceName != after.ServiceName || before.UserID != after.UserID {
			t.Fatalf("OracleURL(%q) = %q: go-ora reads %v %q %q, and before %v %q %q", raw, got,
				after.Servers, after.ServiceName, after.UserID, before.Servers, before.ServiceName, before.UserID)
		}
	})
}

func TestMinimalDecimal(t *testing.T) {
	for in, want := range map[string]string{"656.30": "656.3", "656.3": "656.3", "100.00": "100", "100": "100", "0.00": "0",
		"0.50": "0.5", "-5.10": "-5.1", "10.0": "10", "1000": "1000"} {
		if got := MinimalDecimal(in); got != want {
			t.Errorf("MinimalDecimal(%q) = %q, want %q", in, got, want)
		}
	}
}

// A restored archive in PostgreSQL is read in STAR1's own terms: money as
// its number's text, DATE as wall-clock text, text keys in byte order
// whatever the database's collation, tables in the schema the URL names.
func TestPostgresSelectSQL(t *testing.T) {
	makse, _ := TableByName("MAKSE")
	d := postgresDialect{schema: "crisis 2026"}
	got := SelectSQL(d, makse, makse.Columns, nil)
	want := `SELECT MAKSE_ID, OTSUS_ID, trim_scale(SUMMA)::text AS SUMMA, VALUUTA, to_char(MAKSE_KP, 'YYYY-MM-DD HH24:MI:SS') AS MAKSE_KP, SAAJA_IBAN, STAATUS FROM "crisis 2026".makse ORDER BY MAKSE_ID`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	klass, _ := TableByName("KLASSIFIKAATOR")
	got = SelectSQL(d, klass, klass.Columns[:2], nil)
	want = `SELECT KLASS, KOOD FROM "crisis 2026".klassifikaator ORDER BY KLASS COLLATE "C", KOOD COLLATE "C"`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Values exact_text holds come joined to their rows by the row's key
	// (text key values percent-encoded and joined by "/", as RowKey does),
	// one join per column that has any, in the order of the same scan
	// without them; a key column among them in the order of the bytes
	// STAR1 held.
	got = d.exactSQL(klass, klass.Columns[:3], []string{"NIMETUS"}, nil)
	rowKey := `concat_ws('/', replace(replace(s.KLASS, '%', '%25'), '/', '%2F'), replace(replace(s.KOOD, '%', '%25'), '/', '%2F'))`
	want = `SELECT s.*, x0.original AS starmig_exact_0 FROM (SELECT KLASS, KOOD, NIMETUS FROM "crisis 2026".klassifikaator) s` +
		` LEFT JOIN "crisis 2026"."exact_text" x0 ON x0.table_name = 'KLASSIFIKAATOR' AND x0.column_name = 'NIMETUS' AND x0.row_key = ` + rowKey +
		` ORDER BY KLASS COLLATE "C", KOOD COLLATE "C"`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = d.exactSQL(klass, klass.Columns[:2], []string{"KOOD"}, nil)
	want = `SELECT s.*, x0.original AS starmig_exact_0 FROM (SELECT KLASS, KOOD FROM "crisis 2026".klassifikaator) s` +
		` LEFT JOIN "crisis 2026"."exact_text" x0 ON x0.table_name = 'KLASSIFIKAATOR' AND x0.column_name = 'KOOD' AND x0.row_key = ` + rowKey +
		` ORDER BY KLASS COLLATE "C", coalesce(x0.original, convert_to(s.KOOD, 'UTF8'))`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	toiming, _ := TableByName("TOIMING")
	if got := d.exactSQL(toiming, toiming.Columns[:1], []string{"KIRJELDUS"}, nil); !strings.Contains(got, "x0.row_key = concat_ws('/', s.TOIMING_ID::text)") {
		t.Errorf("an integer key is named as it is: %s", got)
	}
	// Text PostgreSQL holds as it is; other text Visible; a key value, which must stay unique, percent-encoded when it
	// holds what PostgreSQL cannot, or "%".
	for _, c := range []struct {
		s, held string
		key     bool
		exact   bool
	}{
		{"Jüri", "Jüri", false, false},
		{"Jüri", "Jüri", true, false},
		{"10%", "10%", false, false},
		{"10%", "10%25", true, true},
		{"a\x00b\xfe", `a\u0000b\xFE`, false, true},
		{"a\x00b\xfe", "a%00b%FE", true, true},
		{"Z%00", "Z%2500", true, true},
		{"\xc3", "%C3", true, true},
	} {
		if held, exact := PostgresText(c.s, c.key); held != c.held || exact != c.exact {
			t.Errorf("PostgresText(%q, %v) = %q, %v; want %q, %v", c.s, c.key, held, exact, c.held, c.exact)
		}
	}
	for _, c := range []struct {
		keys []any
		want string
	}{
		{[]any{int64(42)}, "42"},
		{[]any{"TEENUS", "K1"}, "TEENUS/K1"},
		{[]any{"TEENUS/X", "Y"}, "TEENUS%2FX/Y"},
		{[]any{"TEENUS", "X/Y"}, "TEENUS/X%2FY"},
		{[]any{"Z%2500"}, "Z%252500"},
	} {
		if got := RowKey(c.keys...); got != c.want {
			t.Errorf("RowKey(%q) = %q, want %q", c.keys, got, c.want)
		}
	}
	for raw, want := range map[string][2]string{
		"postgres://restorer:pw@db:5432/crisis":                             {"postgres://restorer:pw@db:5432/crisis", PostgresSchema},
		"postgres://restorer@db/crisis?schema=archive_2026&sslmode=require": {"postgres://restorer@db/crisis?sslmode=require", "archive_2026"},
	} {
		connect, schema, err := PostgresURL(raw)
		if err != nil || connect != want[0] || schema != want[1] {
			t.Errorf("PostgresURL(%s) = %s, %s, %v; want %s, %s", raw, connect, schema, err, want[0], want[1])
		}
	}
}
