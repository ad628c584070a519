package load

import (
	"testing"

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
