// Package outbound is the one HTTP client for every call Signet makes to a server it
// does not run: a client's jwks_uri, request_uri and sector_identifier_uri, webhooks,
// CIBA ping and push notifications, back-channel logout and push providers.
//
// Such URLs are usually chosen by someone Signet does not trust (a registered client, a
// tenant's webhook setting), so every request obeys these rules (PRODUCT.md "Outbound
// calls", CONFORMANCE.md §4 item 18):
//
//   - Targets: only public unicast addresses (see [Classify]) unless the [Policy] allows
//     more. The rule runs on the address actually dialled (net.Dialer.ControlContext,
//     before connect), so a host name that resolves, or is rebound, to 127.0.0.1 or
//     169.254.169.254 is refused; a URL whose host is a literal IP, or a non-canonical
//     numeric form such as "127.1", is refused before any lookup or dial.
//     Policy.AllowedHosts exempts exact host names.
//   - Schemes: http and https only ([ErrForbiddenScheme]). Plain http only reaches an
//     explicitly allowed target: a host in AllowedHosts, an address in AllowedCIDRs, or
//     a private address under AllowPrivate. Public targets need https, because their
//     answers (keys, request objects) must not be alterable on the way.
//   - Redirects are never followed; a 3xx answer (other than 304) is an [ErrRedirect].
//   - Bounds: Policy.Timeout covers the whole call, body included (dial, TLS handshake
//     and response headers carry their own timeouts too); the body is read up to
//     Policy.MaxBodyBytes, beyond which the call fails with [ErrTooLarge]; response
//     headers are capped at 64 KiB.
//   - No proxy from the environment (HTTP_PROXY cannot divert traffic), no cookie jar,
//     and a fixed User-Agent "Signet/<version>".
//
// Errors name the method and the URL without userinfo, query or fragment, which may hold
// secrets.
package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/signet-auth/signet/internal/version"
)

// Sentinel errors. Client methods wrap them once as "outbound METHOD URL: ..."; check them
// with errors.Is.
var (
	// ErrForbiddenTarget means the target address (literal or dialled) is not allowed
	// by the policy, for example loopback, private, link-local or reserved.
	ErrForbiddenTarget = errors.New("forbidden target")
	// ErrForbiddenScheme means the URL scheme is not http or https, or it is plain http
	// to a target the policy does not explicitly allow.
	ErrForbiddenScheme = errors.New("forbidden scheme")
	// ErrRedirect means the server answered with a redirect, which is never followed;
	// errors.As with *RedirectError gives the status.
	ErrRedirect = errors.New("redirect not followed")
	// ErrTooLarge means the response body is longer than Policy.MaxBodyBytes.
	ErrTooLarge = errors.New("response body too large")
	// ErrUnexpectedStatus means GetJSON got a status outside 2xx.
	ErrUnexpectedStatus = errors.New("unexpected status")
	// ErrNotJSON means GetJSON got a response whose media type is not JSON.
	ErrNotJSON = errors.New("response is not JSON")
)

// RedirectError reports a 3xx answer. It matches ErrRedirect.
type RedirectError struct {
	Status int
	// Location is the redirect target without userinfo, query or fragment, or
	// "(unparsable)".
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%v: status %d to %q", ErrRedirect, e.Status, e.Location)
}

// Unwrap makes errors.Is(err, ErrRedirect) hold.
func (e *RedirectError) Unwrap() error { return ErrRedirect }

// refusal is a rule violation found inside the transport (at dial time); it survives the
// wrapping by net and net/http so Do can report it on its own.
type refusal struct {
	kind   error
	detail string
}

func refuse(kind error, format string, args ...any) *refusal {
	return &refusal{kind: kind, detail: fmt.Sprintf(format, args...)}
}

func (r *refusal) Error() string { return r.kind.Error() + ": " + r.detail }
func (r *refusal) Unwrap() error { return r.kind }

// Response is a complete answer: the body is already read (within the size cap) and
// closed.
type Response struct {
	Status int // HTTP status code
	Header http.Header
	Body   []byte
}

// Option configures a Client.
type Option func(*options)

type options struct {
	resolver *net.Resolver
	roots    *x509.CertPool
}

// WithResolver resolves host names with r instead of the system resolver; the address
// rule still applies to every address r returns. Tests use it to give loopback servers
// public-looking names (see package outboundtest).
func WithResolver(r *net.Resolver) Option { return func(o *options) { o.resolver = r } }

