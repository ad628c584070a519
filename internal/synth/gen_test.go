package synth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

var asOf = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const ratePersons = 20000

// generated caches one STAR1 per rates setting for the tests of a run.
var generated sync.Map

func gen(t testing.TB, persons int, seed uint64, r Rates) *sql.DB {
	t.Helper()
	key := fmt.Sprintf("%d-%d-%v", persons, seed, r)
	v, _ := generated.LoadOrStore(key, &sync.Once{})
	once := v.(*sync.Once)
	resKey := key + "/result"
	once.Do(func() {
		dir, err := os.MkdirTemp("", "synth")
		if err != nil {
			generated.Store(resKey, result{err: err})
			return
		}
		path := filepath.Join(dir, "star1.db")
		_, err = Generate(context.Background(), path, Options{Persons: persons, Seed: seed, AsOf: asOf, Rates: r, DocSize: 600})
		generated.Store(resKey, result{path: path, err: err})
	})
	rv, _ := generated.Load(resKey)
	res := rv.(result)
	if res.err != nil {
		t.Fatal(res.err)
	}
	db, err := sql.Open("sqlite", "file:"+res.path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMain(m *testing.M) {
	code := m.Run()
	generated.Range(func(k, v any) bool {
		if r, ok := v.(result); ok && r.path != "" {
			os.RemoveAll(filepath.Dir(r.path))
		}
		return true
	})
	os.Exit(code)
}

type result struct {
	path string
	err  error
}

// tableDigest hashes every row of every table in key order.
func tableDigest(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range extract.Tables {
		rows, err := db.Query(fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(tb.ColumnNames(), ","), tb.Name, strings.Join(tb.Key, ",")))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		vals := make([]any, len(tb.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(h, "%T:%v|", v, v)
			}
			h.Write([]byte{'\n'})
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[tb.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

func TestGenIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	run := func(name string, seed uint64) map[string]string {
		path := filepath.Join(dir, name)
		if _, err := Generate(context.Background(), path, Options{Persons: 1500, Seed: seed, AsOf: asOf, Rates: DefaultRates()}); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return tableDigest(t, db)
	}
	a, b, c := run("a.db", 7), run("b.db", 7), run("c.db", 8)
	for _, tb := range extract.Tables {
		if a[tb.Name] != b[tb.Name] {
			t.Errorf("%s: same seed, different rows", tb.Name)
		}
	}
	if a["ISIK"] == c["ISIK"] || a["MAKSE"] == c["MAKSE"] {
		t.Error("different seeds gave the same persons or payments")
	}
}

func TestGenShape(t *testing.T) {
	db := gen(t, ratePersons, 1, DefaultRates())
	counts := map[string]int{}
	total := 0
	for _, tb := range extract.Tables {
		counts[tb.Name] = scalar(t, db, "SELECT COUNT(*) FROM "+tb.Name)
		total += counts[tb.Name]
	}
	if counts["ISIK"] != ratePersons {
		t.Errorf("ISIK has %d rows, want %d", counts["ISIK"], ratePersons)
	}
	if per := float64(total) / ratePersons; per < 18 || per > 32 {
		t.Errorf("%.1f rows per person, want about 25", per)
	}
	if n := counts["KOV"]; n < 200 {
		t.Errorf("%d municipalities, want more than 200 before the reform", n)
	}
	if n := scalar(t, db, "SELECT COUNT(*) FROM KOV WHERE KEHTIV_KUNI IS NULL"); n != 79 {
		t.Errorf("%d current municipalities, want 79", n)
	}
	for _, class := range []string{"TEENUS", "SEOSE_LIIK", "MENETLUSE_LIIK", "TOIMINGU_LIIK", "KANAL"} {
		if scalar(t, db, "SELECT COUNT(*) FROM KLASSIFIKAATOR WHERE KLASS = ?", class) == 0 {
			t.Errorf("no %s codes", class)
		}
	}
	if n := scalar(t, db, "SELECT COUNT(*) FROM MENETLUS WHERE ALGUS_KP < '2010-01-01' OR ALGUS_KP > '2026-11-02'"); n != 0 {
		t.Errorf("%d proceedings outside 2010..as-of", n)
	}
	for _, s := range []string{"A", "L", "K"} {
		if scalar(t, db, "SELECT COUNT(*) FROM MENETLUS WHERE STAATUS = ?", s) == 0 {
			t.Errorf("no proceedings with status %s", s)
		}
	}
	// Documents carry real content: every one that is not damaged on
	// purpose is what its MIME type says, and PNGs decode.
	rows, err := db.Query("SELECT DOKUMENT_ID, MIME_TYYP, SISU FROM DOKUMENT WHERE SISU IS NOT NULL AND length(SISU) > 0")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	kinds := map[string]int{}
	for rows.Next() {
		var id int64
		var mime sql.NullString
		var content []byte
		if err := rows.Scan(&id, &mime, &content); err != nil {
			t.Fatal(err)
		}
		sniffed := sniff(content)
		kinds[sniffed]++
		if sniffed == "image/png" {
			if _, err := png.Decode(bytes.NewReader(content)); err != nil {
				t.Fatalf("document %d: PNG does not decode: %v", id, err)
			}
		}
		if sniffed == "application/pdf" && !bytes.HasSuffix(content, []byte("%%EOF\n")) {
			t.Fatalf("document %d: PDF without trailer", id)
		}
	}
	for _, k := range []string{"application/pdf", "image/png", "text/plain"} {
		if kinds[k] == 0 {
			t.Errorf("no %s documents (%v)", k, kinds)
		}
	}
}

func sniff(b []byte) string {
	s, _, _ := strings.Cut(http.DetectContentType(b), ";")
	return s
}

func scalar(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// measure is one quirk's count over its base population.
type measure struct{ hit, base int }

func (m measure) rate() float64 {
	if m.base == 0 {
		return 0
	}
	return float64(m.hit) / float64(m.base)
}

// detectors find each problem in a generated STAR1 on their own, without
// asking the generator, keyed by flag name.
func detectors(t *testing.T, db *sql.DB) map[string]measure {
	t.Helper()
	m := map[string]measure{}
	add := func(flag string, hit bool) {
		x := m[flag]
		x.base++
		if hit {
			x.hit++
		}
		m[flag] = x
	}
	kovs := map[string]bool{}
	old := map[string]bool{}
	rows, err := db.Query("SELECT KOV_KOOD, KEHTIV_KUNI FROM KOV")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		var until sql.NullString
		if err := rows.Scan(&c, &until); err != nil {
			t.Fatal(err)
		}
		kovs[c], old[c] = true, until.Valid
	}
	rows.Close()

	seen := map[string]bool{}
	each(t, db, "SELECT ISIKUKOOD, EESNIMI, PERENIMI, SYNNIAEG, SUGU, KOV_KOOD, AADRESS, LOODUD, KUSTUTATUD FROM ISIK ORDER BY ISIK_ID", func(v []sql.NullString) {
		code := v[0].String
		foreign := !v[0].Valid || !mapping.LooksLikePersonalCode(code)
		add("foreign-code", foreign)
		pc, err := mapping.ParsePersonalCode(code)
		add("invalid-code", !foreign && err != nil)
		if err == nil {
			add("duplicate", seen[code])
			seen[code] = true
			birth := v[3].String[:10]
			sex := map[string]string{"M": mapping.Male, "N": mapping.Female}[v[4].String]
			add("code-mismatch", birth != pc.BirthDate.Format(time.DateOnly) || (v[4].Valid && sex != pc.Gender))
		}
		add("deleted", v[8].String == "J")
		for _, f := range []sql.NullString{v[1], v[2], v[6]} {
			if !f.Valid {
				continue
			}
			_, _, moj := mapping.RepairMojibake(strings.TrimSpace(f.String))
			add("mojibake", moj)
			add("whitespace", f.String != strings.TrimSpace(f.String))
		}
		if v[7].String < "2013" {
			name := strings.TrimSpace(v[1].String)
			add("capitals", name == strings.ToUpper(name))
		}
		kovRow(add, kovs, old, v[5], v[7].String)
	})
	for _, q := range []string{"SELECT KOV_KOOD, REG_KP FROM POORDUMINE", "SELECT KOV_KOOD, ALGUS_KP FROM MENETLUS"} {
		each(t, db, q, func(v []sql.NullString) { kovRow(add, kovs, old, v[0], v[1].String) })
	}

	mapped := map[string]bool{}
	each(t, db, "SELECT KLASS, KOOD FROM KLASSIFIKAATOR", func(v []sql.NullString) {
		for _, c := range Codes {
			if c.Class == v[0].String && c.Code == v[1].String && c.Star2Code != "" {
				mapped[c.Class+"/"+c.Code] = true
			}
		}
	})
	for _, q := range []string{
		"SELECT 'SEOSE_LIIK', SEOSE_LIIK FROM ISIKU_SEOS", "SELECT 'KANAL', KANAL FROM POORDUMINE WHERE KANAL IS NOT NULL",
		"SELECT 'MENETLUSE_LIIK', LIIK FROM MENETLUS", "SELECT 'TEENUS', TEENUS_KOOD FROM OTSUS", "SELECT 'TOIMINGU_LIIK', LIIK FROM TOIMING",
	} {
		each(t, db, q, func(v []sql.NullString) { add("unmapped", !mapped[v[0].String+"/"+v[1].String]) })
	}

	for _, ref := range []struct{ child, col, parent, key string }{
		{"ISIKU_SEOS", "ISIK_ID", "ISIK", "ISIK_ID"}, {"ISIKU_SEOS", "SEOTUD_ISIK_ID", "ISIK", "ISIK_ID"},
		{"POORDUMINE", "ISIK_ID", "ISIK", "ISIK_ID"}, {"MENETLUS", "ISIK_ID", "ISIK", "ISIK_ID"},
		{"MENETLUS", "POORDUMINE_ID", "POORDUMINE", "POORDUMINE_ID"}, {"OTSUS", "MENETLUS_ID", "MENETLUS", "MENETLUS_ID"},
		{"MAKSE", "OTSUS_ID", "OTSUS", "OTSUS_ID"}, {"JUHTUMIPLAAN", "MENETLUS_ID", "MENETLUS", "MENETLUS_ID"},
		{"TOIMING", "MENETLUS_ID", "MENETLUS", "MENETLUS_ID"}, {"DOKUMENT", "MENETLUS_ID", "MENETLUS", "MENETLUS_ID"},
	} {
		flag := "orphan " + ref.child + "." + ref.col
		each(t, db, fmt.Sprintf("SELECT p.%s IS NULL FROM %s c LEFT JOIN %s p ON p.%s = c.%s WHERE c.%s IS NOT NULL",
			ref.key, ref.child, ref.parent, ref.key, ref.col, ref.col), func(v []sql.NullString) { add(flag, v[0].String == "1") })
	}

	money := "SELECT VALUUTA, OTSUSE_KP FROM OTSUS WHERE SUMMA IS NOT NULL UNION ALL SELECT VALUUTA, MAKSE_KP FROM MAKSE"
	each(t, db, money, func(v []sql.NullString) {
		switch d := v[1].String; {
		case d < "2011":
			add("eek", v[0].String == "EEK")
		case d < "2011-03":
			add("eek 2011", v[0].String == "EEK")
		default:
			add("eek after", v[0].String == "EEK")
		}
	})
	each(t, db, "SELECT LOPP_KP < ALGUS_KP FROM MENETLUS UNION ALL SELECT KEHTIV_KUNI < KEHTIV_ALATES FROM OTSUS", func(v []sql.NullString) {
		add("bad-period", v[0].String == "1")
	})
	future := asOf.Format(time.DateOnly) + " 99"
	each(t, db, "SELECT OTSUSE_KP FROM OTSUS UNION ALL SELECT MAKSE_KP FROM MAKSE UNION ALL SELECT TOIMUS FROM TOIMING", func(v []sql.NullString) {
		add("future-date", v[0].String > future)
	})
	each(t, db, "SELECT SISU FROM POORDUMINE WHERE SISU IS NOT NULL UNION ALL SELECT EESMARGID FROM JUHTUMIPLAAN WHERE EESMARGID IS NOT NULL UNION ALL SELECT HINNANG FROM JUHTUMIPLAAN WHERE HINNANG IS NOT NULL", func(v []sql.NullString) {
		add("nul", strings.IndexByte(v[0].String, 0) >= 0)
	})
	each(t, db, "SELECT SAAJA_IBAN FROM MAKSE WHERE SAAJA_IBAN IS NOT NULL", func(v []sql.NullString) {
		add("bad-iban", !mapping.ValidIBAN(v[0].String))
	})
	drows, err := db.Query("SELECT MIME_TYYP, SISU FROM DOKUMENT")
	if err != nil {
		t.Fatal(err)
	}
	for drows.Next() {
		var mime sql.NullString
		var content []byte
		if err := drows.Scan(&mime, &content); err != nil {
			t.Fatal(err)
		}
		add("bad-document", len(content) == 0 || mime.Valid && sniff(content) != mime.String)
	}
	drows.Close()
	each(t, db, "SELECT TOIMUS FROM TOIMING", func(v []sql.NullString) {
		w, err := mapping.ParseWallClock(v[0].String)
		if err != nil {
			t.Fatal(err)
		}
		_, how := mapping.TallinnInstant(w)
		add("dst", how != mapping.WallExact)
	})
	return m
}

func kovRow(add func(string, bool), kovs, old map[string]bool, code sql.NullString, date string) {
	if !code.Valid {
		return
	}
	add("unknown-kov", !kovs[code.String])
	if date < "2017-10-21" {
		add("old-kov", old[code.String])
	} else {
		add("old-kov after", old[code.String])
	}
}

// each runs q and calls f with every row's columns as text.
func each(t *testing.T, db *sql.DB, q string, f func([]sql.NullString)) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	v := make([]sql.NullString, len(cols))
	p := make([]any, len(v))
	for i := range v {
		p[i] = &v[i]
	}
	for rows.Next() {
		if err := rows.Scan(p...); err != nil {
			t.Fatal(err)
		}
		f(v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// expected maps each detector to the rate it should see under r.
func expected(r Rates) map[string]float64 {
	e := map[string]float64{
		"eek 2011": r.EEK / 10, "eek after": 0, "old-kov after": 0,
	}
	for _, q := range Quirks {
		e[q.Flag] = *q.Rate(&r)
	}
	for _, col := range []string{"ISIKU_SEOS.ISIK_ID", "ISIKU_SEOS.SEOTUD_ISIK_ID", "POORDUMINE.ISIK_ID", "MENETLUS.ISIK_ID",
		"MENETLUS.POORDUMINE_ID", "OTSUS.MENETLUS_ID", "MAKSE.OTSUS_ID", "JUHTUMIPLAAN.MENETLUS_ID", "TOIMING.MENETLUS_ID", "DOKUMENT.MENETLUS_ID"} {
		e["orphan "+col] = r.Orphan
	}
	delete(e, "orphan")
	return e
}

// within accepts a measured rate when it is inside four standard
// deviations of the binomial, plus 15 % of the rate for effects such as a
// quirk overwritten by another.
func within(got measure, want float64) bool {
	sd := math.Sqrt(want * (1 - want) / float64(max(got.base, 1)))
	return math.Abs(got.rate()-want) <= 4*sd+0.15*want+1e-9
}

func checkRates(t *testing.T, r Rates) {
	db := gen(t, ratePersons, 3, r)
	got := detectors(t, db)
	for flag, want := range expected(r) {
		g, ok := got[flag]
		if !ok || g.base == 0 {
			t.Errorf("%s: nothing to measure", flag)
			continue
		}
		if !within(g, want) {
			t.Errorf("%s: %d of %d = %.5f, want %.5f", flag, g.hit, g.base, g.rate(), want)
		} else {
			t.Logf("%s: %d of %d = %.5f (want %.5f)", flag, g.hit, g.base, g.rate(), want)
		}
	}
}

func TestGenQuirksAtDefaultRates(t *testing.T) {
	r := DefaultRates()
	r.Unmapped = 0.01 // off by default so that the default batch runs; measured here
	checkRates(t, r)
}

func TestGenQuirksAtSetRates(t *testing.T) {
	r := DefaultRates()
	for _, q := range Quirks {
		p := q.Rate(&r)
		*p = math.Min(1, *p*3+0.002)
	}
	checkRates(t, r)
}

func TestGenQuirksOff(t *testing.T) {
	var r Rates
	db := gen(t, ratePersons, 3, r)
	for flag, g := range detectors(t, db) {
		if g.hit != 0 {
			t.Errorf("%s: %d of %d with every rate 0", flag, g.hit, g.base)
		}
	}
}

func TestGenValidCodesPassChecksum(t *testing.T) {
	r := DefaultRates()
	r.InvalidCode = 0
	db := gen(t, ratePersons, 5, r)
	each(t, db, "SELECT ISIK_ID, ISIKUKOOD FROM ISIK WHERE ISIKUKOOD IS NOT NULL", func(v []sql.NullString) {
		if mapping.LooksLikePersonalCode(v[1].String) {
			if _, err := mapping.ParsePersonalCode(v[1].String); err != nil {
				t.Errorf("ISIK %s: %v", v[0].String, err)
			}
		}
	})
}

func TestGenMappingsCoverSTAR1(t *testing.T) {
	dir := t.TempDir()
	if err := WriteMappings(dir); err != nil {
		t.Fatal(err)
	}
	db := gen(t, ratePersons, 1, DefaultRates())
	read := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	mun := read("municipalities.csv")
	if strings.Join(mun[0], ",") != "star1_code,star2_code,star2_name" {
		t.Errorf("municipalities.csv header %v", mun[0])
	}
	kov := map[string]string{}
	for _, r := range mun[1:] {
		kov[r[0]] = r[1]
	}
	each(t, db, "SELECT KOV_KOOD, KEHTIV_KUNI IS NULL FROM KOV", func(v []sql.NullString) {
		to, ok := kov[v[0].String]
		switch {
		case !ok:
			t.Errorf("KOV %s: not in municipalities.csv", v[0].String)
		case v[1].String == "1" && to != v[0].String:
			t.Errorf("current KOV %s maps to %s, want itself", v[0].String, to)
		case v[1].String == "0" && to == v[0].String:
			t.Errorf("merged KOV %s maps to itself", v[0].String)
		}
	})
	cls := read("classifiers.csv")
	if strings.Join(cls[0], ",") != "star1_class,star1_code,star2_kind,star2_code,star2_name" {
		t.Errorf("classifiers.csv header %v", cls[0])
	}
	if len(cls) < 40 {
		t.Errorf("classifiers.csv has %d rows", len(cls))
	}
}

// TestGenerateNamesAWrongPath: a file in a folder that does not exist, a
// folder given as the file, and a file given as the folder are refused
// before anything is written, naming the path.
// TestGenWritesTheFileItIsGiven: a path that SQLite would misread as a
// URI if it were not escaped (# ends a URI's path, ? starts its query, %
// starts an escape) gets the STAR1, under that name and no other, and
// extract reads it by the same path.
func TestGenWritesTheFileItIsGiven(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "STAR1 #1 100%")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := "star1?.db"
	if runtime.GOOS == "windows" {
		name = "star1.db" // no ? in a Windows file name
	}
	path := filepath.Join(dir, name)
	ctx := context.Background()
	if _, err := Generate(ctx, path, Options{Persons: 20, Seed: 1, AsOf: asOf, Rates: DefaultRates()}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("the folder holds %q, want only %q", names, name)
	}
	src, err := extract.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	isik, _ := extract.TableByName("ISIK")
	if n, err := extract.Count(ctx, snap, isik); err != nil || n < 20 {
		t.Errorf("ISIK of %s: %d rows (%v), want at least 20", path, n, err)
	}
}

func TestGenerateNamesAWrongPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "star1.db")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "missing", "star1.db"): "folder " + filepath.Join(dir, "missing") + " does not exist",
		dir:                             dir + " is a folder",
		filepath.Join(file, "star1.db"): file + " is a file, not a folder",
	} {
		_, err := Generate(context.Background(), path, Options{Persons: 1, Seed: 1, AsOf: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", path, err, want)
		}
		if err := CheckOut(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckOut(%s): %v, want it to say %q", path, err, want)
		}
	}
}

// TestMappingsAreNotWrittenBelowAFile: --mappings-out naming a file, or a
// folder below one, names that file before anything is written.
func TestMappingsAreNotWrittenBelowAFile(t *testing.T) {
	_, file := testenv.FileInTempDir(t)
	for dir, want := range map[string]string{
		file:                            "gen: mappings folder " + file + " is a file, not a folder",
		filepath.Join(file, "mappings"): "gen: mappings folder " + filepath.Join(file, "mappings") + ": " + file + " is a file, not a folder",
	} {
		if err := CheckMappings(dir); err == nil || err.Error() != want {
			t.Errorf("CheckMappings(%s): %v, want %q", dir, err, want)
		}
	}
}
