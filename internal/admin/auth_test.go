package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// TestAuthentication: only a live master-realm access token with the signet.admin scope
// gets in; the challenges follow RFC 6750 §3.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noScope := e.clientToken(t, MasterRealm, noScopeClient, e.addMasterClient(t, noScopeClient, "profile"), "profile")
	ctx := context.Background()
	if _, err := e.st.CreateRealm(ctx, store.Realm{Name: "other", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	otherRealm := e.clientToken(t, "other", "svc", e.addClient(t, "other", "svc", Scope), Scope)
	flipped := []byte(e.token)
	flipped[len(flipped)-5] ^= 1

	for _, c := range []struct {
		name, token string
		status      int
		challenge   string
	}{
		{"no token", "-", 401, `Bearer realm="signet-admin"`},
		{"garbage", "not.a.token", 401, `error="invalid_token"`},
		{"bit-flipped", string(flipped), 401, `error="invalid_token"`},
		{"truncated", e.token[:len(e.token)-2], 401, `error="invalid_token"`},
		{"another realm's client token", otherRealm, 403, ""},
		{"no admin scope", noScope, 403, `error="insufficient_scope"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.problem(t, c.status, request{method: "GET", path: "/realms", token: c.token})
			if c.challenge == "" {
				return
			}
			if h := e.do(t, request{method: "GET", path: "/realms", token: c.token}).header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, c.challenge) {
				t.Errorf("WWW-Authenticate %q, want it to hold %q (%v)", h, c.challenge, p)
			}
		})
	}
	e.call(t, 200, request{method: "GET", path: "/realms"})
	// Writes need the token as much as reads do.
	e.problem(t, 401, request{method: "POST", path: "/realms", body: map[string]any{"name": "x"}, token: "-"})
	e.problem(t, 403, request{method: "DELETE", path: "/realms/other", token: noScope})
	e.call(t, 200, request{method: "GET", path: "/realms/other"})

	// Disabling the token's client cuts it off at once, before the token expires.
	if _, err := e.st.UpdateClient(ctx, MasterRealm, adminClient, func(c store.Client) (store.Client, error) {
		c.Enabled = false
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.problem(t, 401, request{method: "GET", path: "/realms"})

	// The document describing the API needs no token.
	e.call(t, 200, request{method: "GET", path: "/openapi.json", token: "-"})
}

// TestErrorMapping: store errors become the statuses the API promises; an outage is a
// 503 that asks for a retry, never a 500.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("get: %w", store.ErrNotFound), 404},
		{fmt.Errorf("create: %w", store.ErrConflict), 409},
		{fmt.Errorf("%w: realm name must be", store.ErrInvalid), 400},
		{store.ErrInvalidCursor, 400},
		{fmt.Errorf("list: %w: dial tcp: refused", store.ErrUnavailable), 503},
		{fmt.Errorf("take: %w", ephemeral.ErrUnavailable), 503},
		{errors.New("something broke"), 500},
	} {
		p := rest.AsProblem(rest.StoreError(c.err, "thing"))
		if p.Status != c.status {
			t.Errorf("%v: status %d, want %d", c.err, p.Status, c.status)
		}
		if c.status == 503 && p.Header.Get("Retry-After") == "" {
			t.Errorf("%v: 503 without Retry-After", c.err)
		}
		if c.status >= 500 && strings.Contains(p.Detail, "refused") {
			t.Errorf("%v: the cause leaks into the detail %q", c.err, p.Detail)
		}
	}
	if p := rest.AsProblem(rest.StoreError(fmt.Errorf("x: %w: bad", store.ErrInvalid), "y")); p.Detail != "bad" {
		t.Errorf("invalid detail %q", p.Detail)
	}
}
