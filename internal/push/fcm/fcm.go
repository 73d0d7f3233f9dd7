// Package fcm wakes Android phones through Firebase Cloud Messaging's HTTP v1 API: one
// high-priority data message per wake-up, carrying only the opaque id the phone should
// fetch over the device channel.
//
// A Sender authenticates with a service account: it signs an RS256 JWT with the key from
// the account's JSON key file, trades it at the account's token_uri for an OAuth2 access
// token (RFC 7523 JWT bearer grant, through golang.org/x/oauth2/google), caches the
// token and refreshes it five minutes before it expires, on the Sender's clock. Every
// call goes through one long-lived HTTP/2 client, by default an internal/outbound client
// (public addresses only, no redirects, TLS 1.2 or newer), and is bounded by the
// Sender's timeout.
//
// FCM's answers map onto the push.Sender contract as the ErrorCode reference
// (firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode) advises:
//
//	UNREGISTERED (404), SENDER_ID_MISMATCH (403)   push.ErrInvalidToken
//	INVALID_ARGUMENT (400) about the token         push.ErrInvalidToken
//	INVALID_ARGUMENT (400) about the payload       permanent error
//	QUOTA_EXCEEDED, any other 429                  *push.RetryError, Retry-After or ≥ 1 min
//	UNAVAILABLE, INTERNAL, any other 5xx           *push.RetryError, Retry-After or ≥ 1 s
//	network errors, timeouts                       *push.RetryError, ≥ 1 s
//	THIRD_PARTY_AUTH_ERROR, other 401 and 403      permanent error
//
// INVALID_ARGUMENT names either cause. FCM's "FCM error codes" page shows the two
// shapes: a bad value comes with a google.rpc.BadRequest detail whose field violation
// names the field ("message.data[0].value"), an invalid registration token with only an
// FcmError detail whose errorCode is INVALID_ARGUMENT. So the token is blamed when a
// field violation names message.token, or when there is an FcmError INVALID_ARGUMENT and
// no field violation names anything else; a payload error never clears a device's
// registration.
//
// A 401 without THIRD_PARTY_AUTH_ERROR means FCM refused the access token (revoked, or
// expired early by Google's clock): the Sender drops it, fetches a new one and sends once
// more before reporting the failure.
package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/push"
)

// Scope is the OAuth2 scope that lets an access token send FCM messages.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// DataKey is the data field that carries push.Message.ID to the app.
const DataKey = "signet_id"

// DefaultTimeout bounds one Send: access-token fetch and FCM request together.
const DefaultTimeout = 10 * time.Second

// MaxTTL is the longest time FCM holds a message for an offline phone (AndroidConfig
// ttl: "The maximum time to live supported is 4 weeks"); longer TTLs are shortened to it.
const MaxTTL = 28 * 24 * time.Hour

// Backoff when FCM gives no Retry-After: it starts at the minimum initial delay the
// ErrorCode reference asks for (1 minute for QUOTA_EXCEEDED, 1 second for UNAVAILABLE
// and INTERNAL), doubles with each consecutive temporary failure of this Sender, and is
// capped at maxBackoff; a success resets it. Up to a quarter is added at random so
// wake-ups that failed together are not retried together.
const (
	quotaBackoff       = time.Minute
	unavailableBackoff = time.Second
	maxBackoff         = 5 * time.Minute
)

// maxResponse caps how much of an FCM answer is read; real answers are a few hundred bytes.
const maxResponse = 64 << 10

var errEmptyToken = errors.New("token endpoint answered without an access_token")

// Sender sends wake-ups through FCM with one service account. It is safe for concurrent
// use and meant to be long-lived: it holds the access token and the connection.
type Sender struct {
	hc      *http.Client
	sendURL string
	tokens  *tokenCache
	now     func() time.Time
	timeout time.Duration
	// failures counts consecutive temporary failures, for the backoff.
	failures atomic.Int32
}

var _ push.Sender = (*Sender)(nil)

// Option configures a Sender.
type Option func(*options)

type options struct {
	httpClient *http.Client
	outbound   *outbound.Client
	now        func() time.Time
	timeout    time.Duration
}

// WithOutbound sends through c, typically the process's one outbound client, instead of
// a new outbound client under outbound.DefaultPolicy. Tests give one whose policy allows
// loopback and whose roots trust the fake service.
func WithOutbound(c *outbound.Client) Option { return func(o *options) { o.outbound = c } }

