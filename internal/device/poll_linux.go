//go:build linux

package device

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller parks idle connections in an epoll set of its own, so an idle connection holds
// no goroutine and no read buffer: only its socket, its session state and a registration
// in the kernel. Each registration is one-shot: when a connection becomes readable it is
// reported once, handled by a worker, and armed again after that (level-triggered, so
// bytes that arrived meanwhile are reported at once). One worker at a time therefore owns
// a connection's reading side.
type poller struct {
	epfd         int
	wakeR, wakeW int
	// ready is called, on the poller's goroutine, with the token of a readable connection;
	// fail, if epoll_wait fails for good (parked connections then wait for their
	// deadlines).
	ready func(token uint64)
	fail  func(error)

	mu      sync.RWMutex // guards closed against the descriptors' release
	closed  bool
	stopped chan struct{}
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
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	// Token 0 is the wake-up pipe; connections' tokens start at 1.
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake[0], &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wake[0])
		_ = unix.Close(wake[1])
		return nil, err
	}
	p := &poller{epfd: epfd, wakeR: wake[0], wakeW: wake[1], ready: ready, fail: fail, stopped: make(chan struct{})}
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
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			p.fail(err)
			return
		}
		for i := range events[:n] {
			t := tokenOf(&events[i])
			if t == 0 {
				return
			}
			p.ready(t)
		}
	}
}

// stop ends the poller's goroutine and releases its descriptors. The connections it
// watched are closed by their server.
func (p *poller) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	_, _ = unix.Write(p.wakeW, []byte{1})
	<-p.stopped
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.wakeR)
	_ = unix.Close(p.wakeW)
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
