package server

import (
	"context"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// demoRP is a relying party on a plain-http loopback port, as a developer's app would
// run next to `signet serve --dev`: /start sends the browser to Signet, /callback redeems
// the code with golang.org/x/oauth2, verifies the ID token with go-oidc and greets the
// user by name.
func demoRP(t *testing.T, s *Server, httpClient *http.Client) *httptest.Server {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), httpClient)
	issuer := s.URL(config.Public) + "/realms/demo"
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		pending = map[string]string{} // state → PKCE verifier
	)
	mux := http.NewServeMux()
	rp := httptest.NewServer(mux)
	t.Cleanup(rp.Close)
	conf := oauth2.Config{
		ClientID: s.demo.ClientID, ClientSecret: s.demo.Secret, Endpoint: provider.Endpoint(),
		RedirectURL: rp.URL + "/callback", Scopes: []string{"openid", "profile", "email"},
	}
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		mu.Lock()
		pending[state] = verifier
		mu.Unlock()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
		if acr := r.URL.Query().Get("acr"); acr != "" {
			opts = append(opts, oauth2.SetAuthURLParam("acr_values", acr))
		}
		if prompt := r.URL.Query().Get("prompt"); prompt != "" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
		}
		http.Redirect(w, r, conf.AuthCodeURL(state, opts...), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		verifier, ok := pending[r.URL.Query().Get("state")]
		delete(pending, r.URL.Query().Get("state"))
		mu.Unlock()
		if !ok || r.URL.Query().Get("iss") != issuer {
			http.Error(w, "bad state or issuer", http.StatusBadRequest)
			return
		}
		tok, err := conf.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&gooidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
		var claims struct {
			Username string   `json:"preferred_username"`
			AMR      []string `json:"amr"`
			ACR      string   `json:"acr"`
		}
		if err == nil {
			err = idt.Claims(&claims)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>RP</title><p id="who">Hello %s</p><p id="amr">%s</p><p id="acr">%s</p>`,
			html.EscapeString(claims.Username), html.EscapeString(strings.Join(claims.AMR, " ")), html.EscapeString(claims.ACR))
	})
	return rp
}

// devWithRP starts a dev server and a relying party of its demo client; the client
// trusts the server's CA.
func devWithRP(t *testing.T) (*Server, *testPKI, *httptest.Server, *http.Client) {
	t.Helper()
	return devWithRPConfig(t, nil)
}

// devWithRPConfig is devWithRP with the configuration changed by tune first.
func devWithRPConfig(t *testing.T, tune func(*config.Config), opts ...Option) (*Server, *testPKI, *httptest.Server, *http.Client) {
	t.Helper()
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	if tune != nil {
		tune(&cfg)
	}
	s := startServer(t, cfg, opts...)
	c := client(pool(p.serverCA), 0, nil)
	return s, p, demoRP(t, s, c), c
}

// TestBrowserSignIn: headless Chromium signs the dev demo user in to a relying party
// through Signet's login pages, with JavaScript on and off (the pages need none), in
// English and German, and on a 360 px wide phone screen, where nothing scrolls sideways.
// The strict CSP refuses nothing the pages use, and axe-core finds no serious or critical
// accessibility problem on them.
func TestBrowserSignIn(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, _, rp, _ := devWithRP(t)

	for _, tc := range []struct {
		name, lang, heading string
		js, narrow          bool
	}{
		{"javascript", "en-US", "Sign in", true, false},
		{"no javascript", "de-DE", "Anmelden", false, false},
		{"phone screen", "de-DE", "Anmelden", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, chromium, tc.js, tc.lang)
			if tc.narrow {
				b.narrow()
			}
			// check looks at the page as a user would.
			check := func(page string) {
				t.Helper()
				b.checkAccessibility(page)
				b.screenshot(page)
				if tc.narrow {
					b.noHorizontalScroll()
				}
			}
			var heading, who string
			submit := `form:not(.secondary) button[type=submit]`
			b.run(
				chromedp.Navigate(rp.URL+"/start"),
				chromedp.WaitVisible("#username", chromedp.ByID),
				chromedp.Text("h1", &heading, chromedp.ByQuery),
			)
			check("username")
			b.run(
				chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
				chromedp.Click(submit, chromedp.ByQuery),
				chromedp.WaitVisible("#password", chromedp.ByID),
			)
			check("password")
			b.run(
				chromedp.SendKeys("#password", s.demoUser.Password, chromedp.ByID),
				chromedp.Click(submit, chromedp.ByQuery),
				chromedp.WaitVisible("#who", chromedp.ByID),
				chromedp.Text("#who", &who, chromedp.ByID),
			)
			if who != "Hello "+s.demoUser.Username {
				t.Fatalf("relying party says %q", who)
			}
			if heading != tc.heading {
				t.Errorf("login page heading %q, want %q", heading, tc.heading)
			}
			b.checkProblems()
		})
	}
}

// TestPagesAccessible: every kind of page Signet serves, in a browser as a user meets
// it, passes axe-core's WCAG 2.1 AA and best-practice rules without a serious or
// critical violation, and is kept as a screenshot: the landing page, the OPS health page,
// an authorization error, the sign-in pages with and without an error, consent, the
// logout confirmation and its result, a temporary password's change and the TOTP code.
// On a 360 px wide phone screen no page scrolls sideways.
func TestPagesAccessible(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	for _, tc := range []struct {
		name   string
		narrow bool
	}{{"desktop", false}, {"phone screen", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pageTour(t, chromium, tc.narrow)
		})
	}
}

// pageTour visits each kind of page on a server of its own and checks it.
func pageTour(t *testing.T, chromium string, narrow bool) {
	s, _, rp, _ := devWithRP(t)
	public := s.URL(config.Public)
	b := newBrowser(t, chromium, true, "en-US")
	if narrow {
		b.narrow()
	}
	page := func(name string) {
		t.Helper()
		b.checkAccessibility(name)
		b.screenshot(name)
		if narrow {
			b.noHorizontalScroll()
		}
	}
	submit := `form:not(.secondary) button[type=submit]`

	b.run(chromedp.Navigate(public+"/"), chromedp.WaitVisible("h1", chromedp.ByQuery))
	page("landing")
	b.run(chromedp.Navigate(s.URL(config.Ops)+"/health"), chromedp.WaitVisible("table", chromedp.ByQuery))
	page("health")
	b.run(
		chromedp.Navigate(public+"/realms/demo/protocol/openid-connect/auth?"+url.Values{
			"client_id": {"nobody"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rp.URL + "/callback"},
		}.Encode()),
		chromedp.WaitVisible("#error-heading", chromedp.ByID),
	)
	page("error")

	// Sign in, with a wrong password first, and consent when asked.
	b.run(
		chromedp.Navigate(rp.URL+"/start?prompt=consent"),
		chromedp.WaitVisible("#username", chromedp.ByID),
	)
	page("username")
	b.run(
		chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByID),
	)
	page("password")
	b.run(
		chromedp.SendKeys("#password", "not the password", chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#form-error", chromedp.ByID),
	)
	page("password-wrong")
	b.run(
		chromedp.SendKeys("#password", s.demoUser.Password, chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#consent-heading", chromedp.ByID),
	)
	page("consent")
	b.run(
		chromedp.Click(`button[value=allow]`, chromedp.ByQuery),
		chromedp.WaitVisible("#who", chromedp.ByID),
	)

	// Logging out of the session asks first.
	b.run(
		chromedp.Navigate(public+"/realms/demo/protocol/openid-connect/logout"),
		chromedp.WaitVisible("#logout-heading", chromedp.ByID),
		chromedp.WaitVisible(`button[value=yes]`, chromedp.ByQuery),
	)
	page("logout-confirm")
	b.run(
		chromedp.Click(`button[value=yes]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`button[value=yes]`, chromedp.ByQuery),
		chromedp.WaitVisible("#logout-heading", chromedp.ByID),
	)
	page("logged-out")

	// A temporary password is changed before the second factor, a TOTP code.
	ctx := context.Background()
	demo, err := s.store.GetUserByUsername(ctx, "demo", s.demoUser.Username)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.UpdateUser(ctx, "demo", demo.ID, func(u store.User) (store.User, error) {
		sealed, err := login.SealTOTPSecret(s.keyring, "demo", u.ID, "JBSWY3DPEHPK3PXP")
		u.TOTPSecret = sealed
		u.Attributes = maps.Clone(u.Attributes)
		if u.Attributes == nil {
			u.Attributes = map[string]string{}
		}
		u.Attributes[login.AttrPasswordTemporary] = "true"
		return u, err
	}); err != nil {
		t.Fatal(err)
	}
	b.run(
		chromedp.Navigate(rp.URL+"/start"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByID),
		chromedp.SendKeys("#password", s.demoUser.Password, chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#new_password", chromedp.ByID),
	)
	page("update-password")
	b.run(
		chromedp.SendKeys("#new_password", "a new long password", chromedp.ByID),
		chromedp.SendKeys("#confirm_password", "a new long password", chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#otp", chromedp.ByID),
	)
	page("totp")
	b.checkProblems()
}
