package server

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/signet-auth/signet/internal/config"
)

// Accepted device connections have no TCP keepalive; the other listeners keep Go's.
func TestDeviceListenerNoKeepalive(t *testing.T) {
	t.Parallel()
	for ep, want := range map[config.Endpoint]int{config.Device: 0, config.Public: 1} {
		lc := listenConfig(ep)
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		if err := raw.Control(func(fd uintptr) {
			got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if got != want {
			t.Errorf("%s: SO_KEEPALIVE %d, want %d", ep, got, want)
		}
	}
}
