// Package h1 serves simple HTTP/1.1 requests to a chosen set of routes (the token
// endpoint and the other small protocol requests) without net/http's per-request
// machinery, and hands every other connection to a net/http server that then serves it
// as it always would.
//
// net/http spends, per keep-alive request, a background-read goroutine with its extra
// read system call, a cancelable context, and a general header parser. For the token
// endpoint, where an ES256 signature is the only real work, that is about a fifth of the
// cost of a request. This package reads a request head, and only when it is plainly
// well-formed (request line, header names and values, Host, Content-Length within
// bounds, no Transfer-Encoding, Expect or Upgrade) and its route is one of the chosen
// ones does it build the *http.Request itself, run the same handler, and write the
// buffered response in one system call. Anything else, from the first byte of that
// request on, goes to net/http with the bytes already read, so every error answer,
// every edge of the protocol and HTTP/2 stay net/http's.
package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/internal/listen"
)

// Config is what a Server needs.
type Config struct {
	// HTTP serves what the fast path does not take: HTTP/2 connections, and HTTP/1.1
	// connections from their first request that is not simple. Its Handler, ErrorLog,
	// ReadHeaderTimeout and IdleTimeout apply to fast connections too.
	HTTP *http.Server
	// TLS is the listener's TLS configuration; nil serves plain HTTP.
	TLS *tls.Config
	// Simple reports whether a request with this method and (clean) path takes the
	// fast path. Its handler must answer with a body it writes in full: no streaming,
	// no hijacking, no 1xx responses.
	Simple func(method, path string) bool
}

// Server accepts connections and serves them on the fast path or through net/http.
type Server struct {
	cfg     Config
	handler http.Handler // cfg.HTTP's handler as given
	handoff *handoffListener

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*conn]struct{}
	closing atomic.Bool
	served  chan error // the net/http server's Serve result
	baseCtx context.Context
	cancel  context.CancelFunc

	dateCache atomic.Pointer[cachedDate]
}

// New returns a Server; Serve starts it. It takes over cfg.HTTP's ConnContext and wraps
// its Handler (keeping what they did), so that requests on TLS connections handed over
// after a first fast request still see r.TLS: net/http sets it only for a *tls.Conn.
func New(cfg Config) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	hs := cfg.HTTP
	handler, connContext := hs.Handler, hs.ConnContext
	if handler == nil {
		handler = http.DefaultServeMux
	}
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if pc, ok := c.(*prefixConn); ok && pc.tls != nil {
			ctx = context.WithValue(ctx, tlsStateKey{}, pc.tls)
		}
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		return ctx
	}
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
				r.TLS = st
			}
		}
		handler.ServeHTTP(w, r)
	})
	return &Server{
		cfg:     cfg,
		handler: handler,
		handoff: newHandoffListener(),
		conns:   map[*conn]struct{}{},
		served:  make(chan error, 1),
		baseCtx: ctx,
		cancel:  cancel,
	}
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then, like http.Server.Serve.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.handoff.addr = ln.Addr()
	s.mu.Unlock()
	go func() { s.served <- s.cfg.HTTP.Serve(s.handoff) }()

	return listen.Loop(ln, s.cfg.TLS, s.closing.Load, s.logf, func(c net.Conn) bool {
		fc := &conn{srv: s, rwc: c}
		if !s.track(fc) {
			return false
		}
		go fc.serve()
		return true
	})
}

// Shutdown stops accepting, lets net/http drain its connections, closes idle fast
// connections and waits for busy ones to finish their request, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	httpErr := make(chan error, 1)
	go func() { httpErr <- s.cfg.HTTP.Shutdown(ctx) }()
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			s.closeAll()
			return errors.Join(ctx.Err(), <-httpErr)
		case <-ticker.C:
		}
	}
	return <-httpErr
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.beginClose()
	s.closeAll()
	return s.cfg.HTTP.Close()
}

func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
}

// closeIdle closes the fast connections that wait for a request and reports whether
// none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			_ = c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) closeAll() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.rwc.Close()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if l := s.cfg.HTTP.ErrorLog; l != nil {
		l.Printf(format, args...)
	}
}

type tlsStateKey struct{}

// handoffListener is the listener net/http serves: its connections come from the fast
// path, already accepted (and with TLS already handshaken).
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// give hands c to net/http; it closes c when net/http has stopped accepting.
func (l *handoffListener) give(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}