// WithRootCAs verifies https servers against pool instead of the system roots, for
// example a test server's certificate.
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.roots = pool } }

// maxHeaderBytes caps response headers; no legitimate endpoint needs more.
const maxHeaderBytes = 64 << 10

// Client makes outbound calls under one Policy. It is safe for concurrent use and meant
// to be long-lived, so connections are reused.
type Client struct {
	policy Policy
	hosts  map[string]bool // policy.AllowedHosts, for lookup
	agent  string
	http   *http.Client
	plain  *http.Transport // http:// targets
	secure *http.Transport // https:// targets
}

// New returns a Client enforcing p. Zero Timeout and MaxBodyBytes take the
// DefaultPolicy values.
func New(p Policy, opts ...Option) *Client {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c := &Client{policy: p.normalized(), hosts: map[string]bool{}, agent: "Signet/" + version.Version}
	for _, h := range c.policy.AllowedHosts {
		c.hosts[h] = true
	}
	// Two transports, so the dial-time check knows whether the connection will carry
	// plain http; connections are pooled per scheme anyway.
	c.plain = c.transport(o, true)
	c.secure = c.transport(o, false)
	c.http = &http.Client{
		Transport: byScheme{plain: c.plain, secure: c.secure},
		// Redirects are never followed (PRODUCT.md "Outbound calls"); Do turns the 3xx
		// into ErrRedirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

func (c *Client) transport(o options, plain bool) *http.Transport {
	timeout := c.policy.Timeout
	open := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: o.resolver}
	checked := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: o.resolver,
		// Runs for every address the dialer tries, after resolution and before connect.
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return refuse(ErrForbiddenTarget, "unparsable dial address %q", address)
			}
			return c.policy.check(ap.Addr(), plain)
		},
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if c.hostAllowed(host) {
			return open.DialContext(ctx, network, addr)
		}
		return checked.DialContext(ctx, network, addr)
	}
	return &http.Transport{
		Proxy:                  nil, // never from the environment: HTTP_PROXY must not divert calls
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{MinVersion: c.policy.MinTLSVersion, RootCAs: o.roots},
		ForceAttemptHTTP2:      true, // a custom DialContext would otherwise disable HTTP/2 (APNs needs it)
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
	}
}

// byScheme sends https requests through one transport and http through the other.
type byScheme struct{ plain, secure *http.Transport }

func (b byScheme) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "https" {
		return b.secure.RoundTrip(r)
	}
	return b.plain.RoundTrip(r)
}

// CloseIdleConnections closes pooled connections, for shutdown and tests.
func (c *Client) CloseIdleConnections() {
	c.plain.CloseIdleConnections()
	c.secure.CloseIdleConnections()
}

func (c *Client) hostAllowed(host string) bool { return c.hosts[canonicalHost(host)] }

