package oidc

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// docServer is a relying party's HTTPS server: it publishes JSON documents (a JWKS, a
// sector identifier document) for the provider to fetch, and counts the fetches.
type docServer struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string][]byte
	hits map[string]int
}

func newDocServer(t testing.TB) *docServer {
	t.Helper()
	ds := &docServer{docs: map[string][]byte{}, hits: map[string]int{}}
	ds.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.mu.Lock()
		body, ok := ds.docs[r.URL.Path]
		ds.hits[r.URL.Path]++
		ds.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(ds.Close)
	return ds
}

// publish serves v as JSON at path and returns its URL.
func (ds *docServer) publish(path string, v any) string {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.docs[path] = body
	return ds.URL + path
}

func (ds *docServer) fetches(path string) int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.hits[path]
}

// loopbackOutbound is the outbound client of the tests: loopback allowed (the
// relying parties run on 127.0.0.1), and httptest's certificate trusted.
func loopbackOutbound(t testing.TB, srv *httptest.Server) Option {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := outbound.New(outbound.Policy{AllowPrivate: true}, outbound.WithRootCAs(pool))
	t.Cleanup(c.CloseIdleConnections)
	return WithOutbound(c)
}

// newRPTestProvider is a test provider whose relying parties publish documents on ds.
func newRPTestProvider(t testing.TB, opts ...Option) (*testProvider, *docServer) {
	t.Helper()
	ds := newDocServer(t)
	return newTestProvider(t, append([]Option{loopbackOutbound(t, ds.Server)}, opts...)...), ds
}

func generateKey(t testing.TB, alg keys.Alg) *keys.Key {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwksOf(ks ...*keys.Key) jose.JSONWebKeySet { return keys.JWKS(ks) }

func jwksJSON(ks ...*keys.Key) []byte {
	b, err := json.Marshal(jwksOf(ks...))
	if err != nil {
		panic(err)
	}
	return b
}

// addJWTClient registers a private_key_jwt client for client_credentials.
func (tp *testProvider) addJWTClient(t testing.TB, c store.Client) {
	t.Helper()
	c.AuthMethod = AuthPrivateKeyJWT
	if c.GrantTypes == nil {
		c.GrantTypes = []string{"client_credentials"}
	}
	tp.addClient(t, c)
}

type claims map[string]any

// assertionClaims are valid claims of a client assertion by id at now.
func (tp *testProvider) assertionClaims(id string, now time.Time) claims {
	return claims{"iss": id, "sub": id, "aud": tp.tokenURL(), "exp": now.Add(2 * time.Minute).Unix(), "iat": now.Unix(), "jti": RandomToken(16)}
}

// with returns a copy of c with changes; a nil value deletes the claim.
func (c claims) with(changes claims) claims { return withChanges(c, changes) }

// withChanges returns a copy of base with changes; a nil value deletes the member.
func withChanges(base, changes map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func signClaims(t testing.TB, k *keys.Key, c claims) string {
	t.Helper()
	payload, _ := json.Marshal(c)
	tok, err := keys.Sign(k, "", payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// assert presents a client assertion at the token endpoint for client_credentials.
func (tp *testProvider) assert(t *testing.T, assertion string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion}}
	for k, v := range extra {
		form[k] = v
	}
	code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token", form, "", "")
	return code, body
}

// assertionConfig is golang.org/x/oauth2's client_credentials with a client assertion.
func (tp *testProvider) assertionConfig(id, assertion string) clientcredentials.Config {
	return clientcredentials.Config{ClientID: id, TokenURL: tp.tokenURL(), AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion}}}
}

// TestPrivateKeyJWTInlineJWKS: a client with an inline JWKS authenticates with an
// assertion signed by any of its keys, with each allowed algorithm, through
// golang.org/x/oauth2; the same works at the introspection endpoint.
func TestPrivateKeyJWTInlineJWKS(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	var all []*keys.Key
	for _, alg := range []keys.Alg{keys.ES256, keys.RS256, keys.PS256, keys.EdDSA} {
		all = append(all, generateKey(t, alg))
	}
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKS: jwksJSON(all...), Scopes: []string{"api"}})
	now := time.Now()
	var tok *oauth2.Token
	for _, k := range all {
		cfg := tp.assertionConfig("jwt", signClaims(t, k, tp.assertionClaims("jwt", now)))
		var err error
		if tok, err = cfg.Token(tp.httpCtx()); err != nil {
			t.Fatalf("%s: %v", k.Alg, err)
		}
	}
	form := url.Values{"token": {tok.AccessToken}, "client_assertion_type": {ClientAssertionType},
		"client_assertion": {signClaims(t, all[0], tp.assertionClaims("jwt", now))}}
	code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token/introspect", form, "", "")
	if code != 200 || body["active"] != true || body["client_id"] != "jwt" {
		t.Fatalf("introspection with private_key_jwt: %d %v", code, body)
	}
}

