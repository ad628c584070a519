package testenv

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Link starts a TCP proxy to target that carries at most bytesPerSec bytes
// per second in each direction, shared by all the connections through it,
// and delivers every byte delay after it was sent (a round trip takes twice
// that), as one long-distance link would: the stand-in, in benchmarks, for
// the storage abroad. It returns the proxy's address; the proxy stops when
// the test ends.
func Link(t testing.TB, target string, bytesPerSec int64, delay time.Duration) string {
	t.Helper()
	if bytesPerSec <= 0 {
		t.Fatalf("link to %s: rate %d bytes/s, want more than 0", target, bytesPerSec)
	}
	up, down := &pacer{rate: float64(bytesPerSec)}, &pacer{rate: float64(bytesPerSec)}
	p := startProxy(t, target, func(dst, src net.Conn, toTarget bool) {
		if toTarget {
			carry(dst, src, up, delay)
		} else {
			carry(dst, src, down, delay)
		}
	})
	return p.Addr
}

// carry copies src to dst, each chunk delay after it was read and at the
// pace's rate, then closes dst's sending half so that the other end sees
// the end of the stream. Chunks in flight wait in a queue, as bytes on a
// long line do, so the delay does not lower the rate.
func carry(dst, src net.Conn, p *pacer, delay time.Duration) {
	type chunk struct {
		b    []byte
		sent time.Time
	}
	queue := make(chan chunk, 256)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{buf[:n], time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range queue {
		if failed {
			continue // drain, so the reader ends
		}
		time.Sleep(time.Until(c.sent.Add(delay)))
		p.wait(len(c.b))
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			src.Close()
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
}

// pacer spaces the bytes of one direction of the link: each chunk waits
// for the time the chunks before it take at the rate. A sleep that ends
// late is made up by the chunks after it (up to slack), so that the
// link's rate is not lowered by the timer's precision.
type pacer struct {
	mu   sync.Mutex
	rate float64 // bytes per second
	next time.Time
}

func (p *pacer) wait(n int) {
	p.mu.Lock()
	const slack = 20 * time.Millisecond
	now := time.Now()
	if p.next.Before(now.Add(-slack)) {
		p.next = now.Add(-slack)
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	until := p.next
	p.mu.Unlock()
	time.Sleep(time.Until(until))
}
