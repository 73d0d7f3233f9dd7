// Package apns sends wake-ups to iPhones through the Apple Push Notification service,
// with token-based (JWT) authentication over one long-lived HTTP/2 connection.
//
// A Sender posts each push.Message to /3/device/{token}: a visible alert when the
// message has a title, else a background (content-available) push. The payload holds
// only the message's id under the "signet" key. APNs answers are mapped onto the
// push.Sender contract: Unregistered and BadDeviceToken give push.ErrInvalidToken,
// throttling and server errors a *push.RetryError, the rest a permanent *Error naming
// Apple's reason. DeviceTokenNotForTopic is permanent too: it means the realm's topic
// (bundle id) is wrong for its devices, and clearing every device's token would turn a
// configuration mistake into lost registrations.
//
// The fake APNs server for tests lives in apnstest.
package apns

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/push"
)

// Limits that Apple sets ("Sending notification requests to APNs" and "Generating a
// remote notification").
const (
	// MaxPayload is the largest payload of a regular remote notification.
	MaxPayload = 4096
	// MaxCollapseID is the largest apns-collapse-id, in bytes.
	MaxCollapseID = 64
	// maxDeviceToken bounds a device token (hex digits). Apple says tokens vary in
	// length; today they are 32 bytes, this leaves room and still refuses junk.
	maxDeviceToken = 200
)

const (
	// DefaultTimeout bounds each Send: connecting, the request, and the retries Send
	// makes within it.
	DefaultTimeout = 10 * time.Second
	// DefaultBackoff is the retry delay when APNs or the network fails without a
	// Retry-After.
	DefaultBackoff = 30 * time.Second
	// PayloadKey is the payload's custom key; it holds {"id": Message.ID} only.
	PayloadKey = "signet"
)

// APNs reasons the sender acts on ("Handling notification responses from APNs").
const (
	ReasonBadDeviceToken         = "BadDeviceToken"
	ReasonDeviceTokenNotForTopic = "DeviceTokenNotForTopic"
	ReasonExpiredProviderToken   = "ExpiredProviderToken"
	ReasonUnregistered           = "Unregistered"
)

// Error is APNs's refusal of a notification.
type Error struct {
	// Status is the HTTP status, Reason the "reason" of the JSON body (may be empty).
	Status int
	Reason string
	// ID is the apns-id response header, which Apple support asks for.
	ID string
}

func (e *Error) Error() string {
	msg := "apns: " + strconv.Itoa(e.Status)
	if e.Reason != "" {
		msg += " " + e.Reason
	}
	if e.ID != "" {
		msg += " (apns-id " + e.ID + ")"
	}
	return msg
}

// Sender sends wake-ups with one app's credentials over one HTTP/2 connection, which
// all concurrent sends share. It is safe for concurrent use.
type Sender struct {
	endpoint string
	topic    string
	token    *providerToken
	conn     *conn
	now      func() time.Time
	timeout  time.Duration
}

var _ push.Sender = (*Sender)(nil)

// Option changes a Sender's defaults; they are test seams mostly.
type Option func(*options)

type options struct {
	roots     *x509.CertPool
	transport *http.Transport
	now       func() time.Time
	timeout   time.Duration
}

// WithRootCAs trusts pool instead of the system roots (for a test server).
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.roots = pool } }

// WithTransport dials the connection with t (a custom dialer, proxy or TLS config)
// instead of a transport New builds; t must allow HTTP/2 (Protocols or
// ForceAttemptHTTP2). It takes precedence over WithRootCAs.
func WithTransport(t *http.Transport) Option { return func(o *options) { o.transport = t } }

