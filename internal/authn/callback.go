package authn

import (
	"encoding/json"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// Callback is where the outcome of one request is delivered, besides the realm's webhook
// subscriptions: the URL the requester named and the headers it asked for (they may
// carry the receiver's credentials). A request keeps it sealed (SealCallback); the
// events that end the request carry it to the event log, whose deliverer opens it.
type Callback struct {
	URL     string
	Headers map[string]string
}

// Limits on a callback.
const (
	MaxCallbackURL         = 2048
	MaxCallbackHeaders     = 20
	MaxCallbackHeaderBytes = 8 << 10 // names and values together
)

// reservedCallbackHeaders are the headers the deliverer sets itself or that belong to
// the connection (RFC 9110 §7.6.1); webhook-* are the Standard Webhooks signature
// headers.
var reservedCallbackHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade", "Host", "Content-Type", "Content-Length", "Content-Encoding", "Expect",
}

// Validate checks c: an absolute https (or http) URL with a host, no user information
// and no fragment, of at most MaxCallbackURL bytes; at most MaxCallbackHeaders headers
// whose names are tokens (RFC 9110 §5.1) other than the reserved ones and whose values
// hold no CR, LF or NUL, of at most MaxCallbackHeaderBytes in all. Whether the address
// may be called is the outbound policy's to say at delivery. Errors wrap ErrInvalid.
func (c Callback) Validate() error {
	if len(c.URL) > MaxCallbackURL {
		return invalid("the callback URL is longer than %d bytes", MaxCallbackURL)
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return invalid("the callback URL is not an absolute URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return invalid("the callback URL must be https (or http)")
	case u.Hostname() == "":
		return invalid("the callback URL has no host")
	case u.User != nil:
		return invalid("the callback URL must not hold user information; use a header")
	case u.Fragment != "" || strings.HasSuffix(c.URL, "#"):
		return invalid("the callback URL must not hold a fragment")
	}
	if len(c.Headers) > MaxCallbackHeaders {
		return invalid("at most %d callback headers are allowed", MaxCallbackHeaders)
	}
	total := 0
	seen := map[string]bool{}
	for name, value := range c.Headers {
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case !isToken(name):
			return invalid("callback header name %q is not a token", name)
		case seen[canonical]:
			return invalid("callback header %q is named twice", canonical)
		case isReservedHeader(canonical):
			return invalid("callback header %q is set by Signet or belongs to the connection", canonical)
		case strings.ContainsAny(value, "\r\n\x00"):
			return invalid("callback header %q holds a line break", canonical)
		}
		seen[canonical] = true
		total += len(name) + len(value)
	}
	if total > MaxCallbackHeaderBytes {
		return invalid("the callback headers are larger than %d bytes", MaxCallbackHeaderBytes)
	}
	return nil
}

func isReservedHeader(canonical string) bool {
	if strings.HasPrefix(canonical, "Webhook-") {
		return true
	}
	for _, h := range reservedCallbackHeaders {
		if canonical == h {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 §5.6.2 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// callbackAAD binds sealed headers to the realm and the URL they are for, so they
// cannot be moved to another callback.
func callbackAAD(realm, url string) []byte {
	return []byte("signet callback headers\x00" + realm + "\x00" + url)
}

// SealCallback validates c and returns it as requests and events keep it: the URL as
// it is and the headers, if any, as JSON sealed with the key-encryption key.
func SealCallback(ring *keys.Keyring, realm string, c Callback) (*store.EventCallback, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	out := &store.EventCallback{URL: c.URL}
	if len(c.Headers) == 0 {
		return out, nil
	}
	plain, err := json.Marshal(c.Headers)
	if err != nil {
		return nil, err
	}
	if out.Headers, err = ring.Seal(plain, callbackAAD(realm, c.URL)); err != nil {
		return nil, fmt.Errorf("authn: seal the callback headers: %w", err)
	}
	// JSON escapes some characters to six bytes: headers within the raw limit may still
	// seal to more than an event may carry, and the request's last event would be lost.
	if len(out.Headers) > store.MaxCallbackHeadersLen {
		return nil, invalid("the callback headers take too much room once encoded; send shorter values")
	}
	return out, nil
}

// OpenCallbackHeaders returns the headers of a callback of realm sealed by SealCallback
// (nil when it has none), for the deliverer to send.
func OpenCallbackHeaders(ring *keys.Keyring, realm string, cb store.EventCallback) (map[string]string, error) {
	if len(cb.Headers) == 0 {
		return nil, nil
	}
	plain, err := ring.Open(cb.Headers, callbackAAD(realm, cb.URL))
	if err != nil {
		return nil, fmt.Errorf("authn: open the callback headers: %w", err)
	}
	var h map[string]string
	if err := json.Unmarshal(plain, &h); err != nil {
		return nil, fmt.Errorf("authn: callback headers: %w", err)
	}
	return h, nil
}
