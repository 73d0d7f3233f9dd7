package h1

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// memConn yields the same request n times, then EOF, and discards what is written.
type memConn struct {
	req  []byte
	n    int
	left []byte
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.left) == 0 {
		if c.n == 0 {
			return 0, io.EOF
		}
		c.n--
		c.left = c.req
	}
	n := copy(p, c.left)
	c.left = c.left[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkFastRequest is the fast path's own cost per request: reading and parsing a
// token request as Go's HTTP/1.1 client sends it, and writing a token-sized response,
// with a handler that does nothing else.
func BenchmarkFastRequest(b *testing.B) {
	req := []byte("POST /realms/demo/protocol/openid-connect/token HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n" +
		"User-Agent: Go-http-client/1.1\r\nContent-Length: 29\r\nAuthorization: Basic ZGVtby1jbGllbnQ6c2VjcmV0\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\nAccept-Encoding: gzip\r\n\r\ngrant_type=client_credentials")
	resp := make([]byte, 700)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64)
		_, _ = r.Body.Read(buf)
		h := w.Header()
		h["Content-Type"], h["Cache-Control"], h["Pragma"] = []string{"application/json"}, []string{"no-store"}, []string{"no-cache"}
		_, _ = w.Write(resp)
	})
	s := New(Config{HTTP: &http.Server{Handler: handler}, Simple: func(string, string) bool { return true }})
	b.ReportAllocs()
	b.ResetTimer()
	c := &conn{srv: s, rwc: &memConn{req: req, n: b.N}}
	s.track(c)
	c.serve()
}
