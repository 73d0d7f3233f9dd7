package device

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
)

// Presence: every node notes in the ephemeral store which devices hold an authenticated
// connection to it, so the messaging role on any node tells a connected device (which
// its node reaches in band) from one to wake with a push. The note lives twice the idle
// timeout and is renewed by the connection's traffic (devices ping within the idle
// timeout), so a node that dies leaves no device marked connected for long; it is taken
// back when the connection closes.

func presenceKey(deviceID string) string { return "device:online:" + deviceID }

// Online reports whether the device holds an authenticated connection to some node.
func Online(ctx context.Context, eph ephemeral.Store, deviceID string) (bool, error) {
	_, err := eph.Get(ctx, presenceKey(deviceID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ephemeral.ErrNotFound):
		return false, nil
	}
	return false, err
}

// presenceTimeout bounds one write of the note: a slow ephemeral store must not hold up
// the connection.
const presenceTimeout = 2 * time.Second

// presence is one connection's note. mu orders the writes of the note with its removal,
// so a close that lands while the note is being written still takes it back.
type presence struct {
	mu      sync.Mutex
	gone    bool         // the connection has left the hub: write no note
	renewed atomic.Int64 // unix nanoseconds of the last write; 0: none
}

// mark notes c's device as connected through c.
func (h *hub) mark(c *conn) {
	c.presence.mu.Lock()
	defer c.presence.mu.Unlock()
	if c.presence.gone {
		return
	}
	ctx, cancel := context.WithTimeout(h.srv.ctx, presenceTimeout)
	defer cancel()
	now := time.Now()
	if _, err := h.srv.cfg.Ephemeral.Set(ctx, presenceKey(c.dev.ID), h.presenceValue(c), 2*h.srv.cfg.IdleTimeout); err != nil {
		h.srv.log.Warn("device: presence not noted; the device may get a push it does not need", "device", c.dev.ID, "err", err)
		return
	}
	c.presence.renewed.Store(now.UnixNano())
}

// renew writes c's note again once half the idle timeout has passed since the last; a
// connection that never had one (not in the hub) gets none.
func (h *hub) renew(c *conn) {
	last := c.presence.renewed.Load()
	if last != 0 && time.Since(time.Unix(0, last)) >= h.srv.cfg.IdleTimeout/2 {
		h.mark(c)
	}
}

// unmark takes c's note back, unless a newer connection of the device (on this node or
// another) has written its own.
func (h *hub) unmark(c *conn) {
	c.presence.mu.Lock()
	defer c.presence.mu.Unlock()
	c.presence.gone = true
	if c.presence.renewed.Load() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.srv.ctx), presenceTimeout)
	defer cancel()
	key := presenceKey(c.dev.ID)
	e, err := h.srv.cfg.Ephemeral.Get(ctx, key)
	if err != nil || string(e.Value) != string(h.presenceValue(c)) {
		return
	}
	_ = h.srv.cfg.Ephemeral.Delete(ctx, key)
}

func (h *hub) presenceValue(c *conn) []byte {
	return []byte(h.srv.node + ":" + strconv.FormatUint(c.token, 10))
}
