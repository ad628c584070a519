package mapping

import (
	"strconv"

	"github.com/google/uuid"
)

// namespace of every STAR2 id starmig derives (a name-based UUID, version 5).
var namespace = uuid.MustParse("6b1f3c1e-8a57-4d0e-9a51-53544152a001")

// ID is the STAR2 id of a STAR1 row: derived from the table and id alone,
// so that every run gives the same id (rule 1).
func ID(star1Table string, id int64) uuid.UUID {
	return uuid.NewSHA1(namespace, []byte(star1Table+"/"+strconv.FormatInt(id, 10)))
}

// PersonID is the STAR2 id of a person with a valid personal code: derived
// from the code, so that duplicates (rule 3) share it, and a change of the
// surviving duplicate between runs keeps the same STAR2 person.
func PersonID(code string) uuid.UUID {
	return uuid.NewSHA1(namespace, []byte("ISIKUKOOD/"+code))
}