// WithClock replaces time.Now for token ages and apns-expiration.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithTimeout bounds each Send, retries included (DefaultTimeout otherwise).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New validates cfg, parses its key and returns a Sender.
func New(cfg Config, opts ...Option) (*Sender, error) {
	key, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	o := options{now: time.Now, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, errors.New("apns: timeout must be positive")
	}
	if o.now == nil {
		return nil, errors.New("apns: clock must not be nil")
	}
	endpoint := cfg.Endpoint()
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, errors.New("apns: base URL does not parse")
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), strconv.Itoa(DefaultPort))
	}
	tr := o.transport
	if tr == nil {
		tr = newTransport(o.roots)
	}
	return &Sender{
		endpoint: endpoint,
		topic:    cfg.Topic,
		token:    &providerToken{key: key, keyID: cfg.KeyID, teamID: cfg.TeamID, now: o.now},
		conn:     newConn(tr, addr),
		now:      o.now,
		timeout:  o.timeout,
	}, nil
}

// newTransport speaks HTTP/2 over TLS 1.2+ only, as APNs requires. The connection stays
// open between notifications, as Apple asks, and is pinged when idle.
func newTransport(roots *x509.CertPool) *http.Transport {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout: DefaultTimeout,
		ForceAttemptHTTP2:   true,
		Protocols:           &protocols,
		HTTP2: &http.HTTP2Config{
			// Apple: check the health of an idle connection with HTTP/2 PING frames.
			SendPingTimeout: time.Minute,
			PingTimeout:     15 * time.Second,
		},
	}
}

// Close closes the connection to APNs, interrupting sends in flight. The Sender stays
// usable; the next send reconnects.
func (s *Sender) Close() { s.conn.close() }

