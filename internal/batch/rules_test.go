package batch

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/mapping"
)

// fixture writes a small STAR1 by hand, one row per case of the rules, and
// its mapping folder.
func fixture(t *testing.T, rows map[string][][]any) (string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "star1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tb := range extract.Tables {
		if _, err := db.Exec(extract.SQLiteDDL(tb)); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows[tb.Name] {
			q := "INSERT INTO " + tb.Name + " VALUES (" + strings.TrimSuffix(strings.Repeat("?,", len(r)), ",") + ")"
			if _, err := db.Exec(q, r...); err != nil {
				t.Fatalf("%s %v: %v", tb.Name, r, err)
			}
		}
	}
	if _, err := db.Exec("PRAGMA journal_mode=WAL"); err != nil {
		t.Fatal(err)
	}
	maps := filepath.Join(dir, "mappings")
	if err := os.MkdirAll(maps, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(maps, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("municipalities.csv", "star1_code,star2_code,star2_name\n0784,0784,Tallinn\n0300,0784,Tallinn\n")
	write("classifiers.csv", "star1_class,star1_code,star2_kind,star2_code,star2_name\n"+
		"SEOSE_LIIK,EMA,relation_type,mother,Mother\nKANAL,EPOST,channel,email,E-mail\n"+
		"MENETLUSE_LIIK,TOETUS,proceeding_type,benefit,Benefit\nTEENUS,TOIMETULEK,service,subsistence_benefit,Subsistence benefit\n"+
		"TOIMINGU_LIIK,KONE,activity_type,phone_call,Phone call\n")
	return path, maps
}

const (
	codeA   = "37605030299" // valid
	codeB   = "49403136526" // valid
	badCode = "37605030298" // wrong check digit
	now     = "2026-10-01 10:00:00"
)

func rulesFixture(t *testing.T) (string, string) {
	c, err := mapping.MakePersonalCode(mustDate("1980-01-01"), true, 1)
	if err != nil {
		t.Fatal(err)
	}
	codeC, err := mapping.MakePersonalCode(mustDate("1985-02-02"), false, 7)
	if err != nil {
		t.Fatal(err)
	}
	return fixture(t, map[string][][]any{
		"KOV":            {{"0784", "Tallinn", nil}, {"0300", "Endine vald", "2017-10-21 00:00:00"}},
		"KLASSIFIKAATOR": {{"TEENUS", "TOIMETULEK", "Toimetulekutoetus", nil}},
		"ISIK": {
			// ISIK_ID, ISIKUKOOD, EESNIMI, PERENIMI, SYNNIAEG, SUGU, KOV_KOOD, AADRESS, LOODUD, MUUDETUD, KUSTUTATUD
			{1, codeA, "JÃ¼ri", "Tamm ", "1976-05-04 00:00:00", "N", "0300", "Pikk 1", "2015-01-01 10:00:00", "2025-01-01 10:00:00", "E"},
			{2, codeA, "Jüri", "Tamm", "1976-05-03 00:00:00", "M", "0784", "Pikk 2", "2012-01-01 10:00:00", "2013-01-01 10:00:00", "E"},
			{3, codeA, "Jüri", "Tamm", nil, nil, "0784", nil, "2012-01-01 10:00:00", "2026-01-01 10:00:00", "J"},
			{4, badCode, "Vale", "Kood", nil, nil, "0784", nil, "2015-01-01 10:00:00", nil, "E"},
			{5, codeB, "Kustu", "Tatud", nil, nil, "0784", nil, "2015-01-01 10:00:00", nil, "J"},
			{6, c, "Vana", "Asi", nil, nil, "0784", nil, "2011-01-01 10:00:00", nil, "E"},
			{7, "LV-010180-12345", "Ivan", "Sugulane", "1980-01-01 00:00:00", "M", "0784", nil, "2015-01-01 10:00:00", nil, "E"},
			{8, nil, "Keegi", "Pole", nil, nil, "0784", nil, "2015-01-01 10:00:00", nil, "E"},
			{9, codeC, "Kehtiv", "Otsus", nil, nil, "9999", nil, "2015-01-01 10:00:00", nil, "E"},
			{10, nil, "Lipp", "Teadmata", nil, nil, "0784", nil, "2015-01-01 10:00:00", nil, "X"},
			{11, nil, "Vaike", "Taht", nil, nil, "0784", nil, "2015-01-01 10:00:00", nil, "j"},
			{12, "LV-020290-12345", "Anna", "Muu", nil, "X", "0784", nil, "2015-01-01 10:00:00", nil, "E"},
			{13, nil, "Suletud", "Ammu", nil, nil, "0784", nil, "2011-01-01 10:00:00", nil, "E"},
			{14, nil, "Suletud", "Hiljuti", nil, nil, "0784", nil, "2011-01-01 10:00:00", nil, "E"},
			{15, nil, "Suletud", "Millal", nil, nil, "0784", nil, "2011-01-01 10:00:00", nil, "E"},
			{16, nil, "Kehtib", "Alguseta", nil, nil, "0784", nil, "2011-01-01 10:00:00", nil, "E"},
			{17, nil, "Aegunud", "Alguseta", nil, nil, "0784", nil, "2011-01-01 10:00:00", nil, "E"},
		},
		"ISIKU_SEOS": {
			// SEOS_ID, ISIK_ID, SEOTUD_ISIK_ID, SEOSE_LIIK, ALGUS, LOPP
			{100, 1, 7, "EMA", "2015-01-01 00:00:00", nil},
			{101, 1, 999, "EMA", nil, nil},
			{102, 8, 6, "EMA", nil, nil},
			{103, 7, 7, "EMA", nil, nil},
			{104, 2, 1, "EMA", nil, nil},
			{105, 2, 7, "EMA", nil, nil},
		},
		"POORDUMINE": {
			// POORDUMINE_ID, ISIK_ID, KOV_KOOD, KANAL, SISU, REG_KP
			{40, 1, "0784", "EPOST", "Palun\x00 abi", "2026-01-05 09:00:00"},
			{41, 1, "0784", "EPOST", "vana", "2012-01-05 09:00:00"},
		},
		"MENETLUS": {
			// MENETLUS_ID, POORDUMINE_ID, ISIK_ID, KOV_KOOD, LIIK, STAATUS, ALGUS_KP, LOPP_KP, VASTUTAJA, MUUDETUD
			{10, nil, 2, "0784", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
			{11, nil, 4, "0784", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
			{12, nil, 5, "0784", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
			{13, nil, 6, "0784", "TOETUS", "L", "2011-01-01 00:00:00", "2012-01-01 00:00:00", "mari", nil},
			{14, nil, 999, "0784", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
			{15, nil, 9, "0784", "TOETUS", "L", "2011-01-01 00:00:00", "2012-01-01 00:00:00", "mari", nil},
			{16, nil, 1, "0784", "TOETUS", "L", "2025-01-01 00:00:00", "2024-01-01 00:00:00", "mari", nil},
			{17, nil, 10, "0784", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
			{18, nil, 11, "0784", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
			{19, nil, 12, "0784", "TOETUS", "a", "2011-01-01 00:00:00", "2012-01-01 00:00:00", "mari", nil},
			// Closed without LOPP_KP: last changed before the window, inside
			// it, and never.
			{20, nil, 13, "0784", "TOETUS", "L", "2011-01-01 00:00:00", nil, "mari", "2012-06-01 10:00:00"},
			{21, nil, 14, "0784", "TOETUS", "K", "2011-01-01 00:00:00", nil, "mari", "2024-06-01 10:00:00"},
			{22, nil, 15, "0784", "TOETUS", "L", "2011-01-01 00:00:00", nil, "mari", nil},
			{23, nil, 16, "0784", "TOETUS", "L", "2011-01-01 00:00:00", "2012-01-01 00:00:00", "mari", nil},
			{24, nil, 17, "0784", "TOETUS", "L", "2011-01-01 00:00:00", "2012-01-01 00:00:00", "mari", nil},
		},
		"OTSUS": {
			// OTSUS_ID, MENETLUS_ID, TEENUS_KOOD, TULEMUS, SUMMA, VALUUTA, KEHTIV_ALATES, KEHTIV_KUNI, OTSUSE_KP
			{20, 10, "TOIMETULEK", "R", "100", "EUR", "2025-01-01 00:00:00", "2027-01-01 00:00:00", "2025-01-01 00:00:00"},
			{21, 14, "TOIMETULEK", "R", "50.5", "EUR", nil, nil, "2025-01-01 00:00:00"},
			{22, 15, "TOIMETULEK", "R", nil, nil, "2011-01-01 00:00:00", "2030-01-01 00:00:00", "2011-01-01 00:00:00"},
			{23, 11, "TOIMETULEK", "R", "10", "EUR", nil, nil, "2025-01-01 00:00:00"},
			{24, 12, "TOIMETULEK", "R", "10", "EUR", nil, nil, "2025-01-01 00:00:00"},
			{25, 10, "TOIMETULEK", "R", "10", "EUR", nil, nil, "2027-01-01 00:00:00"},
			// An end but no start: valid from the day it was taken.
			{26, 23, "TOIMETULEK", "R", nil, nil, nil, "2030-01-01 00:00:00", "2011-06-01 00:00:00"},
			{27, 24, "TOIMETULEK", "R", nil, nil, nil, "2013-01-01 00:00:00", "2011-06-01 00:00:00"},
		},
		"MAKSE": {
			// MAKSE_ID, OTSUS_ID, SUMMA, VALUUTA, MAKSE_KP, SAAJA_IBAN, STAATUS
			{30, 20, "156.47", "EEK", "2025-02-01 10:00:00", "EE382200221020145685", "MAKSTUD"},
			{31, 999, "1", "EUR", "2025-02-01 10:00:00", nil, "MAKSTUD"},
			{32, 20, "100.00", "EUR", "2025-03-01 10:00:00", "EE382200221020145684", "TAGASI"},
			{33, 20, "1.00", "EUR", "2025-03-02 10:00:00", "ee38 2200 2210 2014 5685", "MAKSTUD"},
		},
		"TOIMING": {
			// TOIMING_ID, MENETLUS_ID, LIIK, TOIMUS, KIRJELDUS, KASUTAJA
			{50, 10, "KONE", "2025-03-30 03:30:00", "  helistas ", "mari"},
		},
		"DOKUMENT": {
			// DOKUMENT_ID, MENETLUS_ID, FAILINIMI, MIME_TYYP, SISU, LOODUD
			{60, 10, "otsus.pdf", "image/png", []byte("%PDF-1.4\n..."), "2025-01-02 10:00:00"},
			{61, 10, "tyhi.txt", nil, nil, "2025-01-02 10:00:00"},
			{62, 10, "tyhi2.txt", "text/plain", []byte{}, "2025-01-02 10:00:00"},
		},
	})
}

func TestOutcomeRules(t *testing.T) {
	path, maps := rulesFixture(t)
	dsn, conn := target(t)
	ctx := context.Background()
	o := options(path, maps, dsn)
	if _, err := Migrate(ctx, o); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		table string
		id    int64
		out   string
		rule  string
		why   string
	}{
		{"ISIK", 1, "loaded", "", "rule 3: the most recently modified duplicate survives"},
		{"ISIK", 2, "merged", "", "rule 3: an older duplicate is merged"},
		{"ISIK", 3, "excluded_deleted", "", "rule 4: soft-deleted even with a loaded duplicate"},
		{"ISIK", 4, "quarantined", "invalid_personal_code", "rule 2"},
		{"ISIK", 5, "excluded_deleted", "", "rule 4"},
		{"ISIK", 6, "archived_only", "", "live window: only an old closed proceeding"},
		{"ISIK", 7, "loaded", "", "live window: related to a live person"},
		{"ISIK", 8, "archived_only", "", "live window: nothing live"},
		{"ISIK", 9, "quarantined", "unknown_municipality", "rule 7; live through a decision in force"},
		{"ISIK", 10, "quarantined", "invalid_value", "KUSTUTATUD neither J nor E: soft-deleted or not is undecided"},
		{"ISIK", 11, "quarantined", "invalid_value", "KUSTUTATUD j is not J"},
		{"ISIK", 12, "loaded", "", "live as the subject of a proceeding whose status is outside its list"},
		{"ISIK", 13, "archived_only", "", "live window: only a proceeding closed before it"},
		{"ISIK", 14, "loaded", "", "live window: subject of a proceeding that may have ended inside it"},
		{"ISIK", 15, "loaded", "", "live window: subject of a proceeding whose end nothing bounds"},
		{"ISIK", 16, "loaded", "", "live window: subject of a proceeding with a decision in force"},
		{"ISIK", 17, "archived_only", "", "live window: the decision's period has ended"},
		{"ISIKU_SEOS", 100, "loaded", "", "both persons live"},
		{"ISIKU_SEOS", 101, "quarantined", "orphan", "rule 5"},
		{"ISIKU_SEOS", 102, "archived_only", "", "neither person live"},
		{"ISIKU_SEOS", 103, "quarantined", "invalid_value", "a person related to itself"},
		{"ISIKU_SEOS", 104, "quarantined", "invalid_value", "related to a duplicate of itself: one STAR2 person"},
		{"ISIKU_SEOS", 105, "loaded", "", "a merged duplicate's relation points at the survivor"},
		{"POORDUMINE", 40, "loaded", "", "no proceeding, registered inside the window"},
		{"POORDUMINE", 41, "archived_only", "", "no proceeding, registered before the window"},
		{"MENETLUS", 10, "loaded", "", "open"},
		{"MENETLUS", 11, "quarantined", "parent_quarantined", "rule 4 cascade"},
		{"MENETLUS", 12, "excluded_deleted", "", "rule 4 cascade"},
		{"MENETLUS", 13, "archived_only", "", "closed before the window"},
		{"MENETLUS", 14, "quarantined", "orphan", "rule 5"},
		{"MENETLUS", 15, "quarantined", "parent_quarantined", "live by a decision in force, person quarantined"},
		{"MENETLUS", 16, "quarantined", "invalid_period", "rule 10"},
		{"MENETLUS", 17, "quarantined", "parent_quarantined", "person's KUSTUTATUD undecided"},
		{"MENETLUS", 18, "quarantined", "parent_quarantined", "person's KUSTUTATUD undecided"},
		{"MENETLUS", 19, "quarantined", "invalid_value", "status a is outside its list: live, not archived unseen"},
		{"MENETLUS", 20, "archived_only", "", "closed without LOPP_KP, last changed before the window: ended before it"},
		{"MENETLUS", 21, "loaded", "", "closed without LOPP_KP, last changed inside the window: may have ended inside it"},
		{"MENETLUS", 22, "loaded", "", "closed without LOPP_KP or MUUDETUD: nothing says it ended before the window"},
		{"MENETLUS", 23, "loaded", "", "closed long ago, with a decision in force from OTSUSE_KP to KEHTIV_KUNI"},
		{"MENETLUS", 24, "archived_only", "", "closed long ago, its decision's period ended too"},
		{"OTSUS", 20, "loaded", "", ""},
		{"OTSUS", 21, "quarantined", "parent_quarantined", "cascade of an orphan"},
		{"OTSUS", 22, "quarantined", "parent_quarantined", ""},
		{"OTSUS", 23, "quarantined", "parent_quarantined", ""},
		{"OTSUS", 24, "excluded_deleted", "", ""},
		{"OTSUS", 25, "quarantined", "future_date", "rule 10"},
		{"OTSUS", 26, "loaded", "", "in force: no KEHTIV_ALATES, taken before the reference date, KEHTIV_KUNI after it"},
		{"OTSUS", 27, "archived_only", "", "its proceeding is history"},
		{"MAKSE", 30, "loaded", "", "rule 6"},
		{"MAKSE", 31, "quarantined", "orphan", "rule 5"},
		{"MAKSE", 32, "loaded", "", "rule 12: bad IBAN loaded as NULL"},
		{"MAKSE", 33, "loaded", "", "rule 12: an IBAN as printed is loaded in electronic form"},
		{"TOIMING", 50, "loaded", "", "rule 13"},
		{"DOKUMENT", 60, "loaded", "", "rule 14"},
		{"DOKUMENT", 61, "loaded", "", "rule 14"},
		{"DOKUMENT", 62, "loaded", "", "rule 14"},
	}
	for _, w := range want {
		var out string
		var rule *string
		if err := conn.QueryRow(ctx, "SELECT outcome, rule FROM migration.row_outcome WHERE star1_table = $1 AND star1_id = $2", w.table, w.id).Scan(&out, &rule); err != nil {
			t.Errorf("%s %d: %v", w.table, w.id, err)
			continue
		}
		got := ""
		if rule != nil {
			got = *rule
		}
		if out != w.out || got != w.rule {
			t.Errorf("%s %d: %s %s, want %s %s (%s)", w.table, w.id, out, got, w.out, w.rule, w.why)
		}
	}
	// A relation of a person to itself names both rows, and the rule that
	// makes them one person where it does.
	for id, want := range map[int64]string{
		103: "invalid_value: ISIK 7 is related to itself",
		104: "invalid_value: ISIK 2 and ISIK 1 are one person (rule 3 merges them)",
	} {
		var detail string
		if err := conn.QueryRow(ctx, "SELECT detail FROM migration.quarantine WHERE star1_table = 'ISIKU_SEOS' AND star1_id = $1", id).Scan(&detail); err != nil || detail != want {
			t.Errorf("ISIKU_SEOS %d: quarantined with %q (%v), want %q", id, detail, err, want)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM migration.row_outcome").Scan(&n); err != nil || n != len(want) {
		t.Errorf("row_outcome has %d rows, want %d: %v", n, len(want), err)
	}
	// Rule 2 and 3: one STAR2 person for the duplicates, with the survivor's
	// attributes, birth date and gender from the code; text repaired.
	var persons int
	var given, family, addr, gender, birth, muni string
	if err := conn.QueryRow(ctx, `SELECT count(*) OVER (), given_name, family_name, address, gender, birth_date::text, municipality_code
		FROM star2.person WHERE personal_code = $1`, codeA).Scan(&persons, &given, &family, &addr, &gender, &birth, &muni); err != nil {
		t.Fatal(err)
	}
	if persons != 1 || given != "Jüri" || family != "Tamm" || addr != "Pikk 1" || gender != "male" || birth != "1976-05-03" || muni != "0784" {
		t.Errorf("person %s: %d rows, %s %s %s %s %s %s", codeA, persons, given, family, addr, gender, birth, muni)
	}
	var procPerson, survivor string
	_ = conn.QueryRow(ctx, "SELECT person_id::text FROM star2.proceeding WHERE id = $1", mapping.ID("MENETLUS", 10)).Scan(&procPerson)
	_ = conn.QueryRow(ctx, "SELECT star2_id::text FROM migration.row_map WHERE star1_table = 'ISIK' AND star1_id = 1").Scan(&survivor)
	if procPerson == "" || procPerson != survivor {
		t.Errorf("rule 3: proceeding of the merged duplicate points at %q, want the survivor %q", procPerson, survivor)
	}
	// Corrections are recorded with the original value.
	for _, c := range []struct{ table, id, col, rule, orig string }{
		{"ISIK", "1", "SYNNIAEG", mapping.FixFromPersonalCode, "1976-05-04 00:00:00"},
		{"ISIK", "1", "SUGU", mapping.FixFromPersonalCode, "N"},
		{"ISIK", "1", "EESNIMI", "text_" + mapping.RepairedMojibake, "JÃ¼ri"},
		{"ISIK", "1", "PERENIMI", "text_" + mapping.RepairTrimmed, "Tamm "},
		{"ISIK", "1", "KOV_KOOD", mapping.FixMunicipality, "0300"},
		{"ISIK", "12", "SUGU", mapping.FixUnknownGender, "X"},
		{"POORDUMINE", "40", "SISU", "text_" + mapping.RepairNUL, `Palun\u0000 abi`},
		{"MAKSE", "30", "SUMMA", mapping.FixEEK, "156.47 EEK"},
		{"MAKSE", "32", "SAAJA_IBAN", mapping.FixInvalidIBAN, "EE382200221020145684"},
		{"MAKSE", "33", "SAAJA_IBAN", mapping.FixIBANForm, "ee38 2200 2210 2014 5685"},
		{"TOIMING", "50", "TOIMUS", mapping.WallSkipped, "2025-03-30 03:30:00"},
		{"DOKUMENT", "60", "MIME_TYYP", mapping.FixMediaType, "image/png"},
		{"DOKUMENT", "61", "SISU", mapping.FixNullContent, "NULL"},
	} {
		var orig string
		err := conn.QueryRow(ctx, `SELECT original FROM migration.correction WHERE star1_table = $1 AND star1_id = $2 AND column_name = $3 AND rule = $4`,
			c.table, c.id, c.col, c.rule).Scan(&orig)
		if err != nil || orig != c.orig {
			t.Errorf("correction %s %s %s %s: %q %v, want original %q", c.table, c.id, c.col, c.rule, orig, err, c.orig)
		}
	}
	var eur, iban, occurred, media, size string
	_ = conn.QueryRow(ctx, "SELECT amount_eur::text, coalesce(recipient_iban, 'NULL') FROM star2.payment WHERE id = $1", mapping.ID("MAKSE", 30)).Scan(&eur, &iban)
	if eur != "10.00" || iban != "EE382200221020145685" {
		t.Errorf("rule 6: payment 30 is %s EUR to %s", eur, iban)
	}
	_ = conn.QueryRow(ctx, "SELECT coalesce(recipient_iban, 'NULL') FROM star2.payment WHERE id = $1", mapping.ID("MAKSE", 32)).Scan(&iban)
	if iban != "NULL" {
		t.Errorf("rule 12: bad IBAN loaded as %s", iban)
	}
	_ = conn.QueryRow(ctx, "SELECT coalesce(recipient_iban, 'NULL') FROM star2.payment WHERE id = $1", mapping.ID("MAKSE", 33)).Scan(&iban)
	if iban != "EE382200221020145685" {
		t.Errorf("rule 12: an IBAN as printed loaded as %s", iban)
	}
	_ = conn.QueryRow(ctx, "SELECT (occurred_at AT TIME ZONE 'UTC')::text FROM star2.activity WHERE id = $1", mapping.ID("TOIMING", 50)).Scan(&occurred)
	if occurred != "2025-03-30 01:30:00" {
		t.Errorf("rule 13: 03:30 in the skipped hour became %s UTC, want 01:30 (04:30 EEST)", occurred)
	}
	_ = conn.QueryRow(ctx, "SELECT media_type || ' ' || size_bytes FROM star2.document WHERE id = $1", mapping.ID("DOKUMENT", 60)).Scan(&media)
	_ = conn.QueryRow(ctx, "SELECT media_type || ' ' || size_bytes || ' ' || sha256 FROM star2.document WHERE id = $1", mapping.ID("DOKUMENT", 61)).Scan(&size)
	if media != "application/pdf 12" || size != "application/octet-stream 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("rule 14: %q, %q", media, size)
	}
	// A NULL BLOB (61) and an empty one (62) both become empty content,
	// not NULL.
	if db, err := sql.Open("sqlite", "file:"+path+"?mode=ro"); err == nil {
		var kind string
		if err := db.QueryRow("SELECT typeof(SISU) FROM DOKUMENT WHERE DOKUMENT_ID = 62").Scan(&kind); err != nil || kind != "blob" {
			t.Errorf("fixture: document 62 holds %q (%v), want an empty BLOB", kind, err)
		}
		db.Close()
	}
	for _, id := range []int64{61, 62} {
		var content string
		_ = conn.QueryRow(ctx, "SELECT coalesce(length(content)::text, 'NULL') FROM star2.document WHERE id = $1", mapping.ID("DOKUMENT", id)).Scan(&content)
		if content != "0" {
			t.Errorf("rule 14: document %d has content of length %s, want empty", id, content)
		}
	}
	var detail string
	_ = conn.QueryRow(ctx, "SELECT detail FROM migration.quarantine WHERE star1_table = 'MAKSE' AND star1_id = 31").Scan(&detail)
	if !strings.Contains(detail, "OTSUS 999") {
		t.Errorf("orphan detail %q does not name the missing parent", detail)
	}
	var original string
	_ = conn.QueryRow(ctx, "SELECT original->>'ISIKUKOOD' FROM migration.quarantine WHERE star1_table = 'ISIK' AND star1_id = 4").Scan(&original)
	if original != badCode {
		t.Errorf("quarantine keeps the original row: ISIKUKOOD %q", original)
	}
}
