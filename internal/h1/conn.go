package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// maxBody bounds the body of a fast request; a longer one goes to net/http.
const maxBody = 64 << 10

// readBufferSize is the per-connection read buffer; a request head that does not fit
// goes to net/http.
const readBufferSize = 4 << 10

// maxKeptOutput is the largest response buffer a connection keeps between requests.
const maxKeptOutput = 64 << 10

// conn is one accepted connection while the fast path serves it.
type conn struct {
	srv *Server
	rwc net.Conn // *tls.Conn when the listener has TLS
	tls *tls.ConnectionState
	ctx context.Context
	// blank is an empty request carrying ctx: net/http offers no other way to set a
	// request's context than WithContext, which copies, so each request starts as a
	// copy of this one instead.
	blank *http.Request
	br    *bufio.Reader
	// resp is reused: a ResponseWriter may not be used once ServeHTTP has returned.
	resp response
	out  []byte
	body []byte
	// idle is true while the connection waits for a request; Shutdown closes it then.
	idle atomic.Bool
	// deadline is the read deadline set on rwc; short says it is a request's
	// (ReadHeaderTimeout) rather than the idle one.
	deadline time.Time
	short    bool
	// remote is RemoteAddr().String(), once.
	remote string
}

func (c *conn) serve() {
	handedOff := false
	defer func() {
		if !handedOff {
			_ = c.rwc.Close()
		}
		c.srv.untrack(c)
	}()
	if tc, ok := c.rwc.(*tls.Conn); ok {
		if d := c.srv.cfg.HTTP.ReadHeaderTimeout; d > 0 {
			_ = tc.SetDeadline(time.Now().Add(d))
		}
		if err := tc.HandshakeContext(c.srv.baseCtx); err != nil {
			// net/http calls Handshake again, gets the same error and answers or logs
			// it as it does for every listener.
			handedOff = true
			c.srv.handoff.give(tc)
			return
		}
		_ = tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		if st.NegotiatedProtocol == "h2" {
			handedOff = true
			c.srv.handoff.give(tc)
			return
		}
		c.tls = &st
	}
	c.remote = c.rwc.RemoteAddr().String()
	c.ctx = context.WithValue(c.srv.baseCtx, http.ServerContextKey, c.srv.cfg.HTTP)
	c.ctx = context.WithValue(c.ctx, http.LocalAddrContextKey, c.rwc.LocalAddr())
	c.ctx = c.srv.cfg.HTTP.ConnContext(c.ctx, c.rwc)
	c.blank = new(http.Request).WithContext(c.ctx)
	c.resp.header = make(http.Header, 8)
	c.br = bufio.NewReaderSize(c.rwc, readBufferSize)
	for {
		req, err := c.next()
		if errors.Is(err, errNotSimple) {
			handedOff = true
			c.srv.handoff.give(&prefixConn{Conn: c.rwc, br: c.br, tls: c.tls})
			return
		}
		if err != nil {
			return
		}
		if !c.handle(req) {
			return
		}
	}
}

// errNotSimple sends a request, and its connection from then on, to net/http.
var errNotSimple = errors.New("not a simple request")

// next waits for the next request and returns it with its body read, or errNotSimple
// with nothing consumed.
func (c *conn) next() (*http.Request, error) {
	hs := c.srv.cfg.HTTP
	c.idle.Store(true)
	if c.srv.closing.Load() {
		return nil, net.ErrClosed
	}
	c.idleDeadline(hs.IdleTimeout)
	if c.br.Buffered() == 0 {
		// Let the other connections' handlers run first: by the time this one reads,
		// its client has usually sent the next request, and the read that would find
		// nothing and park in the poller is saved.
		runtime.Gosched()
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, err
	}
	if !c.idle.CompareAndSwap(true, false) {
		return nil, net.ErrClosed // Shutdown closed it meanwhile
	}
	head, err := c.peekHead()
	if err != nil {
		return nil, err
	}
	h, ok := parseHead(head, c.srv.cfg.Simple)
	if !ok {
		return nil, errNotSimple
	}
	_, _ = c.br.Discard(len(head))
	// One allocation holds the request, its URL and its body reader.
	a := &requestAlloc{req: *c.blank, url: url.URL{Path: h.path, RawQuery: h.query}}
	req := &a.req
	req.Method, req.URL, req.RequestURI = h.method, &a.url, h.target
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	req.Header, req.Host, req.Close = h.header, h.host, h.close
	req.RemoteAddr, req.TLS = c.remote, c.tls
	req.Body, req.ContentLength = http.NoBody, h.contentLength
	if h.contentLength > 0 {
		// The body is read before the handler runs, under the head's deadline, so a
		// slow body cannot hold the handler.
		a.body.b = make([]byte, h.contentLength)
		if int64(c.br.Buffered()) < h.contentLength {
			c.requestDeadline()
		}
		if _, err := io.ReadFull(c.br, a.body.b); err != nil {
			return nil, err
		}
		req.Body = &a.body
	}
	return req, nil
}

