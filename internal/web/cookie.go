package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// HostCookiePrefix makes browsers accept the cookie only with Secure, Path=/ and no
// Domain, from a secure origin (RFC 6265bis §4.1.3.2): a sibling subdomain or a plain-HTTP
// page cannot set or shadow it.
const HostCookiePrefix = "__Host-"

// maxCookieSize is the cookie size browsers must accept at least (RFC 6265 §6.1).
const maxCookieSize = 4096

// ErrCookieValue is returned for a value a cookie cannot carry unchanged.
var ErrCookieValue = errors.New("invalid cookie value")

// HostCookie is one named cookie with fixed attributes: the __Host- prefix, Secure,
// HttpOnly, Path=/, no Domain, and SameSite Lax or Strict. Declare each cookie once and
// set, read and clear it through its HostCookie, so clearing always matches setting.
//
// Secure is always set, also on a listener that serves plain HTTP behind a TLS-terminating
// proxy: browsers drop __Host- cookies without Secure, and store Secure cookies only from
// https pages (or localhost). Such a listener must therefore be reached over https
// through the proxy; there is deliberately no switch to turn Secure off.
type HostCookie struct {
	name     string
	sameSite http.SameSite
}

// NewHostCookie declares the cookie HostCookiePrefix+name. sameSite is
// http.SameSiteLaxMode (sent on top-level navigations from other sites, as when a relying
// party redirects to the authorization endpoint) or http.SameSiteStrictMode.
func NewHostCookie(name string, sameSite http.SameSite) (*HostCookie, error) {
	if name == "" || strings.HasPrefix(name, "__") || !isToken(name) {
		return nil, fmt.Errorf("cookie name %q: need an RFC 9110 token without a __ prefix", name)
	}
	if sameSite != http.SameSiteLaxMode && sameSite != http.SameSiteStrictMode {
		return nil, fmt.Errorf("cookie %s: SameSite must be Lax or Strict", name)
	}
	return &HostCookie{name: HostCookiePrefix + name, sameSite: sameSite}, nil
}

// Name is the cookie's full name, with the prefix.
func (c *HostCookie) Name() string { return c.name }

// Set adds a Set-Cookie header for value, an opaque string the caller has made (a random
// session id, a signed blob). maxAge > 0 becomes Max-Age in whole seconds (rounded up);
// 0 makes a cookie that ends with the browser session. Values with characters outside
// RFC 6265's cookie-octet (space, quote, comma, semicolon, backslash, controls,
// non-ASCII) are refused with ErrCookieValue rather than altered as net/http would.
func (c *HostCookie) Set(w http.ResponseWriter, value string, maxAge time.Duration) error {
	switch {
	case value == "":
		return fmt.Errorf("cookie %s: %w: empty (use Clear)", c.name, ErrCookieValue)
	case len(c.name)+1+len(value) > maxCookieSize:
		return fmt.Errorf("cookie %s: %w: longer than %d bytes", c.name, ErrCookieValue, maxCookieSize)
	case !isCookieValue(value):
		return fmt.Errorf("cookie %s: %w: character outside RFC 6265 cookie-octet", c.name, ErrCookieValue)
	case maxAge < 0:
		return fmt.Errorf("cookie %s: negative max age (use Clear)", c.name)
	}
	seconds := int((maxAge + time.Second - 1) / time.Second)
	http.SetCookie(w, c.cookie(value, seconds))
	return nil
}

// Get returns the cookie's value from the request, and false when it is absent or empty.
// The value is as the client sent it: verify or look it up before trusting it.
func (c *HostCookie) Get(r *http.Request) (string, bool) {
	ck, err := r.Cookie(c.name)
	if err != nil || ck.Value == "" {
		return "", false
	}
	return ck.Value, true
}

// Clear tells the browser to delete the cookie: an empty value and Max-Age=0
// (http.Cookie.MaxAge -1) with the same attributes it was set with.
func (c *HostCookie) Clear(w http.ResponseWriter) {
	http.SetCookie(w, c.cookie("", -1))
}

func (c *HostCookie) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     c.name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: c.sameSite,
	}
}

// isCookieValue reports whether every byte is an RFC 6265 §4.1.1 cookie-octet.
func isCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b <= 0x20 || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 §5.6.2 token, as cookie names must be.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
		if !ok {
			return false
		}
	}
	return true
}
