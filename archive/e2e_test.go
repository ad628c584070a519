package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	_ "modernc.org/sqlite"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
)

// small makes bundles, parts and blocks small so that a small STAR1 spans
// many of each.
func small(c Config) Config {
	c.BundleSize, c.PartSize, c.BlockSize = 512<<10, 128<<10, 16<<10
	return c
}

func testStores(t *testing.T) map[string]Store {
	fs, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stores := map[string]Store{"file": fs}
	if os.Getenv(testenv.EnvS3Endpoint) != "" || os.Getenv("CI") != "" {
		s3, _ := bucket(t, true)
		stores["s3"] = s3
	}
	return stores
}

func TestArchiveEveryRowEveryTable(t *testing.T) {
	path := star1(t, 300)
	k := testKeys(t)
	for name, st := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			stats := archiveSTAR1(t, path, small(config(st, k)))
			if stats.Bundles < 3 {
				t.Fatalf("%d bundles; the test wants several", stats.Bundles)
			}
			holdsEveryRow(t, st, k, path)
		})
	}
}

// holdsEveryRow checks that the latest archive run of batch "all" in st
// holds every row of every table of the STAR1 file at path, once, as STAR1
// holds it, and that its catalog counts them.
func holdsEveryRow(t *testing.T, st Store, k keys, path string) {
	t.Helper()
	ctx := context.Background()
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	cat := cats[0]
	r := NewReader(st, k.pub, k.identities, k.index)
	// Every row of every table, across all bundles, once, as STAR1 holds it.
	got := map[string][]string{}
	for _, e := range cat.Bundles {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.Files() {
			if f.Reference {
				continue
			}
			tab, _ := extract.TableByName(f.Table)
			if err := b.ReadFile(ctx, f.Path, func(row extract.Row) error {
				line, err := appendRow(nil, tab, row)
				got[f.Table] = append(got[f.Table], string(line))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tab := range extract.Tables {
		want := sourceRows(t, path, tab)
		if len(want) == 0 {
			t.Fatalf("STAR1 has no %s rows", tab.Name)
		}
		if cat.Tables[tab.Name].Rows != int64(len(want)) {
			t.Errorf("%s: catalog counts %d rows, STAR1 has %d", tab.Name, cat.Tables[tab.Name].Rows, len(want))
		}
		if !slices.Equal(got[tab.Name], want) {
			t.Errorf("%s: archive holds %d rows differing from STAR1's %d", tab.Name, len(got[tab.Name]), len(want))
		}
	}
}

// download copies one bundle to a folder, as an operator would.
func download(t *testing.T, st Store, e BundleEntry) string {
	t.Helper()
	dir := t.TempDir()
	for _, o := range e.Objects {
		rc, err := st.Get(context.Background(), e.Prefix+o.Path)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(o.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(f, rc)
		rc.Close()
		f.Close()
	}
	return dir
}

func TestBundleIsValidBagSignedAndOpaque(t *testing.T) {
	path := star1(t, 200)
	k := testKeys(t)
	st, cats := archivedFolder(t, path, k, small)
	ctx := context.Background()
	for _, e := range cats[0].Bundles {
		dir := download(t, st, e)
		problems, err := ValidateBag(dir)
		if err != nil || len(problems) > 0 {
			t.Fatalf("bundle %s is not a valid bag: %v %v", e.ID, err, problems)
		}
		for _, f := range []string{BagitTxt, BagInfoTxt, Manifest256, Manifest512, TagManifest256, TagManifest512} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("bundle %s lacks %s", e.ID, f)
			}
		}
		info, _ := os.ReadFile(filepath.Join(dir, BagInfoTxt))
		for _, label := range []string{"Bagging-Date: 2026-11-21", "Payload-Oxum: ", "External-Identifier: " + e.ID, "Bag-Group-Identifier: all/"} {
			if !strings.Contains(string(info), label) {
				t.Errorf("bag-info.txt of %s lacks %q", e.ID, label)
			}
		}
		tm, _ := os.ReadFile(filepath.Join(dir, TagManifest512))
		sig, _ := os.ReadFile(filepath.Join(dir, TagSignature))
		if !ed25519Verify(k.pub[0], tm, sig) {
			t.Errorf("bundle %s: tag manifest signature does not verify", e.ID)
		}
		// A changed payload file makes the bag invalid, naming it.
		victim := filepath.Join(dir, "data", "ISIK")
		if files, _ := os.ReadDir(victim); len(files) > 0 {
			p := filepath.Join(victim, files[0].Name())
			os.Chmod(p, 0o644)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
			problems, _ := ValidateBag(dir)
			if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), files[0].Name()) {
				t.Errorf("flipped byte not found: %v", problems)
			}
		}
	}
	// No stored byte holds STAR1 text in clear.
	needles := clearValues(t, path)
	if len(needles) < 100 {
		t.Fatalf("only %d values to look for", len(needles))
	}
	err := st.List(ctx, "", func(o ObjectInfo) error {
		b, err := readAll(ctx, st, o.Key, 1<<30)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q in clear", o.Key, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// clearValues are STAR1 values that must never be stored in clear:
// personal codes, names, addresses, case texts.
func clearValues(t *testing.T, path string) []string {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	for _, q := range []string{
		"SELECT ISIKUKOOD FROM ISIK WHERE length(ISIKUKOOD) >= 8",
		"SELECT EESNIMI FROM ISIK WHERE length(EESNIMI) >= 6 LIMIT 100",
		"SELECT PERENIMI FROM ISIK WHERE length(PERENIMI) >= 6 LIMIT 100",
		"SELECT AADRESS FROM ISIK WHERE AADRESS IS NOT NULL LIMIT 100",
		"SELECT substr(KIRJELDUS, 1, 24) FROM TOIMING WHERE length(KIRJELDUS) >= 24 LIMIT 50",
		"SELECT FAILINIMI FROM DOKUMENT LIMIT 50",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, strings.TrimSpace(s))
		}
		rows.Close()
	}
	return out
}

// expected is what STAR1 holds of a person, found with SQL.
func expected(t *testing.T, path, code string) map[string][]string {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	persons := "SELECT ISIK_ID FROM ISIK WHERE trim(ISIKUKOOD) = ?1"
	procs := "SELECT MENETLUS_ID FROM MENETLUS WHERE ISIK_ID IN (" + persons + ")"
	where := map[string]string{
		"ISIK":         "trim(ISIKUKOOD) = ?1",
		"ISIKU_SEOS":   "ISIK_ID IN (" + persons + ") OR SEOTUD_ISIK_ID IN (" + persons + ")",
		"POORDUMINE":   "ISIK_ID IN (" + persons + ")",
		"MENETLUS":     "ISIK_ID IN (" + persons + ")",
		"OTSUS":        "MENETLUS_ID IN (" + procs + ")",
		"MAKSE":        "OTSUS_ID IN (SELECT OTSUS_ID FROM OTSUS WHERE MENETLUS_ID IN (" + procs + "))",
		"JUHTUMIPLAAN": "MENETLUS_ID IN (" + procs + ")",
		"TOIMING":      "MENETLUS_ID IN (" + procs + ")",
		"DOKUMENT":     "MENETLUS_ID IN (" + procs + ")",
	}
	out := map[string][]string{}
	for table, w := range where {
		tab, _ := extract.TableByName(table)
		rows, err := db.Query(fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY 1", tab.Key[0], table, w), code)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out[table] = append(out[table], fmt.Sprint(id))
		}
		rows.Close()
	}
	return out
}

// richPerson is a personal code held by two ISIK rows (a duplicate) with
// proceedings, decisions and payments.
// otherPerson opens the STAR1 file (closed with the test) and gives the
// personal code of its first person other than code.
func otherPerson(t testing.TB, path, code string) (*sql.DB, string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var other string
	if err := db.QueryRow("SELECT ISIKUKOOD FROM ISIK WHERE ISIKUKOOD IS NOT NULL AND ISIKUKOOD <> ? ORDER BY ISIK_ID LIMIT 1", code).Scan(&other); err != nil {
		t.Fatal(err)
	}
	return db, other
}

func richPerson(t testing.TB, path string) string {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var code string
	err = db.QueryRow(`SELECT i.ISIKUKOOD FROM ISIK i JOIN MENETLUS m ON m.ISIK_ID = i.ISIK_ID
	                     JOIN OTSUS o ON o.MENETLUS_ID = m.MENETLUS_ID JOIN MAKSE p ON p.OTSUS_ID = o.OTSUS_ID
	                    WHERE i.ISIKUKOOD IN (SELECT ISIKUKOOD FROM ISIK GROUP BY ISIKUKOOD HAVING count(*) > 1)
	                    ORDER BY i.ISIK_ID LIMIT 1`).Scan(&code)
	if err != nil {
		err = db.QueryRow(`SELECT i.ISIKUKOOD FROM ISIK i JOIN MENETLUS m ON m.ISIK_ID = i.ISIK_ID
		                     JOIN OTSUS o ON o.MENETLUS_ID = m.MENETLUS_ID JOIN MAKSE p ON p.OTSUS_ID = o.OTSUS_ID
		                    WHERE i.ISIKUKOOD IS NOT NULL ORDER BY i.ISIK_ID LIMIT 1`).Scan(&code)
	}
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestRetrieveReadsOnlyThePerson(t *testing.T) {
	path := star1Docs(t, 20000, 2048)
	k := testKeys(t)
	for name, st := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg := config(st, k)
			cfg.BundleSize = 16 << 20
			stats := archiveSTAR1(t, path, cfg)
			code := richPerson(t, path)
			want := expected(t, path, code)
			r := NewReader(st, k.pub, k.identities, k.index)
			cats, err := LatestCatalogs(ctx, st, k.pub, "")
			if err != nil {
				t.Fatal(err)
			}
			found, err := r.Retrieve(ctx, cats, PersonByCode(code))
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, found, want)
			if len(want["MAKSE"]) == 0 || len(want["ISIK"]) == 0 {
				t.Fatalf("the person chosen has no payments: %v", want)
			}
			frac := float64(r.BytesRead()) / float64(stats.Bytes)
			t.Logf("retrieval read %d of %d bytes (%.1f%%), %d bundles", r.BytesRead(), stats.Bytes, 100*frac, stats.Bundles)
			if frac > 0.10 {
				t.Errorf("retrieval read %.0f%% of the archive", 100*frac)
			}
			// A code not in the archive is found nowhere.
			none, err := r.Retrieve(ctx, cats, PersonByCode("39901019999"))
			if err != nil || none[0].Rows() != 0 {
				t.Fatalf("absent code: %v %v", none, err)
			}
			// A proceeding.
			proc, _ := found[0].Tables["MENETLUS"][0][0].(int64)
			byProc, err := r.Retrieve(ctx, cats, ProceedingByID(proc))
			if err != nil || len(byProc[0].Tables["MENETLUS"]) != 1 || len(byProc[0].Tables["ISIK"]) != 1 {
				t.Fatalf("proceeding %d: %v %v", proc, byProc, err)
			}
		})
	}
}

