package mapping

import (
	"fmt"
	"time"

	"github.com/starmig/starmig/extract"
	_ "time/tzdata" // Europe/Tallinn must not depend on the host's zoneinfo
)

// Tallinn is the zone of every STAR1 DATE value.
var Tallinn = mustLoad("Europe/Tallinn")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("mapping: load zone %s: %v", name, err)) // embedded tzdata: cannot fail
	}
	return loc
}

// WallClockLayout is how STAR1 DATE values are written as text.
const WallClockLayout = "2006-01-02 15:04:05"

// Wall-clock resolutions reported by TallinnInstant.
const (
	WallExact    = ""             // the wall-clock time happened exactly once
	WallRepeated = "dst_repeated" // fell in the repeated autumn hour: first (summer) offset taken
	WallSkipped  = "dst_skipped"  // fell in the skipped spring hour: moved forward by the gap
)

// ParseWallClock reads a STAR1 DATE text "YYYY-MM-DD HH:MM:SS" (a date
// alone is accepted as midnight) into its fields, zone-less, as UTC.
func ParseWallClock(s string) (time.Time, error) {
	if t, ok := parseWallClockFast(s); ok {
		return t, nil
	}
	t, err := time.Parse(WallClockLayout, s)
	if err != nil {
		t, err = time.Parse(time.DateOnly, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD HH:MM:SS", s)
	}
	return t, nil
}

// TallinnInstant turns a Europe/Tallinn wall-clock time (given as its
// fields in a UTC time.Time) into the instant it names (rule 13). A time in
// the repeated autumn hour takes the first, summer-time offset; a time in the
// skipped spring hour is moved forward by the length of the gap.
func TallinnInstant(wall time.Time) (time.Time, string) {
	w := wall.Unix()
	_, before := time.Unix(w-12*3600, 0).In(Tallinn).Zone()
	_, after := time.Unix(w+12*3600, 0).In(Tallinn).Zone()
	fits := func(off int) bool {
		_, o := time.Unix(w-int64(off), 0).In(Tallinn).Zone()
		return o == off
	}
	b, a := fits(before), fits(after)
	switch {
	case b && a && before != after:
		off := max(before, after) // summer time is the larger offset
		return time.Unix(w-int64(off), 0).In(Tallinn), WallRepeated
	case b:
		return time.Unix(w-int64(before), 0).In(Tallinn), WallExact
	case a:
		return time.Unix(w-int64(after), 0).In(Tallinn), WallExact
	default:
		// In the gap: the offset in force before it, applied to the wall
		// time, lands the gap's length later on the clock.
		return time.Unix(w-int64(before), 0).In(Tallinn), WallSkipped
	}
}

// parseWallClockFast reads the two layouts of ParseWallClock without
// time.Parse, by extract.WallClockFields. It gives up (false) on anything
// it does not read exactly as time.Parse would, which then decides.
func parseWallClockFast(s string) (time.Time, bool) {
	f, shape := extract.WallClockFields(s)
	if !shape || f[1] == 0 {
		return time.Time{}, false
	}
	return time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], 0, time.UTC), true
}
