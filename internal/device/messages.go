package device

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/sigma/message"
)

// The device side of messages to phones (see inbox.go): a connected device is handed
// each new message in band; a device lists its waiting messages and acknowledges each
// one it has shown. A device sees and acknowledges only its own: the realm and device
// come from the authenticated session, never from the message.

func (s *Server) inbox() Inbox { return Inbox{Ephemeral: s.cfg.Ephemeral} }

// ofDevice lists the connections of one device on this node.
func (h *hub) ofDevice(realm, deviceID string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.byDevice[deviceKey{realm, deviceID}]
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// deliverMessage hands a new message, named by the Inbox's notice
// "realm\x00device\x00id", to its device's connections on this node.
func (h *hub) deliverMessage(ctx context.Context, notice string) {
	parts := strings.Split(notice, "\x00")
	if len(parts) != 3 {
		return
	}
	conns := h.ofDevice(parts[0], parts[1])
	if len(conns) == 0 {
		return // the device lists its messages when it connects, or is woken
	}
	m, err := h.srv.inbox().Get(ctx, parts[0], parts[1], parts[2])
	if err != nil {
		return // acknowledged or expired meanwhile; or unreadable now, and listed later
	}
	v := msgView(m)
	out := &message.Envelope{Type: message.TypeMessageNew, Msg: &v}
	if !h.srv.fits(out) {
		// A frame too large would close the connection.
		h.srv.log.Warn("device: a message is larger than device.max_message_bytes allows; not delivered", "message", m.ID)
		return
	}
	for _, c := range conns {
		// As for requests: each connection on its own goroutine, a failed write closes it.
		go func() {
			if _, u, err := h.srv.lookupDevice(ctx, decodeIDOrZero(c.dev.ID)); err != nil || !h.srv.usable(u) {
				c.closeWith(ws.StatusPolicyViolation, "device no longer active")
				return
			}
			if !c.send(out) {
				c.closeWith(ws.StatusGoingAway, "")
			}
		}()
	}
}

// fits reports whether v, sealed, stays within the channel's frame limit.
func (s *Server) fits(v *message.Envelope) bool {
	b, err := json.Marshal(v)
	return err == nil && len(b) <= s.cfg.MaxMessage
}

func msgView(m Message) message.Msg {
	return message.Msg{ID: m.ID, Title: m.Title, Body: m.Body, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt}
}

// Deliverable reports whether m fits the device channel's frames of maxMessage bytes
// (Config.MaxMessage; 0: the default), both as a message.new notice and in a listing: a
// sender refuses what no device could ever be given.
func Deliverable(m Message, maxMessage int) bool {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	v := msgView(m)
	b, err := json.Marshal(&message.Envelope{Type: message.TypeMessageNew, Msg: &v})
	return err == nil && len(b) <= maxMessage-listOverhead
}

// listOverhead is room for the answer's own fields around its list of messages.
const listOverhead = 128

// listMessages answers "messages": the device's waiting messages, oldest first, as many
// as fit in one frame; "more" tells the device to acknowledge these and list again.
func (c *conn) listMessages(ctx context.Context) (*message.Envelope, string, string) {
	s := c.srv
	msgs, err := s.inbox().List(ctx, c.dev.Realm, c.dev.ID)
	if err != nil {
		return nil, message.ErrCodeUnavailable, "the messages could not be read"
	}
	out := &message.Envelope{Msgs: make([]message.Msg, 0, len(msgs))}
	room := s.cfg.MaxMessage - listOverhead
	budget := room
	for _, m := range msgs {
		v := msgView(m)
		b, err := json.Marshal(v)
		if err != nil || len(b)+1 > room {
			// Larger than any frame this server sends: it can never be listed.
			continue
		}
		if budget -= len(b) + 1; budget < 0 {
			out.More = true
			break
		}
		out.Msgs = append(out.Msgs, v)
	}
	return out, "", ""
}

// ackMessage answers "message.ack": the device has shown the message, which is forgotten.
func (c *conn) ackMessage(ctx context.Context, in *message.Envelope) (*message.Envelope, string, string) {
	if in.MessageID == "" {
		return nil, message.ErrCodeBadRequest, "message_id is required"
	}
	err := c.srv.inbox().Ack(ctx, c.dev.Realm, c.dev.ID, in.MessageID)
	switch {
	case errors.Is(err, ErrMessageNotFound):
		return nil, message.ErrCodeNotFound, "no such message"
	case err != nil:
		return nil, message.ErrCodeUnavailable, "the message could not be acknowledged"
	}
	return &message.Envelope{}, "", ""
}
