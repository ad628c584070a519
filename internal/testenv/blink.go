package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Blinks is a TCP proxy to a server that drops the connection carrying
// the server's answer when all it has carried from the server reaches
// one of given points, and carries every connection before and after: a
// long link to the storage abroad that resets a connection now and then.
type Blinks struct {
	Addr    string
	mu      sync.Mutex
	at      []int64 // where to drop, in bytes from the server, ascending
	down    int64   // bytes carried from the server
	every   int64   // BlinkUpEvery's span
	since   int64   // bytes carried to the server since the last drop
	up      int64   // bytes carried to the server
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
	b.every = every
	return b
}

func (b *Blinks) carry(dst, src net.Conn, up bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			send, drop := n, false
			if !up {
				b.mu.Lock()
				if len(b.at) > 0 && b.down+int64(n) >= b.at[0] {
					send, drop = int(max(b.at[0]-b.down, 0)), true
					b.at = b.at[1:]
				}
				b.down += int64(send)
				b.mu.Unlock()
			} else {
				b.mu.Lock()
				if b.every > 0 && b.since+int64(n) >= b.every {
					send, drop = int(b.every-b.since), true
					b.since = 0
				} else {
					b.since += int64(n)
				}
				b.up += int64(send)
				b.mu.Unlock()
			}
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
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
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
