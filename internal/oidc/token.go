package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// maxFormBytes bounds the body of a form POST to the protocol endpoints.
const maxFormBytes = 64 << 10

// Default lifetimes when neither the client nor the realm sets one.
const defaultAccessTokenTTL = 5 * time.Minute

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// Receipt is the signed receipt of a CIBA transaction (authorization_details), an
	// additional token response parameter (RFC 6749 §5.1).
	Receipt string `json:"receipt,omitempty"`
}

// grantHandler issues tokens for one grant type to an authenticated client.
type grantHandler func(p *Provider, r *http.Request, realm store.Realm, c store.Client) (tokenResponse, error)

// grantFor returns the handler of a grant type; each lives in its own grant_*.go file.
func grantFor(grantType string) (grantHandler, bool) {
	switch grantType {
	case "client_credentials":
		return (*Provider).clientCredentials, true
	case "authorization_code":
		return (*Provider).authorizationCode, true
	case "refresh_token":
		return (*Provider).refreshToken, true
	case GrantCIBA:
		return (*Provider).cibaGrant, true
	}
	return nil, false
}

// token is the token endpoint's dispatcher: it owns form parsing, client authentication,
// the client's grant-type policy and the response; each grant type issues the tokens.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	grantType := r.PostForm.Get("grant_type")
	handler, ok := grantFor(grantType)
	if !ok {
		if grantType == "" {
			return InvalidRequest("grant_type is required")
		}
		return UnsupportedGrantType("grant type " + grantType + " is not supported")
	}
	c, err := p.authenticateClient(r.Context(), realm.Name, r)
	if err != nil {
		return err
	}
	if !slices.Contains(c.GrantTypes, grantType) || c.Public && grantType == "client_credentials" {
		return UnauthorizedClient("the client may not use grant type " + grantType)
	}
	resp, err := handler(p, r, realm, c)
	if err != nil {
		return err
	}
	return writeTokenResponse(w, &resp)
}

// parseForm reads an application/x-www-form-urlencoded body of bounded size. Parameters
// must not repeat (RFC 6749 §3.1, §3.2).
func parseForm(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return InvalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if err := readPostForm(w, r); err != nil {
		if rep, ok := errors.AsType[repeatedParamError](err); ok {
			return InvalidRequest(rep.Error())
		}
		return InvalidRequest("the body is not a valid form").WithCause(err)
	}
	return nil
}

// writeJSON writes a protocol response; token responses must not be cached (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) error {
	setNoStoreJSON(w.Header())
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// grantScopes checks the requested scopes against what the client may ask for; no
// request means every allowed scope. The result is sorted and has no duplicates.
func grantScopes(requested string, allowed []string) ([]string, error) {
	if strings.TrimSpace(requested) == "" {
		out := slices.Clone(allowed)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		if !slices.Contains(allowed, s) {
			return nil, InvalidScope("scope " + s + " is not allowed for this client")
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