// idleDeadline bounds the wait for the next request by d. Moving a deadline costs a
// timer update, so while the idle deadline stands it moves at most once a second: the
// wait may end up to a second before d has passed since the last request.
func (c *conn) idleDeadline(d time.Duration) {
	if d <= 0 {
		if !c.deadline.IsZero() {
			c.deadline, c.short = time.Time{}, false
			_ = c.rwc.SetReadDeadline(c.deadline)
		}
		return
	}
	if next := time.Now().Add(d); c.short || next.Sub(c.deadline) >= time.Second {
		c.deadline, c.short = next, false
		_ = c.rwc.SetReadDeadline(next)
	}
}

// requestDeadline bounds the rest of a request that has begun (its head, then its body)
// by ReadHeaderTimeout from now, when the request is not all buffered already: a
// request that arrived in one piece, the usual case, costs no timer update.
func (c *conn) requestDeadline() {
	d := c.srv.cfg.HTTP.ReadHeaderTimeout
	if d <= 0 || c.short {
		return
	}
	c.deadline, c.short = time.Now().Add(d), true
	_ = c.rwc.SetReadDeadline(c.deadline)
}

type requestAlloc struct {
	req  http.Request
	url  url.URL
	body bodyReader
}

// peekHead returns the request head through its blank line without consuming it. A
// head that is not plainly well-formed, or does not fit the buffer, is errNotSimple.
func (c *conn) peekHead() ([]byte, error) {
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		n, st := scanHead(buf)
		switch {
		case st == headComplete:
			return buf[:n], nil
		case st == headNotSimple, len(buf) == c.br.Size():
			return nil, errNotSimple
		}
		c.requestDeadline()
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errNotSimple // a truncated request: net/http answers it
			}
			return nil, err
		}
	}
}

// handle runs the handler and writes its response; it reports whether the connection
// stays open for another request.
func (c *conn) handle(req *http.Request) (keep bool) {
	w := &c.resp
	clear(w.header)
	w.status, w.body = 0, c.body[:0]
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.srv.logf("http: panic serving %v: %v\n%s", c.remote, p, debug.Stack())
			}
			keep = false
		}
	}()
	c.srv.handler.ServeHTTP(w, req)
	keep = !req.Close && !c.srv.closing.Load()
	c.out, keep = w.appendTo(c.out[:0], c.srv.date(), keep)
	_, err := c.rwc.Write(c.out)
	if cap(c.out) > maxKeptOutput {
		c.out = nil
	}
	c.body = w.body[:0]
	if cap(c.body) > maxKeptOutput {
		c.body = nil
	}
	return keep && err == nil
}

// response is the http.ResponseWriter of a fast request: it buffers the whole
// response, which the connection writes once the handler returns.
type response struct {
	header http.Header
	status int
	body   []byte
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.status != 0 || code < 200 || code > 999 {
		return // superfluous, or informational (simple routes send none)
	}
	w.status = code
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// appendTo appends the status line, headers and body to b as net/http would write them
// for a response of known length. keep says whether the connection may stay open; the
// handler can only turn that off, with Connection: close.
func (w *response) appendTo(b []byte, date []byte, keep bool) ([]byte, bool) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	b = append(b, "\r\n"...)

	var keysBuf [16]string
	keys := keysBuf[:0]
	for k := range w.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	hasDate, hasType := false, false
	for _, k := range keys {
		switch k {
		case "Content-Length", "Transfer-Encoding":
			continue // the length is the buffered body's
		case "Connection":
			for _, v := range w.header[k] {
				if hasToken(v, "close") {
					keep = false
				}
			}
			continue
		case "Date":
			hasDate = true
		case "Content-Type":
			hasType = true
		}
		if !validFieldName(k) {
			continue
		}
		for _, v := range w.header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendFieldValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	body := w.body
	if !bodyAllowed(status) {
		body = nil
	} else {
		if !hasType && len(body) > 0 {
			b = append(b, "Content-Type: "...)
			b = append(b, http.DetectContentType(body)...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	if !hasDate {
		b = append(b, "Date: "...)
		b = append(b, date...)
		b = append(b, "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...), keep
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// appendFieldValue appends v with CR and LF turned into spaces, as net/http does, so a
// value cannot split the response.
func appendFieldValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return b
}

// bodyReader is a fast request's body, read in full before the handler runs.
type bodyReader struct {
	b []byte
	i int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	if r.i == len(r.b) {
		return n, io.EOF
	}
	return n, nil
}

func (r *bodyReader) Close() error { return nil }

// prefixConn is a connection handed to net/http: it first yields what the fast path
// read but did not consume, then reads the connection itself.
type prefixConn struct {
	net.Conn
	br  *bufio.Reader
	tls *tls.ConnectionState
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.br != nil {
		if p.br.Buffered() > 0 {
			return p.br.Read(b)
		}
		p.br = nil
	}
	return p.Conn.Read(b)
}

// date returns the Date header value, formatted at most once a second.
func (s *Server) date() []byte {
	now := time.Now()
	if d := s.dateCache.Load(); d != nil && d.unix == now.Unix() {
		return d.value
	}
	d := &cachedDate{unix: now.Unix(), value: now.UTC().AppendFormat(nil, http.TimeFormat)}
	s.dateCache.Store(d)
	return d.value
}

type cachedDate struct {
	unix  int64
	value []byte
}
