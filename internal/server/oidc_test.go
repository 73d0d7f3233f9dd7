package server

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/config"
)

// TestDevDemoClientGetsTokens: dev mode seeds the demo realm and client; the printed
// secret gets an access token over the PUBLIC listener (TLS 1.3) with golang.org/x/oauth2,
// and a restart keeps the same secret working.
func TestDevDemoClientGetsTokens(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	s := startServer(t, cfg)
	var out strings.Builder
	s.PrintURLs(&out)
	if s.demo == nil || !strings.Contains(out.String(), s.demo.Secret) || !strings.Contains(out.String(), s.URL(config.Public)+"/realms/demo") {
		t.Fatalf("demo client not printed:\n%s", out.String())
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client(pool(p.serverCA), 0, nil))
	cc := clientcredentials.Config{
		ClientID: s.demo.ClientID, ClientSecret: s.demo.Secret, AuthStyle: oauth2.AuthStyleInHeader,
		TokenURL: s.URL(config.Public) + "/realms/demo/protocol/openid-connect/token", Scopes: []string{"profile"},
	}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("demo client_credentials: %v", err)
	}
	secret := s.demo.Secret
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*1e9)
	defer cancel()
	if err := s.Shutdown(stopCtx); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, cfg)
	if s2.demo.Secret != secret {
		t.Fatal("the demo secret changed across a restart")
	}
	cc.TokenURL = s2.URL(config.Public) + "/realms/demo/protocol/openid-connect/token"
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("demo client after restart: %v", err)
	}
}
