package batch

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// prefetchBatch is how many rows a prefetch hands over at once.
const prefetchBatch = 1024

// prefetch reads a query's rows on a goroutine of its own, scanned into
// values of T and handed over in batches, so that the database, the
// decoding and the caller's work on the rows before overlap. The
// connection belongs to the prefetch until Close returns.
type prefetch[T any] struct {
	batches  chan []T
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	err      error // the goroutine's; read after done
	cur      []T
	i        int
}

func startPrefetch[T any](ctx context.Context, conn *pgx.Conn, scan func(pgx.Rows, *T) error, sql string, args ...any) *prefetch[T] {
	p := &prefetch[T]{batches: make(chan []T, 4), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer close(p.batches)
		rows, err := conn.Query(ctx, sql, args...)
		if err != nil {
			p.err = err
			return
		}
		defer rows.Close()
		send := func(b []T) bool {
			select {
			case p.batches <- b:
				return true
			case <-p.stop:
				return false
			}
		}
		batch := make([]T, 0, prefetchBatch)
		for rows.Next() {
			var zero T
			batch = append(batch, zero)
			if err := scan(rows, &batch[len(batch)-1]); err != nil {
				p.err = err
				return
			}
			if len(batch) == cap(batch) {
				if !send(batch) {
					return
				}
				batch = make([]T, 0, prefetchBatch)
			}
		}
		if err := rows.Err(); err != nil {
			p.err = err
			return
		}
		if len(batch) > 0 {
			send(batch)
		}
	}()
	return p
}

// Next returns the next row, or nil after the last one or when reading
// failed (see Err).
func (p *prefetch[T]) Next() *T {
	for p.i >= len(p.cur) {
		b, ok := <-p.batches
		if !ok {
			return nil
		}
		p.cur, p.i = b, 0
	}
	p.i++
	return &p.cur[p.i-1]
}

// Err is what ended the rows early, if anything; call it after Next
// returned nil.
func (p *prefetch[T]) Err() error {
	<-p.done
	return p.err
}

// Close stops reading and waits until the connection is free.
func (p *prefetch[T]) Close() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}
