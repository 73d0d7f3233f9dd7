// Package message defines the application messages that travel inside a sigma
// session between a device and the device server: one JSON object per frame.
// docs/device-protocol.md specifies them; the device server (internal/device) and the
// authenticator SDK both use these types.
package message

import (
	"time"
)

// Message types. A device's request carries an id the answer repeats; the server's
// own messages (a new pending request, a new message) carry none.
const (
	TypeHello     = "hello"
	TypeEnroll    = "enroll"
	TypeList      = "list"
	TypeFetch     = "fetch"
	TypeClaim     = "claim" // a QR login the device scanned
	TypeAnswer    = "answer"
	TypePushToken = "push_token"
	TypePing      = "ping"
	TypePong      = "pong"
	TypeError     = "error"
	// TypeRequestNew tells a connected device that a request waits for it.
	TypeRequestNew = "request.new"
	// TypeMessages lists the messages waiting for the device.
	TypeMessages = "messages"
	// TypeMessageAck acknowledges a message: the server forgets it.
	TypeMessageAck = "message.ack"
	// TypeMessageNew brings a connected device a new message.
	TypeMessageNew = "message.new"
)

// OKType is the type of a successful answer to a request of type t.
func OKType(t string) string {
	if t == TypePing {
		return TypePong
	}
	return t + ".ok"
}

// Envelope is every message: its id (device requests and their answers), its type, and
// the fields of that type.
type Envelope struct {
	ID   uint64 `json:"id,omitempty"`
	Type string `json:"type"`

	// hello, enroll, push_token
	AppVersion   string `json:"app_version,omitempty"`
	Platform     string `json:"platform,omitempty"`
	PushProvider string `json:"push_provider,omitempty"`
	PushToken    string `json:"push_token,omitempty"`
	// enroll
	Realm       string `json:"realm,omitempty"`
	Code        string `json:"code,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// fetch, answer
	RequestID string `json:"request_id,omitempty"`
	// answer
	Decision  string `json:"decision,omitempty"`
	Number    string `json:"number,omitempty"`
	Time      int64  `json:"time,omitempty"`
	Signature []byte `json:"signature,omitempty"`
	// NotMe marks a denial "this wasn't me": the user did not start the request.
	NotMe bool `json:"not_me,omitempty"`
	// message.ack
	MessageID string `json:"message_id,omitempty"`

	// answers
	Device   *Device   `json:"device,omitempty"`
	Requests []Request `json:"requests,omitempty"`
	Request  *Request  `json:"request,omitempty"`
	State    string    `json:"state,omitempty"`
	// messages.ok: the waiting messages, oldest first; More says that more wait than
	// fitted in this answer (ack these, then list again). message.new: the new message.
	Msgs []Msg `json:"msgs,omitempty"`
	More bool  `json:"more,omitempty"`
	Msg  *Msg  `json:"msg,omitempty"`
	// error
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// Device is what a device learns about itself at hello and enrollment.
type Device struct {
	ID          string    `json:"id"`
	Realm       string    `json:"realm"`
	UserID      string    `json:"user_id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	ServerTime  time.Time `json:"server_time"`
}

// Request is a pending request as the device sees it. Everything the device shows the
// user, and signs, is here: the signed statement (sigma.Approval) is built from ID,
// Realm, ClientID, Text, AuthorizationDetails and the number the user chose.
type Request struct {
	ID         string `json:"id"`
	Realm      string `json:"realm"`
	Kind       string `json:"kind"`
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name,omitempty"`
	Text       string `json:"text"`
	// AuthorizationDetails is the RFC 9396 JSON as a string: the device shows it and
	// signs exactly these bytes, which a JSON value would not keep (re-encoding may
	// change spacing and escapes).
	AuthorizationDetails string `json:"authorization_details,omitempty"`
	// NumberChoices are the numbers the user picks from when the request uses number
	// matching: one of them is the number shown where the request started.
	NumberChoices []string          `json:"number_choices,omitempty"`
	Origin        map[string]string `json:"origin,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
}

// Msg is a message for the user from a business application: shown, then acknowledged.
// Title and Body are UTF-8 without control characters (Body may hold newlines and tabs).
type Msg struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Error codes in error messages.
const (
	ErrCodeBadRequest   = "bad_request"
	ErrCodeNotAllowed   = "not_allowed"
	ErrCodeNotFound     = "not_found"
	ErrCodeExpired      = "expired"
	ErrCodeAnswered     = "already_answered"
	ErrCodeBadSignature = "bad_signature"
	ErrCodeWrongNumber  = "wrong_number"
	ErrCodeCodeUsed     = "code_used"
	ErrCodeCodeExpired  = "code_expired"
	ErrCodeCodeRealm    = "code_wrong_realm"
	ErrCodeCodeInvalid  = "code_invalid"
	ErrCodeDeviceLimit  = "device_limit"
	ErrCodeRateLimited  = "rate_limited"
	ErrCodeUserDisabled = "user_disabled"
	ErrCodeUnavailable  = "unavailable"
)
