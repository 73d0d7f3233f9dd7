package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrCSRF is returned for every refused CSRF token; the wrapped detail is for logs only.
var ErrCSRF = errors.New("invalid CSRF token")

// CSRFFieldName is the form field that carries the token; the "csrf_field" template
// writes it.
const CSRFFieldName = "csrf_token"

// MinCSRFKeyLen is the shortest key NewCSRF accepts: the HMAC-SHA256 output size.
const MinCSRFKeyLen = 32

const (
	csrfVersion = 1
	csrfNonce   = 16
	// csrfRawLen is version, issue time (Unix seconds), nonce, HMAC-SHA256.
	csrfRawLen = 1 + 8 + csrfNonce + sha256.Size
	// csrfSkew tolerates clocks of the nodes of a cluster that disagree a little.
	csrfSkew = 30 * time.Second
	// csrfLabel separates these MACs from anything else a shared key might sign.
	csrfLabel = "signet csrf v1\x00"
)

var csrfEncoding = base64.RawURLEncoding.Strict()

// CSRF issues and checks stateless synchronizer tokens: HMAC-SHA256 over the issue time,
// a random nonce and a value the caller binds the token to, such as the id in the
// pending-login or session cookie. Binding to a cookie the attacker cannot set (a
// __Host- cookie) is what makes the token useless on another session. The random nonce
// makes every token different, so a token reflected into compressed pages leaks nothing
// across responses (BREACH).
type CSRF struct {
	key []byte
	now func() time.Time
}

// CSRFOption configures NewCSRF.
type CSRFOption func(*CSRF)

// WithCSRFClock replaces time.Now, for tests of expiry.
func WithCSRFClock(now func() time.Time) CSRFOption {
	return func(c *CSRF) { c.now = now }
}

// NewCSRF takes a secret key of at least MinCSRFKeyLen bytes, used for nothing else. All
// nodes serving the same pages need the same key.
func NewCSRF(key []byte, opts ...CSRFOption) (*CSRF, error) {
	if len(key) < MinCSRFKeyLen {
		return nil, fmt.Errorf("csrf key: %d bytes, need at least %d", len(key), MinCSRFKeyLen)
	}
	c := &CSRF{key: append([]byte(nil), key...), now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Token returns a token bound to bindTo and the current time. An empty bindTo yields a
// token that Verify always refuses: every form needs something to bind to.
func (c *CSRF) Token(bindTo string) string {
	raw := make([]byte, csrfRawLen)
	raw[0] = csrfVersion
	binary.BigEndian.PutUint64(raw[1:9], uint64(c.now().Unix()))
	_, _ = rand.Read(raw[9 : 9+csrfNonce]) // crypto/rand.Read never fails (Go 1.24+)
	copy(raw[9+csrfNonce:], c.mac(raw[:9+csrfNonce], bindTo))
	return csrfEncoding.EncodeToString(raw)
}

// Verify checks that token was issued by this key for bindTo, at most maxAge ago. Every
// refusal wraps ErrCSRF.
func (c *CSRF) Verify(token, bindTo string, maxAge time.Duration) error {
	switch {
	case bindTo == "":
		return fmt.Errorf("%w: nothing to bind to", ErrCSRF)
	case maxAge <= 0:
		return fmt.Errorf("%w: no maximum age", ErrCSRF)
	// The length check comes first: the decoder skips \r and \n, and the fixed length
	// makes a truncated or padded token fail before any work.
	case len(token) != csrfEncoding.EncodedLen(csrfRawLen):
		return fmt.Errorf("%w: malformed", ErrCSRF)
	}
	raw, err := csrfEncoding.DecodeString(token)
	if err != nil || len(raw) != csrfRawLen || raw[0] != csrfVersion {
		return fmt.Errorf("%w: malformed", ErrCSRF)
	}
	// hmac.Equal compares in constant time, so a forger learns nothing from timing.
	if !hmac.Equal(raw[9+csrfNonce:], c.mac(raw[:9+csrfNonce], bindTo)) {
		return fmt.Errorf("%w: signature or binding mismatch", ErrCSRF)
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(raw[1:9])), 0)
	now := c.now()
	switch {
	case issued.After(now.Add(csrfSkew)):
		return fmt.Errorf("%w: issued in the future", ErrCSRF)
	case now.Sub(issued) > maxAge:
		return fmt.Errorf("%w: expired", ErrCSRF)
	}
	return nil
}

// VerifyForm verifies the token in the request's POST body (never the query string, where
// tokens leak into logs and Referer headers).
func (c *CSRF) VerifyForm(r *http.Request, bindTo string, maxAge time.Duration) error {
	return c.Verify(r.PostFormValue(CSRFFieldName), bindTo, maxAge)
}

// mac signs the token's header (version, time, nonce) followed by the binding; the header
// has a fixed length, so the concatenation is unambiguous.
func (c *CSRF) mac(header []byte, bindTo string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(csrfLabel))
	m.Write(header)
	m.Write([]byte(bindTo))
	return m.Sum(nil)
}