// WithHTTPClient sends through c as it is, bypassing internal/outbound: c's own rules on
// targets, redirects and TLS apply. It takes precedence over WithOutbound.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithClock replaces time.Now, for access-token expiry and Retry-After dates.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithTimeout bounds each Send (default DefaultTimeout); values ≤ 0 are ignored.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// New returns a Sender for cfg, or every problem with cfg.
func New(cfg Config, opts ...Option) (*Sender, error) {
	st, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	o := options{now: time.Now, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.httpClient
	if hc == nil {
		ob := o.outbound
		if ob == nil {
			ob = outbound.New(outbound.DefaultPolicy())
		}
		hc = &http.Client{Transport: outboundTransport{ob}}
	}

	// google reads the key file as Google's own libraries do (client_email, private_key,
	// private_key_id, token_uri) and signs the RFC 7523 assertion for Scope.
	jc, err := google.JWTConfigFromJSON(cfg.ServiceAccountJSON, Scope)
	if err != nil {
		// resolve accepted the file, so this is unexpected; the error is not quoted, as
		// it could echo part of the key.
		return nil, errors.New("fcm: service account JSON: golang.org/x/oauth2/google refused it")
	}
	s := &Sender{hc: hc, sendURL: st.sendURL, now: o.now, timeout: o.timeout}
	s.tokens = &tokenCache{
		now:     o.now,
		timeout: o.timeout,
		fetch: func(ctx context.Context) (*oauth2.Token, error) {
			// oauth2 takes its HTTP client from the context; this copy of the Sender's
			// client puts ctx on every request, since the token source (x/oauth2/jwt
			// underneath) sends without one, and keeps the transport's error, which it
			// flattens to text.
			c := *hc
			rt := &contextTransport{ctx: ctx, base: transportOf(hc)}
			c.Transport = rt
			// A fresh TokenSource always fetches; the reuse is tokenCache's.
			tok, err := jc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, &c)).Token()
			if err != nil && rt.err != nil {
				err = rt.err
			}
			return tok, err
		},
	}
	return s, nil
}

// Send delivers one wake-up to the app instance with registration token token: m.ID in
// the data field DataKey, m.CollapseID as collapse_key, m.TTL as ttl. m.Title is not
// sent: a notification block would have Android show it without the app's code running,
// so the app shows its own generic notification. See the package comment for how FCM's
// answers map onto the push.Sender contract.
func (s *Sender) Send(ctx context.Context, token string, m push.Message) error {
	body, err := payload(token, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for retried := false; ; retried = true {
		access, err := s.tokens.get(ctx)
		if err != nil {
			return s.tokenError(err)
		}
		status, header, resp, err := s.post(ctx, access, body)
		if err != nil {
			return s.transportError(err)
		}
		if status/100 == 2 {
			s.failures.Store(0)
			return nil
		}
		e := parseStatus(resp)
		if status == http.StatusUnauthorized && e.fcmCode() != "THIRD_PARTY_AUTH_ERROR" && !retried {
			s.tokens.invalidate(access)
			continue
		}
		return s.classify(status, header, e, token)
	}
}

// The send request (FCM HTTP v1 projects.messages.send): a data message, without a
// notification block, so the app's own code runs and shows its own generic notification.
type sendRequest struct {
	Message message `json:"message"`
}

type message struct {
	Token   string            `json:"token"`
	Data    map[string]string `json:"data"`
	Android androidConfig     `json:"android"`
}

type androidConfig struct {
	// HIGH wakes a dozing device at once ("Set and manage Android message priority").
	Priority string `json:"priority"`
	// google.protobuf.Duration in JSON: whole seconds and "s"; FCM rounds down to the
	// second anyway.
	TTL         string `json:"ttl"`
	CollapseKey string `json:"collapse_key,omitempty"`
}

func payload(token string, m push.Message) ([]byte, error) {
	switch {
	case token == "":
		return nil, errors.New("fcm: no registration token")
	case m.ID == "":
		return nil, errors.New("fcm: message has no ID")
	case m.TTL < 0:
		return nil, fmt.Errorf("fcm: negative TTL %s", m.TTL)
	}
	ttl := min(m.TTL, MaxTTL)
	return json.Marshal(sendRequest{Message: message{
		Token: token,
		Data:  map[string]string{DataKey: m.ID},
		Android: androidConfig{
			Priority:    "HIGH",
			TTL:         fmt.Sprintf("%ds", int64(ttl/time.Second)),
			CollapseKey: m.CollapseID,
		},
	}})
}

func (s *Sender) post(ctx context.Context, access string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sendURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// rpcStatus is a Google API error body: google.rpc.Status with FCM's details.
type rpcStatus struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

const (
	typeFcmError   = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	typeBadRequest = "type.googleapis.com/google.rpc.BadRequest"
)

func parseStatus(body []byte) rpcStatus {
	var st rpcStatus
	_ = json.Unmarshal(body, &st) // an unreadable body leaves the HTTP status to decide
	return st
}

// fcmCode is the FcmError detail's errorCode, or "".
func (st rpcStatus) fcmCode() string {
	for _, d := range st.Error.Details {
		if d.Type == typeFcmError {
			return d.ErrorCode
		}
	}
	return ""
}

// tokenBlamed reports whether an INVALID_ARGUMENT is about the registration token (see
// the package comment).
func (st rpcStatus) tokenBlamed() bool {
	otherField := false
	for _, d := range st.Error.Details {
		if d.Type != typeBadRequest {
			continue
		}
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" {
				return true
			}
			otherField = true
		}
	}
	return !otherField && st.fcmCode() == "INVALID_ARGUMENT"
}