func TestRetrievalFindsACodeStoredWithSpaces(t *testing.T) {
	// STAR1 may hold a personal code with spaces around it; the mapping
	// trims it, and so must the archive's index, or an archivist asking
	// for the code misses that row and everything under it.
	ctx := context.Background()
	path := star1(t, 300)
	code := richPerson(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE ISIK SET ISIKUKOOD = ' ' || ISIKUKOOD || '  '
	                      WHERE ISIK_ID = (SELECT max(ISIK_ID) FROM ISIK WHERE ISIKUKOOD = ?)`, code)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("padding a code: %v (%d rows)", err, n)
	}
	want := expected(t, path, code)
	if len(want["ISIK"]) < 2 || len(want["MENETLUS"]) == 0 {
		t.Fatalf("the person chosen is not a duplicate with proceedings: %v", want)
	}
	r, cats := archivedForRetrieval(t, path)
	for _, asked := range []string{code, " " + code} {
		found, err := r.Retrieve(ctx, cats, PersonByCode(strings.TrimSpace(asked)))
		if err != nil {
			t.Fatal(err)
		}
		for _, tab := range extract.Tables {
			var ids []string
			for _, row := range found[0].Tables[tab.Name] {
				ids = append(ids, fmt.Sprint(row[0]))
			}
			if !slices.Equal(ids, want[tab.Name]) {
				t.Errorf("%q: %s: retrieved %v, STAR1 holds %v", asked, tab.Name, ids, want[tab.Name])
			}
		}
	}
	// By STAR1 person id: that row only, and the ids of its duplicates,
	// the padded one among them.
	var first int64
	fmt.Sscan(want["ISIK"][0], &first)
	found, err := r.Retrieve(ctx, cats, PersonByID(first))
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, id := range found[0].SameCode {
		others = append(others, fmt.Sprint(id))
	}
	if got := found[0].Tables["ISIK"]; len(got) != 1 || got[0][0] != first || !slices.Equal(others, want["ISIK"][1:]) {
		t.Errorf("ISIK_ID %d: ISIK rows %v, same code %v; STAR1 holds %v", first, got, others, want["ISIK"])
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, &RetrievalResult{Query: "q", Found: true}, found); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "The same ISIKUKOOD is held in this run by ISIK_ID "+strings.Join(others, ", ")+" too") {
		t.Errorf("the report does not name the duplicates:\n%s", md.String())
	}
}

// archivedForRetrieval archives the STAR1 at path into a new folder in
// small bundles, and returns a reader with every key and the newest
// catalog of each batch.
func archivedForRetrieval(t *testing.T, path string) (*Reader, []*Catalog) {
	t.Helper()
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t)
	archiveSTAR1(t, path, small(config(st, k)))
	cats, err := LatestCatalogs(context.Background(), st, k.pub, "")
	if err != nil {
		t.Fatal(err)
	}
	return NewReader(st, k.pub, k.identities, k.index), cats
}

// TestRetrievalSaysTheRowAskedForIsAbsent: a proceeding or a person that
// STAR1 lost while rows still refer to it (orphans) is retrieved by its id
// with those rows, and the retrieval says that the row itself is not in
// the archive, instead of leaving the archivist to look for it.
func TestRetrievalSaysTheRowAskedForIsAbsent(t *testing.T) {
	ctx := context.Background()
	path := star1(t, 100)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var person, proceeding int64
	if err := db.QueryRow("SELECT ISIK_ID, MENETLUS_ID FROM MENETLUS ORDER BY MENETLUS_ID LIMIT 1").Scan(&person, &proceeding); err != nil {
		t.Fatal(err)
	}
	const lostProceeding, lostPerson = 990000000001, 990000000002
	for _, ins := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO OTSUS (OTSUS_ID, MENETLUS_ID, TEENUS_KOOD, TULEMUS, OTSUSE_KP) SELECT 990000000003, ?, TEENUS_KOOD, 'R', OTSUSE_KP FROM OTSUS LIMIT 1`, []any{lostProceeding}},
		{`INSERT INTO ISIKU_SEOS (SEOS_ID, ISIK_ID, SEOTUD_ISIK_ID, SEOSE_LIIK) SELECT 990000000004, ?, ?, SEOSE_LIIK FROM ISIKU_SEOS LIMIT 1`, []any{person, lostPerson}},
		// Ids no sequence gives, which NUMBER(12) holds all the same.
		{`INSERT INTO OTSUS (OTSUS_ID, MENETLUS_ID, TEENUS_KOOD, TULEMUS, OTSUSE_KP) SELECT 990000000005, 0, TEENUS_KOOD, 'R', OTSUSE_KP FROM OTSUS LIMIT 1`, nil},
		{`INSERT INTO ISIKU_SEOS (SEOS_ID, ISIK_ID, SEOTUD_ISIK_ID, SEOSE_LIIK) SELECT 990000000006, ?, -7, SEOSE_LIIK FROM ISIKU_SEOS LIMIT 1`, []any{person}},
	} {
		if res, err := db.Exec(ins.q, ins.args...); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s: %d rows", ins.q, n)
		}
	}
	r, cats := archivedForRetrieval(t, path)
	for _, c := range []struct {
		q             Query
		absent, table string
		id            int64
	}{
		{ProceedingByID(lostProceeding), "MENETLUS 990000000001", "OTSUS", 990000000003},
		{PersonByID(lostPerson), "ISIK 990000000002", "ISIKU_SEOS", 990000000004},
		{ProceedingByID(0), "MENETLUS 0", "OTSUS", 990000000005},
		{PersonByID(-7), "ISIK -7", "ISIKU_SEOS", 990000000006},
		{ProceedingByID(proceeding), "", "MENETLUS", proceeding},
		{PersonByID(person), "", "ISIK", person},
	} {
		found, err := r.Retrieve(ctx, cats, c.q)
		if err != nil {
			t.Fatal(err)
		}
		f := found[0]
		if f.Absent != c.absent || !slices.ContainsFunc(f.Tables[c.table], func(r extract.Row) bool { return r[0] == c.id }) {
			t.Errorf("%s: absent %q, %s %v; want absent %q and %s %d", c.q, f.Absent, c.table, f.Tables[c.table], c.absent, c.table, c.id)
		}
		var md, js bytes.Buffer
		res := &RetrievalResult{Query: c.q.String(), Found: true, Runs: []RunRows{RowsOf(f)}}
		if err := WriteMarkdown(&md, res, found); err != nil {
			t.Fatal(err)
		}
		if err := res.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		says := strings.Contains(md.String(), "**This run holds no "+c.absent+" row.**")
		inJSON := strings.Contains(js.String(), `"absent_row":"`+c.absent+`"`)
		if c.absent != "" && (!says || !inJSON) {
			t.Errorf("%s: the report does not say that %s is absent (Markdown %v, JSON %v):\n%s", c.q, c.absent, says, inJSON, md.String())
		}
		if c.absent == "" && (strings.Contains(md.String(), "holds no") || strings.Contains(js.String(), "absent_row")) {
			t.Errorf("%s: the report says a row is absent:\n%s", c.q, md.String())
		}
	}
}

