package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// h1Client is the token bench's HTTP/1.1 load client: one TLS 1.3 keep-alive connection,
// one request at a time, the request's bytes built once. It reads only what the bench
// needs (status, Content-Length, body), so the load process spends a fraction of what the
// server does per request and the server, not the load, sets the pace. Go's http.Client
// spends about as much CPU per request as the server here, and with its core near
// saturation the server core idled between bursts.
//
// Its sockets are busy-polled (spinConn): over loopback the sender of a segment pays
// for waking the thread that waits for it, and waking an idle core is an
// inter-processor interrupt, several microseconds in a virtual machine. A load process
// that slept in epoll would charge that to every response the server writes, a cost no
// client across a network puts on a server.
type h1Client struct {
	addr    string
	tls     *tls.Config
	timeout time.Duration
	req     []byte

	conn *tls.Conn
	br   *bufio.Reader
	body []byte
}

// newH1Client prepares a client that POSTs form to rawURL with HTTP Basic credentials.
func newH1Client(rawURL string, cfg *tls.Config, user, password, form string) (*h1Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("load URL %q: want https", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg = cfg.Clone()
	cfg.MinVersion, cfg.NextProtos = tls.VersionTLS13, []string{"http/1.1"}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cred := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user) + ":" + url.QueryEscape(password)))
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n%s", u.RequestURI(), u.Host, cred, len(form), form)
	return &h1Client{addr: addr, tls: cfg, timeout: 10 * time.Second, req: req}, nil
}

// do sends the request and reads the whole response; any status but 200 is an error.
// A failed connection is dropped, and the next call dials a new one.
func (c *h1Client) do() error {
	if c.conn == nil {
		conn, err := dialSpin(c.addr, c.timeout)
		if err != nil {
			return err
		}
		tc := tls.Client(conn, c.tls)
		_ = tc.SetDeadline(time.Now().Add(c.timeout))
		if err := tc.Handshake(); err != nil {
			_ = tc.Close()
			return err
		}
		c.conn = tc
		if c.br == nil {
			c.br = bufio.NewReaderSize(tc, 4096)
		} else {
			c.br.Reset(tc)
		}
	}
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	status, keep, err := c.roundTrip()
	if err != nil || !keep {
		c.close()
	}
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("status %d: %.200s", status, c.body)
	}
	return nil
}

func (c *h1Client) roundTrip() (status int, keep bool, err error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, keep := -1, true
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, errors.New("chunked response: the bench client reads Content-Length bodies only")
		}
	}
	if length < 0 {
		return 0, false, errors.New("response without Content-Length")
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return 0, false, err
	}
	return status, keep, nil
}

func (c *h1Client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// spinConn reads and writes a non-blocking socket directly, yielding to the other
// connections' goroutines instead of parking in the runtime's poller while it waits, so
// the process's core never sleeps and nothing has to wake it.
type spinConn struct {
	*net.TCPConn
	fd       int
	deadline time.Time
}

func dialSpin(addr string, timeout time.Duration) (*spinConn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	tcp := conn.(*net.TCPConn)
	raw, err := tcp.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	c := &spinConn{TCPConn: tcp}
	// The runtime keeps the descriptor non-blocking and open until Close.
	if err := raw.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *spinConn) Read(b []byte) (int, error) {
	for spins := 0; ; spins++ {
		n, err := unix.Read(c.fd, b)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			if err := c.yield(spins); err != nil {
				return 0, err
			}
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		default:
			return n, nil
		}
	}
}

func (c *spinConn) Write(b []byte) (int, error) {
	written := 0
	for spins := 0; written < len(b); spins++ {
		n, err := unix.Write(c.fd, b[written:])
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			if err := c.yield(spins); err != nil {
				return written, err
			}
		case err != nil:
			return written, err
		default:
			written += n
		}
	}
	return written, nil
}

// yield lets the other goroutines run, and checks the deadline now and then.
func (c *spinConn) yield(spins int) error {
	if spins%256 == 255 && !c.deadline.IsZero() && time.Now().After(c.deadline) {
		return os.ErrDeadlineExceeded
	}
	runtime.Gosched()
	return nil
}

func (c *spinConn) SetDeadline(t time.Time) error      { c.deadline = t; return nil }
func (c *spinConn) SetReadDeadline(t time.Time) error  { c.deadline = t; return nil }
func (c *spinConn) SetWriteDeadline(t time.Time) error { c.deadline = t; return nil }
