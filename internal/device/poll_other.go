//go:build !linux

package device

import (
	"errors"
	"net"
	"syscall"
)

// poller is Linux-only: elsewhere each idle connection parks a goroutine in Read.
type poller struct{}

func newPoller(func(uint64), func(error)) (*poller, error) {
	return nil, errors.New("device: no poller on this platform")
}

func (*poller) watch(syscall.RawConn, uint64, bool) error { return net.ErrClosed }

func (*poller) stop() {}

func nonblocking(net.Conn) *nbConn { return nil }

func (*nbConn) hasInput() bool { return true }
