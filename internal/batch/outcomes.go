package batch

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/faultpoint"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// planAndOutcomes runs pass 1 and the outcome rules together: each step of
// the rules starts as soon as the plan tables it reads are filled and the
// steps before it have run, on the second connection while pass 1 copies
// on the first, then on both. The rules for persons to proceedings need
// the decisions' plan, so they start after OTSUS is planned, while the
// larger tables after it are still being read; what is left when pass 1
// ends is the leaf tables read last.
func planAndOutcomes(ctx context.Context, conn, second *pgx.Conn, snap extract.Snapshot, cfg *mapping.Config, runID int64, o Options) error {
	s := newStepper(load.OutcomeSteps(runID, o.AsOf, o.LiveYears))
	var wg sync.WaitGroup
	var secondErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		secondErr = s.work(ctx, func(st load.OutcomeStep) error { return st.Run(ctx, second) })
	}()
	if err := plan(ctx, conn, snap, cfg, runID, o, s.filled); err != nil {
		s.abort()
		wg.Wait()
		return err
	}
	err := s.work(ctx, func(st load.OutcomeStep) error { return st.Run(ctx, conn) })
	wg.Wait()
	return errors.Join(err, secondErr)
}

// stepper hands out the outcome steps whose prerequisites are met.
type stepper struct {
	mu      sync.Mutex
	steps   []load.OutcomeStep
	state   []int // 0 waiting, 1 running, 2 done
	filledT map[string]bool
	stopped bool
	changed chan struct{} // closed and replaced on every change
}

func newStepper(steps []load.OutcomeStep) *stepper {
	return &stepper{steps: steps, state: make([]int, len(steps)), filledT: map[string]bool{}, changed: make(chan struct{})}
}

// notify wakes the workers waiting for a change; s.mu is held.
func (s *stepper) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// filled records that a table's plan is complete.
func (s *stepper) filled(star1 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filledT[star1] = true
	s.notify()
}

// abort makes the workers return after the step they are running.
func (s *stepper) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.notify()
}

// next returns the index of a step to run, or -1 when every step has run
// or the work stopped.
func (s *stepper) next(ctx context.Context) (int, error) {
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return -1, nil
		}
		all := true
		for i, st := range s.steps {
			if s.state[i] != 2 {
				all = false
			}
			if s.state[i] == 0 && s.ready(st) {
				s.state[i] = 1
				s.mu.Unlock()
				return i, nil
			}
		}
		if all {
			s.mu.Unlock()
			return -1, nil
		}
		wait := s.changed
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

func (s *stepper) ready(st load.OutcomeStep) bool {
	for _, t := range st.Needs {
		if !s.filledT[t] {
			return false
		}
	}
	for _, i := range st.After {
		if s.state[i] != 2 {
			return false
		}
	}
	return true
}

// work runs steps (on one connection) until none is left; a step that
// fails stops the others from starting.
func (s *stepper) work(ctx context.Context, run func(load.OutcomeStep) error) error {
	for {
		i, err := s.next(ctx)
		if err != nil || i < 0 {
			return err
		}
		if err := run(s.steps[i]); err != nil {
			s.abort()
			return err
		}
		faultpoint.Hit("outcomes") // the other worker may be in a step of its own
		s.mu.Lock()
		s.state[i] = 2
		s.notify()
		s.mu.Unlock()
	}
}
