package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Cut is a TCP proxy to a server that carries a given number of bytes,
// both ways together, and then goes down: it drops every connection
// through it and refuses new ones, as a link to the storage abroad does
// that fails in the middle of a read or a write.
type Cut struct {
	Addr  string // the proxy's address, to give instead of the server's
	limit int64
	bytes atomic.Int64
	ln    net.Listener
	once  sync.Once
	mu    sync.Mutex
	open  map[net.Conn]bool
	wg    sync.WaitGroup
}

// CutAfter starts a proxy to target that goes down once it has carried
// limit bytes; a limit below 0 never cuts, to measure what a command
// carries. The proxy stops when the test ends.
func CutAfter(t testing.TB, target string, limit int64) *Cut {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cut proxy to %s: %v", target, err)
	}
	c := &Cut{Addr: ln.Addr().String(), limit: limit, ln: ln, open: map[net.Conn]bool{}}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			if !c.track(in, out) {
				continue
			}
			c.wg.Add(2)
			go c.carry(out, in)
			go c.carry(in, out)
		}
	}()
	t.Cleanup(func() {
		c.Down()
		c.wg.Wait()
	})
	return c
}

// track records a connection's two ends, or closes them when the proxy
// is already down.
func (c *Cut) track(in, out net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		in.Close()
		out.Close()
		return false
	}
	c.open[in], c.open[out] = true, true
	return true
}

// carry copies src to dst until either ends or the limit is reached.
func (c *Cut) carry(dst, src net.Conn) {
	defer c.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if c.limit >= 0 {
				left := c.limit - c.bytes.Load()
				if int64(n) >= left {
					_, _ = dst.Write(buf[:max(left, 0)])
					c.bytes.Add(max(left, 0))
					c.Down()
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
			c.bytes.Add(int64(n))
		}
		if err != nil {
			// Pass the end of the stream on, as the server sent it.
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// Bytes is what the proxy has carried, both ways together.
func (c *Cut) Bytes() int64 { return c.bytes.Load() }

// Down cuts the link now: every connection through it is dropped and new
// ones are refused.
func (c *Cut) Down() {
	c.once.Do(func() {
		c.ln.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for conn := range c.open {
			conn.Close()
		}
		c.open = nil
	})
}
