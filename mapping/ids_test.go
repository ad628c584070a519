package mapping

import (
	"strconv"
	"testing"

	"github.com/google/uuid"
)

// TestRule1IDsAreStable checks that the ids STAR2 rows get are the
// name-based UUIDs (version 5) of their STAR1 table and id, as every earlier
// run gave them: a re-run must find the rows it wrote.
func TestRule1IDsAreStable(t *testing.T) {
	for _, c := range []struct {
		table string
		id    int64
	}{{"ISIK", 1}, {"TOIMING", 820552}, {"MAKSE", -7}, {"A_TABLE_NAME_LONGER_THAN_THE_BUFFER_THAT_HOLDS_IT_ON_THE_STACK", 1 << 62}} {
		want := uuid.NewSHA1(namespace, []byte(c.table+"/"+strconv.FormatInt(c.id, 10)))
		if got := ID(c.table, c.id); got != want {
			t.Errorf("ID(%s, %d) = %s, want %s", c.table, c.id, got, want)
		}
	}
	for _, code := range []string{"38001085718", "", "a code far longer than any personal code, and longer than the buffer"} {
		if got, want := PersonID(code), uuid.NewSHA1(namespace, []byte("ISIKUKOOD/"+code)); got != want {
			t.Errorf("PersonID(%q) = %s, want %s", code, got, want)
		}
	}
	if v := ID("ISIK", 1).Version(); v != 5 {
		t.Errorf("ID is version %d, want 5", v)
	}
}

func BenchmarkID(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		ID("TOIMING", int64(i))
	}
}