// classify turns an FCM error answer into the push.Sender contract's errors.
func (s *Sender) classify(status int, header http.Header, st rpcStatus, token string) error {
	code := st.fcmCode()
	name := code
	if name == "" {
		name = st.Error.Status
	}
	msg := strings.ReplaceAll(st.Error.Message, token, "[registration token]")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	desc := fmt.Sprintf("fcm: send refused: %d %s", status, name)
	if msg != "" {
		desc += ": " + msg
	}
	retryAfter := header.Get("Retry-After")

	switch {
	case code == "UNREGISTERED", code == "SENDER_ID_MISMATCH":
		return fmt.Errorf("%s: %w", desc, push.ErrInvalidToken)
	case code == "INVALID_ARGUMENT" || (code == "" && status == http.StatusBadRequest):
		if st.tokenBlamed() {
			return fmt.Errorf("%s: %w", desc, push.ErrInvalidToken)
		}
		return errors.New(desc)
	// By status as well as by code: a 429 or 5xx with an errorCode this table does not
	// know (UNSPECIFIED_ERROR, or one added later) is still FCM failing for now.
	case code == "QUOTA_EXCEEDED" || status == http.StatusTooManyRequests:
		return push.Retry(push.RetryAfter(retryAfter, s.now(), s.backoff(quotaBackoff)), errors.New(desc))
	case code == "UNAVAILABLE", code == "INTERNAL", status >= 500:
		return push.Retry(push.RetryAfter(retryAfter, s.now(), s.backoff(unavailableBackoff)), errors.New(desc))
	}
	// THIRD_PARTY_AUTH_ERROR, a 401 that persisted after a fresh token, a 403 (the
	// account may not send for this project), a 404 without UNREGISTERED (wrong project
	// or URL), and anything else: retrying the same request will not mend it.
	return errors.New(desc)
}

// tokenError classifies a failure to get an access token.
func (s *Sender) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		// RFC 6749 §5.2 error and error_description; oauth2's own message would quote
		// the whole body.
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(re.Body, &body)
		desc := fmt.Sprintf("fcm: fetch access token: token endpoint answered %d", re.Response.StatusCode)
		if body.Error != "" {
			desc += " " + body.Error
		}
		if body.Description != "" {
			desc += ": " + truncate(body.Description, 200)
		}
		if st := re.Response.StatusCode; st == http.StatusTooManyRequests || st >= 500 {
			after := push.RetryAfter(re.Response.Header.Get("Retry-After"), s.now(), s.backoff(unavailableBackoff))
			return push.Retry(after, errors.New(desc))
		}
		// invalid_grant and the like: the key was deleted or the account disabled.
		return errors.New(desc)
	}
	if errors.Is(err, errEmptyToken) || refusedByPolicy(err) {
		return fmt.Errorf("fcm: fetch access token: %w", err) // configuration: permanent
	}
	// The network, a timeout, or the token endpoint's answer being unreadable: for now.
	return push.Retry(s.backoff(unavailableBackoff), fmt.Errorf("fcm: fetch access token: %w", err))
}

// transportError classifies a failed FCM request.
func (s *Sender) transportError(err error) error {
	err = fmt.Errorf("fcm: send: %w", err)
	if refusedByPolicy(err) {
		return err // configuration: the base URL leads somewhere it must not
	}
	return push.Retry(s.backoff(unavailableBackoff), err)
}

// refusedByPolicy reports whether the outbound rules refused a call: a configured URL
// that leads somewhere it must not, which retrying will not mend.
func refusedByPolicy(err error) bool {
	return errors.Is(err, outbound.ErrForbiddenTarget) || errors.Is(err, outbound.ErrForbiddenScheme) ||
		errors.Is(err, outbound.ErrRedirect) || errors.Is(err, outbound.ErrTooLarge)
}

// backoff records a temporary failure and returns the delay for it.
func (s *Sender) backoff(base time.Duration) time.Duration {
	n := s.failures.Add(1)
	d := min(base<<min(n-1, 16), maxBackoff)
	return d + rand.N(d/4+1)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// outboundTransport lets net/http and oauth2 send through an outbound.Client, which
// enforces the outbound rules and reads the whole (capped) body itself.
type outboundTransport struct{ c *outbound.Client }

func (t outboundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.c.Do(req.Context(), req)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", resp.Status, http.StatusText(resp.Status)),
		StatusCode:    resp.Status,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}

// contextTransport sends every request under ctx and remembers the last transport
// error. One token fetch makes one request, so err needs no lock.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
	err  error
}

func (t *contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		t.err = err
	}
	return resp, err
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}
