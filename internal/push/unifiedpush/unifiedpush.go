// Package unifiedpush wakes phones without Google services through UnifiedPush, which is
// Web Push: the phone's distributor (ntfy, NextPush, a Mozilla autopush-like server...)
// hands the app a W3C PushSubscription, and Signet posts to its endpoint as an
// application server under RFC 8030 (HTTP push), RFC 8291 (message encryption with the
// aes128gcm content coding of RFC 8188) and RFC 8292 (VAPID).
//
// The push token a device registers is the PushSubscription JSON (see ParseSubscription).
// The message body is encrypted end to end for the phone and holds only the wake-up's id
// and generic title, so the distributor learns nothing of the request.
//
// Endpoints are chosen by devices, which Signet does not trust, so every push goes
// through an *outbound.Client and its policy (no loopback, private or link-local targets
// unless configured, no redirects, bounded time and size).
//
// Package uptest holds a receiver that plays the push service and the phone, for tests.
package unifiedpush

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/push"
)

// Defaults of a Sender.
const (
	// DefaultTimeout bounds one push, whatever the caller's context allows.
	DefaultTimeout = 10 * time.Second
	// DefaultRetryAfter is the backoff of a temporary failure that came without a
	// Retry-After.
	DefaultRetryAfter = 30 * time.Second
)

// Urgency of every wake-up: a sign-in request waits on it (RFC 8030 §5.3).
const urgency = "high"

// Option configures a Sender.
type Option func(*Sender)

// WithClock makes the Sender read the time from now (VAPID token expiry, Retry-After
// dates) instead of time.Now.
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

// WithTimeout bounds each push to d instead of DefaultTimeout. The outbound client's own
// policy timeout applies as well.
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// Sender posts wake-ups to Web Push endpoints. It implements push.Sender and is safe
// for concurrent use.
type Sender struct {
	client    *outbound.Client
	signer    *ecdsa.PrivateKey
	publicKey string // base64url uncompressed point: the k= of RFC 8292 §3.2
	subject   string
	now       func() time.Time
	timeout   time.Duration

	mu     sync.Mutex
	tokens map[string]vapidToken // by origin
}

var _ push.Sender = (*Sender)(nil)

// New returns a Sender signing with cfg's VAPID key and posting through client, which
// must be the outbound client for device-chosen targets.
func New(cfg Config, client *outbound.Client, opts ...Option) (*Sender, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if client == nil {
		errs = append(errs, errors.New("outbound client is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("unifiedpush: %w", err)
	}
	signer, err := parseVAPIDKey(cfg.VAPIDPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("unifiedpush: %w", err)
	}
	pub, err := signer.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("unifiedpush: VAPID public key: %w", err)
	}
	s := &Sender{
		client:    client,
		signer:    signer,
		publicKey: base64.RawURLEncoding.EncodeToString(pub),
		subject:   cfg.Subject,
		now:       time.Now,
		timeout:   DefaultTimeout,
		tokens:    map[string]vapidToken{},
	}
	for _, opt := range opts {
		opt(s)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// ApplicationServerKey is the VAPID public key in base64url, the applicationServerKey a
// phone app subscribes with.
func (s *Sender) ApplicationServerKey() string { return s.publicKey }

// wakeUp is the plaintext of every push: nothing but the id and the generic title.
type wakeUp struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
}

// Send encrypts m's id and title for the subscription in token and posts it to the
// subscription's endpoint. Besides the errors of push.Sender: a malformed token is
// push.ErrInvalidToken without any request; a target the outbound policy refuses
// (outbound.ErrForbiddenTarget, ErrForbiddenScheme, ErrRedirect) is a permanent error.
// Errors name the endpoint's origin only: its path addresses the subscription.
func (s *Sender) Send(ctx context.Context, token string, m push.Message) error {
	sub, err := ParseSubscription(token)
	if err != nil {
		return err
	}
	if m.ID == "" {
		return errors.New("unifiedpush: message has no ID")
	}
	plaintext, err := json.Marshal(wakeUp{ID: m.ID, Title: m.Title})
	if err != nil {
		return fmt.Errorf("unifiedpush: encode payload: %w", err)
	}
	body, err := encryptFor(sub, plaintext)
	if err != nil {
		return fmt.Errorf("unifiedpush: %w", err)
	}
	origin := Origin(sub.Endpoint)
	auth, err := s.authorization(origin)
	if err != nil {
		return fmt.Errorf("unifiedpush: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("unifiedpush: push to %s: build request failed", origin)
	}
	h := req.Header
	h.Set("TTL", strconv.FormatInt(ttlSeconds(m.TTL), 10)) // RFC 8030 §5.2: required
	h.Set("Urgency", urgency)
	if m.CollapseID != "" {
		h.Set("Topic", Topic(m.CollapseID))
	}
	h.Set("Content-Encoding", "aes128gcm") // RFC 8291 §4: the only coding allowed
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Authorization", auth)

	resp, err := s.client.Do(ctx, req)
	if err != nil {
		return s.callError(sub, origin, err)
	}
	return s.answer(resp, origin)
}

// encryptFor encrypts plaintext with a fresh ephemeral key and salt (RFC 8291 §3.1, §3.4).
func encryptFor(sub *Subscription, plaintext []byte) ([]byte, error) {
	ephemeral, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ephemeral key: %w", err)
	}
	salt := make([]byte, SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("generate salt: %w", err)
	}
	return Encrypt(plaintext, sub.P256DH, sub.Auth, ephemeral, salt)
}

// ttlSeconds turns a Message.TTL into the TTL header's delta-seconds (RFC 8030 §5.2),
// rounding down; zero or less is 0, deliver now or never.
func ttlSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(d / time.Second)
}

// maxTopicLen and the alphabet are RFC 8030 §5.4's: at most 32 characters of the URL
// and filename safe base64 alphabet.
const maxTopicLen = 32

// Topic returns the Topic header for a collapse id: the id itself when it already
// satisfies RFC 8030 §5.4 (at most 32 characters of the base64url alphabet), else the
// first 32 characters of the base64url SHA-256 of it, so equal ids still collapse.
func Topic(collapseID string) string {
	if validTopic(collapseID) {
		return collapseID
	}
	sum := sha256.Sum256([]byte(collapseID))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:maxTopicLen]
}

