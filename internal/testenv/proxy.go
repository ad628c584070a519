package testenv

import (
	"net"
	"sync"
	"testing"
)

// proxy accepts connections on a loopback port, dials target for each,
// and runs carry for both directions of the pair (up: from the client to
// target); when both return, the pair is closed. It stops when the test
// ends.
type proxy struct {
	Addr string
	ln   net.Listener
	mu   sync.Mutex
	open map[net.Conn]bool // nil once down
	wg   sync.WaitGroup
	once sync.Once
}

func startProxy(t testing.TB, target string, carry func(dst, src net.Conn, up bool)) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy to %s: %v", target, err)
	}
	p := &proxy{Addr: ln.Addr().String(), ln: ln, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
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
			if !p.track(in, out, true) {
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				var both sync.WaitGroup
				both.Add(2)
				go func() { defer both.Done(); carry(out, in, true) }()
				go func() { defer both.Done(); carry(in, out, false) }()
				both.Wait()
				in.Close()
				out.Close()
				p.track(in, out, false)
			}()
		}
	}()
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

// track adds or removes a connection's two ends; added to a proxy that is
// down, they are closed and track says false.
func (p *proxy) track(in, out net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.open == nil:
		in.Close()
		out.Close()
		return false
	case add:
		p.open[in], p.open[out] = true, true
	default:
		delete(p.open, in)
		delete(p.open, out)
	}
	return true
}

// endStream passes the end of a stream on to dst, as the other end sent
// it, so that dst's reader sees it.
func endStream(dst net.Conn) {
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// dropAll closes every connection open now, and carries new ones.
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		c.Close()
	}
}

// down closes the listener and every connection; it does not wait for the
// goroutines serving them, so that one of them may call it.
func (p *proxy) down() {
	p.once.Do(func() {
		p.ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for c := range p.open {
			c.Close()
		}
		p.open = nil
	})
}
