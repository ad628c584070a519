package verify

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/starmig/starmig/archive"
)

// TestLocksEndingAreNoted: a run is locked for the retention it was
// written with, and once that ends the storage lets its objects be
// deleted. Verification said nothing of it, before or after: "No findings"
// over an archive whose locks had ended. It now notes each run whose
// locks end before LocksEndingBy, and each whose locks have ended, with
// the date and what to do; a lock that ends later is not noted, and the
// exit stays clean. More than a few runs are noted together. After
// Lengthen, nothing is noted.
func TestLocksEndingAreNoted(t *testing.T) {
	st, _, _ := lockedBucket(t)
	k := newKeys(t)
	write(t, config(st, k)) // locked until 2036-11-21
	runs, err := archive.ListRuns(context.Background(), st, "all")
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v: %v", runs, err)
	}
	run := runs[0].Run
	at := func(now, by time.Time) func(*Options) {
		return func(o *Options) {
			o.Now = func() time.Time { return now }
			o.LocksEndingBy = by
		}
	}
	noted := func(rep *Report) string {
		for _, n := range rep.Notes {
			if strings.Contains(n, "its locks") {
				return n
			}
		}
		return ""
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, c := range []struct {
		now, by string
		want    string
	}{
		{"2026-11-24", "2027-05-24", ""},
		{"2036-06-01", "2036-12-01", "batch all run " + run + ": its locks end on 2036-11-21, in 173 days: the storage will then let its objects be deleted; if the run must be kept longer, lengthen them before then with starmig retain"},
		{"2036-11-22", "2037-05-22", "batch all run " + run + ": its locks ended on 2036-11-21: the storage now lets its objects be deleted; starmig retain locks them again"},
		{"2036-11-22", "", "its locks ended on 2036-11-21"},
	} {
		by := time.Time{}
		if c.by != "" {
			by = day(c.by)
		}
		rep := check(t, st, k, List, at(day(c.now), by))
		expect(t, rep, "", "")
		if got := noted(rep); c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("on %s, noting locks ending before %q: note %q, want %q", c.now, c.by, got, c.want)
		}
		want := []LockEnd{{"all", run, day("2036-11-21"), c.now > "2036-11-21"}}
		if c.want == "" {
			want = nil
		}
		if !reflect.DeepEqual(rep.LocksEnding, want) {
			t.Errorf("on %s: locks_ending %+v, want %+v", c.now, rep.LocksEnding, want)
		}
	}

	// More than a few runs ending in the same weeks: one note for them,
	// each listed for --json.
	for range 3 {
		write(t, config(st, k))
	}
	rep := check(t, st, k, List, at(day("2036-06-01"), day("2036-12-01")))
	var notes []string
	for _, n := range rep.Notes {
		if strings.Contains(n, "locks") {
			notes = append(notes, n)
		}
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "4 runs: their locks end between 2036-11-21 and 2036-11-21: the storage will then let their objects be deleted") ||
		len(rep.LocksEnding) != 4 {
		t.Errorf("four runs whose locks end: notes %q, locks_ending %+v", notes, rep.LocksEnding)
	}

	if _, err := archive.Lengthen(context.Background(), st, archive.ArchivePrefixes, time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC), nil); err != nil {
		t.Fatal(err)
	}
	if got := noted(check(t, st, k, List, at(day("2036-11-22"), day("2037-05-22")))); got != "" {
		t.Errorf("after the locks were lengthened: %q", got)
	}
}
