package load

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestWhichErrorsARowCauses: the errors a chunk is split for, to
// quarantine the rows that cause them, and those that stop the batch.
func TestWhichErrorsARowCauses(t *testing.T) {
	for code, row := range map[string]bool{
		"22P02": true,  // invalid text of a type
		"23505": true,  // unique violation
		"23514": true,  // CHECK, or a trigger's ERRCODE = 'check_violation'
		"P0001": true,  // a trigger's RAISE EXCEPTION
		"P0004": true,  // a trigger's ASSERT
		"SR001": true,  // a trigger's error of its owners' own class
		"40P01": false, // deadlock: tried again, not split
		"42501": false, // a right missing
		"53100": false, // disk full
		"57014": false, // statement timeout
		"08P01": false, // PgBouncer's own errors
		"XX000": false, // internal error
		"":      false,
	} {
		if got := isDataError(&pgconn.PgError{Code: code}); got != row {
			t.Errorf("SQLSTATE %q: caused by a row %v, want %v", code, got, row)
		}
	}
}

// TestTheColumnACOPYRefused: the column of a value the COPY refused is
// read from the error's context in every language PostgreSQL 15 is
// translated into (lc_messages), as its message catalogues give it.
func TestTheColumnACOPYRefused(t *testing.T) {
	columns := []string{"id", "personal_code", "given_name", "family_name"}
	for _, where := range []string{
		`COPY person, line 1, column given_name: "J\xf6ri"`,
		`COPY person, line 1, column given_name`,
		`COPY person, строка 1, столбец given_name: "x"`,
		`COPY person, Zeile 1, Spalte given_name: »x«`,
		`COPY person, ligne 1, colonne given_name : « id »`,
		`personのCOPY、行 1、列 given_name: "id"`,
		`person 복사, 1번째 줄, given_name 열`,
		`COPY person, рядок 1, стовпець given_name: "family_name"`,
		`COPY star2.person, line 1, column given_name: "id"`,
		`COPY upd_person, line 1, column given_name: "id"`,
		"PL/pgSQL function star2.check_names() line 4 at RAISE\nCOPY person, line 3, column given_name",
	} {
		if got := copyColumn(where, []string{"person", "upd_person"}, columns); got != "given_name" {
			t.Errorf("%q: column %q, want given_name", where, got)
		}
	}
	for _, where := range []string{
		"",
		`COPY person, line 1`,
		`COPY person, строка 1`,
		"COPY person, line 1, column given_name\nPL/pgSQL function star2.check_names() line 4 at RAISE",
		`SQL statement "UPDATE person SET id = 1"`,
		`COPY payment, line 1, column id`,
	} {
		if got := copyColumn(where, []string{"person", "upd_person"}, columns); got != "" {
			t.Errorf("%q: column %q, want none", where, got)
		}
	}
}

// TestThePauseBeforeTryingADeadlockAgain: after the n-th deadlock of a
// chunk the writer waits between half and all of n² × 100 ms, so the
// four pauses before the last try add up to 1.5 s to 3 s; a run that is
// stopped does not wait them out.
func TestThePauseBeforeTryingADeadlockAgain(t *testing.T) {
	for n := 1; n < transientTries; n++ {
		full := time.Duration(n*n) * 100 * time.Millisecond
		for range 200 {
			if d := transientPause(n); d < full/2 || d > full {
				t.Fatalf("pause after deadlock %d: %s, want %s to %s", n, d, full/2, full)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep(ctx, time.Hour) {
		t.Error("a stopped run waited its pause out")
	}
}

// FuzzTheColumnACOPYRefused: the column read from a COPY's error is one
// of the table's, and neither the lines of a trigger's function before
// the COPY's line nor a value after it (which the text format would
// quote, on one line) changes which.
func FuzzTheColumnACOPYRefused(f *testing.F) {
	f.Add("", "COPY person", "line 1, column given_name", "J\xf6ri")
	f.Add("PL/pgSQL function star2.check_names() line 4", "COPY star2.person", "строка 1, столбец family_name", "x, column id: \"")
	f.Add("SQL statement", "personのCOPY", "行 1、列 given_name", "「id」")
	f.Add("", "person 복사", "1번째 줄, given_name 열", "")
	tables := []string{"person", "upd_person"}
	columns := []string{"id", "personal_code", "given_name", "family_name"}
	f.Fuzz(func(t *testing.T, inner, copy, rest, value string) {
		line := copy + ", " + rest
		if strings.ContainsAny(inner+line, "\"»«“„「") || strings.Contains(line+value, "\n") ||
			!slices.Contains([]string{"COPY person", "COPY star2.person", "personのCOPY", "person 복사"}, copy) {
			return
		}
		want := copyColumn(line+`: ""`, tables, columns)
		if want != "" && !slices.Contains(columns, want) {
			t.Fatalf("%q: column %q, not one of the table's", line, want)
		}
		where := line + `: "` + value + `"`
		if inner != "" {
			where = inner + "\n" + where
		}
		if got := copyColumn(where, tables, columns); got != want {
			t.Errorf("%q: column %q, want %q as for its line alone", where, got, want)
		}
	})
}
