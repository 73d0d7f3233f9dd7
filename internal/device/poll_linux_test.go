package device

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// More connections become readable at once than one wait returns (256): every one is
// reported, once, and again after it is armed again.
func TestPollerReportsEveryReadyConnection(t *testing.T) {
	t.Parallel()
	ready := make(chan uint64, 1024)
	p, err := newPoller(func(tok uint64) { ready <- tok }, func(err error) { t.Errorf("poller failed: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 300
	clients := make([]net.Conn, n)
	raws := make([]syscall.RawConn, n)
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		raws[i], _ = s.(*net.TCPConn).SyscallConn()
		if err := p.watch(raws[i], uint64(i+1), true); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	collect := func(what string) {
		t.Helper()
		seen := map[uint64]bool{}
		deadline := time.After(10 * time.Second)
		for len(seen) < n {
			select {
			case tok := <-ready:
				if seen[tok] {
					t.Fatalf("%s: token %d reported twice while one-shot", what, tok)
				}
				seen[tok] = true
			case <-deadline:
				t.Fatalf("%s: %d of %d connections reported", what, len(seen), n)
			}
		}
	}
	for _, c := range clients {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	collect("first bytes")
	// Nothing read: armed again, each is reported at once (level-triggered).
	for i := range n {
		if err := p.watch(raws[i], uint64(i+1), false); err != nil {
			t.Fatal(err)
		}
	}
	collect("armed again with input waiting")
}
