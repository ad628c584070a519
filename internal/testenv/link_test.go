package testenv

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// TestLinkCarriesEveryByteBothWays sends data through the link in both
// directions on several connections at once and checks that all of it
// arrives unchanged and that each side sees the other's end of stream.
func TestLinkCarriesEveryByteBothWays(t *testing.T) {
	// The far end answers each connection with the SHA-256 of what it got,
	// then the bytes themselves, after the sender has finished.
	far := farEnd(t, func(c net.Conn) {
		got, err := io.ReadAll(c)
		if err != nil {
			return
		}
		sum := sha256.Sum256(got)
		c.Write(sum[:])
		c.Write(got)
	})
	addr := Link(t, far, 8<<20, 5*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, 300<<10+i)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for j := range data {
				data[j] = byte(r.Uint32())
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if _, err := c.Write(data); err != nil {
				t.Error(err)
				return
			}
			c.(*net.TCPConn).CloseWrite()
			back, err := io.ReadAll(c)
			if err != nil {
				t.Error(err)
				return
			}
			want := sha256.Sum256(data)
			if len(back) != 32+len(data) || !bytes.Equal(back[:32], want[:]) || !bytes.Equal(back[32:], data) {
				t.Errorf("connection %d: %d bytes came back, want %d, unchanged", i, len(back), 32+len(data))
			}
		}()
	}
	wg.Wait()
}

// BenchmarkLink reports the rate one connection gets through a 100 Mbit/s
// link, against the 12.5 MB/s configured: the proxy must deliver its rate
// for the link benchmarks to mean anything.
//
//	go test -run '^$' -bench Link -benchtime 1x ./internal/testenv
func BenchmarkLink(b *testing.B) {
	far := farEnd(b, func(c net.Conn) { io.Copy(io.Discard, c) })
	const rate = 100_000_000 / 8
	addr := Link(b, far, rate, 20*time.Millisecond)
	buf := make([]byte, 256<<10)
	for range b.N {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var sent int64
		for sent < 5*rate {
			n, err := c.Write(buf)
			if err != nil {
				b.Fatal(err)
			}
			sent += int64(n)
		}
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		b.ReportMetric(float64(sent)/1e6/time.Since(start).Seconds(), "MB/s")
		b.ReportMetric(100*float64(sent)/time.Since(start).Seconds()/rate, "%-of-link")
		c.Close()
	}
}

// farEnd listens on loopback until the test ends and serves each
// connection with serve, then closes it. It returns the address.
func farEnd(t testing.TB, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}