func validTopic(s string) bool {
	if s == "" || len(s) > maxTopicLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// answer maps the push service's response (RFC 8030 §5, §7; RFC 8292 §4.2) onto the
// push.Sender error contract.
func (s *Sender) answer(resp *outbound.Response, origin string) error {
	status := resp.Status
	switch {
	case status/100 == 2:
		// RFC 8030 §5 answers 201 Created; distributors also send 200, 202 or 204, and any
		// 2xx means the push service took the message (RFC 9110 §15.3).
		return nil
	case status == http.StatusNotFound || status == http.StatusGone:
		// RFC 8030 §7.3: 404 for an expired subscription; autopush and ntfy answer 410
		// for one that was removed. Either way the device must subscribe again.
		return fmt.Errorf("unifiedpush: push service at %s answered %s: %w", origin, describeStatus(resp), push.ErrInvalidToken)
	case status == http.StatusTooManyRequests || status >= 500:
		after := push.RetryAfter(resp.Header.Get("Retry-After"), s.now(), DefaultRetryAfter)
		return push.Retry(after, fmt.Errorf("unifiedpush: push service at %s answered %s", origin, describeStatus(resp)))
	case status == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("unifiedpush: push service at %s refused the payload as too large (%s)", origin, describeStatus(resp))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// RFC 8292 §4.2: missing or invalid VAPID, or a key the subscription is not
		// restricted to: configuration, not the moment.
		return fmt.Errorf("unifiedpush: push service at %s refused the VAPID authorization (%s)", origin, describeStatus(resp))
	default:
		return fmt.Errorf("unifiedpush: push service at %s answered %s", origin, describeStatus(resp))
	}
}

// describeStatus names the status and, when the body is an autopush-style error object,
// its errno. Nothing else of the body is repeated: the endpoint is device-chosen and its
// answer untrusted.
func describeStatus(resp *outbound.Response) string {
	desc := "status " + strconv.Itoa(resp.Status)
	var e struct {
		Errno *int `json:"errno"`
	}
	if json.Unmarshal(resp.Body, &e) == nil && e.Errno != nil {
		desc += " (errno " + strconv.Itoa(*e.Errno) + ")"
	}
	return desc
}

// callError classifies a failed call: a policy refusal is permanent, anything else
// (network, TLS, timeout) is temporary. The message drops the endpoint's path, which
// outbound would otherwise repeat, and keeps the cause for errors.Is.
func (s *Sender) callError(sub *Subscription, origin string, err error) error {
	u := sub.Endpoint
	msg := strings.ReplaceAll(err.Error(), u.Scheme+"://"+u.Host+u.EscapedPath(), origin)
	wrapped := &callError{msg: "unifiedpush: push to " + origin + " failed: " + msg, err: err}
	if errors.Is(err, outbound.ErrForbiddenTarget) || errors.Is(err, outbound.ErrForbiddenScheme) ||
		errors.Is(err, outbound.ErrRedirect) {
		return wrapped
	}
	return push.Retry(DefaultRetryAfter, wrapped)
}

// callError carries a redacted message while unwrapping to the original cause.
type callError struct {
	msg string
	err error
}

func (e *callError) Error() string { return e.msg }
func (e *callError) Unwrap() error { return e.err }
