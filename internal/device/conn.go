package device

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// conn is one device connection.
type conn struct {
	srv *Server
	nc  net.Conn
	ip  string

	// r is what messages are read from: the connection itself once it is idle, so a
	// parked connection holds no read buffer (see handshakeReaders).
	r io.Reader

	// wmu serializes writes: answers from the reading goroutine and notices from the hub.
	wmu    sync.Mutex
	closed bool
	sess   *sigma.Session

	// After the handshake: the registered device, or the key of one enrolling.
	enrollKey *ecdsa.PublicKey
	// dev is the registered device, without its push token (a connection has no use
	// for it); username is its user's, for hello answers.
	dev      store.Device
	username string
	// who and devID name the device for the hub; set once before the hub knows the
	// connection and never changed, so the hub reads them without a lock.
	who   userKey
	devID string
	// handled carries each message's outcome back to the reading goroutine.
	handled chan bool
	// enrollUntil ends an enrollment session that has not enrolled (zero otherwise).
	enrollUntil time.Time
	// lastUpdate is when this connection last updated its device; pushSum is the
	// SHA-256 of the stored push token, which the connection does not keep.
	lastUpdate time.Time
	pushSum    [32]byte
}

// open runs the TLS handshake, the WebSocket upgrade and the SIGMA-I handshake; it
// reports whether the channel is up. When it is not, the connection is closed.
func (c *conn) open(ctx context.Context) (ok bool) {
	defer func() {
		if !ok {
			_ = c.nc.Close()
		}
	}()
	peer := peerAddr(c.nc.RemoteAddr())
	c.ip = limitKey(peer)
	s := c.srv
	_ = c.nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			s.log.Debug("device: TLS handshake failed", "ip", c.ip, "err", err)
			return false
		}
	}
	var forwarded []byte
	up := ws.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 512,
		OnHeader: func(key, value []byte) error {
			if bytes.EqualFold(key, []byte("X-Forwarded-For")) {
				forwarded = append(append(forwarded, ','), value...)
			}
			return nil
		},
		OnRequest: func(uri []byte) error {
			path, _, _ := bytes.Cut(uri, []byte("?"))
			if string(path) != s.cfg.Prefix+Path {
				return ws.RejectConnectionError(ws.RejectionStatus(404), ws.RejectionReason("no device channel at this path"))
			}
			return nil
		},
	}
	if _, err := up.Upgrade(c.nc); err != nil {
		s.log.Debug("device: WebSocket upgrade refused", "ip", c.ip, "err", err)
		return false
	}
	if s.trusted(peer) {
		c.ip = limitKey(s.clientBehind(string(forwarded), peer))
	}
	if ok, err := s.allow(ctx, "handshake", c.ip, s.cfg.HandshakesPerIP); !ok {
		if err != nil {
			s.log.Warn("device: rate limit unavailable", "err", err)
		}
		c.closeWith(ws.StatusPolicyViolation, "too many handshakes")
		return false
	}
	// The handshake reads through a pooled buffer: one read per message instead of one
	// for the header, one for its extension and one for the payload. The buffer goes back
	// to the pool as soon as it holds nothing, which is the usual case since a device sends
	// nothing more before the server answers its ClientFinish.
	br := handshakeReaders.Get().(*bufio.Reader)
	br.Reset(c.nc)
	c.r = br
	err := c.handshake(ctx)
	c.releaseReader(br)
	if err != nil {
		s.log.Info("device: handshake refused", "ip", c.ip, "err", err)
		c.closeWith(ws.StatusPolicyViolation, "handshake failed")
		return false
	}
	if c.enrollKey == nil {
		// Last seen is kept to the minute: a device that reconnects within one (a phone
		// switching networks, an app brought back to the foreground) costs no write.
		if now := s.cfg.Now(); now.Sub(c.dev.LastSeenAt) >= lastSeenPrecision {
			_ = s.cfg.Store.TouchDevice(ctx, c.dev.Realm, c.dev.ID, now)
		}
		s.hub.add(c)
	}
	return true
}