func TestRestoreGivesBackSTAR1(t *testing.T) {
	path := star1(t, 300)
	// Key values PostgreSQL cannot hold, beside the values they would be
	// held as without those characters; keys that joined by "/" alone
	// would name one row. Two payments at the largest NUMBER(12,2) holds,
	// in different bundles, so that the catalog's sum and the restore's
	// are larger than one amount can be.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO KLASSIFIKAATOR (KLASS, KOOD, NIMETUS) VALUES
			('TEENUS', 'Z', 'plain'), ('TEENUS', 'Z' || char(0), 'NUL' || char(0)), ('TEENUS', 'Z%00', 'percent'),
			('TEENUS', CAST(X'5AFE' AS TEXT), 'not UTF-8'), ('TEENUS', 'Z!', 'after Z and NUL'),
			('TEENUS/X', 'Y', 'a' || char(0)), ('TEENUS', 'X/Y', 'b' || char(0));
		INSERT INTO KOV (KOV_KOOD, NIMI) VALUES ('9' || char(0), 'NUL vald'), ('9', 'plain vald'), ('9%', 'percent vald');
		UPDATE MAKSE SET SUMMA = '9999999999.99' WHERE MAKSE_ID IN ((SELECT min(MAKSE_ID) FROM MAKSE), (SELECT max(MAKSE_ID) FROM MAKSE))`)
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	k := testKeys(t)
	st, _ := NewFileStore(t.TempDir())
	archiveSTAR1(t, path, small(config(st, k)))
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(st, k.pub, k.identities, nil)
	if _, err := r.Restore(ctx, conn, cats[0], RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tab := range extract.Tables {
		want := sourceRowsAs(t, path, tab, true)
		got := restoredRows(t, dsn, "star1_archive", tab)
		if !slices.Equal(got, want) {
			n := 0
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] && n < 3 {
					t.Errorf("%s row %d:\n got %s\nwant %s", tab.Name, i, got[i], want[i])
					n++
				}
			}
			t.Errorf("%s: %d rows restored, STAR1 has %d", tab.Name, len(got), len(want))
		}
	}
	// Restoring again into the same schema is refused; a municipality restore keeps its rows.
	if _, err := r.Restore(ctx, conn, cats[0], RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second restore: %v", err)
	}
	var kov string
	conn.QueryRow(ctx, "SELECT kov_kood FROM star1_archive.menetlus GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").Scan(&kov)
	// A code the archived KOV table does not hold is refused, before a
	// schema is made: it would keep no proceeding at all.
	var unknown *UnknownKOVError
	_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "typo", KOV: []string{kov, "9999"}})
	if !errors.As(err, &unknown) || !slices.Equal(unknown.Codes, []string{"9999"}) || !strings.Contains(err.Error(), "--kov 9999: not a municipality code of the archived KOV table") {
		t.Errorf("restore --kov %s,9999: %v", kov, err)
	}
	var made bool
	if conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'typo')").Scan(&made); made {
		t.Error("a refused restore made its schema")
	}
	// A code that lost its leading zeros in a spreadsheet names the code
	// of KOV it was.
	_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "typo", KOV: []string{"100"}})
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "--kov 100: not a municipality code") ||
		!strings.HasSuffix(err.Error(), "; 100 is 0100 (Tallinn) without its leading zeros") {
		t.Errorf("restore --kov 100: %v", err)
	}
	// So does a municipality given by its name, in any case.
	_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "typo", KOV: []string{"tallinn"}})
	if !errors.As(err, &unknown) || !strings.HasSuffix(err.Error(), "; tallinn is the name of 0100 (Tallinn)") {
		t.Errorf("restore --kov tallinn: %v", err)
	}
	// And a part of a name that starts one of its words.
	_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "typo", KOV: []string{"narva"}})
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "; narva is part of the name") || !strings.Contains(err.Error(), "(Narva linn)") {
		t.Errorf("restore --kov narva: %v", err)
	}
	// A restore that cannot be put on record is rolled back; BeforeCommit
	// hears what was restored, after every check.
	var heard *RestoreStats
	_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "unrecorded", BeforeCommit: func(rs *RestoreStats) error {
		heard = rs
		return errors.New("audit log unreachable")
	}})
	if err == nil || !strings.Contains(err.Error(), "audit log unreachable") || heard == nil || heard.Tables["ISIK"].Rows == 0 {
		t.Errorf("restore whose BeforeCommit fails: %v, heard %+v", err, heard)
	}
	if conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'unrecorded')").Scan(&made); made {
		t.Error("a restore that could not be put on record was committed")
	}
	rs, err := r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: "one_kov", KOV: []string{kov}})
	if err != nil {
		t.Fatal(err)
	}
	var other int
	conn.QueryRow(ctx, "SELECT count(*) FROM one_kov.menetlus WHERE kov_kood <> $1", kov).Scan(&other)
	if other != 0 || rs.Tables["MENETLUS"].Rows == 0 || rs.Tables["MENETLUS"].Rows >= cats[0].Tables["MENETLUS"].Rows {
		t.Errorf("municipality restore: %d foreign proceedings, %d of %d", other, rs.Tables["MENETLUS"].Rows, cats[0].Tables["MENETLUS"].Rows)
	}
}

// restoredRows reads a restored table back through the postgres source of
// extract, as canonical STAR1 rows.
func restoredRows(t *testing.T, dsn, schema string, tab extract.Table) []string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return rowsAs(t, dsn+sep+"schema="+schema, tab, true)
}

var _ = time.Now
var _ = minio.Compliance

// retrievableFolder archives a small STAR1 into a folder (retrievable) and
// returns the folder with its store, keys, catalogs and person.
func retrievableFolder(t *testing.T) (string, *FileStore, keys, []*Catalog, string) {
	t.Helper()
	root := t.TempDir()
	st, err := NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	_, k, cats, code, _ := retrievable(t, st)
	return root, st, k, cats, code
}

// firstFolderBundle is retrievableFolder with a reader of the archive and the
// first bundle of its run opened.
func firstFolderBundle(t *testing.T) (string, keys, []*Catalog, *Reader, *Bundle) {
	t.Helper()
	root, st, k, cats, _ := retrievableFolder(t)
	r := NewReader(st, k.pub, k.identities, k.index)
	b, err := r.OpenBundle(context.Background(), cats[0].Bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	return root, k, cats, r, b
}

// retrievable archives a small STAR1 into st and returns the STAR1 file,
// the keys, the catalogs, the code of a person whose rows span several
// tables, and what a retrieval of that person from the clean archive finds.
func retrievable(t *testing.T, st Store) (string, keys, []*Catalog, string, []*Found) {
	t.Helper()
	path := star1(t, 300)
	k := testKeys(t)
	archiveSTAR1(t, path, small(config(st, k)))
	ctx := context.Background()
	cats, err := LatestCatalogs(ctx, st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	code := richPerson(t, path)
	found, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code))
	if err != nil || len(found[0].Tables["ISIK"]) == 0 || len(found[0].Tables["MAKSE"]) == 0 {
		t.Fatalf("clean archive: %v, %v", found, err)
	}
	return path, k, cats, code, found
}

// TestDamagedIndexIsNotSilence changes a bundle's index after it was
// written, as bit rot or a second version of the key would, without
// touching anything a retrieval checks by signature. A retrieval of a
// person whose rows the index leads to must fail naming the index, not
// answer that the archive holds no rows for them.
func TestDamagedIndexIsNotSilence(t *testing.T) {
	root, st, k, cats, code := retrievableFolder(t)
	ctx := context.Background()
	// Swap two bytes of every index record's key: the same size and
	// records, none of them leading where they did.
	for _, e := range cats[0].Bundles {
		p := filepath.Join(root, filepath.FromSlash(e.Prefix+IndexFile))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(b); i += indexRecord {
			b[i], b[i+1] = b[i+1], b[i]
		}
		replaceFile(t, p, b)
	}
	found, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code))
	if !errors.Is(err, ErrIndexDigest) || !strings.Contains(err.Error(), IndexFile) {
		t.Fatalf("retrieval over a damaged index: %v, %v; want an error naming %s", found, err, IndexFile)
	}
}

func TestABatchNotArchivedNamesWhatIs(t *testing.T) {
	ctx := context.Background()
	empty, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = LatestCatalogs(ctx, empty, nil, "north")
	if err == nil || !strings.Contains(err.Error(), "holds no complete run of batch north, nor of any batch") {
		t.Errorf("empty archive: %v", err)
	}
	root, st, k, _, _ := retrievableFolder(t)
	_, err = LatestCatalogs(ctx, st, k.pub, "north")
	if err == nil || !strings.Contains(err.Error(), "holds no complete run of batch north; it holds batch all") {
		t.Errorf("archive of batch all: %v", err)
	}
	// The folder above the archive, given by mistake, names it.
	above, err := NewFileStore(filepath.Dir(root))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = NewestCatalog(ctx, above, k.pub, "")
	if want := "holds no complete archive run; the folder below, " + st.String() + ", holds an archive: is it the one meant?"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("the folder above the archive: %v; want it to end %q", err, want)
	}
	_, err = LatestCatalogs(ctx, above, k.pub, "all")
	if err == nil || !strings.Contains(err.Error(), "nor of any batch; the folder below, "+st.String()+", holds an archive") {
		t.Errorf("the folder above the archive, batch all: %v", err)
	}
	// A run's folder, given as the archive, names the archive.
	inside, err := NewFileStore(filepath.Join(root, "batches", "all"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = LatestCatalogs(ctx, inside, k.pub, "all")
	if want := "nor of any batch; it is the folder batches/all inside the archive " + st.String() + ": give that archive's URL, with --batch all"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("the batch's folder: %v; want it to end %q", err, want)
	}
	// A run interrupted before its catalog was signed is not complete.
	if err := os.MkdirAll(filepath.Join(root, "batches", "north", "20261121T100000Z-abcdef", "0001"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "batches", "north", "20261121T100000Z-abcdef", "0001", "bagit.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LatestCatalogs(ctx, st, k.pub, "north")
	if err == nil || !strings.Contains(err.Error(), "holds no complete run of batch north, only 1 interrupted") {
		t.Errorf("interrupted run: %v", err)
	}
}

func TestAnotherIndexKeyIsRefused(t *testing.T) {
	// With an index key other than the archive's, every lookup finds
	// nothing: the archivist would be told the person is not archived.
	_, st, k, cats, code := retrievableFolder(t)
	ctx := context.Background()
	other := bytes.Repeat([]byte{7}, 32)
	found, err := NewReader(st, k.pub, k.identities, other).Retrieve(ctx, cats, PersonByCode(code))
	var keyErr *IndexKeyError
	if !errors.As(err, &keyErr) || keyErr.Want != IndexKeyID(k.index) || keyErr.Got != IndexKeyID(other) {
		t.Fatalf("retrieval with another index key: %v, %v; want an IndexKeyError", found, err)
	}
	if IndexKeyID(k.index) == IndexKeyID(other) || len(IndexKeyID(other)) != 16 {
		t.Fatalf("key ids %s and %s", IndexKeyID(k.index), IndexKeyID(other))
	}
	// Given both keys (the index key was replaced between runs), the
	// reader takes the run's own.
	if found, err = NewReader(st, k.pub, k.identities, other, k.index).Retrieve(ctx, cats, PersonByCode(code)); err != nil || found[0].Rows() == 0 {
		t.Fatalf("with the run's key among others: %v, %v", found, err)
	}
	// A catalog that records no key id (format 1 before the field) is
	// read as before.
	cats[0].IndexKeyID = ""
	if found, err = NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code)); err != nil || found[0].Rows() == 0 {
		t.Fatalf("catalog without a key id: %v, %v", found, err)
	}
}

// TestForgedPayloadIsRefused replaces a payload file with one its forger
// made: the same rows with every letter in capitals, each block in the
// same place and of the same length, encrypted anew to the archive's
// recipient, as anyone who holds the public recipient (or writes a second
// version of the key) could. Only the bundle's signed contents can tell the
// forged blocks from the written ones, and a retrieval must check them
// instead of handing the forged rows to the archivist.
func TestForgedPayloadIsRefused(t *testing.T) {
	root, st, k, cats, code := retrievableFolder(t)
	ctx := context.Background()
	r := NewReader(st, k.pub, k.identities, k.index)
	forged := 0 // blocks
	for _, e := range cats[0].Bundles {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.contents.Files {
			if f.Table != "ISIK" {
				continue
			}
			forged += forgeBlocks(t, filepath.Join(root, filepath.FromSlash(e.Prefix+f.Path)), f.Blocks, k)
		}
	}
	if forged == 0 {
		t.Fatal("no ISIK block could be forged")
	}
	found, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code))
	if !errors.Is(err, ErrBlockDigest) || !strings.Contains(err.Error(), "ISIK") {
		var rows []extract.Row
		if found != nil {
			rows = found[0].Tables["ISIK"]
		}
		t.Fatalf("retrieval over forged ISIK blocks: rows %v, error %v; want %v naming the file", rows, err, ErrBlockDigest)
	}
}

// TestDamagedPayloadIsNamedByItsDigest damages payload objects the way
// storage or a person might: another object of the bundle put in the
// place of one, and an object cut short. Reading the file row by row
// (what restore does) stops long before the end, where the digest is
// checked; the error must still say that the object does not match the
// manifest, naming it, and not that one of its rows is bad.
func TestDamagedPayloadIsNamedByItsDigest(t *testing.T) {
	root, _, _, _, b := firstFolderBundle(t)
	ctx := context.Background()
	var payload []*fileInfo
	for _, f := range b.contents.Files {
		if !f.Reference && f.Rows > 0 {
			payload = append(payload, f)
		}
	}
	if len(payload) < 3 {
		t.Fatalf("bundle %s holds %d payload files with rows, want 3", b.Entry.ID, len(payload))
	}
	file := func(f *fileInfo) string { return filepath.Join(root, filepath.FromSlash(b.Entry.Prefix+f.Path)) }
	other, err := os.ReadFile(file(payload[1]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file(payload[0]), other, 0o644); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(file(payload[2]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file(payload[2]), whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fileInfo{payload[0], payload[2]} {
		rows := 0
		err := b.ReadFile(ctx, f.Path, func(extract.Row) error { rows++; return nil })
		if !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), f.Path) {
			t.Errorf("reading damaged %s: %d rows, error %v; want %v naming the file", f.Path, rows, err, ErrDigest)
		}
	}
	// A file that is whole reads as before.
	rows := int64(0)
	if err := b.ReadFile(ctx, payload[1].Path, func(extract.Row) error { rows++; return nil }); err != nil || rows != payload[1].Rows {
		t.Errorf("reading %s: %d rows, error %v; want %d rows", payload[1].Path, rows, err, payload[1].Rows)
	}
}

// TestDamagedPayloadIsNamedInARetrieval damages every ISIK payload file
// of an archive in turn by cutting it short, adding bytes to its end and
// flipping a byte inside it. A retrieval reads only parts of a file, so
// it cannot check the file's digest; what it meets must still be named
// as damage to that file, not only as age's failure to authenticate.
func TestDamagedPayloadIsNamedInARetrieval(t *testing.T) {
	root, st, k, cats, code := retrievableFolder(t)
	ctx := context.Background()
	originals := map[string][]byte{}
	for _, e := range cats[0].Bundles {
		b, err := NewReader(st, k.pub, k.identities, k.index).OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.contents.Files {
			if f.Table == "ISIK" && !f.Reference {
				path := filepath.Join(root, filepath.FromSlash(e.Prefix+f.Path))
				body, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				originals[path] = body
			}
		}
	}
	if len(originals) == 0 {
		t.Fatal("no ISIK payload file")
	}
	damages := map[string]func([]byte) []byte{
		"cut short": func(b []byte) []byte { return b[:len(b)-100] },
		"added to":  func(b []byte) []byte { return append(bytes.Clone(b), "more"...) },
		"byte flipped": func(b []byte) []byte {
			b = bytes.Clone(b)
			b[len(b)/2] ^= 0x01
			return b
		},
	}
	for name, damage := range damages {
		for path, body := range originals {
			replaceFile(t, path, damage(body))
		}
		_, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code))
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "data/ISIK/") {
			t.Errorf("ISIK files %s: %v; want %v naming the file", name, err, ErrDamaged)
		}
		for path, body := range originals {
			replaceFile(t, path, body)
		}
	}
	if _, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code)); err != nil {
		t.Errorf("the archive put back: %v", err)
	}
}

// forgeBlocks rewrites the gzip members of one payload file with their
// rows' values in capitals, each compressed harder and padded to its old
// length, and encrypts the file again to the recipient. It returns how many blocks
// it changed.
func forgeBlocks(t *testing.T, path string, blocks [][5]int64, k keys) int {
	t.Helper()
	n := 0
	before, after := rewriteStream(t, path, k, func(stream []byte) {
		for _, blk := range blocks {
			member := stream[blk[0] : blk[0]+blk[1]]
			zr, err := gzip.NewReader(bytes.NewReader(member))
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false)
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			upper := bytes.ReplaceAll(bytes.ToUpper(plain), []byte("NULL"), []byte("null"))
			if bytes.Equal(upper, plain) {
				continue
			}
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(upper)
			zw.Close()
			if buf.Len() > len(member) {
				continue
			}
			copy(member, buf.Bytes())
			clear(member[buf.Len():])
			n++
		}
	})
	if after != before {
		t.Fatalf("forged %s is %d bytes, the written one %d", path, after, before)
	}
	return n
}

// rewriteStream decrypts a payload file of a folder archive, lets edit
// change its plaintext (the gzip stream) in place, and writes it back
// encrypted to the archive's recipient. It returns the file's size before
// and after.
func rewriteStream(t *testing.T, path string, k keys, edit func(stream []byte)) (before, after int) {
	t.Helper()
	ct, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := age.Decrypt(bytes.NewReader(ct), k.identities...)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	edit(stream)
	var out bytes.Buffer
	enc, err := age.Encrypt(&out, k.recipients...)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(stream)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, out.Bytes())
	return len(ct), out.Len()
}

// replaceFile writes body over a read-only file of a folder archive.
func replaceFile(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o444); err != nil {
		t.Fatal(err)
	}
}

// TestReadersReadTheFirstVersion writes second versions over keys of a
// locked archive on MinIO, as anyone with write rights can (the lock keeps
// the first version, not the key), and leaves a delete marker on another:
// retrieval and restore read what the archive wrote, not what came after.
func TestReadersReadTheFirstVersion(t *testing.T) {
	if os.Getenv(testenv.EnvS3Endpoint) == "" && os.Getenv("CI") == "" {
		t.Skip("no MinIO")
	}
	st, client := bucket(t, true)
	path, k, cats, code, before := retrievable(t, st)
	ctx := context.Background()
	// Second versions of the run's catalog, and of the index, the contents
	// and every ISIK payload file of every bundle; a delete marker on every
	// bundle's SHA-256 manifest.
	later := []string{RunPrefix("all", cats[0].Run) + CatalogFile}
	for _, e := range cats[0].Bundles {
		later = append(later, e.Prefix+IndexFile, e.Prefix+contentsPath)
		for _, o := range e.Objects {
			if strings.HasPrefix(o.Path, "data/ISIK/") {
				later = append(later, e.Prefix+o.Path)
			}
		}
		if err := client.RemoveObject(ctx, st.cfg.Bucket, st.full(e.Prefix+Manifest256), minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range later {
		if _, err := client.PutObject(ctx, st.cfg.Bucket, st.full(key), strings.NewReader("later"), 5, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := NewS3Store(st.cfg) // knows no version yet
	if err != nil {
		t.Fatal(err)
	}
	cats, err = LatestCatalogs(ctx, fresh, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(fresh, k.pub, k.identities, k.index)
	after, err := r.Retrieve(ctx, cats, PersonByCode(code))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after[0].Tables) != fmt.Sprint(before[0].Tables) {
		t.Errorf("retrieval after second versions:\n got %v\nwant %v", after[0].Tables, before[0].Tables)
	}
	dsn := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := testenv.Name("first_version_")
	if _, err := r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	isik, _ := extract.TableByName("ISIK")
	if got, want := restoredRows(t, dsn, schema, isik), sourceRowsAs(t, path, isik, true); !slices.Equal(got, want) {
		t.Errorf("ISIK: %d rows restored, STAR1 has %d", len(got), len(want))
	}
}

// TestRowsDeletedFromSTAR1AreInEarlierRuns: each archive run holds STAR1
// as it was when it was written. A person STAR1 deleted outright between
// two runs of a batch is in the earlier run only, and a retrieval must
// find them there rather than answer that the archive holds no rows.
func TestRowsDeletedFromSTAR1AreInEarlierRuns(t *testing.T) {
	ctx := context.Background()
	path := star1(t, 300)
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t)
	first := archiveSTAR1(t, path, small(config(st, k)))
	code := richPerson(t, path)
	db, other := otherPerson(t, path, code)
	if _, err := db.Exec("DELETE FROM ISIK WHERE ISIKUKOOD = ?", code); err != nil {
		t.Fatal(err)
	}
	cfg := small(config(st, k))
	cfg.Now = now.Add(time.Hour)
	second := archiveSTAR1(t, path, cfg)

	cats, err := LatestCatalogs(ctx, st, k.pub, "")
	if err != nil || len(cats) != 1 || cats[0].Run != second.Run {
		t.Fatalf("newest catalogs %v %v, want run %s", cats, err, second.Run)
	}
	r := NewReader(st, k.pub, k.identities, k.index)
	// retrieve returns what was found and how many earlier runs were read.
	retrieve := func(code string, all bool) ([]*Found, int) {
		t.Helper()
		found, err := r.Retrieve(ctx, cats, PersonByCode(code))
		if err != nil {
			t.Fatal(err)
		}
		found, earlier, err := r.RetrieveEarlier(ctx, found, PersonByCode(code), LookBack{All: all})
		if err != nil {
			t.Fatal(err)
		}
		return found, len(earlier)
	}

	found, read := retrieve(code, false)
	if read != 1 {
		t.Errorf("%d earlier runs read, want 1", read)
	}
	if len(found) != 2 || found[0].Run != second.Run || found[0].Rows() != 0 || found[1].Run != first.Run || found[1].Newest != second.Run {
		t.Fatalf("deleted person: %+v, want no rows in run %s, then run %s", found, second.Run, first.Run)
	}
	if len(found[1].Tables["ISIK"]) == 0 || len(found[1].Tables["MAKSE"]) == 0 {
		t.Errorf("earlier run gave %d ISIK and %d MAKSE rows", len(found[1].Tables["ISIK"]), len(found[1].Tables["MAKSE"]))
	}
	var md strings.Builder
	if err := WriteMarkdown(&md, &RetrievalResult{Query: "q", Found: true, Earlier: true}, found); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Batch all, archive run " + second.Run + "\n\nNo rows in this run: STAR1 no longer held them when it was written, and an earlier run below does.",
		"## Batch all, earlier archive run " + first.Run + "\n\nSTAR1 as it was when this run was written, before the newest run " + second.Run + ".",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}

	// A person in both runs comes from the newest alone, unless every run
	// is asked for.
	if found, read = retrieve(other, false); len(found) != 1 || read != 0 || found[0].Rows() == 0 {
		t.Errorf("person in both runs: %+v and %d earlier runs read, want the newest run only", found, read)
	}
	if found, read = retrieve(other, true); len(found) != 2 || read != 1 || found[1].Newest != second.Run || found[0].Rows() != found[1].Rows() || found[0].Rows() == 0 {
		t.Errorf("person in both runs, every run: %+v", found)
	}
}

// TestRetrievalLeavesOutTheBundlesItCannotRead: a reader that leaves out
// bundles (retrieve --skip-unreadable) answers from the rest of a run
// whose bundle could not be opened (a tag file changed) or whose index
// lookup failed (the index changed), names those bundles and says why,
// and gives no row the clean run does not; a reader that does not, stops.
func TestRetrievalLeavesOutTheBundlesItCannotRead(t *testing.T) {
	root, st, k, cats, code := retrievableFolder(t)
	ctx := context.Background()
	clean, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code))
	if err != nil {
		t.Fatal(err)
	}
	bundles := cats[0].Bundles
	if len(bundles) < 3 {
		t.Fatalf("%d bundles; the test wants 3 or more", len(bundles))
	}
	// Every byte changed, so that whichever part of the index a lookup
	// reads is not as written. The person's rows come first in the run
	// (ISIK, then the tables that refer to it), so the last bundles are
	// damaged, and the first still give rows.
	flip := func(e BundleEntry, name string) {
		path := filepath.Join(root, filepath.FromSlash(e.Prefix+name))
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range body {
			body[i] ^= 1
		}
		replaceFile(t, path, body)
	}
	damaged := []BundleEntry{bundles[len(bundles)-2], bundles[len(bundles)-1]}
	flip(damaged[0], IndexFile)
	flip(damaged[1], "manifest-sha256.txt")

	if _, err := NewReader(st, k.pub, k.identities, k.index).Retrieve(ctx, cats, PersonByCode(code)); err == nil || !Unreadable(err) {
		t.Fatalf("a reader that does not leave out bundles: %v; want an error", err)
	}
	r := NewReader(st, k.pub, k.identities, k.index)
	r.LeaveOutUnreadable = true
	found, err := r.Retrieve(ctx, cats, PersonByCode(code))
	if err != nil {
		t.Fatal(err)
	}
	f := found[0]
	if !slices.Equal(f.UnreadParts, []string{damaged[0].ID, damaged[1].ID}) || !strings.Contains(f.Unread, damaged[0].ID) ||
		!strings.Contains(f.Unread, damaged[1].ID+": manifest-sha256.txt does not match the tag manifest") {
		t.Errorf("left out %v: %s; want bundles %s and %s with why", f.UnreadParts, f.Unread, damaged[0].ID, damaged[1].ID)
	}
	if f.Rows() == 0 {
		t.Error("no rows from the bundles read")
	}
	for name, rows := range f.Tables {
		for _, row := range rows {
			if !slices.ContainsFunc(clean[0].Tables[name], func(c extract.Row) bool { return fmt.Sprint(c) == fmt.Sprint(row) }) {
				t.Errorf("%s row %v is not one the clean run gives", name, row[0])
			}
		}
	}
	t.Logf("%d of %d rows from the bundles read", f.Rows(), clean[0].Rows())

	// A query by id whose own row is in a file left out: the rows that
	// refer to it are given, and the row is not said to be absent, since
	// the run may well hold it.
	for _, e := range bundles[:len(bundles)-2] {
		b, err := r.OpenBundle(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, pf := range b.contents.Files {
			if pf.Table == "ISIK" && !pf.Reference {
				flip(e, pf.Path)
			}
		}
	}
	id := clean[0].Tables["ISIK"][0][0].(int64)
	found, err = r.Retrieve(ctx, cats, PersonByID(id))
	if err != nil {
		t.Fatal(err)
	}
	if f := found[0]; len(f.Tables["ISIK"]) != 0 || f.Rows() == 0 || f.Absent != "" || !slices.ContainsFunc(f.UnreadParts, func(p string) bool { return strings.Contains(p, "/data/ISIK/") }) {
		t.Errorf("ISIK files damaged, ISIK_ID %d: %d rows, ISIK %v, absent %q, left out %v; want rows, no ISIK row, not absent, ISIK files left out",
			id, f.Rows(), f.Tables["ISIK"], f.Absent, f.UnreadParts)
	}
}
