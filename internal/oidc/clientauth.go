package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/signet-auth/signet/internal/store"
)

// Client authentication methods (RFC 6749 §2.3, OIDC Core §9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"
)

// errClientAuth is the one answer to every failed client authentication, so nothing tells
// an unknown client from a wrong secret or a disabled client.
var errClientAuth = InvalidClient("client authentication failed")

// authenticateClient authenticates the client of a token-endpoint-style request with the
// method the client registered, and refuses any other. The form must already be parsed.
func (p *Provider) authenticateClient(ctx context.Context, realm string, r *http.Request) (store.Client, error) {
	if r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type") {
		return p.authenticateClientAssertion(ctx, realm, r) // clientauth_jwt.go
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: the credentials are form-urlencoded before Basic encoding.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return store.Client{}, errClientAuth
		}
		if r.PostForm.Has("client_secret") {
			return store.Client{}, InvalidRequest("use one client authentication method")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return store.Client{}, errClientAuth
	}
	secrets, err := p.peppers.Hasher(ctx, realm)
	if err != nil {
		return store.Client{}, err
	}
	c, err := p.st.GetClient(ctx, realm, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		_ = secrets.Hash(secret) // the same work as for a known client
		return store.Client{}, errClientAuth
	}
	if err != nil {
		return store.Client{}, err
	}
	if !basic && secret == "" && !r.PostForm.Has("client_secret") {
		// "none": a public client only identifies itself; PKCE protects its codes.
		if !c.Enabled || !c.Public || c.AuthMethod != AuthNone {
			return store.Client{}, errClientAuth
		}
		return c, nil
	}
	method := AuthClientSecretPost
	if basic {
		method = AuthClientSecretBasic
	}
	ok := c.Enabled && !c.Public && c.AuthMethod == method && secrets.Verify(secret, c.SecretHash)
	if !ok {
		return store.Client{}, errClientAuth
	}
	return c, nil
}
