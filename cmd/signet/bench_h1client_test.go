package main

import (
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchTokenClient: the busy-polling client `signet bench token` loads the server
// with gets a token from a real dev server, many times over one connection, and a
// wrong secret is an error with the server's status, not a success.
func TestBenchTokenClient(t *testing.T) {
	t.Parallel()
	b, roots := devServerBanner(t)
	cfg := &tls.Config{RootCAs: roots}
	tokenURL := b.public + "/realms/demo/protocol/openid-connect/token"
	c, err := newH1Client(tokenURL, cfg, "demo-app", b.secret, "grant_type=client_credentials")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var first *tls.Conn
	for i := range 20 {
		if err := c.do(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var resp struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		if err := json.Unmarshal(c.body, &resp); err != nil || strings.Count(resp.AccessToken, ".") != 2 || resp.TokenType != "Bearer" {
			t.Fatalf("request %d: body %s (%v)", i, c.body, err)
		}
		if first == nil {
			first = c.conn
		} else if c.conn != first {
			t.Fatalf("request %d went over a new connection; keep-alive lost", i)
		}
	}
	if v := first.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %x", v)
	}

	bad, err := newH1Client(tokenURL, cfg, "demo-app", b.secret+"x", "grant_type=client_credentials")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.close()
	if err := bad.do(); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := newH1Client("http://127.0.0.1:1/token", cfg, "a", "b", ""); err == nil {
		t.Fatal("a plain-HTTP URL was accepted")
	}
}