// Send posts m to the device. A malformed device token (not an even number of hex
// digits) is refused before anything is sent, with push.ErrInvalidToken, as APNs would
// answer BadDeviceToken. When APNs calls the provider token expired, Send mints a new
// one and tries once more, within the same timeout.
func (s *Sender) Send(ctx context.Context, token string, m push.Message) error {
	if err := checkDeviceToken(token); err != nil {
		return err
	}
	n, err := s.notification(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	jwt, err := s.token.get()
	if err != nil {
		return err
	}
	err = s.post(ctx, token, n, jwt)
	if !isExpiredToken(err) {
		return err
	}
	if jwt, err = s.token.refresh(jwt); err != nil {
		return err
	}
	return s.post(ctx, token, n, jwt)
}

func isExpiredToken(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusForbidden && e.Reason == ReasonExpiredProviderToken
}

func checkDeviceToken(token string) error {
	switch {
	case token == "":
		return fmt.Errorf("apns: empty device token: %w", push.ErrInvalidToken)
	case len(token) > maxDeviceToken:
		return fmt.Errorf("apns: device token longer than %d hex digits: %w", maxDeviceToken, push.ErrInvalidToken)
	}
	if _, err := hex.DecodeString(token); err != nil {
		return fmt.Errorf("apns: device token is not hex: %w", push.ErrInvalidToken)
	}
	return nil
}

// notification is one message ready to post: its headers (without authorization) and
// payload.
type notification struct {
	header  http.Header
	payload []byte
}

type payload struct {
	APS    aps           `json:"aps"`
	Signet signetPayload `json:"signet"`
}

type aps struct {
	Alert *alert `json:"alert,omitempty"`
	// Lets the app's notification service extension fetch the request over the
	// device channel and show what is asked, which the payload never carries.
	MutableContent int `json:"mutable-content,omitempty"`
	// Wakes the app in the background ("Pushing background updates to your App").
	ContentAvailable int `json:"content-available,omitempty"`
}

type alert struct {
	Title string `json:"title"`
}

type signetPayload struct {
	ID string `json:"id"`
}

func (s *Sender) notification(m push.Message) (notification, error) {
	if m.ID == "" {
		return notification{}, errors.New("apns: message has no ID")
	}
	if len(m.CollapseID) > MaxCollapseID {
		return notification{}, fmt.Errorf("apns: collapse id longer than %d bytes", MaxCollapseID)
	}
	// A control character cannot go into a header (RFC 9110 §5.5): the request would
	// fail on every attempt, and each failure would cost the shared connection.
	if strings.ContainsFunc(m.CollapseID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return notification{}, errors.New("apns: collapse id holds a control character")
	}
	if m.TTL < 0 {
		return notification{}, errors.New("apns: negative TTL")
	}
	p := payload{Signet: signetPayload{ID: m.ID}}
	h := http.Header{}
	h.Set("content-type", "application/json")
	h.Set("apns-topic", s.topic)
	if m.Title != "" {
		p.APS = aps{Alert: &alert{Title: m.Title}, MutableContent: 1}
		h.Set("apns-push-type", "alert")
		h.Set("apns-priority", "10")
	} else {
		p.APS = aps{ContentAvailable: 1}
		// Apple: background pushes must have apns-priority 5; 10 is an error.
		h.Set("apns-push-type", "background")
		h.Set("apns-priority", "5")
	}
	// Apple: 0 means deliver now or never; otherwise a UNIX time in seconds.
	expiration := "0"
	if m.TTL > 0 {
		expiration = strconv.FormatInt(s.now().Add(m.TTL).Unix(), 10)
	}
	h.Set("apns-expiration", expiration)
	if m.CollapseID != "" {
		h.Set("apns-collapse-id", m.CollapseID)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // \u003c and friends would only waste payload bytes
	if err := enc.Encode(p); err != nil {
		return notification{}, fmt.Errorf("apns: encode payload: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(body) > MaxPayload {
		return notification{}, fmt.Errorf("apns: payload of %d bytes exceeds %d", len(body), MaxPayload)
	}
	return notification{header: h, payload: body}, nil
}

// post sends n within ctx. When the connection dies under the request (GOAWAY, reset)
// it tries once more on a new one: a wake-up delivered twice does no harm, one lost to a
// reconnect delays a sign-in.
func (s *Sender) post(ctx context.Context, token string, n notification, jwt string) error {
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		resp, err = s.roundTrip(ctx, token, n, jwt)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return push.Retry(DefaultBackoff, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if err != nil {
		return push.Retry(DefaultBackoff, fmt.Errorf("apns: read response: %w", err))
	}
	return s.classify(resp, body)
}

// roundTrip makes one attempt. Its errors never quote the URL, which holds the device
// token.
func (s *Sender) roundTrip(ctx context.Context, token string, n notification, jwt string) (*http.Response, error) {
	cc, err := s.conn.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("apns: connect: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/3/device/"+token, bytes.NewReader(n.payload))
	if err != nil {
		return nil, errors.New("apns: build request")
	}
	req.Header = n.header.Clone()
	req.Header.Set("authorization", "bearer "+jwt)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil {
			s.conn.retire(cc)
		}
		return nil, fmt.Errorf("apns: post notification: %w", err)
	}
	if resp.ProtoMajor != 2 {
		// APNs speaks HTTP/2 only; whatever answered is not APNs.
		resp.Body.Close()
		s.conn.retire(cc)
		return nil, fmt.Errorf("apns: endpoint answered in %s, not HTTP/2", resp.Proto)
	}
	return resp, nil
}

// classify maps an APNs error response onto the push.Sender contract ("Handling
// notification responses from APNs").
func (s *Sender) classify(resp *http.Response, body []byte) error {
	var answer struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(body, &answer) // a body that does not parse leaves the reason empty
	e := &Error{Status: resp.StatusCode, Reason: answer.Reason, ID: resp.Header.Get("apns-id")}
	switch {
	case e.Status == http.StatusGone,
		e.Status == http.StatusBadRequest && e.Reason == ReasonBadDeviceToken:
		return fmt.Errorf("%w: %w", push.ErrInvalidToken, e)
	case e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return push.Retry(push.RetryAfter(resp.Header.Get("Retry-After"), s.now(), DefaultBackoff), e)
	default:
		return e
	}
}
