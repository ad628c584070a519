package batch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/mapping"
)

// TestCodesPostgreSQLCannotHold: municipality and classifier codes with a
// NUL or bytes that are not UTF-8 are quarantined with the rest of the
// batch's rows, named in their Visible form wherever the bookkeeping
// holds them, and once the mapping folder maps that form, a re-run loads
// their rows. Both runs reconcile.
func TestCodesPostgreSQLCannotHold(t *testing.T) {
	codeC, err := mapping.MakePersonalCode(mustDate("1985-02-02"), false, 7)
	if err != nil {
		t.Fatal(err)
	}
	path, maps := fixture(t, map[string][][]any{
		"KOV":            {{"0784", "Tallinn", nil}},
		"KLASSIFIKAATOR": {{"TEENUS", "TOIMETULEK", "Toimetulekutoetus", nil}},
		"ISIK": {
			// ISIK_ID, ISIKUKOOD, EESNIMI, PERENIMI, SYNNIAEG, SUGU, KOV_KOOD, AADRESS, LOODUD, MUUDETUD, KUSTUTATUD
			{1, codeA, "Jü\x00ri", "Tamm", nil, nil, "07\x00", nil, "2015-01-01 10:00:00", nil, "E"},
			{2, codeB, "Mari", "Mets", nil, nil, "07\xfe", nil, "2015-01-01 10:00:00", nil, "E"},
			{3, codeC, "Kati", "Kask", nil, nil, "0784", nil, "2015-01-01 10:00:00", nil, "E"},
		},
		"POORDUMINE": {
			// POORDUMINE_ID, ISIK_ID, KOV_KOOD, KANAL, SISU, REG_KP
			{40, 1, "0784", "EPOST", "abi", "2026-01-05 09:00:00"},
			{41, 2, "0784", "EPOST", "abi", "2026-01-05 09:00:00"},
		},
		"MENETLUS": {
			// MENETLUS_ID, POORDUMINE_ID, ISIK_ID, KOV_KOOD, LIIK, STAATUS, ALGUS_KP, LOPP_KP, VASTUTAJA, MUUDETUD
			{10, nil, 3, "0784", "TO\x00ETUS", "A", "2025-01-01 00:00:00", nil, `mari\u0000`, nil},
			{11, nil, 3, "07\x00", "TOETUS", "A", "2025-01-01 00:00:00", nil, "mari", nil},
		},
		"OTSUS": {
			// OTSUS_ID, MENETLUS_ID, TEENUS_KOOD, TULEMUS, SUMMA, VALUUTA, KEHTIV_ALATES, KEHTIV_KUNI, OTSUSE_KP
			{20, 11, "TOIMETULEK", "R", "100", "EUR", "2025-01-01 00:00:00", nil, "2025-01-01 00:00:00"},
		},
	})
	dsn, conn := target(t)
	ctx := context.Background()
	o := options(path, maps, dsn)
	o.AllowUnmapped = true
	sum, err := Migrate(ctx, o)
	if err != nil {
		t.Fatalf("a batch with such codes: %v", err)
	}
	if len(sum.Unmapped) != 1 || sum.Unmapped[0].Code != `TO\u0000ETUS` || sum.Unknown[`07\u0000`] != 2 || sum.Unknown[`07\xFE`] != 1 {
		t.Errorf("unmapped %+v, unknown municipalities %v", sum.Unmapped, sum.Unknown)
	}
	outcomes := func() string {
		rows, _ := conn.Query(ctx, `SELECT star1_table || ' ' || star1_id || ' ' || outcome || ' ' || coalesce(rule, '-') || ' ' || coalesce(kov, '-')
			FROM migration.row_map ORDER BY star1_table, star1_id`)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}
	want := strings.Join([]string{
		`ISIK 1 quarantined unknown_municipality 07\u0000`,
		`ISIK 2 quarantined unknown_municipality 07\xFE`,
		`ISIK 3 loaded - 0784`,
		`MENETLUS 10 quarantined unmapped_code 0784`,
		`MENETLUS 11 quarantined unknown_municipality 07\u0000`,
		`OTSUS 20 quarantined parent_quarantined 07\u0000`,
		`POORDUMINE 40 quarantined parent_quarantined 0784`,
		`POORDUMINE 41 quarantined parent_quarantined 0784`,
	}, "\n")
	if got := outcomes(); got != want {
		t.Errorf("first run:\n%s\nwant\n%s", got, want)
	}
	// The rows as STAR1 held them: a NUL as the six characters \u0000, as
	// the six characters were.
	for _, c := range []struct {
		table  string
		id     int
		column string
		want   string
	}{
		{"ISIK", 1, "EESNIMI", `Jü\u0000ri`},
		{"ISIK", 1, "KOV_KOOD", `07\u0000`},
		{"MENETLUS", 10, "LIIK", `TO\u0000ETUS`},
		{"MENETLUS", 10, "VASTUTAJA", `mari\u0000`},
	} {
		var got string
		if err := conn.QueryRow(ctx, `SELECT original->>$3 FROM migration.quarantine WHERE star1_table = $1 AND star1_id = $2`, c.table, c.id, c.column).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s %d %s: quarantined as %q (%v), want %q", c.table, c.id, c.column, got, err, c.want)
		}
	}
	var detail, state string
	if err := conn.QueryRow(ctx, `SELECT detail FROM migration.quarantine WHERE star1_table = 'MENETLUS' AND star1_id = 10`).Scan(&detail); err != nil || !strings.Contains(detail, `MENETLUSE_LIIK/TO\u0000ETUS has no mapping`) {
		t.Errorf("MENETLUS 10 quarantined with %q (%v)", detail, err)
	}
	if err := conn.QueryRow(ctx, `SELECT state FROM migration.run WHERE id = $1`, sum.RunID).Scan(&state); err != nil || state != "completed" {
		t.Errorf("run %d is %q (%v)", sum.RunID, state, err)
	}
	rec := ReconcileOptions{Source: o.Source, Target: dsn, Mappings: maps, Batch: "all", Deep: true}
	if _, err := Reconcile(ctx, rec); err != nil {
		t.Errorf("reconcile, first run: %v", err)
	}

	// The analysts map the codes as the run showed them.
	add := func(name, lines string) {
		f, err := os.OpenFile(filepath.Join(maps, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(lines); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	add("municipalities.csv", `07\u0000,0784,Tallinn`+"\n"+`07\xFE,0784,Tallinn`+"\n")
	add("classifiers.csv", `MENETLUSE_LIIK,TO\u0000ETUS,proceeding_type,benefit,Benefit`+"\n")
	if _, err := Migrate(ctx, o); err != nil {
		t.Fatalf("re-run with the codes mapped: %v", err)
	}
	want = strings.Join([]string{
		`ISIK 1 loaded - 07\u0000`,
		`ISIK 2 loaded - 07\xFE`,
		`ISIK 3 loaded - 0784`,
		`MENETLUS 10 loaded - 0784`,
		`MENETLUS 11 loaded - 07\u0000`,
		`OTSUS 20 loaded - 07\u0000`,
		`POORDUMINE 40 loaded - 0784`,
		`POORDUMINE 41 loaded - 0784`,
	}, "\n")
	if got := outcomes(); got != want {
		t.Errorf("re-run:\n%s\nwant\n%s", got, want)
	}
	if _, err := Reconcile(ctx, rec); err != nil {
		t.Errorf("reconcile, re-run: %v", err)
	}
}
