package testenv

import (
	"io"
	"net"
	"testing"
)

// TestBlinksDropWhereTold checks the three ways a Blinks proxy breaks a
// connection: at points of what came from the server (BlinkAt), and
// every so many bytes sent to it (BlinkUpEvery) or come from it
// (BlinkDownEvery). Each drop ends the connection after exactly the bytes
// up to its point, and the next connection is carried again.
func TestBlinksDropWhereTold(t *testing.T) {
	// The far end tells what it got by the bytes it answers: given one
	// byte, it answers 2 500; given more, it reports through got.
	got := make(chan int, 4)
	far := farEnd(t, func(c net.Conn) {
		b, _ := io.ReadAll(io.LimitReader(c, 1))
		if len(b) == 1 && b[0] == '?' {
			c.Write(make([]byte, 2500))
			return
		}
		rest, _ := io.ReadAll(c)
		got <- len(b) + len(rest)
	})
	send := func(addr string, n int) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(make([]byte, n))
		c.(*net.TCPConn).CloseWrite()
		io.ReadAll(c)
	}
	ask := func(addr string) int {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("?")); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		return len(b)
	}

	up := BlinkUpEvery(t, far, 1000)
	send(up.Addr, 2500)
	if n := <-got; n != 1000 {
		t.Errorf("BlinkUpEvery(1000): the server got %d of 2500 bytes, want 1000", n)
	}
	send(up.Addr, 500)
	if n := <-got; n != 500 {
		t.Errorf("BlinkUpEvery(1000), after a drop: the server got %d of 500 bytes, want all", n)
	}
	if up.Dropped() != 1 || up.Sent() != 1500 {
		t.Errorf("BlinkUpEvery: dropped %d, sent %d, want 1 and 1500", up.Dropped(), up.Sent())
	}

	down := BlinkDownEvery(t, far, 1000)
	if n := ask(down.Addr); n != 1000 {
		t.Errorf("BlinkDownEvery(1000): got %d of 2500 bytes, want 1000", n)
	}
	if down.Dropped() != 1 || down.Bytes() != 1000 {
		t.Errorf("BlinkDownEvery: dropped %d, carried %d, want 1 and 1000", down.Dropped(), down.Bytes())
	}

	at := BlinkAt(t, far, 300)
	if n := ask(at.Addr); n != 300 {
		t.Errorf("BlinkAt(300): got %d of 2500 bytes, want 300", n)
	}
	if n := ask(at.Addr); n != 2500 {
		t.Errorf("BlinkAt(300), after its point: got %d bytes, want 2500", n)
	}
	if at.Dropped() != 1 {
		t.Errorf("BlinkAt: dropped %d, want 1", at.Dropped())
	}
}
