package apns

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
)

// conn holds the sender's one HTTP/2 connection to APNs, dialed on first use and again
// after it dies. A Transport would dial once per waiting request until its first
// HTTP/2 connection is up, and once more whenever a connection has no free stream;
// APNs grants a token-authenticated connection a single stream until a request with a
// valid token went through ("Sending notification requests to APNs"). An
// http.ClientConn waits for a free stream instead, so a burst shares one connection.
type conn struct {
	tr   *http.Transport
	addr string        // host:port
	dial chan struct{} // a one-slot semaphore held while dialing

	mu sync.Mutex
	cc *http.ClientConn
}

func newConn(tr *http.Transport, addr string) *conn {
	return &conn{tr: tr, addr: addr, dial: make(chan struct{}, 1)}
}

// get returns the live connection, dialing one when there is none. Concurrent callers
// wait for a single dial.
func (c *conn) get(ctx context.Context) (*http.ClientConn, error) {
	if cc := c.live(); cc != nil {
		return cc, nil
	}
	select {
	case c.dial <- struct{}{}:
		defer func() { <-c.dial }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cc := c.live(); cc != nil {
		return cc, nil
	}
	// ctx bounds the dial and TLS handshake only; the connection outlives it.
	cc, err := c.tr.NewClientConn(ctx, "https", c.addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cc = cc
	c.mu.Unlock()
	return cc, nil
}

// live returns the current connection if it is still usable.
func (c *conn) live() *http.ClientConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil && c.cc.Err() != nil {
		_ = c.cc.Close()
		c.cc = nil
	}
	return c.cc
}

// retire takes cc out of use after a request on it failed: the next get dials anew.
// After a GOAWAY a connection refuses new streams long before it closes, so waiting
// for Err would fail every send in between. cc closes once its other requests are done,
// so they are not cut short.
func (c *conn) retire(cc *http.ClientConn) {
	c.mu.Lock()
	if c.cc == cc {
		c.cc = nil
	}
	c.mu.Unlock()
	// Close runs the state hook again, synchronously, and the hook is closeWhenIdle: a
	// sync.Once here would wait on itself forever. The flag only makes Close happen once.
	var closed atomic.Bool
	closeWhenIdle := func(cc *http.ClientConn) {
		if cc.InFlight() == 0 && closed.CompareAndSwap(false, true) {
			_ = cc.Close()
		}
	}
	cc.SetStateHook(closeWhenIdle)
	closeWhenIdle(cc)
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil {
		_ = c.cc.Close()
		c.cc = nil
	}
}
