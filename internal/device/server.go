package device

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/listen"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
)

// Path is where the channel's WebSocket lives, under the configured path prefix.
const Path = "/device/v1"

// Defaults for Config's zero values.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultMaxMessage       = 64 << 10
	DefaultHandshakesPerIP  = 120 // per minute
	DefaultEnrollmentsPerIP = 10  // per minute
	DefaultActivationTTL    = 15 * time.Minute
	MinActivationTTL        = time.Minute
	MaxActivationTTL        = 24 * time.Hour
	DefaultMaxDevices       = 10
	DefaultMaxConnections   = 100000
	// defaultBlockedOpenings bounds the goroutines that clients slow to open a channel
	// can hold (Server.begin).
	defaultBlockedOpenings = 256
)

// Config is what a Server needs.
type Config struct {
	Store     store.Store
	Ephemeral ephemeral.Store
	// Requests are the authentication requests devices list, fetch and answer.
	Requests *authn.Service
	// Receipts, when set, makes the receipt of every answered transaction as it is
	// answered (the business application can fetch it at once).
	Receipts Receipts
	// Keys are the server's channel keys, the current one first; devices pin one by its
	// fingerprint, so a retired key stays here while devices still pin it.
	Keys []crypto.Signer
	// Pepper keys the hash under which activation codes are stored.
	Pepper []byte
	Log    *slog.Logger
	// TLS is the listener's TLS configuration; nil serves plain WebSocket (behind a
	// TLS-terminating proxy: the channel stays end-to-end secure).
	TLS *tls.Config
	// Prefix is the configured path prefix.
	Prefix string

	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	MaxMessage       int
	HandshakesPerIP  int
	EnrollmentsPerIP int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client
	// that per-address limits count.
	TrustedProxies []netip.Prefix
	// MaxConnections bounds the connections held at once; 0 means DefaultMaxConnections.
	MaxConnections int
	Now            func() time.Time

	// noPoller parks each idle connection in a goroutine even where a poller exists, as
	// on platforms without one (for tests of that path).
	noPoller bool
	// blockedOpenings is how many openings may wait on their clients before new
	// connections wait for their first bytes in the poller (Server.begin); tests set -1.
	blockedOpenings int
}

// Receipts makes and keeps the receipt of an answered request (package receipt).
type Receipts interface {
	Issue(ctx context.Context, r authn.Request) (string, error)
}

