package mapping

import (
	"testing"
	"time"
)

// TestRule13WallClockReadsAsTimeParse checks the fast reading of STAR1
// DATE texts against time.Parse, value for value, valid and not.
func TestRule13WallClockReadsAsTimeParse(t *testing.T) {
	for _, s := range []string{
		"2015-06-01 12:30:45", "2015-06-01", "2000-02-29 00:00:00", "1999-02-29 00:00:00", "2015-13-01 00:00:00",
		"2015-02-31", "2015-06-01 24:00:00", "2015-06-01 23:60:00", "2015-06-01 23:59:60", "2015-06-01T12:30:45",
		"2015/06/01", "2015-6-01 12:30:45", "+015-06-01", "2015-06-01 12:30:4x", "0000-01-01", "9999-12-31 23:59:59",
		"2015-00-10", "2015-06-00", " 2015-06-01", "2015-06-01 ", "",
	} {
		want, werr := time.Parse(WallClockLayout, s)
		if werr != nil {
			want, werr = time.Parse(time.DateOnly, s)
		}
		got, gerr := ParseWallClock(s)
		if (werr == nil) != (gerr == nil) || !got.Equal(want) {
			t.Errorf("ParseWallClock(%q) = %v, %v; time.Parse gives %v, %v", s, got, gerr, want, werr)
		}
	}
}