// Do sends req under the policy and returns the complete response, whatever its status
// (except 3xx, which is ErrRedirect; 304 is returned as a response). ctx governs the
// call, not req's own context; the call also ends after Policy.Timeout. req is not
// modified. Like http.Client.Do, Do closes req.Body, also on error.
func (c *Client) Do(ctx context.Context, req *http.Request) (*Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, fmt.Errorf("outbound %s: request has no URL", req.Method)
	}
	call := describe(req.Method, req.URL)
	if err := c.screen(req.URL); err != nil {
		closeBody(req)
		return nil, call.wrap(err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.policy.Timeout, c.timeout())
	defer cancel()

	r := req.Clone(ctx)
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set("User-Agent", c.agent)
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, call.wrap(c.cause(ctx, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 3 && resp.StatusCode != http.StatusNotModified {
		loc := "(unparsable)"
		if u, err := url.Parse(resp.Header.Get("Location")); err == nil {
			loc = redact(u)
		}
		return nil, call.wrap(&RedirectError{Status: resp.StatusCode, Location: loc})
	}
	body, err := c.readBody(resp)
	if err != nil {
		return nil, call.wrap(c.cause(ctx, err))
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// screen applies the rules that need no network: scheme, literal IP hosts, and plain
// http when nothing could make it allowed.
func (c *Client) screen(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return refuse(ErrForbiddenScheme, "scheme %q not allowed; use https", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return refuse(ErrForbiddenTarget, "URL has no host")
	}
	if c.hostAllowed(host) {
		return nil
	}
	plain := u.Scheme == "http"
	if addr, err := netip.ParseAddr(host); err == nil {
		return c.policy.check(addr, plain)
	}
	// WHATWG URL: a host whose last label is a number is an IPv4 address; resolvers
	// accept forms like "127.1" or "0x7f000001". Refuse them before any lookup.
	if endsInNumber(host) {
		return refuse(ErrForbiddenTarget, "host %q is a non-canonical IP address", host)
	}
	if plain && !c.policy.AllowPrivate && len(c.policy.AllowedCIDRs) == 0 {
		return refuse(ErrForbiddenScheme, "plain http only to allowed hosts; use https")
	}
	return nil
}

// endsInNumber reports whether the last label of host is decimal digits or 0x-hex.
func endsInNumber(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	digits := "0123456789"
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		last, digits = last[2:], "0123456789abcdefABCDEF"
		if last == "" {
			return true
		}
	}
	return last != "" && strings.Trim(last, digits) == ""
}

func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	limit := c.policy.MaxBodyBytes
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return body, nil
}

// timeout is the error of a call that ran out of Policy.Timeout.
func (c *Client) timeout() error {
	return fmt.Errorf("no complete response within %s: %w", c.policy.Timeout, context.DeadlineExceeded)
}

// cause digs the reason out of what net/http returns: a policy refusal from the dialer,
// the deadline, or the transport's own error without the url.Error repeating the URL.
func (c *Client) cause(ctx context.Context, err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return r
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	// The transport's dial, handshake and header timeouts equal Policy.Timeout and may
	// fire a moment before the context does: the same event.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return c.timeout()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// GetJSON fetches rawURL and decodes its JSON body into v. The answer must be 2xx
// (ErrUnexpectedStatus) with media type application/json or application/*+json such as
// application/jwk-set+json (ErrNotJSON).
func (c *Client) GetJSON(ctx context.Context, rawURL string, v any) error {
	req, err := newRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	call := describe(req.Method, req.URL)
	if resp.Status < 200 || resp.Status > 299 {
		return call.wrap(fmt.Errorf("%w %d", ErrUnexpectedStatus, resp.Status))
	}
	if err := checkJSON(resp.Header.Get("Content-Type")); err != nil {
		return call.wrap(err)
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return call.wrap(fmt.Errorf("decode JSON: %w", err))
	}
	return nil
}

func checkJSON(contentType string) error {
	if contentType == "" {
		return fmt.Errorf("%w: no Content-Type", ErrNotJSON)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return fmt.Errorf("%w: Content-Type %q", ErrNotJSON, contentType)
}

// PostJSON posts body encoded as JSON (Content-Type application/json unless headers
// set another) with the extra headers and returns the response whatever its status.
func (c *Client) PostJSON(ctx context.Context, rawURL string, body any, headers http.Header) (*Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		u, perr := url.Parse(rawURL)
		if perr != nil {
			return nil, fmt.Errorf("outbound POST: encode JSON body: %w", err)
		}
		return nil, describe(http.MethodPost, u).wrap(fmt.Errorf("encode JSON body: %w", err))
	}
	return c.post(ctx, rawURL, "application/json", b, headers)
}

// PostForm posts form as application/x-www-form-urlencoded (back-channel logout, for
// example) with the extra headers and returns the response whatever its status.
func (c *Client) PostForm(ctx context.Context, rawURL string, form url.Values, headers http.Header) (*Response, error) {
	return c.post(ctx, rawURL, "application/x-www-form-urlencoded", []byte(form.Encode()), headers)
}

func (c *Client) post(ctx context.Context, rawURL, contentType string, body []byte, headers http.Header) (*Response, error) {
	req, err := newRequest(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range headers {
		req.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.Do(ctx, req)
}

// newRequest builds a request; a parse error is reported without the URL, which may
// carry secrets.
func newRequest(ctx context.Context, method, rawURL string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("outbound %s: invalid URL: %w", method, err)
	}
	return req, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// call names one request in errors.
type call string

func describe(method string, u *url.URL) call { return call(method + " " + redact(u)) }

func (c call) wrap(err error) error { return fmt.Errorf("outbound %s: %w", string(c), err) }

// redact renders u without userinfo, query and fragment, which may hold secrets.
func redact(u *url.URL) string {
	if u.Opaque != "" {
		return u.Scheme + ":..."
	}
	s := u.Host + u.EscapedPath()
	if u.Scheme != "" {
		s = u.Scheme + "://" + s
	}
	return s
}
