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
	"sync/atomic"
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
	// nb is the TCP connection under nc (nc itself without TLS) when the poller can park
	// it; nil otherwise. token names the connection to the poller and the server.
	nb    *nbConn
	token uint64
	// rmu is held by whoever reads the connection. The poller's one-shot registration
	// already makes that one worker at a time; the lock says so to the race detector.
	rmu sync.Mutex
	// partial holds the start of a message not yet complete (nil when there is none).
	partial []byte
	// watched is set once the poller has the connection registered; silent while it waits
	// there for a new connection's first bytes (see Server.begin).
	watched bool
	silent  atomic.Bool
	// timer closes the connection at its deadline; start arms it and every message
	// moves it (extend). idleAt is the idle deadline, which a message in progress
	// shortens for its time and gives back when complete; kept by the reader.
	timer  *time.Timer
	idleAt time.Time

	// r is what messages are read from: the connection itself once it is idle, so a
	// parked connection holds no read buffer (see handshakeReaders).
	r io.Reader

	// wmu serializes writes: answers from the reading goroutine and notices from the hub.
	wmu    sync.Mutex
	closed bool
	// upgraded is set once the connection speaks WebSocket: before, a close sends no
	// close frame (nor, with TLS, waits on the handshake a write would start).
	upgraded bool
	sess     *sigma.Session

	// After the handshake: the registered device, or the key of one enrolling.
	enrollKey *ecdsa.PublicKey
	// dev is what the connection keeps of its device and user. Its realm, user and id
	// are set once, before the hub knows the connection, and never changed, so the hub
	// reads them without a lock.
	dev kept
	// presence is the connection's note in the ephemeral store (see presence.go).
	presence presence
	// enrollUntil ends an enrollment session that has not enrolled (zero otherwise).
	enrollUntil time.Time
	// lastUpdate is when this connection last updated its device.
	lastUpdate time.Time
}

// kept is what a connection keeps of its device and user: what its answers and checks
// read. An idle connection should hold little, so not the push token (its SHA-256 tells
// whether a hello changes it) nor the timestamps.
type kept struct {
	Realm, ID, UserID, Username                     string
	DisplayName, Platform, AppVersion, PushProvider string
	PublicKey                                       []byte
	pushSum                                         [32]byte
}

// who is the key the hub files the connection under.
func (k *kept) who() userKey { return userKey{k.Realm, k.UserID} }

// open runs the TLS handshake, the WebSocket upgrade and the SIGMA-I handshake; it
// reports whether the channel is up. When it is not, the connection is closed.
func (c *conn) open(ctx context.Context) (ok bool) {
	defer func() {
		if !ok {
			c.finish()
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
	c.wmu.Lock()
	c.upgraded = true
	c.wmu.Unlock()
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
	found, user, err := c.handshake(ctx)
	c.releaseReader(br)
	if err != nil {
		s.log.Info("device: handshake refused", "ip", c.ip, "err", err)
		c.closeWith(ws.StatusPolicyViolation, "handshake failed")
		return false
	}
	if c.enrollKey == nil && !c.adopt(found, user) {
		return false
	}
	return true
}

// adopt keeps what the connection needs of its device and user and files it in the hub,
// unless it has closed meanwhile (a shutdown, the enrollment window). c.dev is written
// under wmu before closed is checked, so a close's removal from the hub either sees it,
// or finds the connection closed here and takes it out again.
func (c *conn) adopt(d store.Device, u store.User) bool {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return false
	}
	c.keep(d, u)
	c.wmu.Unlock()
	c.srv.hub.add(c)
	if c.isClosed() {
		c.srv.hub.remove(c)
		return false
	}
	return true
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

// handshake runs SIGMA-I: ClientHello, ServerHello, ClientFinish. For a registered
// device it returns the device and its user, read during the handshake.
func (c *conn) handshake(ctx context.Context) (store.Device, store.User, error) {
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
	var none store.Device
	if err != nil {
		return none, user, err
	}
	hello, err := c.readMessage()
	if err != nil {
		return none, user, fmt.Errorf("read ClientHello: %w", err)
	}
	reply, err := hs.Respond(hello)
	if err != nil {
		return none, user, err
	}
	if err := c.writeFrame(reply); err != nil {
		return none, user, fmt.Errorf("write ServerHello: %w", err)
	}
	finish, err := c.readMessage()
	if err != nil {
		return none, user, fmt.Errorf("read ClientFinish: %w", err)
	}
	sess, id, err := hs.Complete(finish)
	if err != nil {
		return none, user, err
	}
	c.sess = sess
	if id.Enrolling() {
		c.enrollKey = id.PublicKey
		// An enrollment session is not a device yet: it gets one short window to
		// enroll, however it keeps itself busy.
		c.enrollUntil = time.Now().Add(2 * s.cfg.HandshakeTimeout)
		return none, user, nil
	}
	// The user was read with the device, during this handshake.
	if !s.usable(user) {
		return none, user, errUserDisabled
	}
	// Last seen is kept to the minute: a device that reconnects within one (a phone
	// switching networks, an app brought back to the foreground) costs no write.
	if now := s.cfg.Now(); now.Sub(found.LastSeenAt) >= lastSeenPrecision {
		s.seen.note(found.Realm, found.ID, now)
	}
	return found, user, nil
}

// keep remembers what the connection needs of its device and user.
func (c *conn) keep(d store.Device, u store.User) {
	c.dev = kept{Realm: d.Realm, ID: d.ID, UserID: d.UserID, Username: u.Username,
		DisplayName: d.DisplayName, Platform: d.Platform, AppVersion: d.AppVersion, PushProvider: d.PushProvider,
		PublicKey: d.PublicKey, pushSum: sha256.Sum256([]byte(d.PushToken))}
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

// readMessage reads one complete binary message during the handshake, waiting for it,
// answering pings and refusing what the channel does not use (see checkHeader).
func (c *conn) readMessage() ([]byte, error) {
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return nil, err
		}
		if err := c.checkHeader(h); err != nil {
			return nil, err
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return nil, err
		}
		ws.Cipher(payload, h.Mask, 0)
		if h.OpCode == ws.OpBinary {
			return payload, nil
		}
		if err := c.control(h.OpCode, payload); err != nil {
			return nil, err
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
	if c.closed {
		c.wmu.Unlock()
		return
	}
	if c.upgraded {
		_ = c.writeLocked(ws.OpClose, ws.NewCloseFrameBody(code, reason))
	}
	c.closeLocked()
}

// finish closes the connection without a close frame, once, whoever ends it: its reader,
// its deadline, a failed write or a shutdown.
func (c *conn) finish() {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return
	}
	c.closeLocked()
}

// closeLocked closes the connection and forgets it; it unlocks wmu.
func (c *conn) closeLocked() {
	c.closed = true
	_ = c.nc.Close()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.wmu.Unlock()
	c.srv.untrack(c)
}

func (c *conn) isClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closed
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
