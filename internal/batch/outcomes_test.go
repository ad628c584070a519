package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/starmig/starmig/load"
)

// TestStepsRunAfterWhatTheyRead fills the plan tables one by one, in
// pass 1's order, with two workers as in a batch, and checks that every
// outcome step starts only after the tables it reads are filled and the
// steps it follows have run, that the rules for persons to proceedings
// start before pass 1 ends, and that a failing step stops the rest.
func TestStepsRunAfterWhatTheyRead(t *testing.T) {
	steps := load.OutcomeSteps(1, asOf, 5)
	if len(steps) < 3 || !slices.Contains(steps[0].Needs, "OTSUS") || slices.Contains(steps[0].Needs, "TOIMING") {
		t.Fatalf("steps: %+v", steps)
	}
	s := newStepper(steps)
	var mu sync.Mutex
	filled := map[string]bool{}
	done := map[string]bool{}
	var order []string
	run := func(st load.OutcomeStep) error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range st.Needs {
			if !filled[n] {
				t.Errorf("step %q started before %s was planned", st.Name, n)
			}
		}
		for _, i := range st.After {
			if !done[steps[i].Name] {
				t.Errorf("step %q started before step %q ran", st.Name, steps[i].Name)
			}
		}
		order = append(order, st.Name)
		done[st.Name] = true
		return nil
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.work(ctx, run) }()
	tables := []string{"ISIK", "ISIKU_SEOS", "POORDUMINE", "MENETLUS", "OTSUS", "MAKSE", "JUHTUMIPLAAN", "TOIMING", "DOKUMENT"}
	for _, tb := range tables {
		mu.Lock()
		filled[tb] = true
		mu.Unlock()
		s.filled(tb)
		if tb == "OTSUS" {
			for deadline := time.Now().Add(10 * time.Second); ; {
				mu.Lock()
				started := done[steps[0].Name]
				mu.Unlock()
				if started {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the rules for persons to proceedings did not start once OTSUS was planned")
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	if err := s.work(ctx, run); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(order) != len(steps) {
		t.Fatalf("ran %v, want every one of %d steps once", order, len(steps))
	}

	// A failing step: nothing after it starts, and both workers return.
	s = newStepper(steps)
	for _, tb := range tables {
		s.filled(tb)
	}
	var ran []string
	boom := errors.New("boom")
	err := s.work(ctx, func(st load.OutcomeStep) error {
		ran = append(ran, st.Name)
		return boom
	})
	if !errors.Is(err, boom) || len(ran) != 1 {
		t.Errorf("after a failing step: %v, ran %v", err, ran)
	}
	if err := s.work(ctx, func(load.OutcomeStep) error { t.Error("a step ran after a failure"); return nil }); err != nil {
		t.Error(err)
	}
}
