package authenticator

import (
	"errors"

	"github.com/signet-auth/signet/sigma/message"
)

// Message is a message for the user from a business application: the app shows it, then
// acknowledges it (AckMessage) so the server forgets it. Title and Body are UTF-8 without
// control characters (Body may hold newlines and tabs).
type Message struct {
	ID        string
	Title     string
	Body      string
	CreatedAt int64 // unix seconds
	ExpiresAt int64
}

func newMessage(m *message.Msg) *Message {
	return &Message{ID: m.ID, Title: m.Title, Body: m.Body, CreatedAt: m.CreatedAt.Unix(), ExpiresAt: m.ExpiresAt.Unix()}
}

// MessageListener hears new messages while the session is open. The Listener given to
// SetListener may implement it too; SetMessageListener sets one of its own (which
// gomobile apps need: an iOS or Android object reaches Go as the interface type it was
// passed as, so the type assertion does not find its other methods). OnMessage runs on
// the session's reading goroutine, like Listener's methods: return quickly, and call the
// Session from another goroutine. A message may arrive both here and in a listing;
// tell them apart by ID.
type MessageListener interface {
	OnMessage(m *Message)
}

// SetMessageListener sets who hears new messages; it takes precedence over a Listener
// that implements MessageListener. nil removes it.
func (s *Session) SetMessageListener(l MessageListener) {
	s.mu.Lock()
	s.msgListener = l
	s.mu.Unlock()
}

// Messages is a list of messages (gomobile binds no slices of structs).
type Messages struct {
	items []*Message
	more  bool
}

// Len is the number of messages.
func (l *Messages) Len() int { return len(l.items) }

// Get is the i-th message.
func (l *Messages) Get(i int) *Message { return l.items[i] }

// More reports that more messages wait than fitted in this list: acknowledge these, then
// list again.
func (l *Messages) More() bool { return l.more }

// Messages lists the messages waiting for this device, oldest first.
func (s *Session) Messages() (*Messages, error) {
	out, err := s.call(&message.Envelope{Type: message.TypeMessages})
	if err != nil {
		return nil, err
	}
	l := &Messages{more: out.More}
	for i := range out.Msgs {
		l.items = append(l.items, newMessage(&out.Msgs[i]))
	}
	return l, nil
}

// AckMessage tells the server the message has been shown: it is forgotten, and the
// application that sent it may learn so. An unknown id (acknowledged already, expired,
// never sent to this device) is a ServerError with code "not_found".
func (s *Session) AckMessage(id string) error {
	if id == "" {
		return errors.New("authenticator: no message id")
	}
	_, err := s.call(&message.Envelope{Type: message.TypeMessageAck, MessageID: id})
	return err
}