// TestOIDCCEnsureClientAssertionWithIssAudSucceeds: the audience may be the issuer
// (FAPI, RFC 7523) or the token endpoint (OIDC Core §9), as a string or in an array.
func TestOIDCCEnsureClientAssertionWithIssAudSucceeds(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	k := generateKey(t, keys.ES256)
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKS: jwksJSON(k)})
	for name, aud := range map[string]any{
		"issuer":                 tp.Issuer("demo"),
		"issuer in an array":     []string{"https://other.example", tp.Issuer("demo")},
		"token endpoint":         tp.tokenURL(),
		"token endpoint (array)": []string{tp.tokenURL()},
	} {
		a := signClaims(t, k, tp.assertionClaims("jwt", time.Now()).with(claims{"aud": aud}))
		if code, body := tp.assert(t, a, url.Values{"client_id": {"jwt"}}); code != 200 {
			t.Errorf("aud %s: %d %v", name, code, body)
		}
	}
}

// TestPrivateKeyJWTJWKSURI: keys come from the client's jwks_uri through the outbound
// client, and are cached: two assertions, one fetch.
func TestPrivateKeyJWTJWKSURI(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	k := generateKey(t, keys.PS256)
	uri := ds.publish("/jwks", jwksOf(k))
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKSURI: uri})
	for range 2 {
		if code, body := tp.assert(t, signClaims(t, k, tp.assertionClaims("jwt", time.Now())), nil); code != 200 {
			t.Fatalf("%d %v", code, body)
		}
	}
	if n := ds.fetches("/jwks"); n != 1 {
		t.Errorf("jwks_uri fetched %d times, want 1", n)
	}
}

// TestPrivateKeyJWTJWKSURIRefusedByDefault: the default outbound client refuses a
// loopback jwks_uri (CONFORMANCE §4.18), so the assertion fails.
func TestPrivateKeyJWTJWKSURIRefusedByDefault(t *testing.T) {
	t.Parallel()
	ds := newDocServer(t)
	tp := newTestProvider(t)
	k := generateKey(t, keys.ES256)
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKSURI: ds.publish("/jwks", jwksOf(k))})
	if code, body := tp.assert(t, signClaims(t, k, tp.assertionClaims("jwt", time.Now())), nil); code != 401 || body["error"] != "invalid_client" {
		t.Fatalf("%d %v", code, body)
	}
	if n := ds.fetches("/jwks"); n != 0 {
		t.Errorf("loopback jwks_uri reached %d times", n)
	}
}

