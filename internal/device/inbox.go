package device

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/ephemeral"
)

// Messages to phones: a business application's text (a title and a body) for one device.
// The push wake-up carries only the message's id; the text travels only over the device
// channel. Each message lives in the ephemeral store under its own key until it expires
// or the device acknowledges it; each device's waiting messages are listed under one
// index key, whose length bounds how many may wait. The message key is written before
// the index entry, so an entry whose message is gone (acknowledged, expired, or a Put
// that failed half-way) may be dropped at any time: List skips it, and a full index
// drops it.

// MessagesChannel carries "realm\x00device\x00id" for every new message; AcksChannel the
// same for every message a device acknowledged.
const MessagesChannel = "device.messages"

// AcksChannel: see MessagesChannel.
const AcksChannel = "device.acks"

// Limits of a message.
const (
	MaxTitleBytes = 200
	MaxBodyBytes  = 4096
	// MaxWaitingMessages bounds the messages waiting for one device.
	MaxWaitingMessages = 100
	// MaxMessageTTL bounds how far in the future a message may expire: the ephemeral
	// store holds short-lived state.
	MaxMessageTTL = 30 * 24 * time.Hour
	// maxMessageID bounds a message id a caller chooses.
	maxMessageID = 64
)

// Errors of the Inbox.
var (
	// ErrMessageNotFound: no such message waits for the device (never sent, acknowledged,
	// expired, or another device's).
	ErrMessageNotFound = errors.New("device: no such message")
	// ErrInboxFull: MaxWaitingMessages wait for the device already.
	ErrInboxFull = errors.New("device: too many messages wait for the device")
	// ErrInvalidMessage: a message Put refuses (missing or malformed field).
	ErrInvalidMessage = errors.New("device: invalid message")
	// ErrMessageExists: a message with the caller's id waits for the device already.
	ErrMessageExists = errors.New("device: a message with this id waits already")
)

// Message is a message for one device.
type Message struct {
	ID, Realm, DeviceID, Title, Body string
	CreatedAt, ExpiresAt             time.Time
}

// Inbox keeps the messages waiting for devices, in the ephemeral store: every node of a
// cluster sees the same messages.
type Inbox struct {
	Ephemeral ephemeral.Store
}

func messageKey(realm, deviceID, id string) string {
	return "device:msg:" + realm + "\x00" + deviceID + "\x00" + id
}

func inboxKey(realm, deviceID string) string { return "device:inbox:" + realm + "\x00" + deviceID }

// Put stores m for its device until m.ExpiresAt and announces it on MessagesChannel.
// m.Realm, m.DeviceID and a future m.ExpiresAt are required; the title is at most
// MaxTitleBytes and the body MaxBodyBytes, both valid UTF-8 without control characters
// (the body may hold \n and \t). An empty m.ID gets 128 random bits in hex. It returns
// the message as stored.
func (ib Inbox) Put(ctx context.Context, m Message) (Message, error) {
	now := time.Now()
	if err := validMessage(&m, now); err != nil {
		return Message{}, err
	}
	if m.ID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		m.ID = hex.EncodeToString(b[:])
	}
	m.CreatedAt, m.ExpiresAt = now.UTC(), m.ExpiresAt.UTC()
	b, err := json.Marshal(m)
	if err != nil {
		return Message{}, err
	}
	key := messageKey(m.Realm, m.DeviceID, m.ID)
	ok, err := ib.Ephemeral.SetNX(ctx, key, b, m.ExpiresAt.Sub(now))
	if err != nil {
		return Message{}, fmt.Errorf("device: store the message: %w", err)
	}
	if !ok {
		return Message{}, ErrMessageExists
	}
	err = ib.editIndex(ctx, m.Realm, m.DeviceID, func(list []indexed) ([]indexed, error) {
		if len(list) >= MaxWaitingMessages {
			var err error
			if list, err = ib.prune(ctx, m.Realm, m.DeviceID, list); err != nil {
				return nil, err
			}
		}
		if len(list) >= MaxWaitingMessages {
			return nil, ErrInboxFull
		}
		return append(list, indexed{ID: m.ID, ExpiresAt: m.ExpiresAt.UnixNano()}), nil
	})
	if err != nil {
		// Nobody knows the id yet: taking the message back leaves no trace.
		_ = ib.Ephemeral.Delete(context.WithoutCancel(ctx), key)
		return Message{}, err
	}
	// Delivery on the channel is at most once anyway: a device that misses the notice
	// lists its messages when it connects or is woken.
	_ = ib.Ephemeral.Publish(ctx, MessagesChannel, []byte(m.Realm+"\x00"+m.DeviceID+"\x00"+m.ID))
	return m, nil
}

