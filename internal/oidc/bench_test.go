package oidc

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

// BenchmarkClientCredentials is the token endpoint's own cost per client_credentials
// request (no TLS, no network): realm and client lookup, client authentication, signing.
func BenchmarkClientCredentials(b *testing.B) {
	tp := newTestProvider(b)
	secret := tp.addClient(b, store.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
	mux := http.NewServeMux()
	tp.Routes(mux)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/realms/demo/protocol/openid-connect/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", secret)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
