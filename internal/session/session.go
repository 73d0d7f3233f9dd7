// Package session keeps browser single-sign-on sessions: one per realm and browser, held
// in the durable store and named by a __Host- cookie that carries the session id and a
// secret whose SHA-256 is all the store keeps. Sessions have an idle and an absolute
// timeout, and a login rotates the cookie so a value planted before it is worthless after.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/web"
)

// Realm attributes that override the default timeouts, as Go durations ("30m", "10h").
const (
	AttrIdleTimeout     = "signet.sso_idle_timeout"
	AttrAbsoluteTimeout = "signet.sso_max_lifespan"
)

// Defaults as Keycloak has them: 30 minutes idle, 10 hours at most.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 10 * time.Hour
)

// touchEvery limits writes for the idle timeout: LastSeenAt moves at most once a minute.
const touchEvery = time.Minute

// ErrNoSession means the browser has no valid session in the realm: no cookie, a forged or
// stale cookie, or a session past its idle or absolute timeout.
var ErrNoSession = errors.New("session: none")

// Auth is what a completed login establishes.
type Auth struct {
	UserID string
	// AMR lists the methods used (RFC 8176: "pwd", "otp", "hwk", ...).
	AMR []string
	ACR string
}

// Store is what the manager needs: sessions, and revoking the grants of one that ends.
type Store interface {
	store.Sessions
	RevokeUserGrants(ctx context.Context, realm, userID, sessionID, reason string, at time.Time) (int, error)
}

// Manager creates, finds and ends sessions.
type Manager struct {
	st  Store
	now func() time.Time
}

