package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Blinks is a TCP proxy to a server that drops the connection carrying
// the server's answer when all it has carried from the server reaches
// one of given points (BlinkAt), or the connection carrying a request or
// an answer every so many bytes (BlinkUpEvery, BlinkDownEvery), and
// carries every connection before and after: a long link to the storage
// abroad that resets a connection now and then.
type Blinks struct {
	Addr    string
	mu      sync.Mutex
	at      []int64  // where to drop, in bytes from the server, ascending
	down    int64    // bytes carried from the server
	every   [2]int64 // drop each time so many bytes went [to, from] the server since the last drop
	since   [2]int64
	up      int64 // bytes carried to the server
	dropped atomic.Int64
}

// BlinkAt starts a proxy to target that drops a connection at each of
// the points at; with none it drops nothing, to measure what a command
// carries. The proxy stops when the test ends.
func BlinkAt(t testing.TB, target string, at ...int64) *Blinks {
	t.Helper()
	b := &Blinks{at: at}
	p := startProxy(t, target, func(dst, src net.Conn, up bool) { b.carry(dst, src, up) })
	b.Addr = p.Addr
	return b
}

// BlinkUpEvery starts a proxy to target that drops the connection
// carrying a request each time every bytes have gone to the server since
// the last drop: a long link that breaks uploads, on which no request
// longer than every gets through. The proxy stops when the test ends.
func BlinkUpEvery(t testing.TB, target string, every int64) *Blinks {
	t.Helper()
	b := BlinkAt(t, target)
	b.every[0] = every
	return b
}

// BlinkDownEvery starts a proxy to target that drops the connection
// carrying an answer each time every bytes have come from the server
// since the last drop: a long link on which no answer longer than every
// gets through. The proxy stops when the test ends.
func BlinkDownEvery(t testing.TB, target string, every int64) *Blinks {
	t.Helper()
	b := BlinkAt(t, target)
	b.every[1] = every
	return b
}

func (b *Blinks) carry(dst, src net.Conn, up bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			send, drop := n, false
			dir := 0 // to the server
			b.mu.Lock()
			if !up {
				dir = 1
				if len(b.at) > 0 && b.down+int64(n) >= b.at[0] {
					send, drop = int(max(b.at[0]-b.down, 0)), true
					b.at = b.at[1:]
				}
			}
			if every := b.every[dir]; every > 0 && !drop {
				if b.since[dir]+int64(send) >= every {
					send, drop = int(every-b.since[dir]), true
					b.since[dir] = 0
				} else {
					b.since[dir] += int64(send)
				}
			}
			if up {
				b.up += int64(send)
			} else {
				b.down += int64(send)
			}
			b.mu.Unlock()
			if _, werr := dst.Write(buf[:send]); werr != nil || drop {
				if drop {
					b.dropped.Add(1)
				}
				// Both ends, so that the other direction ends too.
				src.Close()
				dst.Close()
				return
			}
		}
		if err != nil {
			endStream(dst)
			return
		}
	}
}

// Bytes is what the proxy has carried from the server.
func (b *Blinks) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}

// Sent is what the proxy has carried to the server.
func (b *Blinks) Sent() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up
}

// Dropped is how many connections the proxy has dropped.
func (b *Blinks) Dropped() int64 { return b.dropped.Load() }