// loop reads and answers messages until the connection ends, then closes it.
func (c *conn) loop(ctx context.Context) {
	defer c.nc.Close()
	s := c.srv
	c.handled = make(chan bool)
	for {
		_ = c.nc.SetReadDeadline(c.readDeadline())
		msg, err := c.readMessage()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("device: connection ends", "device", c.dev.ID, "err", err)
			}
			return
		}
		// The frame is opened and answered on a goroutine of its own while this one
		// waits: the work (JSON, the store, signature checks) grows that goroutine's
		// stack, not this one's, which stays small for the long idle waits in between.
		go func() { c.handled <- c.handleFrame(ctx, msg) }()
		if !<-c.handled {
			return
		}
	}
}

// readDeadline is when the wait for the next message ends: the idle timeout from now,
// or an enrollment session's end, whichever comes first.
func (c *conn) readDeadline() time.Time {
	d := time.Now().Add(c.srv.cfg.IdleTimeout)
	if !c.enrollUntil.IsZero() && c.enrollUntil.Before(d) {
		return c.enrollUntil
	}
	return d
}

// handleFrame opens one frame and answers it; it reports whether the connection goes on.
func (c *conn) handleFrame(ctx context.Context, msg []byte) bool {
	plain, err := c.sess.Open(msg)
	if err != nil {
		c.srv.log.Info("device: frame refused; closing", "device", c.dev.ID, "err", err)
		c.closeWith(ws.StatusPolicyViolation, "bad frame")
		return false
	}
	return c.dispatch(ctx, plain)
}

// lastSeenPrecision is how stale a device's LastSeenAt may be before a connect writes it.
const lastSeenPrecision = time.Minute

// handshakeReaders buffers reads during handshakes; sized for a ClientFinish and a first
// frame sent with it.
var handshakeReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1024) }}

// releaseReader reads straight from the connection from now on, returning br to the
// pool, unless br holds bytes already received: then the connection keeps it.
func (c *conn) releaseReader(br *bufio.Reader) {
	if br.Buffered() > 0 {
		return
	}
	br.Reset(nil)
	handshakeReaders.Put(br)
	c.r = c.nc
}

// handshake runs SIGMA-I: ClientHello, ServerHello, ClientFinish.
func (c *conn) handshake(ctx context.Context) error {
	s := c.srv
	var found store.Device
	var user store.User
	var lookupErr error
	hs, err := sigma.NewServer(sigma.ServerConfig{
		Keys:         s.cfg.Keys,
		MaxPlaintext: s.cfg.MaxMessage,
		LookupDevice: func(id [16]byte) (*ecdsa.PublicKey, error) {
			found, user, lookupErr = s.lookupDevice(ctx, id)
			if lookupErr != nil {
				return nil, lookupErr
			}
			return parsePoint(found.PublicKey)
		},
	})
	if err != nil {
		return err
	}
	hello, err := c.readMessage()
	if err != nil {
		return fmt.Errorf("read ClientHello: %w", err)
	}
	reply, err := hs.Respond(hello)
	if err != nil {
		return err
	}
	if err := c.writeFrame(reply); err != nil {
		return fmt.Errorf("write ServerHello: %w", err)
	}
	finish, err := c.readMessage()
	if err != nil {
		return fmt.Errorf("read ClientFinish: %w", err)
	}
	sess, id, err := hs.Complete(finish)
	if err != nil {
		return err
	}
	c.sess = sess
	if id.Enrolling() {
		c.enrollKey = id.PublicKey
		// An enrollment session is not a device yet: it gets one short window to
		// enroll, however it keeps itself busy.
		c.enrollUntil = time.Now().Add(2 * s.cfg.HandshakeTimeout)
		return nil
	}
	// The user was read with the device, during this handshake.
	if !s.usable(user) {
		return errUserDisabled
	}
	c.keep(found, user)
	return nil
}

// keep remembers what the connection needs of its device and user, and no more: an
// idle connection should hold little.
func (c *conn) keep(d store.Device, u store.User) {
	c.pushSum = sha256.Sum256([]byte(d.PushToken))
	d.PushToken = ""
	c.dev, c.username = d, u.Username
	c.who, c.devID = userKey{d.Realm, d.UserID}, d.ID
}

// lookupDevice finds a registered device that may connect, and its user, in one read.
func (s *Server) lookupDevice(ctx context.Context, id [16]byte) (store.Device, store.User, error) {
	d, u, err := s.cfg.Store.FindDevice(ctx, encodeID(id))
	if err != nil {
		return store.Device{}, store.User{}, err
	}
	if d.State != store.DeviceActive {
		return store.Device{}, store.User{}, fmt.Errorf("device %s is %s", d.ID, d.State)
	}
	return d, u, nil
}