// List returns the device's unexpired messages, oldest first.
func (ib Inbox) List(ctx context.Context, realm, deviceID string) ([]Message, error) {
	list, _, err := ib.readIndex(ctx, realm, deviceID)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(list))
	for _, e := range list {
		m, err := ib.Get(ctx, realm, deviceID, e.ID)
		switch {
		case errors.Is(err, ErrMessageNotFound):
			// Acknowledged or expired since the index was read.
		case err != nil:
			return nil, err
		default:
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b Message) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Get returns one of the device's waiting messages, or ErrMessageNotFound.
func (ib Inbox) Get(ctx context.Context, realm, deviceID, id string) (Message, error) {
	if !validRef(realm, deviceID, id) {
		return Message{}, ErrMessageNotFound
	}
	e, err := ib.Ephemeral.Get(ctx, messageKey(realm, deviceID, id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return Message{}, ErrMessageNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("device: read the message: %w", err)
	}
	var m Message
	if err := json.Unmarshal(e.Value, &m); err != nil {
		return Message{}, fmt.Errorf("device: stored message %q: %w", id, err)
	}
	if !time.Now().Before(m.ExpiresAt) {
		return Message{}, ErrMessageNotFound
	}
	return m, nil
}

// Ack removes a waiting message of the device, once: of concurrent acks of one message
// exactly one succeeds, the others get ErrMessageNotFound. It announces the ack on
// AcksChannel.
func (ib Inbox) Ack(ctx context.Context, realm, deviceID, id string) error {
	if !validRef(realm, deviceID, id) {
		return ErrMessageNotFound
	}
	b, err := ib.Ephemeral.Take(ctx, messageKey(realm, deviceID, id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return ErrMessageNotFound
	}
	if err != nil {
		return fmt.Errorf("device: acknowledge the message: %w", err)
	}
	// The store's expiry may lag a moment behind the message's (Get's check).
	var m Message
	expired := json.Unmarshal(b, &m) == nil && !time.Now().Before(m.ExpiresAt)
	// The message is gone: an index entry left behind by a failure here is skipped by
	// List and dropped when the index is full.
	after := context.WithoutCancel(ctx)
	_ = ib.editIndex(after, realm, deviceID, func(list []indexed) ([]indexed, error) {
		return slices.DeleteFunc(list, func(e indexed) bool { return e.ID == id }), nil
	})
	if expired {
		return ErrMessageNotFound
	}
	_ = ib.Ephemeral.Publish(after, AcksChannel, []byte(realm+"\x00"+deviceID+"\x00"+id))
	return nil
}

// validMessage checks what Put requires of m.
// CheckMessage reports whether Put would take m, without keeping anything: a sender
// checks before it records the message elsewhere.
func CheckMessage(m Message) error { return validMessage(&m, time.Now()) }

func validMessage(m *Message, now time.Time) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, args...)...)
	}
	switch {
	case m.Realm == "" || m.DeviceID == "":
		return bad("realm and device are required")
	case !validName(m.Realm) || !validName(m.DeviceID):
		return bad("realm or device malformed")
	case m.ID != "" && !validID(m.ID):
		return bad("the id must be 1 to %d letters, digits, '-', '_' or '.'", maxMessageID)
	case m.ExpiresAt.IsZero():
		return bad("an expiry is required")
	case !m.ExpiresAt.After(now):
		return bad("the expiry has passed")
	case m.ExpiresAt.Sub(now) > MaxMessageTTL:
		return bad("the expiry is more than %s away", MaxMessageTTL)
	case len(m.Title) > MaxTitleBytes:
		return bad("the title has more than %d bytes", MaxTitleBytes)
	case len(m.Body) > MaxBodyBytes:
		return bad("the body has more than %d bytes", MaxBodyBytes)
	case !textOK(m.Title, ""):
		return bad("the title is not UTF-8 or holds control characters")
	case !textOK(m.Body, "\n\t"):
		return bad("the body is not UTF-8 or holds control characters other than newline and tab")
	}
	return nil
}

