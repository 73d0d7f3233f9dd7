package sigma

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Session is an established channel's record layer. Seal and Open may run concurrently
// with each other (each direction has its own lock). The first frame that fails to open
// closes the session for good: every later Seal and Open returns ErrClosed, and the
// caller should drop the connection.
type Session struct {
	send, recv   direction
	binding      [32]byte
	maxPlaintext int
	closed       atomic.Bool
}

// direction is one direction's key, IV and next sequence number. The AES-GCM state is
// built from the key for each frame rather than kept: expanded keys and GHASH tables
// take about 750 bytes a direction, which a server holding many idle sessions would
// keep for nothing, against well under a microsecond to rebuild them.
type direction struct {
	mu  sync.Mutex
	key [32]byte
	iv  [ivLen]byte
	seq uint64
}

func newSession(send, recv *trafficKey, binding [32]byte, maxPlaintext int) *Session {
	s := &Session{binding: binding, maxPlaintext: maxPlaintext}
	s.send.key, s.send.iv = send.key, send.iv
	s.recv.key, s.recv.iv = recv.key, recv.iv
	return s
}

// Binding is the session's exporter value: 32 bytes both sides derive from the whole
// handshake, for binding other things (an approval, a token) to this session.
func (s *Session) Binding() [32]byte { return s.binding }

// Seal encrypts plaintext into the next frame. A plaintext over the size limit is
// refused with ErrTooLarge and leaves the session open.
func (s *Session) Seal(plaintext []byte) ([]byte, error) {
	d := &s.send
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(plaintext) > s.maxPlaintext {
		return nil, fmt.Errorf("seal %d bytes, limit %d: %w", len(plaintext), s.maxPlaintext, ErrTooLarge)
	}
	// The last sequence number is never used, so a counter cannot wrap around to reuse
	// a nonce; a session that sent 2^64-1 frames must be replaced.
	if d.seq == math.MaxUint64 {
		s.closed.Store(true)
		return nil, fmt.Errorf("seal: sequence numbers exhausted: %w", ErrSequence)
	}
	frame := make([]byte, FrameHeaderSize, FrameOverhead+len(plaintext))
	frame[0], frame[1] = Version1, typeData
	binary.BigEndian.PutUint64(frame[2:], d.seq)
	n := nonce(&d.iv, d.seq)
	frame = newAEAD(d.key[:]).Seal(frame, n[:], plaintext, frame[:FrameHeaderSize])
	d.seq++
	return frame, nil
}

// Open decrypts the next frame. Anything but exactly the next expected frame, intact,
// closes the session.
func (s *Session) Open(frame []byte) ([]byte, error) {
	d := &s.recv
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	pt, err := s.open(d, frame)
	if err != nil {
		s.closed.Store(true)
		return nil, fmt.Errorf("open frame: %w", err)
	}
	d.seq++
	return pt, nil
}

func (s *Session) open(d *direction, frame []byte) ([]byte, error) {
	if err := checkHeader(frame, typeData); err != nil {
		return nil, err
	}
	if len(frame) < FrameOverhead {
		return nil, fmt.Errorf("%d bytes: %w", len(frame), ErrMalformed)
	}
	// Refuse before decrypting, so an oversize frame costs no AES work.
	if len(frame)-FrameOverhead > s.maxPlaintext {
		return nil, fmt.Errorf("%d bytes of plaintext, limit %d: %w", len(frame)-FrameOverhead, s.maxPlaintext, ErrTooLarge)
	}
	switch seq := binary.BigEndian.Uint64(frame[2:FrameHeaderSize]); {
	case d.seq == math.MaxUint64:
		return nil, fmt.Errorf("sequence numbers exhausted: %w", ErrSequence)
	case seq < d.seq:
		return nil, fmt.Errorf("sequence %d, expected %d: %w", seq, d.seq, ErrReplay)
	case seq > d.seq:
		return nil, fmt.Errorf("sequence %d, expected %d: %w", seq, d.seq, ErrSequence)
	}
	n := nonce(&d.iv, d.seq)
	pt, err := newAEAD(d.key[:]).Open(nil, n[:], frame[FrameHeaderSize:], frame[:FrameHeaderSize])
	if err != nil {
		return nil, ErrMAC
	}
	return pt, nil
}
