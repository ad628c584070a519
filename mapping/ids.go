package mapping

import (
	"crypto/sha1"
	"strconv"

	"github.com/google/uuid"
)

// namespace of every STAR2 id starmig derives (a name-based UUID, version 5).
var namespace = uuid.MustParse("6b1f3c1e-8a57-4d0e-9a51-53544152a001")

// ID is the STAR2 id of a STAR1 row: derived from the table and id alone,
// so that every run gives the same id (rule 1).
func ID(star1Table string, id int64) uuid.UUID {
	var buf [64]byte // namespace, table, "/", id: no STAR1 table name is long
	b := append(buf[:0], namespace[:]...)
	b = append(b, star1Table...)
	b = append(b, '/')
	return nameUUID(strconv.AppendInt(b, id, 10))
}

// nameUUID is uuid.NewSHA1(namespace, name) for data that starts with the
// namespace already, without the allocations NewSHA1 makes: it is called
// for every STAR1 row, twice.
func nameUUID(data []byte) uuid.UUID {
	h := sha1.Sum(data)
	var u uuid.UUID
	copy(u[:], h[:])
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u
}

// PersonID is the STAR2 id of a person with a valid personal code: derived
// from the code, so that duplicates (rule 3) share it, and a change of the
// surviving duplicate between runs keeps the same STAR2 person.
func PersonID(code string) uuid.UUID {
	var buf [64]byte
	b := append(buf[:0], namespace[:]...)
	return nameUUID(append(append(b, "ISIKUKOOD/"...), code...))
}
