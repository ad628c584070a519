package parallel

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestDoCallsEachOnceWithinTheBound(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 4}, {1, 4}, {10, 1}, {100, 8}, {5, 0}} {
		calls := make([]atomic.Int32, tc.n)
		var running, most atomic.Int32
		err := Do(tc.n, tc.workers, func(i int) error {
			now := running.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			calls[i].Add(1)
			running.Add(-1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range calls {
			if c := calls[i].Load(); c != 1 {
				t.Errorf("n %d workers %d: fn(%d) called %d times", tc.n, tc.workers, i, c)
			}
		}
		if m := int(most.Load()); m > max(tc.workers, 1) {
			t.Errorf("n %d workers %d: %d calls at once", tc.n, tc.workers, m)
		}
	}
}

func TestDoStopsAtTheFirstError(t *testing.T) {
	bad := errors.New("bad")
	var calls atomic.Int32
	err := Do(1000, 1, func(i int) error {
		calls.Add(1)
		if i == 3 {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) || calls.Load() != 4 {
		t.Errorf("error %v after %d calls, want %v after 4", err, calls.Load(), bad)
	}
}
