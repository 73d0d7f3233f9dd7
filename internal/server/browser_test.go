package server

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/config"
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
// English and German, and the strict CSP refuses nothing the pages use.
func TestBrowserSignIn(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, _, rp, _ := devWithRP(t)

	for _, tc := range []struct {
		name, lang, heading string
		js                  bool
	}{
		{"javascript", "en-US", "Sign in", true},
		{"no javascript", "de-DE", "Anmelden", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, chromium, tc.js, tc.lang)
			var heading, who string
			submit := `form:not(.secondary) button[type=submit]`
			b.run(
				chromedp.Navigate(rp.URL+"/start"),
				chromedp.WaitVisible("#username", chromedp.ByID),
				chromedp.Text("h1", &heading, chromedp.ByQuery),
				chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
				chromedp.Click(submit, chromedp.ByQuery),
				chromedp.WaitVisible("#password", chromedp.ByID),
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
