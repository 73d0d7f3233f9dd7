package device

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/sigma"
)

// nbConn is a TCP connection whose reads stop waiting once its channel is open and the
// poller watches it (see nonblocking).
type nbConn struct {
	net.Conn
	raw    syscall.RawConn
	parked atomic.Bool
}

// errWouldBlock is what a parked connection's read returns when nothing has arrived. It
// is a temporary net.Error, so crypto/tls keeps a partly received record for the next
// read instead of failing the connection.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "device: no input yet" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// readBuffers hold one read's bytes while they are handled; an idle connection holds none.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// maxReadsPerTurn bounds the reads one worker turn serves, so one busy device cannot keep
// a worker to itself: past it, the connection goes back to the workers' queue, not to the
// poller, since crypto/tls may hold bytes already read off the socket that the poller
// would never report.
const maxReadsPerTurn = 16

// opening runs the TLS, WebSocket and SIGMA-I handshakes, and then the channel.
func (c *conn) opening(ctx context.Context) {
	c.wmu.Lock()
	if c.timer != nil {
		// The wait for the first bytes is over; the handshake has deadlines of its own.
		c.timer.Stop()
		c.timer = nil
	}
	c.wmu.Unlock()
	c.srv.openings.Add(1)
	ok := c.open(ctx)
	c.srv.openings.Add(-1)
	if ok {
		c.start(ctx)
	}
}

// start runs the open channel: the idle deadline armed, then either parked in the poller
// (no goroutine while idle) or, where there is none, a goroutine reading in turn.
func (c *conn) start(ctx context.Context) {
	s := c.srv
	_ = c.nc.SetReadDeadline(time.Time{})
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return
	}
	c.idleAt = c.readDeadline()
	c.timer = time.AfterFunc(time.Until(c.idleAt), c.expire)
	c.wmu.Unlock()
	if s.poller != nil && c.nb != nil {
		c.nb.parked.Store(true)
		c.serveReady(ctx)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.loop(ctx)
	}()
}

// serveReady reads and handles what has arrived, then parks the connection again.
func (c *conn) serveReady(ctx context.Context) {
	c.rmu.Lock()
	more, ok := c.readable(ctx)
	first := !c.watched
	c.watched = c.watched || !more
	c.rmu.Unlock()
	switch {
	case !ok:
		c.finish()
	case more:
		c.srv.openers.run(func() { c.serveReady(ctx) })
	default:
		if err := c.srv.poller.watch(c.nb.raw, c.token, first); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.srv.log.Warn("device: cannot watch a connection", "err", err)
			}
			c.finish()
		}
	}
}

// readable reads without waiting and handles every complete message. ok reports whether
// the connection goes on; more, that it stopped at maxReadsPerTurn with input perhaps
// left (on the socket or inside crypto/tls).
func (c *conn) readable(ctx context.Context) (more, ok bool) {
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	for range maxReadsPerTurn {
		n, err := c.r.Read(*bp)
		if n > 0 && !c.feed(ctx, (*bp)[:n]) {
			return false, false
		}
		if br, ok := c.r.(*bufio.Reader); ok {
			c.releaseReader(br)
		}
		if errors.Is(err, errWouldBlock) {
			return false, true
		}
		if err != nil {
			c.ended(err)
			return false, false
		}
	}
	return true, true
}

// loop reads in turn where there is no poller. The messages are handled on a worker
// while this goroutine waits, so the stack that JSON, the store and signature checks grow
// is not the one that parks for the long idle waits in between.
func (c *conn) loop(ctx context.Context) {
	defer c.finish()
	buf := make([]byte, 512)
	done := make(chan bool)
	for {
		n, err := c.r.Read(buf)
		if br, ok := c.r.(*bufio.Reader); ok {
			c.releaseReader(br)
		}
		if n > 0 {
			c.srv.openers.run(func() {
				c.rmu.Lock()
				defer c.rmu.Unlock()
				done <- c.feed(ctx, buf[:n])
			})
			if !<-done {
				return
			}
		}
		if err != nil {
			c.ended(err)
			return
		}
	}
}

func (c *conn) ended(err error) {
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.srv.log.Debug("device: connection ends", "device", c.dev.ID, "err", err)
	}
}

