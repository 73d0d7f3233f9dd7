package device

import (
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/sigma/message"
)

// msgListener hears requests and messages, as an app's one listener would.
type msgListener struct {
	*requestListener
	msgs chan *authenticator.Message
}

func newMsgListener() *msgListener {
	return &msgListener{requestListener: newRequestListener(), msgs: make(chan *authenticator.Message, 16)}
}

func (l *msgListener) OnMessage(m *authenticator.Message) { l.msgs <- m }

// onlyMessages is a MessageListener and nothing else (SetMessageListener).
type onlyMessages chan *authenticator.Message

func (l onlyMessages) OnMessage(m *authenticator.Message) { l <- m }

func nextMessage(t *testing.T, ch <-chan *authenticator.Message) *authenticator.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the message was not delivered to the connected device")
		return nil
	}
}

func (h *harness) putMessage(deviceID, title, body string) Message {
	h.t.Helper()
	m, err := Inbox{Ephemeral: h.eph}.Put(h.t.Context(), Message{Realm: h.realm, DeviceID: deviceID, Title: title, Body: body,
		ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		h.t.Fatalf("Put: %v", err)
	}
	return m
}

// A connected device is handed a new message in band, through a Listener that also
// implements MessageListener or through SetMessageListener; acknowledging it removes it
// and tells whoever listens on AcksChannel.
func TestMessageInBand(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app, id := h.enrolled()
	s, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newMsgListener()
	s.SetListener(l)
	acks := notices(t, h.eph, AcksChannel)

	put := h.putMessage(id.DeviceID, "Card payment", "12.50 EUR at Café Zürich\n\tcard ending 4242")
	got := nextMessage(t, l.msgs)
	if got.ID != put.ID || got.Title != "Card payment" || got.Body != "12.50 EUR at Café Zürich\n\tcard ending 4242" ||
		got.CreatedAt != put.CreatedAt.Unix() || got.ExpiresAt != put.ExpiresAt.Unix() {
		t.Fatalf("delivered %+v, put %+v", got, put)
	}
	// The listener hears requests as before.
	r := h.ask(nil)
	if got := l.next(t); got.ID != r.ID {
		t.Fatalf("request %s delivered, want %s", got.ID, r.ID)
	}

	if err := s.AckMessage(got.ID); err != nil {
		t.Fatal(err)
	}
	if n := acks(); n != h.realm+"\x00"+id.DeviceID+"\x00"+got.ID {
		t.Fatalf("ack notice %q", n)
	}
	if list, err := s.Messages(); err != nil || list.Len() != 0 {
		t.Fatalf("after the ack: %v", err)
	}
	if err := s.AckMessage(got.ID); !isServerError(err, message.ErrCodeNotFound) {
		t.Fatalf("second ack: %v", err)
	}
	if err := s.AckMessage("no-such-message"); !isServerError(err, message.ErrCodeNotFound) {
		t.Fatalf("ack of an unknown id: %v", err)
	}

	// A listener of its own takes precedence.
	only := make(onlyMessages, 4)
	s.SetMessageListener(only)
	put = h.putMessage(id.DeviceID, "Second", "")
	if got := nextMessage(t, only); got.ID != put.ID {
		t.Fatalf("delivered %s, want %s", got.ID, put.ID)
	}
	select {
	case m := <-l.msgs:
		t.Fatalf("the Listener heard %s too", m.ID)
	default:
	}
	if err := s.Ping(); err != nil {
		t.Fatalf("the session broke: %v", err)
	}
}

// A message put while the device is offline waits: the device lists it when it
// connects, oldest first, and acknowledges it.
func TestMessageOfflineListedOnConnect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app, id := h.enrolled()
	first := h.putMessage(id.DeviceID, "First", "one")
	second := h.putMessage(id.DeviceID, "Second", "two")
	s, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if list.Len() != 2 || list.More() || list.Get(0).ID != first.ID || list.Get(1).ID != second.ID ||
		list.Get(0).Title != "First" || list.Get(1).Body != "two" {
		t.Fatalf("listed %d (more %v)", list.Len(), list.More())
	}
	for i := range list.Len() {
		if err := s.AckMessage(list.Get(i).ID); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := s.Messages(); err != nil || list.Len() != 0 {
		t.Fatalf("after the acks: %v", err)
	}
}

// A device sees, is handed and acknowledges only its own messages, also another
// device of the same user.
func TestMessagesStayWithTheirDevice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	var sessions []*authenticator.Session
	var ids []*authenticator.Identity
	var listeners []*msgListener
	for range 2 {
		app, id := h.enrolled()
		s, err := app.Connect(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l := newMsgListener()
		s.SetListener(l)
		sessions, ids, listeners = append(sessions, s), append(ids, id), append(listeners, l)
	}
	mine := h.putMessage(ids[0].DeviceID, "For the first device", "")
	if got := nextMessage(t, listeners[0].msgs); got.ID != mine.ID {
		t.Fatalf("delivered %s", got.ID)
	}
	theirs := h.putMessage(ids[1].DeviceID, "For the second device", "")
	if got := nextMessage(t, listeners[1].msgs); got.ID != theirs.ID {
		t.Fatalf("the second device was handed %s, want its own %s", got.ID, theirs.ID)
	}
	select {
	case m := <-listeners[0].msgs:
		t.Fatalf("the first device was handed %s, the second's", m.ID)
	case <-time.After(200 * time.Millisecond):
	}
	list, err := sessions[1].Messages()
	if err != nil || list.Len() != 1 || list.Get(0).ID != theirs.ID {
		t.Fatalf("the second device lists %v", err)
	}
	if err := sessions[1].AckMessage(mine.ID); !isServerError(err, message.ErrCodeNotFound) {
		t.Fatalf("the second device acknowledged the first's message: %v", err)
	}
	list, err = sessions[0].Messages()
	if err != nil || list.Len() != 1 || list.Get(0).ID != mine.ID {
		t.Fatalf("the first device's message after the other's ack: %v", err)
	}
}

// A listing stops before it outgrows a frame and says so; a message too large for any
// frame is neither handed in band (which would close the connection) nor listed.
func TestMessagesWithinFrameLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) { c.MaxMessage = 4096 })
	app, id := h.enrolled()
	s, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newMsgListener()
	s.SetListener(l)
	h.putMessage(id.DeviceID, "too large", strings.Repeat("<", 1000)) // 6 bytes each in JSON
	var put []string
	for i := range 5 {
		put = append(put, h.putMessage(id.DeviceID, "part "+string(rune('A'+i)), strings.Repeat("x", 1200)).ID)
	}
	// Each notice goes out on its own goroutine: in band, the order is not kept.
	delivered := map[string]bool{}
	for range put {
		delivered[nextMessage(t, l.msgs).ID] = true
	}
	for _, want := range put {
		if !delivered[want] {
			t.Fatalf("%s not delivered in band: %v", want, delivered)
		}
	}
	var listed []string
	for round := 0; ; round++ {
		list, err := s.Messages()
		if err != nil {
			t.Fatal(err)
		}
		if list.Len() > 3 || round > 5 {
			t.Fatalf("round %d listed %d", round, list.Len())
		}
		for i := range list.Len() {
			listed = append(listed, list.Get(i).ID)
			if err := s.AckMessage(list.Get(i).ID); err != nil {
				t.Fatal(err)
			}
		}
		if !list.More() {
			break
		}
	}
	if strings.Join(listed, ",") != strings.Join(put, ",") {
		t.Fatalf("listed %v, want %v", listed, put)
	}
}
