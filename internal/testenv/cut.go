package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
			endStream(dst)
			return
		}
	}
}

// Bytes is what the proxy has carried, both ways together.
func (c *Cut) Bytes() int64 { return c.bytes.Load() }

// Outage is a TCP proxy to a server that, once it has carried a given
// number of bytes (both ways together), is down for a while: it drops
// every connection through it and hangs up on new ones, then carries
// connections again, as a link abroad does that fails for some minutes.
type Outage struct {
	Addr  string
	after int64
	d     time.Duration
	bytes atomic.Int64
	p     *proxy

	mu    sync.Mutex
	until time.Time // the end of the outage, once it has begun
}

// OutageAfter starts a proxy to target that goes down for d once it has
// carried after bytes. The proxy stops when the test ends.
func OutageAfter(t testing.TB, target string, after int64, d time.Duration) *Outage {
	t.Helper()
	o := &Outage{after: after, d: d}
	o.p = startProxy(t, target, func(dst, src net.Conn, _ bool) { o.carry(dst, src) })
	o.Addr = o.p.Addr
	return o
}

// down reports whether the link is down now, and begins the outage when
// the bytes carried have reached its point.
func (o *Outage) down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.until.IsZero() && o.bytes.Load() >= o.after {
		o.until = time.Now().Add(o.d)
		go o.p.dropAll()
	}
	return !o.until.IsZero() && time.Now().Before(o.until)
}

// Began reports whether the outage has begun.
func (o *Outage) Began() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.until.IsZero()
}

func (o *Outage) carry(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if o.down() {
			src.Close()
			dst.Close()
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			o.bytes.Add(int64(n))
			if o.down() {
				src.Close()
				dst.Close()
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			endStream(dst)
			return
		}
	}
}