// feed handles the complete messages in b, after any bytes kept from earlier reads, and
// keeps the rest for the next read; it reports whether the connection goes on. A message
// that has begun must be complete within the handshake timeout.
func (c *conn) feed(ctx context.Context, b []byte) bool {
	hadPartial := c.partial != nil
	begun := hadPartial
	if begun {
		b = append(c.partial, b...)
		c.partial = nil
	}
	for len(b) > 0 {
		hr := bytes.NewReader(b)
		h, err := ws.ReadHeader(hr)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			c.closeWith(ws.StatusProtocolError, "")
			return false
		}
		if err := c.checkHeader(h); err != nil {
			c.srv.log.Debug("device: message refused", "device", c.dev.ID, "err", err)
			return false
		}
		start := len(b) - hr.Len()
		if int64(hr.Len()) < h.Length {
			break
		}
		payload := b[start : start+int(h.Length)]
		b = b[start+int(h.Length):]
		begun = false
		ws.Cipher(payload, h.Mask, 0)
		if !c.message(ctx, h.OpCode, payload) {
			return false
		}
	}
	switch {
	case len(b) > 0 && !begun:
		// A message has begun: it must be complete within the handshake timeout.
		if d := time.Now().Add(c.srv.cfg.HandshakeTimeout); d.Before(c.idleAt) {
			c.extend(d)
		}
	case len(b) == 0 && hadPartial:
		// The partial message is complete, whatever it was (a pong moves no deadline of
		// its own): back to the idle deadline it interrupted, or the one it moved.
		c.extend(c.idleAt)
	}
	if len(b) > 0 {
		c.partial = append([]byte(nil), b...)
	}
	return true
}

// message handles one complete message of an open channel.
func (c *conn) message(ctx context.Context, op ws.OpCode, payload []byte) bool {
	if op != ws.OpBinary {
		return c.control(op, payload) == nil
	}
	if !c.handleFrame(ctx, payload) {
		return false
	}
	c.keepIdle()
	return true
}

// checkHeader refuses, closing the connection, what the channel does not use:
// unmasked, fragmented, text and oversized messages.
func (c *conn) checkHeader(h ws.Header) error {
	max := int64(c.srv.cfg.MaxMessage) + sigma.FrameOverhead
	switch {
	case !h.Masked || h.Rsv != 0:
		c.closeWith(ws.StatusProtocolError, "")
		return errors.New("unmasked frame or reserved bits")
	case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
		c.closeWith(ws.StatusProtocolError, "")
		return errors.New("bad control frame")
	case h.OpCode.IsData() && h.Length > max:
		c.closeWith(ws.StatusMessageTooBig, "")
		return fmt.Errorf("message of %d bytes", h.Length)
	case h.OpCode == ws.OpText || h.OpCode == ws.OpContinuation || h.OpCode.IsData() && !h.Fin:
		c.closeWith(ws.StatusUnsupportedData, "binary messages only, unfragmented")
		return errors.New("text or fragmented message")
	case h.OpCode.IsReserved():
		c.closeWith(ws.StatusProtocolError, "")
		return errors.New("reserved opcode")
	}
	return nil
}

// control answers a ping, ignores a pong and ends the connection on a close.
func (c *conn) control(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpPing:
		if err := c.writeRaw(ws.OpPong, payload); err != nil {
			return err
		}
		// A WebSocket ping keeps an open channel, and its presence note, as a message
		// does.
		c.keepIdle()
		if c.enrollKey == nil {
			c.srv.hub.renew(c)
		}
	case ws.OpClose:
		code, _ := ws.ParseCloseFrameData(payload)
		c.closeWith(code, "")
		return io.EOF
	}
	return nil
}

// extend moves the time the connection closes unless a message arrives; before the
// channel is open the handshake's deadline rules instead.
func (c *conn) extend(t time.Time) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Not once closed: a timer set again would keep the connection in memory until it
	// fired.
	if c.timer != nil && !c.closed {
		c.timer.Reset(time.Until(t))
	}
}

// keepIdle starts the idle wait again from now: a message or a ping arrived.
func (c *conn) keepIdle() {
	c.idleAt = c.readDeadline()
	c.extend(c.idleAt)
}

// expire ends a connection whose deadline passed.
func (c *conn) expire() {
	c.srv.log.Debug("device: connection idle too long; closing", "connection", c.token)
	c.finish()
}
