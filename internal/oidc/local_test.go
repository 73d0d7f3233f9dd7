package oidc

import (
	"context"
	"errors"
	"net/http"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/inproc"
)

// TestLocalClient: a relying party inside Signet (the consoles) reads discovery, redeems
// a code and verifies the ID token with the standard libraries over LocalClient, without
// the network; TokenRealm reads the realm of the access token; the client calls nothing
// but the provider.
func TestLocalClient(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	web, _ := aliceAndWebOn(t, tp)
	local := tp.LocalClient()
	if local != tp.LocalClient() {
		t.Fatal("LocalClient is not shared")
	}
	ctx := gooidc.ClientContext(context.Background(), local)
	provider, err := gooidc.NewProvider(ctx, tp.Issuer("demo"))
	if err != nil {
		t.Fatalf("discovery over the local client: %v", err)
	}
	// The RP's calls go through the local client; the browser goes to the real server.
	web.ctx, web.provider = ctx, provider
	web.verifier = provider.Verifier(&gooidc.Config{ClientID: web.conf.ClientID})
	resp, verifier, nonce := web.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
	tok, idt := web.tokens(t, resp.Get("code"), verifier)
	if idt == nil || idt.Nonce != nonce {
		t.Fatalf("ID token %+v", idt)
	}
	if realm, ok := tp.TokenRealm(tok.AccessToken); !ok || realm != "demo" {
		t.Fatalf("TokenRealm %q %v", realm, ok)
	}
	if _, err := tp.VerifyBearer(context.Background(), "demo", tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	// A code is single-use over the local client too.
	if _, err := web.conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, local), resp.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code was redeemed twice")
	}

	for _, u := range []string{"https://example.com/realms/demo/protocol/openid-connect/certs", "http://" + tp.srv.Listener.Addr().String() + "/realms/demo/.well-known/openid-configuration"} {
		if _, err := local.Get(u); !errors.Is(err, inproc.ErrNotLocal) {
			t.Errorf("GET %s over the local client: %v", u, err)
		}
	}
	for _, tok := range []string{"", "a.b", "x.eyJpc3MiOiJodHRwczovL2V4YW1wbGUuY29tL3JlYWxtcy9kZW1vIn0.y", "a.!!!.c"} {
		if realm, ok := tp.TokenRealm(tok); ok {
			t.Errorf("TokenRealm(%q) = %q", tok, realm)
		}
	}
	resp2, err := local.Post(tp.tokenURL(), "application/x-www-form-urlencoded", nil)
	if err != nil || resp2.StatusCode != http.StatusBadRequest && resp2.StatusCode != http.StatusUnauthorized {
		t.Fatalf("empty token request: %v %v", resp2, err)
	}
	resp2.Body.Close()
}
