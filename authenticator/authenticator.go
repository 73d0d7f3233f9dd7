package authenticator

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// Authenticator enrolls identities and connects them.
type Authenticator struct {
	keys    KeyStore
	roots   *x509.CertPool
	timeout time.Duration
	now     func() time.Time
}

// New returns an Authenticator keeping its keys in keys.
func New(keys KeyStore) *Authenticator {
	return &Authenticator{keys: keys, timeout: DefaultTimeout, now: time.Now}
}

// TrustPEM adds CA certificates (PEM) to trust for wss:// connections besides the
// system's, for a server with a private CA.
func (a *Authenticator) TrustPEM(pem []byte) error {
	if a.roots == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		a.roots = pool
	}
	if !a.roots.AppendCertsFromPEM(pem) {
		return errors.New("authenticator: no certificate in the PEM data")
	}
	return nil
}

// SetTimeoutSeconds bounds connecting and each call of the sessions it opens (in
// seconds, a type gomobile binds).
func (a *Authenticator) SetTimeoutSeconds(seconds int64) {
	a.timeout = time.Duration(seconds) * time.Second
}

func (a *Authenticator) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: a.roots}
}

// Identity is one enrolled account: where to connect, the pinned server key, the
// device id and the alias of the device key. It is what an app keeps (Marshal).
type Identity struct {
	ChannelURL  string `json:"channel_url"`
	Realm       string `json:"realm"`
	DeviceID    string `json:"device_id"`
	UserID      string `json:"user_id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	// Fingerprint is the base64url SHA-256 fingerprint of the pinned channel key.
	Fingerprint string `json:"fingerprint"`
	KeyAlias    string `json:"key_alias"`
}

// Marshal encodes the identity as JSON.
func (id *Identity) Marshal() ([]byte, error) { return json.Marshal(id) }

// UnmarshalIdentity decodes an identity made by Marshal.
func UnmarshalIdentity(b []byte) (*Identity, error) {
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, err
	}
	if id.ChannelURL == "" || id.DeviceID == "" || id.KeyAlias == "" || id.Fingerprint == "" {
		return nil, errors.New("authenticator: the identity lacks a field")
	}
	return &id, nil
}

// Enrollment is what a user adds when enrolling.
type Enrollment struct {
	DisplayName  string
	Platform     string
	AppVersion   string
	PushProvider string
	PushToken    string
}

// Enroll redeems the activation QR payload: it makes a new device key, connects to the
// server the payload names with the channel key it pins, and registers the key. The
// session stays open for use.
func (a *Authenticator) Enroll(qrURL string, e *Enrollment) (*Session, error) {
	act, err := ParseActivationURL(qrURL)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &Enrollment{}
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	alias := "signet-" + base64.RawURLEncoding.EncodeToString(r[:])
	if _, err := a.keys.GenerateKey(alias); err != nil {
		return nil, fmt.Errorf("authenticator: generate the device key: %w", err)
	}
	signer, err := newStoreSigner(a.keys, alias)
	if err != nil {
		return nil, err
	}
	s, err := dial(act.ChannelURL, a.tlsConfig(), a.timeout, sigma.ClientConfig{
		ServerKeyFingerprint: act.Fingerprint, Signer: signer, Enroll: true,
	})
	if err != nil {
		_ = a.keys.DeleteKey(alias)
		return nil, err
	}
	s.Timeout, s.ks = a.timeout, a.keys
	s.start()
	out, err := s.call(&message.Envelope{Type: message.TypeEnroll, Realm: act.Realm, Code: act.Code,
		DisplayName: e.DisplayName, Platform: e.Platform, AppVersion: e.AppVersion,
		PushProvider: e.PushProvider, PushToken: e.PushToken})
	if err != nil || out.Device == nil {
		s.Close()
		_ = a.keys.DeleteKey(alias)
		if err == nil {
			err = errors.New("authenticator: the server did not say which device it enrolled")
		}
		return nil, err
	}
	s.identity = &Identity{
		ChannelURL: act.ChannelURL, Realm: out.Device.Realm, DeviceID: out.Device.ID, UserID: out.Device.UserID,
		Username: out.Device.Username, DisplayName: out.Device.DisplayName,
		Fingerprint: base64.RawURLEncoding.EncodeToString(act.Fingerprint[:]), KeyAlias: alias,
	}
	return s, nil
}

// Connect opens a session for an enrolled identity and says hello with the app's
// version, platform and push token (empty values keep what the server has).
func (a *Authenticator) Connect(id *Identity, e *Enrollment) (*Session, error) {
	fp, err := base64.RawURLEncoding.DecodeString(id.Fingerprint)
	if err != nil || len(fp) != 32 {
		return nil, errors.New("authenticator: the identity's fingerprint is malformed")
	}
	devID, err := hex.DecodeString(id.DeviceID)
	if err != nil || len(devID) != 16 {
		return nil, errors.New("authenticator: the identity's device id is malformed")
	}
	signer, err := newStoreSigner(a.keys, id.KeyAlias)
	if err != nil {
		return nil, err
	}
	cfg := sigma.ClientConfig{Signer: signer}
	copy(cfg.ServerKeyFingerprint[:], fp)
	copy(cfg.DeviceID[:], devID)
	s, err := dial(id.ChannelURL, a.tlsConfig(), a.timeout, cfg)
	if err != nil {
		return nil, err
	}
	s.Timeout, s.identity, s.ks = a.timeout, id, a.keys
	s.start()
	if e == nil {
		e = &Enrollment{}
	}
	if _, err := s.call(&message.Envelope{Type: message.TypeHello, AppVersion: e.AppVersion, Platform: e.Platform,
		PushProvider: e.PushProvider, PushToken: e.PushToken}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Activation is the content of an activation QR payload.
type Activation struct {
	ChannelURL  string
	Realm       string
	Code        string
	Fingerprint [32]byte
}

// ParseActivationURL reads an activation QR payload:
// https://{device host}[/prefix]/enroll#realm=…&code=…&fp=… (the fragment is never
// sent to a server). An http:// payload connects over ws:// (a dev setup or a plain
// listener behind a proxy); the channel is end-to-end secured either way.
func ParseActivationURL(raw string) (*Activation, error) {
	channel, v, err := parseCodeURL(raw, "/enroll", "activation URL")
	if err != nil {
		return nil, err
	}
	fp, err := base64.RawURLEncoding.DecodeString(v.Get("fp"))
	if err != nil || len(fp) != 32 || v.Get("realm") == "" || v.Get("code") == "" {
		return nil, errors.New("authenticator: the activation URL lacks its realm, code or fingerprint")
	}
	a := &Activation{ChannelURL: channel, Realm: v.Get("realm"), Code: v.Get("code")}
	copy(a.Fingerprint[:], fp)
	return a, nil
}

// parseCodeURL reads a QR code's URL: {DEVICE URL}{suffix}#{values}. It returns the
// channel URL of that DEVICE URL and the values.
func parseCodeURL(raw, suffix, what string) (string, url.Values, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", nil, fmt.Errorf("authenticator: the %s must be an http(s) URL", what)
	}
	v, err := url.ParseQuery(u.Fragment)
	if err != nil {
		return "", nil, fmt.Errorf("authenticator: the %s's fragment is malformed", what)
	}
	base, ok := strings.CutSuffix(u.Path, suffix)
	if !ok {
		return "", nil, fmt.Errorf("authenticator: the %s does not end in %s", what, suffix)
	}
	scheme := "wss"
	if u.Scheme == "http" {
		scheme = "ws"
	}
	return scheme + "://" + u.Host + base + "/device/v1", v, nil
}

// Request is a pending request as the app shows it.
type Request struct {
	ID                   string
	Realm                string
	Kind                 string
	ClientID             string
	ClientName           string
	Text                 string
	AuthorizationDetails string // RFC 9396 JSON, or empty
	CreatedAt            int64  // unix seconds
	ExpiresAt            int64
	choices              []string
	origin               map[string]string
}

func newRequest(r *message.Request) *Request {
	return &Request{
		ID: r.ID, Realm: r.Realm, Kind: r.Kind, ClientID: r.ClientID, ClientName: r.ClientName, Text: r.Text,
		AuthorizationDetails: r.AuthorizationDetails, CreatedAt: r.CreatedAt.Unix(), ExpiresAt: r.ExpiresAt.Unix(),
		choices: r.NumberChoices, origin: r.Origin,
	}
}

// NumberChoiceCount is how many numbers the user picks from (0: no number matching).
func (r *Request) NumberChoiceCount() int { return len(r.choices) }

// NumberChoice is the i-th number to offer.
func (r *Request) NumberChoice(i int) string { return r.choices[i] }

// Origin is where the request started: "ip", "user_agent", "location", …
func (r *Request) Origin(key string) string { return r.origin[key] }

// Requests is a list of requests (gomobile binds no slices of structs).
type Requests struct{ items []*Request }

// Len is the number of requests.
func (l *Requests) Len() int { return len(l.items) }

// Get is the i-th request.
func (l *Requests) Get(i int) *Request { return l.items[i] }

// Pending lists the requests waiting for the user, oldest first.
func (s *Session) Pending() (*Requests, error) {
	out, err := s.call(&message.Envelope{Type: message.TypeList})
	if err != nil {
		return nil, err
	}
	l := &Requests{}
	for i := range out.Requests {
		l.items = append(l.items, newRequest(&out.Requests[i]))
	}
	return l, nil
}

// Fetch reads one request's details.
func (s *Session) Fetch(id string) (*Request, error) {
	out, err := s.call(&message.Envelope{Type: message.TypeFetch, RequestID: id})
	if err != nil {
		return nil, err
	}
	if out.Request == nil {
		return nil, errors.New("authenticator: the server sent no request")
	}
	return newRequest(out.Request), nil
}

// LoginQR is what a QR login's code holds: the channel it belongs to, the realm and the
// sign-in request the login page shows.
type LoginQR struct {
	ChannelURL string
	Realm      string
	RequestID  string
}

// ParseLoginURL reads the payload of a QR login code ({DEVICE URL}/login#realm=…&request=…).
func ParseLoginURL(raw string) (*LoginQR, error) {
	channel, v, err := parseCodeURL(raw, "/login", "login code")
	if err != nil {
		return nil, err
	}
	if v.Get("realm") == "" || v.Get("request") == "" {
		return nil, errors.New("authenticator: the login code lacks its realm or request")
	}
	return &LoginQR{ChannelURL: channel, Realm: v.Get("realm"), RequestID: v.Get("request")}, nil
}

// Claim takes the sign-in a scanned QR login code shows for this session's identity, and
// returns it to be approved or denied like any request. The code must belong to the
// identity's server and realm.
func (s *Session) Claim(qr *LoginQR) (*Request, error) {
	if qr.ChannelURL != s.identity.ChannelURL || qr.Realm != s.identity.Realm {
		return nil, errors.New("authenticator: the login code belongs to another server or realm than this identity")
	}
	out, err := s.call(&message.Envelope{Type: message.TypeClaim, RequestID: qr.RequestID})
	if err != nil {
		return nil, err
	}
	if out.Request == nil {
		return nil, errors.New("authenticator: the server sent no request")
	}
	return newRequest(out.Request), nil
}

// Approve signs an approval of r, with the number the user picked (empty when the
// request has no number matching), and sends it. It returns the request's new state.
func (s *Session) Approve(r *Request, number string) (string, error) {
	return s.answer(r, sigma.Approve, number, false)
}

// Deny signs a denial of r and sends it.
func (s *Session) Deny(r *Request) (string, error) { return s.answer(r, sigma.Deny, "", false) }

// ReportNotMe denies r and reports that the user did not start it: the server locks the
// device or the user as the realm's policy says, and raises an event.
func (s *Session) ReportNotMe(r *Request) (string, error) { return s.answer(r, sigma.Deny, "", true) }

func (s *Session) answer(r *Request, d sigma.Decision, number string, notMe bool) (string, error) {
	a := sigma.Approval{
		RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID, Text: r.Text,
		AuthorizationDetails: []byte(r.AuthorizationDetails), Number: number, Decision: d, Time: time.Now().Unix(),
	}
	signer, err := newStoreSigner(s.ks, s.identity.KeyAlias)
	if err != nil {
		return "", err
	}
	sig, err := sigma.SignApproval(signer, a)
	if err != nil {
		return "", err
	}
	decision := "approve"
	if d == sigma.Deny {
		decision = "deny"
	}
	out, err := s.call(&message.Envelope{Type: message.TypeAnswer, RequestID: r.ID, Decision: decision,
		Number: number, Time: a.Time, Signature: sig, NotMe: notMe})
	if err != nil {
		return "", err
	}
	return out.State, nil
}

// UpdatePushToken tells the server the app's current push token.
func (s *Session) UpdatePushToken(provider, token string) error {
	_, err := s.call(&message.Envelope{Type: message.TypePushToken, PushProvider: provider, PushToken: token})
	return err
}

// Ping checks the connection end to end.
func (s *Session) Ping() error {
	_, err := s.call(&message.Envelope{Type: message.TypePing})
	return err
}