// textOK reports whether s is valid UTF-8 without control characters (C0, DEL, C1) other
// than those in allowed.
func textOK(s, allowed string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0) && !strings.ContainsRune(allowed, r) {
			return false
		}
	}
	return true
}

// validName: a realm or device id can be part of a key and of a notice, whose parts NUL
// separates.
func validName(s string) bool { return s != "" && len(s) <= 255 && !strings.ContainsRune(s, 0) }

func validID(id string) bool {
	if id == "" || len(id) > maxMessageID {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func validRef(realm, deviceID, id string) bool {
	return validName(realm) && validName(deviceID) && validID(id)
}

// indexed is one entry of a device's index.
type indexed struct {
	ID        string `json:"id"`
	ExpiresAt int64  `json:"exp"` // Unix nanoseconds
}

// readIndex reads the device's index without its expired entries, and its version (0
// when there is none).
func (ib Inbox) readIndex(ctx context.Context, realm, deviceID string) ([]indexed, uint64, error) {
	e, err := ib.Ephemeral.Get(ctx, inboxKey(realm, deviceID))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("device: read the device's messages: %w", err)
	}
	var list []indexed
	if err := json.Unmarshal(e.Value, &list); err != nil {
		return nil, 0, fmt.Errorf("device: the device's message index: %w", err)
	}
	now := time.Now().UnixNano()
	return slices.DeleteFunc(list, func(l indexed) bool { return l.ExpiresAt <= now }), e.Version, nil
}

// prune drops the entries whose message is gone.
func (ib Inbox) prune(ctx context.Context, realm, deviceID string, list []indexed) ([]indexed, error) {
	out := list[:0]
	for _, e := range list {
		_, err := ib.Ephemeral.Get(ctx, messageKey(realm, deviceID, e.ID))
		switch {
		case errors.Is(err, ephemeral.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("device: read a waiting message: %w", err)
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

// indexAttempts bounds the compare-and-swap rounds of one index change; a round loses
// only to another change of the same device's index.
const indexAttempts = 200

// editIndex applies fn to the device's index with a compare-and-swap, again on a
// conflict. The key lives until its last entry's expiry.
func (ib Inbox) editIndex(ctx context.Context, realm, deviceID string, fn func([]indexed) ([]indexed, error)) error {
	key := inboxKey(realm, deviceID)
	for attempt := 0; ; attempt++ {
		list, version, err := ib.readIndex(ctx, realm, deviceID)
		if err != nil {
			return err
		}
		if list, err = fn(list); err != nil {
			return err
		}
		ttl, now := time.Second, time.Now()
		for _, l := range list {
			ttl = max(ttl, time.Unix(0, l.ExpiresAt).Sub(now)+time.Second)
		}
		b, err := json.Marshal(list)
		if err != nil {
			return err
		}
		if version == 0 {
			var ok bool
			if ok, err = ib.Ephemeral.SetNX(ctx, key, b, ttl); err == nil && !ok {
				err = ephemeral.ErrConflict
			}
		} else {
			_, err = ib.Ephemeral.CompareAndSwap(ctx, key, version, b, ttl)
		}
		switch {
		case err == nil:
			return nil
		case (errors.Is(err, ephemeral.ErrConflict) || errors.Is(err, ephemeral.ErrNotFound)) && attempt < indexAttempts:
			// Many writers of one index (a burst of messages) take turns: after a few
			// lost rounds, wait a moment so they stop colliding.
			if attempt >= 4 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(mrand.Int64N(int64(time.Millisecond) << min(attempt/8, 4)))):
				}
			}
		default:
			return fmt.Errorf("device: write the device's messages: %w", err)
		}
	}
}
