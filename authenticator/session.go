package authenticator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// DefaultTimeout bounds each call of a Session, and connecting.
const DefaultTimeout = 30 * time.Second

// Listener hears what the server sends unasked. Its methods run on the session's
// reading goroutine: return quickly, and call the Session from another goroutine.
type Listener interface {
	// OnRequest: a new request waits for the user.
	OnRequest(r *Request)
	// OnClosed: the connection ended; err is empty when Close ended it.
	OnClosed(err string)
}

// Session is a connection to the device server over the secured channel.
type Session struct {
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration

	identity *Identity
	ks       KeyStore
	nc       net.Conn
	br       *bufio.Reader
	sess     *sigma.Session

	wmu      sync.Mutex
	mu       sync.Mutex
	nextID   uint64
	waiting  map[uint64]chan *message.Envelope
	listener Listener
	closed   bool
	closeErr error
	done     chan struct{}

	// msgListener, when set, hears messages instead of a listener that implements
	// MessageListener.
	msgListener MessageListener
}

// ServerError is an error answer from the device server.
type ServerError struct {
	Code    string // one of the message.ErrCode values
	Message string
}

func (e *ServerError) Error() string { return "device server: " + e.Code + ": " + e.Message }

// dial opens the WebSocket and runs the SIGMA-I handshake.
func dial(channelURL string, tlsConfig *tls.Config, timeout time.Duration, cfg sigma.ClientConfig) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := ws.Dialer{Timeout: timeout, TLSConfig: tlsConfig}
	nc, br, _, err := d.Dial(ctx, channelURL)
	if err != nil {
		return nil, fmt.Errorf("authenticator: connect to %s: %w", channelURL, err)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 512)
	}
	s := &Session{nc: nc, br: br, waiting: map[uint64]chan *message.Envelope{}, done: make(chan struct{})}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	hs, err := sigma.NewClient(cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	hello, err := hs.Start()
	if err == nil {
		err = s.writeFrame(ws.OpBinary, hello)
	}
	var reply []byte
	if err == nil {
		reply, err = s.readMessage()
	}
	var finish []byte
	if err == nil {
		finish, s.sess, err = hs.Finish(reply)
	}
	if err == nil {
		err = s.writeFrame(ws.OpBinary, finish)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("authenticator: handshake: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return s, nil
}

// KeepaliveInterval is how often an open session pings the server, which closes
// connections that stay silent for its idle timeout (5 minutes by default).
const KeepaliveInterval = 60 * time.Second

// start runs the session once its fields are set: the reading goroutine, and the
// keepalive, which also notices a server or network path that went silent.
func (s *Session) start() {
	go s.readLoop()
	go func() {
		t := time.NewTicker(KeepaliveInterval)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				if err := s.Ping(); err != nil {
					s.shutdown(fmt.Errorf("authenticator: keepalive: %w", err))
					return
				}
			}
		}
	}()
}

// SetListener sets who hears new requests and the end of the connection.
func (s *Session) SetListener(l Listener) {
	s.mu.Lock()
	s.listener = l
	s.mu.Unlock()
}

// Identity is the enrolled identity this session runs as.
func (s *Session) Identity() *Identity { return s.identity }

// Close ends the session.
func (s *Session) Close() error {
	s.shutdown(nil)
	return nil
}

// Done is closed when the connection has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the connection ended (nil while open or after Close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

