//go:build linux

package device

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller parks idle connections in an epoll set of its own, so an idle connection holds
// no goroutine and no read buffer: only its socket, its session state and a registration
// in the kernel. Each registration is one-shot: when a connection becomes readable it is
// reported once, handled by a worker, and armed again after that (level-triggered, so
// bytes that arrived meanwhile are reported at once). One worker at a time therefore owns
// a connection's reading side.
//
// The set's own descriptor is readable while it has events, so the poller's goroutine
// waits for it in Go's network poller like any socket: no thread blocks in epoll_wait,
// and a readiness is picked up by the scheduler as promptly as a socket's.
type poller struct {
	epfd int
	set  *os.File // epfd, registered with Go's network poller
	raw  syscall.RawConn
	// ready is called, on the poller's goroutine, with the token of a readable connection;
	// fail, if waiting fails for good (parked connections then wait for their deadlines).
	ready func(token uint64)
	fail  func(error)

	mu       sync.RWMutex // guards closed against the descriptor's release
	closed   bool
	stopping atomic.Bool // set before the set is closed, for run
	stopped  chan struct{}
}

// pollEvents is what a parked connection waits for: input, the peer's end of writing,
// and (always reported) errors and hang-ups; one-shot.
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// newPoller creates the epoll set and starts its goroutine.
func newPoller(ready func(token uint64), fail func(error)) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, os.NewFile registers it with Go's network poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	set := os.NewFile(uintptr(epfd), "device-poller")
	raw, err := set.SyscallConn()
	if err != nil {
		_ = set.Close()
		return nil, err
	}
	p := &poller{epfd: epfd, set: set, raw: raw, ready: ready, fail: fail, stopped: make(chan struct{})}
	go p.run()
	return p, nil
}

func setToken(ev *unix.EpollEvent, t uint64) { ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32)) }

func tokenOf(ev *unix.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }

// watch arms the connection's registration, adding it the first time. It runs inside the
// socket's Control, so the descriptor cannot be closed (and its number reused by another
// connection) while it is being registered; a closed socket leaves the set by itself.
func (p *poller) watch(raw syscall.RawConn, token uint64, first bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return net.ErrClosed
	}
	op := unix.EPOLL_CTL_MOD
	if first {
		op = unix.EPOLL_CTL_ADD
	}
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: pollEvents}
		setToken(&ev, token)
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	}); cerr != nil {
		return cerr
	}
	return err
}

func (p *poller) run() {
	defer close(p.stopped)
	events := make([]unix.EpollEvent, 256)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			if errors.Is(werr, unix.EINTR) {
				n, werr = 0, nil
				return true // try again at once
			}
			// Nothing yet: Go's poller waits for the set to become readable. Go registers
			// it edge-triggered, so the set is emptied before waiting (after any batch,
			// even a full one, this runs again at once).
			return n > 0 || werr != nil
		})
		if err != nil {
			if !p.stopping.Load() {
				// Not a stop: Go's poller could not wait for the set.
				p.fail(err)
			}
			return
		}
		if werr != nil {
			p.fail(werr)
			return
		}
		for i := range events[:n] {
			p.ready(tokenOf(&events[i]))
		}
	}
}

// stop ends the poller's goroutine and releases its descriptor. The connections it
// watched are closed by their server.
func (p *poller) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.stopping.Store(true)
	_ = p.set.Close() // wakes run, whose wait then fails
	<-p.stopped
}

// nonblocking wraps a TCP connection for the poller: once parked is set, a read that
// would wait returns errWouldBlock at once instead. Everything else, writes with their
// deadlines included, is the TCP connection's own.
func nonblocking(nc net.Conn) *nbConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &nbConn{Conn: nc, raw: raw}
}

func (n *nbConn) Read(p []byte) (int, error) {
	if !n.parked.Load() {
		return n.Conn.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var nr int
	var err error
	if cerr := n.raw.Read(func(fd uintptr) bool {
		nr, err = unix.Read(int(fd), p)
		return true // one attempt; the poller says when to try again
	}); cerr != nil {
		return 0, cerr
	}
	switch {
	case errors.Is(err, unix.EAGAIN):
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case nr == 0:
		return 0, io.EOF
	}
	return nr, nil
}

// hasInput reports whether bytes wait on the socket, without reading them.
func (n *nbConn) hasInput() bool {
	var got int
	_ = n.raw.Control(func(fd uintptr) {
		var b [1]byte
		got, _, _ = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	})
	return got > 0
}
