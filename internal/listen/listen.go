// Package listen holds the accept loop the project's own servers (the fast HTTP/1.1
// path and the device channel) share, paced after errors as net/http's is.
package listen

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Loop accepts connections on ln and hands each to serve, wrapped in TLS when cfg is
// set (the handshake is left to serve). It returns http.ErrServerClosed once closing
// reports true or serve refuses a connection (returns false), and any other accept
// error that is not transient. Transient errors (a timeout, running out of file
// descriptors) are logged with logf and retried after a pause that doubles from 5 ms up
// to 1 s.
func Loop(ln net.Listener, cfg *tls.Config, closing func() bool, logf func(format string, args ...any), serve func(net.Conn) bool) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if closing() {
				return http.ErrServerClosed
			}
			if !transient(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			logf("accept failed: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if cfg != nil {
			c = tls.Server(c, cfg)
		}
		if !serve(c) {
			_ = c.Close()
			return http.ErrServerClosed
		}
	}
}

func transient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