// TestOIDCCRefreshTokenRPKeyRotation: the client rotates its keys; an assertion with the
// new kid makes Signet re-fetch the jwks_uri once. Unknown kids re-fetch at most once
// per 10 s per client, so made-up kids cannot make Signet hammer the client's server.
func TestOIDCCRefreshTokenRPKeyRotation(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now())
	tp, ds := newRPTestProvider(t, WithClock(clock.Now))
	oldKey, newKey, stranger := generateKey(t, keys.ES256), generateKey(t, keys.ES256), generateKey(t, keys.EdDSA)
	uri := ds.publish("/jwks", jwksOf(oldKey))
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKSURI: uri})
	ok := func(k *keys.Key) bool {
		code, _ := tp.assert(t, signClaims(t, k, tp.assertionClaims("jwt", clock.Now())), nil)
		return code == 200
	}
	if !ok(oldKey) {
		t.Fatal("old key refused")
	}
	clock.Advance(clientJWKSMinRefetch)
	ds.publish("/jwks", jwksOf(newKey, oldKey))
	if !ok(newKey) || ds.fetches("/jwks") != 2 {
		t.Fatalf("new key after rotation: fetches %d", ds.fetches("/jwks"))
	}
	if !ok(oldKey) || ds.fetches("/jwks") != 2 {
		t.Fatal("old key still published but refused, or fetched again")
	}
	// An unknown kid right after a fetch: refused without a fetch.
	if ok(stranger) || ds.fetches("/jwks") != 2 {
		t.Fatalf("unknown kid within 10 s: fetches %d", ds.fetches("/jwks"))
	}
	// The client publishes a third key; within the 10 s it is not seen yet, after them it is.
	third := generateKey(t, keys.RS256)
	ds.publish("/jwks", jwksOf(third))
	clock.Advance(clientJWKSMinRefetch - time.Second)
	if ok(third) || ds.fetches("/jwks") != 2 {
		t.Fatal("re-fetched within 10 s")
	}
	clock.Advance(time.Second)
	if !ok(third) || ds.fetches("/jwks") != 3 {
		t.Fatalf("third key: fetches %d", ds.fetches("/jwks"))
	}
	// A retired key is refused once the cached set is replaced.
	clock.Advance(clientJWKSTTL)
	if ok(oldKey) {
		t.Fatal("key removed from the jwks_uri still accepted after the cache TTL")
	}
}

// TestPrivateKeyJWTConcurrentRotation: many assertions with a new kid at once cause one
// fetch, and all succeed.
func TestPrivateKeyJWTConcurrentRotation(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	oldKey, newKey := generateKey(t, keys.ES256), generateKey(t, keys.ES256)
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKSURI: ds.publish("/jwks", jwksOf(oldKey))})
	set, _, err := tp.clientKeys(context.Background(), store.Client{Realm: "demo", ID: "jwt", JWKSURI: ds.URL + "/jwks"})
	if err != nil || len(set.Keys) != 1 {
		t.Fatal(set, err)
	}
	// Fetched long enough ago that one re-fetch is allowed.
	e := tp.clientJWKS.entry(store.Client{Realm: "demo", ID: "jwt"})
	e.mu.Lock()
	e.tried = e.tried.Add(-clientJWKSMinRefetch)
	e.mu.Unlock()
	ds.publish("/jwks", jwksOf(newKey))
	codes := concurrently(20, func(int) int {
		code, _ := tp.assert(t, signClaims(t, newKey, tp.assertionClaims("jwt", time.Now())), nil)
		return code
	})
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: %d", i, c)
		}
	}
	if n := ds.fetches("/jwks"); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// concurrently runs f n times at once and returns the results in order.
func concurrently(n int, f func(i int) int) []int {
	out := make([]int, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			out[i] = f(i)
		})
	}
	start.Done()
	done.Wait()
	return out
}

// TestClientAssertionReplay (CONFORMANCE §4.4): an assertion is single use, also when
// 50 requests present it at once: exactly one succeeds.
func TestClientAssertionReplay(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	k := generateKey(t, keys.ES256)
	tp.addJWTClient(t, store.Client{ID: "jwt", JWKS: jwksJSON(k)})
	tp.addJWTClient(t, store.Client{ID: "jwt2", JWKS: jwksJSON(k)})

	a := signClaims(t, k, tp.assertionClaims("jwt", time.Now()))
	if code, body := tp.assert(t, a, nil); code != 200 {
		t.Fatalf("first use: %d %v", code, body)
	}
	if code, body := tp.assert(t, a, nil); code != 401 || body["error"] != "invalid_client" {
		t.Fatalf("replay: %d %v", code, body)
	}
	// The jti is remembered per client: another client may use the same value.
	c := tp.assertionClaims("jwt", time.Now())
	if code, _ := tp.assert(t, signClaims(t, k, c), nil); code != 200 {
		t.Fatal("first client refused")
	}
	if code, _ := tp.assert(t, signClaims(t, k, c.with(claims{"iss": "jwt2", "sub": "jwt2"})), nil); code != 200 {
		t.Fatal("same jti refused for another client")
	}

	a = signClaims(t, k, tp.assertionClaims("jwt", time.Now()))
	exactlyOneSucceeds(t, 50, func() int {
		code, _ := tp.assert(t, a, nil)
		return code
	})
}