// Server serves the device channel.
type Server struct {
	cfg Config
	log *slog.Logger
	hub *hub

	mu      sync.Mutex
	ln      net.Listener
	conns   map[uint64]*conn // by token
	nextTok uint64
	closing bool
	// poller parks idle connections without a goroutine; nil where there is none.
	poller  *poller
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	openers *workers
	seen    *lastSeen
	// node names this server in the presence notes of its connections.
	node string
	// openings counts the connections in their opening (TLS, upgrade, SIGMA-I).
	openings atomic.Int64
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Ephemeral == nil || cfg.Requests == nil {
		return nil, errors.New("device: Store, Ephemeral and Requests are required")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("device: no channel key")
	}
	if len(cfg.Pepper) < 32 {
		return nil, errors.New("device: the activation pepper must have at least 32 bytes")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.HandshakeTimeout = orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MaxMessage = orDefault(cfg.MaxMessage, DefaultMaxMessage)
	cfg.HandshakesPerIP = orDefault(cfg.HandshakesPerIP, DefaultHandshakesPerIP)
	cfg.EnrollmentsPerIP = orDefault(cfg.EnrollmentsPerIP, DefaultEnrollmentsPerIP)
	cfg.MaxConnections = orDefault(cfg.MaxConnections, DefaultMaxConnections)
	cfg.blockedOpenings = orDefault(cfg.blockedOpenings, defaultBlockedOpenings)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Log, conns: map[uint64]*conn{}, ctx: ctx, cancel: cancel, node: rand.Text()}
	s.openers = newWorkers(ctx, &s.wg, 10*time.Second)
	s.hub = newHub(s)
	s.seen = newLastSeen(s)
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Fingerprint is the SHA-256 fingerprint of the current channel key, as the activation
// QR payload carries it.
func (s *Server) Fingerprint() [32]byte {
	pub, _ := publicP256(s.cfg.Keys[0])
	return sigma.Fingerprint(pub)
}

// Serve accepts device connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then, as http.Server.Serve does.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	if s.poller == nil && !s.cfg.noPoller {
		if p, err := newPoller(s.ready, func(err error) {
			s.log.Error("device: the poller of idle connections stopped; they end at their deadlines", "err", err)
		}); err == nil {
			s.poller = p
		} else {
			s.log.Info("device: idle connections park a goroutine each", "reason", err)
		}
	}
	// Added under the lock Shutdown takes to mark the server closing: a Shutdown that
	// comes after waits for this goroutine, one that came before turned Serve away.
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.seen.run(s.ctx)
	}()
	if err := s.hub.start(s.ctx); err != nil {
		return fmt.Errorf("device: subscribe to request notices: %w", err)
	}
	return listen.Loop(ln, nil, s.isClosing, func(format string, args ...any) {
		s.log.Warn("device: " + fmt.Sprintf(format, args...))
	}, func(nc net.Conn) bool {
		if s.Connections() >= s.cfg.MaxConnections {
			// Full: the device retries, and in a cluster another node takes it.
			_ = nc.Close()
			return true
		}
		c := &conn{srv: s, nc: nc}
		if s.poller != nil {
			if c.nb = nonblocking(nc); c.nb != nil {
				c.nc = c.nb
			}
		}
		if s.cfg.TLS != nil {
			c.nc = tls.Server(c.nc, s.cfg.TLS)
		}
		if !s.track(c) {
			_ = c.nc.Close()
			return false
		}
		s.begin(c)
		return true
	})
}

// ready hands a connection the poller found readable to a worker.
func (s *Server) ready(token uint64) {
	s.mu.Lock()
	c := s.conns[token]
	s.mu.Unlock()
	switch {
	case c == nil:
	case c.silent.CompareAndSwap(true, false):
		s.openers.run(func() { c.opening(s.ctx) })
	default:
		s.openers.run(func() { c.serveReady(s.ctx) })
	}
}

// begin opens a new connection on a worker. While more than cfg.blockedOpenings openings
// already wait on their clients (a flood of clients that connect and stay silent, or
// drip), a new connection first waits in the poller for its first bytes, holding no
// goroutine, only its socket, and is closed at the handshake timeout; its opening then
// has the handshake timeout again. Below that, parking would only add a round through
// the poller to every handshake.
func (s *Server) begin(c *conn) {
	if s.poller == nil || c.nb == nil || s.openings.Load() < int64(s.cfg.blockedOpenings) || c.nb.hasInput() {
		s.openers.run(func() { c.opening(s.ctx) })
		return
	}
	c.wmu.Lock()
	if c.closed { // a shutdown came first
		c.wmu.Unlock()
		return
	}
	c.timer = time.AfterFunc(s.cfg.HandshakeTimeout, c.expire)
	c.wmu.Unlock()
	c.watched = true
	c.silent.Store(true)
	if err := s.poller.watch(c.nb.raw, c.token, true); err != nil {
		c.finish()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting, closes every connection (devices reconnect to another
// node), and waits for their goroutines until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		_ = s.ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	p := s.poller
	s.mu.Unlock()
	s.cancel()
	if p != nil {
		p.stop()
	}
	// Outside the lock, each with a short write deadline: a device that stopped reading
	// must not hold the shutdown up.
	for _, c := range conns {
		_ = c.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		// Counted, so Shutdown returns once every connection is closed and forgotten.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.closeWith(ws.StatusGoingAway, "server shutting down")
		}()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Shutdown(ctx)
	return nil
}

// Connections is the number of open device connections on this node.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.nextTok++
	c.token = s.nextTok
	s.conns[c.token] = c
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.token)
	s.mu.Unlock()
	s.hub.remove(c)
}