func (s *Session) shutdown(cause error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed, s.closeErr = true, cause
	l := s.listener
	for id, ch := range s.waiting {
		close(ch)
		delete(s.waiting, id)
	}
	s.mu.Unlock()
	s.wmu.Lock()
	_ = s.writeRawLocked(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	s.wmu.Unlock()
	_ = s.nc.Close()
	close(s.done)
	if l != nil {
		msg := ""
		if cause != nil {
			msg = cause.Error()
		}
		l.OnClosed(msg)
	}
}

func (s *Session) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// call sends a request and waits for its answer.
func (s *Session) call(in *message.Envelope) (*message.Envelope, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("authenticator: the session is closed")
	}
	s.nextID++
	in.ID = s.nextID
	ch := make(chan *message.Envelope, 1)
	s.waiting[in.ID] = ch
	s.mu.Unlock()
	if err := s.send(in); err != nil {
		s.shutdown(err)
		return nil, err
	}
	timer := time.NewTimer(s.timeout())
	defer timer.Stop()
	select {
	case out, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("authenticator: the connection ended: %w", s.Err())
		}
		if out.Type == message.TypeError {
			return nil, &ServerError{Code: out.Error, Message: out.Message}
		}
		if out.Type != message.OKType(in.Type) {
			return nil, fmt.Errorf("authenticator: answer of type %q to %q", out.Type, in.Type)
		}
		return out, nil
	case <-timer.C:
		s.mu.Lock()
		delete(s.waiting, in.ID)
		s.mu.Unlock()
		return nil, fmt.Errorf("authenticator: no answer to %s within %s", in.Type, s.timeout())
	}
}

func (s *Session) send(v *message.Envelope) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	frame, err := s.sess.Seal(plain)
	if err != nil {
		return err
	}
	return s.writeRawLocked(ws.OpBinary, frame)
}

func (s *Session) readLoop() {
	for {
		msg, err := s.readMessage()
		if err != nil {
			s.shutdown(err)
			return
		}
		plain, err := s.sess.Open(msg)
		if err != nil {
			s.shutdown(fmt.Errorf("authenticator: frame refused: %w", err))
			return
		}
		var env message.Envelope
		if err := json.Unmarshal(plain, &env); err != nil {
			s.shutdown(fmt.Errorf("authenticator: malformed message: %w", err))
			return
		}
		s.mu.Lock()
		ch := s.waiting[env.ID]
		delete(s.waiting, env.ID)
		l, ml := s.listener, s.msgListener
		s.mu.Unlock()
		if ml == nil {
			ml, _ = l.(MessageListener)
		}
		switch {
		case env.ID != 0 && ch != nil:
			ch <- &env
		case env.Type == message.TypeRequestNew && env.Request != nil && l != nil:
			l.OnRequest(newRequest(env.Request))
		case env.Type == message.TypeMessageNew && env.Msg != nil && ml != nil:
			ml.OnMessage(newMessage(env.Msg))
		}
	}
}

// readMessage reads one binary message, answering pings.
func (s *Session) readMessage() ([]byte, error) {
	for {
		h, err := ws.ReadHeader(s.br)
		if err != nil {
			return nil, err
		}
		if h.Masked || h.Length > 1<<20 {
			return nil, errors.New("authenticator: malformed frame from the server")
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(s.br, payload); err != nil {
			return nil, err
		}
		switch h.OpCode {
		case ws.OpBinary:
			if !h.Fin {
				return nil, errors.New("authenticator: fragmented message from the server")
			}
			return payload, nil
		case ws.OpPing:
			if err := s.writeFrame(ws.OpPong, payload); err != nil {
				return nil, err
			}
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(payload)
			return nil, fmt.Errorf("authenticator: the server closed the connection (%d %s)", code, reason)
		case ws.OpPong:
		default:
			return nil, fmt.Errorf("authenticator: unexpected frame %v", h.OpCode)
		}
	}
}

func (s *Session) writeFrame(op ws.OpCode, payload []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeRawLocked(op, payload)
}

// writeRawLocked writes one masked frame (RFC 6455 §5.3: clients mask every frame).
func (s *Session) writeRawLocked(op ws.OpCode, payload []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload)), Masked: true}
	_, _ = rand.Read(h.Mask[:])
	masked := append([]byte(nil), payload...)
	ws.Cipher(masked, h.Mask, 0)
	var buf bytes.Buffer
	buf.Grow(ws.HeaderSize(h) + len(masked))
	_ = ws.WriteHeader(&buf, h)
	buf.Write(masked)
	_ = s.nc.SetWriteDeadline(time.Now().Add(s.timeout()))
	_, err := s.nc.Write(buf.Bytes())
	return err
}
