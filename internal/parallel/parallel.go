// Package parallel runs independent pieces of work on a bounded number of
// goroutines.
package parallel

import (
	"sync"
	"sync/atomic"
)

// Do calls fn for 0 to n-1 on up to workers goroutines and waits for them.
// The first error stops the handing out of more calls, and is returned.
func Do(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(max(workers, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
