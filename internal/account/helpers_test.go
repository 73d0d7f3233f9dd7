package account

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/internal/web"
)

// env is the PUBLIC side as the server wires it: the provider, the login pages and the
// account console on one HTTPS server, over a real SQLite store behind the cache, real
// keys and the in-process ephemeral store. Realm "r" has the built-in account client and
// two users with passwords, alice and bob.
type env struct {
	srv      *httptest.Server
	st       store.Store
	ring     *keys.Keyring
	provider *oidc.Provider
	console  *Console
	logs     *testutil.SyncBuffer
	users    map[string]store.User
}

const (
	testRealm    = "r"
	testPassword = "correct horse battery"
)

var testPepper = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	raw := testdb.Open(t, "sqlite")
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	km, err := keys.NewManager(raw, ring, keys.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	eph := memory.New()
	t.Cleanup(func() { eph.Close() })
	st, err := cached.New(raw, eph)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	render, err := web.NewRenderer(true, "")
	if err != nil {
		t.Fatal(err)
	}
	provider := oidc.New(srv.URL, "", st, eph, km, ring, log, oidc.WithRenderer(render))
	// Cheap Argon2id parameters: the tests check the wiring, not the cost.
	pw, err := password.New(password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	provider.Routes(mux)
	login.New(login.Config{Store: st, Ephemeral: eph, Keyring: ring, Passwords: pw, Sessions: provider.Sessions(),
		Renderer: render, CSRF: provider.CSRF(), Flow: provider, Log: log}).Routes(mux)
	console, err := New(Config{
		Store: st, Ephemeral: eph, Provider: provider, Passwords: pw, Keyring: ring, Catalog: render.Catalog(), Dev: true,
		Enrollment: func() *rest.Enrollment {
			return &rest.Enrollment{PublicURL: "https://device.example.com:8888", Pepper: testPepper,
				Fingerprint: func() ([32]byte, error) { return [32]byte{1, 2, 3}, nil }}
		},
		Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	console.Routes(mux)
	mux.Handle("GET "+web.StaticPath, web.Static())

	e := &env{srv: srv, st: st, ring: ring, provider: provider, console: console, logs: logs, users: map[string]store.User{}}
	if _, err := st.CreateRealm(ctx, store.Realm{Name: testRealm, DisplayName: "Test realm", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/realms/" + testRealm + "/account/"
	if _, err := st.CreateClient(ctx, store.Client{
		Realm: testRealm, ID: DefaultClientID, Name: "Signet account console", Enabled: true, Public: true, AuthMethod: oidc.AuthNone,
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		RedirectURIs: []string{base + "callback"}, PostLogoutRedirectURIs: []string{base},
		Scopes: []string{"openid", "profile", "email"},
	}); err != nil {
		t.Fatal(err)
	}
	hash, err := pw.Hash(ctx, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		u, err := st.CreateUser(ctx, store.User{Realm: testRealm, ID: "id-" + name, Username: name, Email: name + "@example.com",
			Enabled: true, PasswordHash: hash, PasswordChangedAt: time.Now(), Profile: store.Profile{GivenName: strings.ToUpper(name[:1]) + name[1:]}})
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = u
	}
	return e
}

// base is the console's URL in the test realm.
func (e *env) base() string { return e.srv.URL + "/realms/" + testRealm + "/account" }

// user is one browser: b follows every redirect, noFollow (the same cookies) none.
type user struct {
	*testutil.Browser
	noFollow *http.Client
	e        *env
}

func (e *env) browser(t *testing.T) *user {
	b := testutil.NewBrowser(t, e.srv.Client().Transport, "")
	nf := &http.Client{Transport: e.srv.Client().Transport, Jar: b.Client.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &user{Browser: b, noFollow: nf, e: e}
}

// signIn signs name in to the console with the password and returns the profile page.
func (e *env) signIn(t *testing.T, name string) (*user, testutil.Page) {
	t.Helper()
	u := e.browser(t)
	page := u.Get(e.base() + "/")
	if !strings.Contains(page.Body, `id="username"`) {
		t.Fatalf("no login page (%d %s):\n%s", page.Status, page.URL, page.Body)
	}
	page = u.Login(page, name, testPassword)
	if page.Status != http.StatusOK || page.URL.Path != "/realms/"+testRealm+"/account/" {
		t.Fatalf("after the login: %d %s\n%s", page.Status, page.URL, page.Body)
	}
	return u, page
}

// raw sends a request without following redirects.
func (u *user) raw(t *testing.T, method, target string, form url.Values) testutil.Page {
	t.Helper()
	var req *http.Request
	if form != nil {
		req, _ = http.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, target, nil)
	}
	resp, err := u.noFollow.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return testutil.Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: resp.Request.URL}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf reads a page's CSRF token.
func csrf(t *testing.T, page testutil.Page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no CSRF token on %s:\n%s", page.URL, page.Body)
	}
	return html.UnescapeString(m[1])
}

// post submits form with the page's CSRF token to the console path, without following
// the answer's redirect.
func (u *user) post(t *testing.T, page testutil.Page, path string, form url.Values) testutil.Page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", csrf(t, page))
	return u.raw(t, http.MethodPost, u.e.base()+path, form)
}

var devices atomic.Int64

// addDevice enrolls a phone of user name the way the device channel does (an activation
// code redeemed in the store) and returns it.
func (e *env) addDevice(t *testing.T, name, display string) store.Device {
	t.Helper()
	ctx := context.Background()
	act, err := (&rest.Enrollment{PublicURL: "https://device.example.com", Pepper: testPepper,
		Fingerprint: func() ([32]byte, error) { return [32]byte{}, nil }}).Create(ctx, e.st, time.Now(),
		device.ActivationRequest{Realm: testRealm, UserID: e.users[name].ID, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, testPepper)
	m.Write([]byte(act.Code))
	n := devices.Add(1)
	point := make([]byte, 65)
	point[0], point[1], point[2] = 4, byte(n), byte(n>>8)
	d, err := e.st.EnrollDevice(ctx, testRealm, m.Sum(nil), time.Now(), 0,
		store.Device{ID: fmt.Sprintf("%032x", n), PublicKey: point, DisplayName: display, Platform: "android"},
		store.Audit{Actor: "device", Action: "enrolled"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
