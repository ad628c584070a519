package testenv

import (
	"net"
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
	p     *proxy
}

// CutAfter starts a proxy to target that goes down once it has carried
// limit bytes; a limit below 0 never cuts, to measure what a command
// carries. The proxy stops when the test ends.
func CutAfter(t testing.TB, target string, limit int64) *Cut {
	t.Helper()
	c := &Cut{limit: limit}
	c.p = startProxy(t, target, func(dst, src net.Conn, _ bool) { c.carry(dst, src) })
	c.Addr = c.p.Addr
	return c
}

// carry copies src to dst until either ends or the limit is reached.
func (c *Cut) carry(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if c.limit >= 0 {
				left := max(c.limit-c.bytes.Load(), 0)
				if int64(n) >= left {
					_, _ = dst.Write(buf[:left])
					c.bytes.Add(left)
					c.p.down()
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