// exactlyOneSucceeds runs f n times at once and expects one 200 and n-1 401s.
func exactlyOneSucceeds(t *testing.T, n int, f func() int) {
	t.Helper()
	wins := 0
	for _, c := range concurrently(n, func(int) int { return f() }) {
		switch c {
		case 200:
			wins++
		case 401:
		default:
			t.Errorf("status %d", c)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses succeeded, want 1", wins, n)
	}
}

// TestClientAssertionRefusals: every bad assertion is the same invalid_client, so the
// answer tells an attacker nothing; none burns the jti of a good one.
func TestClientAssertionRefusals(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	k := generateKey(t, keys.ES256)
	ed := generateKey(t, keys.EdDSA)
	attacker := generateKey(t, keys.ES256)
	secret := tp.addClient(t, store.Client{ID: "jwt", AuthMethod: AuthPrivateKeyJWT, JWKS: jwksJSON(k, ed), GrantTypes: []string{"client_credentials"}})
	tp.addJWTClient(t, store.Client{ID: "other", JWKS: jwksJSON(attacker)})
	tp.addJWTClient(t, store.Client{ID: "es256-only", JWKS: jwksJSON(k, ed), TokenEndpointAuthSigningAlg: "ES256"})
	tp.addJWTClient(t, store.Client{ID: "off", JWKS: jwksJSON(k), Enabled: true})
	basicSecret := tp.addClient(t, store.Client{ID: "basic", GrantTypes: []string{"client_credentials"}})
	tp.addClient(t, store.Client{ID: "basic-keys", JWKS: jwksJSON(k), GrantTypes: []string{"client_credentials"}})
	jku := ds.publish("/attacker-jwks", jwksOf(attacker))

	now := time.Now()
	good := func() claims { return tp.assertionClaims("jwt", now) }
	// joseSign signs with go-jose directly, for what keys.Sign refuses to produce.
	joseSign := func(key jose.SigningKey, opts *jose.SignerOptions, c claims) string {
		s, err := jose.NewSigner(key, opts)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(c)
		jws, _ := s.Sign(payload)
		out, _ := jws.CompactSerialize()
		return out
	}
	hs256 := func(c claims) string {
		return joseSign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil, c)
	}
	unsigned := func(c claims) string {
		payload, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+k.KID+`"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	// withHeader signs with attacker's key and extra headers that point at it.
	withHeader := func(c claims, opts *jose.SignerOptions) string {
		return joseSign(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: attacker.Private, KeyID: attacker.KID}}, opts, c)
	}
	flipped := []byte(signClaims(t, k, good()))
	flipped[len(flipped)-2] ^= 1

	cases := []struct {
		name      string
		assertion string
		extra     url.Values
	}{
		{"missing jti", signClaims(t, k, good().with(claims{"jti": nil})), nil},
		{"empty jti", signClaims(t, k, good().with(claims{"jti": ""})), nil},
		{"wrong aud", signClaims(t, k, good().with(claims{"aud": "https://other.example/token"})), nil},
		{"aud of another realm", signClaims(t, k, good().with(claims{"aud": tp.Issuer("other")})), nil},
		{"no aud", signClaims(t, k, good().with(claims{"aud": nil})), nil},
		{"expired", signClaims(t, k, good().with(claims{"exp": now.Add(-2 * assertionSkew).Unix()})), nil},
		{"no exp", signClaims(t, k, good().with(claims{"exp": nil})), nil},
		{"lifetime too long", signClaims(t, k, good().with(claims{"exp": now.Add(time.Hour).Unix()})), nil},
		{"issued in the future", signClaims(t, k, good().with(claims{"iat": now.Add(5 * time.Minute).Unix()})), nil},
		{"issued long ago", signClaims(t, k, good().with(claims{"iat": now.Add(-time.Hour).Unix()})), nil},
		{"not yet valid", signClaims(t, k, good().with(claims{"nbf": now.Add(5 * time.Minute).Unix()})), nil},
		{"iss is not the client", signClaims(t, k, good().with(claims{"iss": "someone"})), nil},
		{"no sub", signClaims(t, k, good().with(claims{"sub": nil})), nil},
		{"exp is a string", signClaims(t, k, good().with(claims{"exp": "tomorrow"})), nil},
		{"alg none", unsigned(good()), nil},
		{"HS256 with the client secret", hs256(good()), nil},
		{"jku header names the attacker's keys", withHeader(good(), (&jose.SignerOptions{}).WithHeader("jku", jku)), nil},
		{"x5u header", withHeader(good(), (&jose.SignerOptions{}).WithHeader("x5u", jku)), nil},
		{"embedded jwk header", withHeader(good(), &jose.SignerOptions{EmbedJWK: true}), nil},
		{"signed by another client's key", signClaims(t, attacker, good()), nil},
		{"assertion for another client", signClaims(t, k, tp.assertionClaims("other", now)), nil},
		{"client_id names another client", signClaims(t, k, good()), url.Values{"client_id": {"other"}}},
		{"bit-flipped signature", string(flipped), nil},
		{"truncated", signClaims(t, k, good())[:40], nil},
		{"garbage", "not-a-jwt", nil},
		{"empty assertion", "", nil},
		{"wrong assertion type", signClaims(t, k, good()), url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}},
		{"alg outside the client's signing alg", signClaims(t, ed, tp.assertionClaims("es256-only", now)), nil},
		{"disabled client", signClaims(t, k, tp.assertionClaims("off", now)), nil},
		{"unknown client", signClaims(t, k, tp.assertionClaims("nobody", now)), nil},
		{"client registered for client_secret_basic", signClaims(t, k, tp.assertionClaims("basic-keys", now)), nil},
	}
	for _, c := range cases {
		code, body := tp.assert(t, c.assertion, c.extra)
		if code != 401 || body["error"] != "invalid_client" || body["error_description"] != errClientAuth.Description {
			t.Errorf("%s: %d %v", c.name, code, body)
		}
	}
	if n := ds.fetches("/attacker-jwks"); n != 0 {
		t.Errorf("a jku or x5u header made Signet fetch %d times", n)
	}
	// Two methods at once is a malformed request.
	code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {ClientAssertionType}, "client_assertion": {signClaims(t, k, good())}}, "basic", basicSecret)
	if code != 400 || body["error"] != "invalid_request" {
		t.Errorf("assertion with Basic credentials: %d %v", code, body)
	}
	// A private_key_jwt client cannot fall back to its secret.
	if code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"}}, "jwt", secret); code != 401 {
		t.Errorf("private_key_jwt client with its secret: %d %v", code, body)
	}
	// Within the allowed skew, and after all those refusals, a good assertion passes.
	skewed := good().with(claims{"iat": now.Add(assertionSkew / 2).Unix(), "nbf": now.Add(assertionSkew / 2).Unix(), "exp": now.Add(-assertionSkew / 2).Unix()})
	if code, body := tp.assert(t, signClaims(t, k, skewed), nil); code != 200 {
		t.Errorf("assertion within the clock skew: %d %v", code, body)
	}
	if code, body := tp.assert(t, signClaims(t, k, tp.assertionClaims("es256-only", now)), nil); code != 200 {
		t.Errorf("assertion with the client's signing alg: %d %v", code, body)
	}
	if code, body := tp.assert(t, signClaims(t, k, good()), url.Values{"client_id": {"jwt"}}); code != 200 {
		t.Errorf("assertion with a matching client_id: %d %v", code, body)
	}
}

// TestDiscoveryAdvertisesPrivateKeyJWT: the token and introspection endpoints list
// private_key_jwt and the assertion algorithms, never HMAC; only the token endpoint takes
// "none" (public clients with PKCE).
func TestDiscoveryAdvertisesPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	meta := tp.discoveryDoc(t)
	for _, ep := range []string{"token_endpoint", "introspection_endpoint"} {
		methods, _ := json.Marshal(meta[ep+"_auth_methods_supported"])
		algs, _ := json.Marshal(meta[ep+"_auth_signing_alg_values_supported"])
		want := `["client_secret_basic","client_secret_post","private_key_jwt"]`
		if ep == "token_endpoint" {
			want = `["client_secret_basic","client_secret_post","private_key_jwt","none"]`
		}
		if string(methods) != want || string(algs) != `["RS256","PS256","ES256","EdDSA"]` {
			t.Errorf("%s: methods %s, algs %s", ep, methods, algs)
		}
	}
}

func (tp *testProvider) discoveryDoc(t *testing.T) map[string]any {
	t.Helper()
	resp, err := tp.srv.Client().Get(tp.srv.URL + "/realms/demo/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		t.Fatal(err)
	}
	return meta
}