// Option adjusts a Manager.
type Option func(*Manager)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// New returns a manager over st.
func New(st Store, opts ...Option) *Manager {
	m := &Manager{st: st, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Cookie is the session cookie of realm: one per realm, because __Host- cookies cannot be
// scoped to a path.
func Cookie(realm string) *web.HostCookie {
	c, err := web.NewHostCookie("signet_session_"+realm, http.SameSiteLaxMode)
	if err != nil {
		// Realm names are [a-z0-9_-], always a valid cookie-name suffix.
		panic(fmt.Sprintf("session cookie for realm %q: %v", realm, err))
	}
	return c
}

// Timeouts returns the idle and absolute timeouts of realm.
func Timeouts(realm store.Realm) (idle, absolute time.Duration) {
	idle, absolute = DefaultIdleTimeout, DefaultAbsoluteTimeout
	if d, err := time.ParseDuration(realm.Attributes[AttrIdleTimeout]); err == nil && d > 0 {
		idle = d
	}
	if d, err := time.ParseDuration(realm.Attributes[AttrAbsoluteTimeout]); err == nil && d > 0 {
		absolute = d
	}
	return idle, absolute
}

// Current returns the browser's live session in realm, or ErrNoSession. It extends the
// idle timeout.
func (m *Manager) Current(ctx context.Context, r *http.Request, realm store.Realm) (store.Session, error) {
	id, secret, ok := parseCookie(r, realm.Name)
	if !ok {
		return store.Session{}, ErrNoSession
	}
	s, err := m.st.GetSession(ctx, realm.Name, id)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		return store.Session{}, ErrNoSession
	case err != nil:
		return store.Session{}, fmt.Errorf("load session: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], s.SecretHash) != 1 {
		return store.Session{}, ErrNoSession
	}
	now := m.now()
	idle, _ := Timeouts(realm)
	if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(idle)) {
		_ = m.st.DeleteSession(ctx, realm.Name, s.ID)
		return store.Session{}, ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		s, err = m.st.UpdateSession(ctx, realm.Name, s.ID, func(s store.Session) (store.Session, error) {
			s.LastSeenAt = now
			return s, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return store.Session{}, ErrNoSession
		}
		if err != nil {
			return store.Session{}, fmt.Errorf("touch session: %w", err)
		}
	}
	return s, nil
}

// Start records a completed login and sets the cookie. The cookie secret always changes
// (no value set before the login works after it). A live session of the same user keeps
// its id, so the grants bound to it stay bound (a step-up adds to its AMR); a session of
// another user is ended.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, realm store.Realm, a Auth) (store.Session, error) {
	now := m.now()
	_, absolute := Timeouts(realm)
	secret := randomToken(32)
	sum := sha256.Sum256([]byte(secret))
	var s store.Session
	old, err := m.Current(ctx, r, realm)
	switch {
	case err == nil && old.UserID == a.UserID:
		s, err = m.st.UpdateSession(ctx, realm.Name, old.ID, func(s store.Session) (store.Session, error) {
			s.SecretHash, s.AuthTime, s.LastSeenAt, s.ACR = sum[:], now, now, a.ACR
			for _, v := range a.AMR {
				if !slices.Contains(s.AMR, v) {
					s.AMR = append(s.AMR, v)
				}
			}
			return s, nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Session{}, fmt.Errorf("rotate session: %w", err)
		}
		if err == nil {
			break
		}
		fallthrough
	default:
		if err == nil {
			// Another user logs in on this browser: the old session ends, and with it
			// what was granted in it.
			_ = m.st.DeleteSession(ctx, realm.Name, old.ID)
			_, _ = m.st.RevokeUserGrants(ctx, realm.Name, old.UserID, old.ID, "another user logged in", now)
		} else if !errors.Is(err, ErrNoSession) && !errors.Is(err, store.ErrNotFound) {
			return store.Session{}, err
		}
		s, err = m.st.CreateSession(ctx, store.Session{
			Realm: realm.Name, ID: randomToken(16), SecretHash: sum[:], UserID: a.UserID,
			AuthTime: now, AMR: slices.Clone(a.AMR), ACR: a.ACR,
			IP: ClientIP(r), UserAgent: truncate(r.UserAgent(), 256),
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(absolute),
		})
		if err != nil {
			return store.Session{}, fmt.Errorf("create session: %w", err)
		}
	}
	maxAge := s.ExpiresAt.Sub(now) + time.Second
	if err := Cookie(realm.Name).Set(w, s.ID+"."+secret, maxAge); err != nil {
		return store.Session{}, err
	}
	http.SetCookie(w, browserStateCookie(realm.Name, BrowserState(s), int(maxAge.Seconds())))
	return s, nil
}

// BrowserStateCookie is the name of the cookie that OpenID Connect Session Management's
// check-session iframe reads: the OP browser state of realm.
func BrowserStateCookie(realm string) string { return web.HostCookiePrefix + "signet_opbs_" + realm }

// BrowserState is the OP browser state of a session (OIDC Session Management §3): a
// value that changes whenever the user logs in or out. It is readable by script in the
// check-session iframe, so it reveals nothing: a hash of the session id and login time.
func BrowserState(s store.Session) string {
	sum := sha256.Sum256([]byte("signet opbs v1\x00" + s.ID + "\x00" + s.AuthTime.UTC().Format(time.RFC3339Nano)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// browserStateCookie is readable by script (no HttpOnly) and sent in third-party frames
// (SameSite=None), as the check-session iframe runs inside the relying party's page; it
// is still __Host- and Secure.
func browserStateCookie(realm, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: BrowserStateCookie(realm), Value: value, Path: "/", Secure: true, SameSite: http.SameSiteNoneMode, MaxAge: maxAge}
}

// End deletes the browser's session in realm (if any) and clears the cookie. It returns
// the session that ended, or ErrNoSession.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request, realm store.Realm) (store.Session, error) {
	Cookie(realm.Name).Clear(w)
	http.SetCookie(w, browserStateCookie(realm.Name, "", -1))
	s, err := m.Current(ctx, r, realm)
	if err != nil {
		return store.Session{}, err
	}
	if err := m.st.DeleteSession(ctx, realm.Name, s.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Session{}, fmt.Errorf("delete session: %w", err)
	}
	return s, nil
}

// EndSession ends session id of user userID in realm, whichever browser holds it, and
// revokes the grants made in it, so its cookie signs in no more and the refresh and
// access tokens issued in it stop working. A session of another user is
// store.ErrNotFound, as a missing one is.
func (m *Manager) EndSession(ctx context.Context, realm, userID, id, reason string) error {
	s, err := m.st.GetSession(ctx, realm, id)
	if err == nil && s.UserID != userID {
		err = store.ErrNotFound
	}
	if err != nil {
		return err
	}
	// Grants first: a failure leaves the session to end again, never tokens outliving it.
	if _, err := m.st.RevokeUserGrants(ctx, realm, userID, id, reason, time.Time{}); err != nil {
		return err
	}
	if err := m.st.DeleteSession(ctx, realm, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// BrowserID returns a stable, non-secret identifier of the browser's session cookie in
// realm (the session id), or "" without one. Check-session state is derived from it.
func BrowserID(r *http.Request, realm string) string {
	id, _, _ := parseCookie(r, realm)
	return id
}

func parseCookie(r *http.Request, realm string) (id, secret string, ok bool) {
	v, ok := Cookie(realm).Get(r)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(v, ".")
	return id, secret, ok && id != "" && secret != "" && len(v) <= 128
}

// ClientIP is the peer address, as sessions record it and phones show it; behind a proxy
// it is the proxy's (a trusted-proxy list is configuration for later), which is still
// fine for display.
func ClientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