// usable reports whether a user may use a device now: enabled and not locked.
func (s *Server) usable(u store.User) bool {
	return u.Enabled && !s.cfg.Now().Before(u.LockedUntil)
}

// activeUser loads a user who may use a device now.
func (s *Server) activeUser(ctx context.Context, realm, id string) (store.User, error) {
	u, err := s.cfg.Store.GetUser(ctx, realm, id)
	if err != nil {
		return store.User{}, err
	}
	if !s.usable(u) {
		return store.User{}, errUserDisabled
	}
	return u, nil
}

var errUserDisabled = errors.New("the user is disabled or locked")

// readMessage reads one complete binary message, answering pings and refusing what the
// channel does not use: unmasked, fragmented, text and oversized messages.
func (c *conn) readMessage() ([]byte, error) {
	max := int64(c.srv.cfg.MaxMessage) + sigma.FrameOverhead
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return nil, err
		}
		switch {
		case !h.Masked || h.Rsv != 0:
			c.closeWith(ws.StatusProtocolError, "")
			return nil, errors.New("unmasked frame or reserved bits")
		case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
			c.closeWith(ws.StatusProtocolError, "")
			return nil, errors.New("bad control frame")
		case h.OpCode.IsData() && h.Length > max:
			c.closeWith(ws.StatusMessageTooBig, "")
			return nil, fmt.Errorf("message of %d bytes", h.Length)
		case h.OpCode == ws.OpText || h.OpCode == ws.OpContinuation || h.OpCode.IsData() && !h.Fin:
			c.closeWith(ws.StatusUnsupportedData, "binary messages only, unfragmented")
			return nil, errors.New("text or fragmented message")
		case h.OpCode.IsReserved():
			c.closeWith(ws.StatusProtocolError, "")
			return nil, errors.New("reserved opcode")
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return nil, err
		}
		ws.Cipher(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpBinary:
			return payload, nil
		case ws.OpPing:
			if err := c.writeRaw(ws.OpPong, payload); err != nil {
				return nil, err
			}
			if c.sess != nil {
				// A WebSocket ping keeps an established session as a message does.
				_ = c.nc.SetReadDeadline(c.readDeadline())
			}
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(payload)
			c.closeWith(code, "")
			return nil, io.EOF
		}
	}
}

// writeFrame writes one binary message (a sigma message or frame).
func (c *conn) writeFrame(b []byte) error { return c.writeRaw(ws.OpBinary, b) }

func (c *conn) writeRaw(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(op, payload)
}

func (c *conn) writeLocked(op ws.OpCode, payload []byte) error {
	if c.closed {
		return net.ErrClosed
	}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	buf := bytes.NewBuffer(make([]byte, 0, ws.HeaderSize(h)+len(payload)))
	_ = ws.WriteHeader(buf, h)
	buf.Write(payload)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.HandshakeTimeout))
	_, err := c.nc.Write(buf.Bytes())
	return err
}

// send seals v and writes it; it reports whether the connection is still usable.
func (c *conn) send(v *message.Envelope) bool {
	plain, err := json.Marshal(v)
	if err != nil {
		c.srv.log.Error("device: encode message", "err", err)
		return false
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	frame, err := c.sess.Seal(plain)
	if err != nil {
		return false
	}
	return c.writeLocked(ws.OpBinary, frame) == nil
}

// closeWith sends a close frame (best effort) and closes the connection.
func (c *conn) closeWith(code ws.StatusCode, reason string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	_ = c.writeLocked(ws.OpClose, ws.NewCloseFrameBody(code, reason))
	c.closed = true
	_ = c.nc.Close()
}

// peerAddr is the address of the connection's other end.
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitKey is what per-address limits count: an IPv4 address, or an IPv6 address's /64
// (one subscriber's network, whose addresses are theirs to rotate).
func limitKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// trusted reports whether a is one of the configured reverse proxies.
func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientBehind is the client address a trusted proxy reports: the right-most address
// in X-Forwarded-For that is not itself a trusted proxy (the ones to its left could be
// made up by the client). Without a usable header it is the proxy's own.
func (s *Server) clientBehind(forwarded string, proxy netip.Addr) netip.Addr {
	parts := strings.Split(forwarded, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			continue
		}
		if a = a.Unmap(); !s.trusted(a) {
			return a
		}
	}
	return proxy
}
