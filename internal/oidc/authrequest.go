package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// Response modes (OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode §2).
const (
	ResponseModeQuery    = "query"
	ResponseModeFragment = "fragment"
	ResponseModeFormPost = "form_post"
)

// authRequest is a validated authorization request, kept while the user logs in.
type authRequest struct {
	ID           string   `json:"id"`
	Realm        string   `json:"realm"`
	ClientID     string   `json:"client_id"`
	RedirectURI  string   `json:"redirect_uri"`
	ResponseMode string   `json:"response_mode"`
	State        string   `json:"state,omitempty"`
	Nonce        string   `json:"nonce,omitempty"`
	Scopes       []string `json:"scopes"`
	// CodeChallenge is the S256 PKCE challenge, or empty.
	CodeChallenge string   `json:"code_challenge,omitempty"`
	Prompt        []string `json:"prompt,omitempty"`
	// MaxAge is the max_age parameter in seconds; -1 when absent.
	MaxAge    int64           `json:"max_age"`
	LoginHint string          `json:"login_hint,omitempty"`
	UILocales string          `json:"ui_locales,omitempty"`
	ACRValues []string        `json:"acr_values,omitempty"`
	Claims    json.RawMessage `json:"claims,omitempty"`
	// HintSubject is the sub of a verified id_token_hint.
	HintSubject string `json:"hint_sub,omitempty"`
	// Browser is the SHA-256 of the browser-binding cookie (CONFORMANCE §4.8).
	Browser []byte `json:"browser"`
	// ForceLogin: prompt=login, or max_age or id_token_hint ruled out the current session.
	// RedirectGiven: redirect_uri was in the request (not the client's only one by default).
	RedirectGiven bool `json:"redirect_given,omitempty"`
	// Only a login after CreatedAt (Unix microseconds, as sessions store auth_time) then
	// completes the request.
	ForceLogin bool  `json:"force_login,omitempty"`
	CreatedAt  int64 `json:"created_at"`
}

func (a *authRequest) hasPrompt(p string) bool { return slices.Contains(a.Prompt, p) }

// redirectError is an error answered by redirecting to the client (RFC 6749 §4.1.2.1):
// it is only made once the client and redirect URI are known to be good.
type redirectError struct {
	err *Error
	req *authRequest
}

func (e *redirectError) Error() string { return e.err.Error() }
func (e *redirectError) Unwrap() error { return e.err }

// maxParamLen bounds each authorization parameter; request objects get more room.
const (
	maxParamLen         = 4 << 10
	maxRequestObjectLen = 32 << 10
)

// authzParams reads the parameters of an authorization request from the query (GET) or
// the form body (POST). A repeated parameter is an error (RFC 6749 §3.1); an empty one is
// as if absent.
func authzParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	var v url.Values
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return nil, err
		}
		v = r.PostForm
	} else {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, InvalidRequest("the query string is malformed")
		}
		v = q
	}
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, InvalidRequest("parameter " + k + " is repeated")
		}
		limit := maxParamLen
		if k == "request" {
			limit = maxRequestObjectLen
		}
		if len(vals[0]) > limit {
			return nil, InvalidRequest("parameter " + k + " is too long")
		}
		if vals[0] == "" {
			delete(v, k)
		}
	}
	return v, nil
}

// parseAuthRequest validates an authorization request in the order RFC 6749 §4.1.2.1
// demands: until the client and redirect URI are known to be good every error is shown to
// the user (never redirected, RFC 9700 §4.11); after that errors go back to the client.
func (p *Provider) parseAuthRequest(ctx context.Context, realm store.Realm, v url.Values) (*authRequest, store.Client, error) {
	clientID := v.Get("client_id")
	if clientID == "" {
		return nil, store.Client{}, InvalidRequest("client_id is missing")
	}
	c, err := p.st.GetClient(ctx, realm.Name, clientID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) || err == nil && !c.Enabled {
		return nil, store.Client{}, InvalidRequest("the client is unknown")
	}
	if err != nil {
		return nil, store.Client{}, err
	}
	// A request object may carry the redirect URI; until it is decoded, errors about it go
	// to the redirect URI of the plain parameters if that one is good, else to a page.
	early := func(e *Error) error {
		ru, err := resolveRedirectURI(c, v.Get("redirect_uri"))
		if err != nil {
			return e
		}
		a := &authRequest{Realm: realm.Name, ClientID: c.ID, RedirectURI: ru, State: v.Get("state"), ResponseMode: ResponseModeQuery}
		if m := v.Get("response_mode"); m == ResponseModeFragment || m == ResponseModeFormPost {
			a.ResponseMode = m
		}
		return &redirectError{err: e, req: a}
	}
	if ru := v.Get("request_uri"); ru != "" {
		if v.Has("request") {
			return nil, c, early(InvalidRequest("send request or request_uri, not both"))
		}
		raw, err := p.fetchRequestObject(ctx, ru)
		if err != nil {
			return nil, c, early(AsError(err))
		}
		v.Set("request", raw)
		v.Del("request_uri")
	}
	if raw := v.Get("request"); raw != "" {
		ro, err := p.requestObject(ctx, realm.Name, c, raw)
		if err != nil {
			return nil, c, early(AsError(err))
		}
		// OIDC Core §6.3.3: the request object's values win over the plain parameters.
		for k, val := range ro {
			v.Set(k, val)
		}
		v.Del("request")
	}
	redirect, err := resolveRedirectURI(c, v.Get("redirect_uri"))
	if err != nil {
		return nil, c, err
	}
	a := &authRequest{
		Realm: realm.Name, ClientID: c.ID, RedirectURI: redirect, State: v.Get("state"),
		ResponseMode: ResponseModeQuery, MaxAge: -1, RedirectGiven: v.Get("redirect_uri") != "",
	}
	fail := func(e *Error) (*authRequest, store.Client, error) { return nil, c, &redirectError{err: e, req: a} }
	switch m := v.Get("response_mode"); m {
	case "", ResponseModeQuery:
	case ResponseModeFormPost:
		if !strings.HasPrefix(redirect, "https://") && !strings.HasPrefix(redirect, "http://") {
			return fail(InvalidRequest("response_mode form_post needs an http(s) redirect URI"))
		}
		a.ResponseMode = m
	case ResponseModeFragment:
		a.ResponseMode = m
	default:
		return fail(InvalidRequest("response_mode " + m + " is not supported"))
	}
	switch rt := v.Get("response_type"); {
	case rt == "":
		return fail(InvalidRequest("response_type is missing"))
	case rt != "code":
		// No implicit or hybrid responses (RFC 9700 §2.1.2).
		return fail(UnsupportedResponseType("only response_type=code is supported"))
	case !slices.Contains(c.GrantTypes, "authorization_code"):
		return fail(UnauthorizedClient("the client may not use the authorization code flow"))
	}
	scopes, err := grantScopes(v.Get("scope"), c.Scopes)
	if err != nil {
		var oe *Error
		errors.As(err, &oe)
		return fail(oe)
	}
	if v.Get("scope") == "" {
		return fail(InvalidScope("scope is missing"))
	}
	a.Scopes = scopes
	switch method, challenge := v.Get("code_challenge_method"), v.Get("code_challenge"); {
	case challenge == "" && method != "":
		return fail(InvalidRequest("code_challenge_method without code_challenge"))
	case challenge == "" && c.Public:
		// RFC 9700 §2.1.1: public clients must use PKCE.
		return fail(InvalidRequest("public clients must send a PKCE code_challenge (S256)"))
	case challenge != "" && method != PKCEMethodS256:
		return fail(InvalidRequest("code_challenge_method must be S256"))
	case challenge != "" && !ValidCodeChallenge(challenge):
		return fail(InvalidRequest("code_challenge is not an S256 challenge"))
	default:
		a.CodeChallenge = challenge
	}
	a.Nonce = v.Get("nonce")
	if prompt := v.Get("prompt"); prompt != "" {
		a.Prompt = strings.Fields(prompt)
		for _, pr := range a.Prompt {
			if !slices.Contains([]string{"none", "login", "consent", "select_account"}, pr) {
				return fail(InvalidRequest("prompt " + pr + " is not supported"))
			}
		}
		if a.hasPrompt("none") && len(a.Prompt) > 1 {
			return fail(InvalidRequest("prompt=none cannot be combined with other values"))
		}
	}
	if ma := v.Get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 {
			return fail(InvalidRequest("max_age must be a non-negative integer"))
		}
		a.MaxAge = n
	}
	if claims := v.Get("claims"); claims != "" {
		var parsed map[string]json.RawMessage
		if err := json.Unmarshal([]byte(claims), &parsed); err != nil {
			return fail(InvalidRequest("claims is not a JSON object"))
		}
		a.Claims = json.RawMessage(claims)
	}
	if hint := v.Get("id_token_hint"); hint != "" {
		sub, err := p.idTokenHintSubject(ctx, realm.Name, c.ID, hint)
		if err != nil {
			return fail(InvalidRequest("id_token_hint is not an ID token this realm issued for the client"))
		}
		a.HintSubject = sub
	}
	a.LoginHint, a.UILocales = v.Get("login_hint"), v.Get("ui_locales")
	a.ACRValues = strings.Fields(v.Get("acr_values"))
	return a, c, nil
}

// resolveRedirectURI returns the redirect URI to use: the requested one if it matches a
// registered URI exactly (RFC 9700 §2.1; a loopback port may vary, RFC 8252 §7.3), or the
// only registered one when none is requested (OIDC Core §3.1.2.1 requires it, RFC 6749
// §3.1.2.3 allows the default).
func resolveRedirectURI(c store.Client, requested string) (string, error) {
	if requested == "" {
		if len(c.RedirectURIs) == 1 {
			return c.RedirectURIs[0], usableRedirect(c.RedirectURIs[0])
		}
		return "", InvalidRequest("redirect_uri is missing")
	}
	if _, ok := MatchRedirectURI(c.RedirectURIs, requested); !ok {
		return "", InvalidRequest("redirect_uri is not registered for the client")
	}
	return requested, usableRedirect(requested)
}

// usableRedirect applies the registration rules again before anything is sent to a
// redirect URI, so a script or data URL that reached the store some other way is never
// a target (CONFORMANCE §4.3).
func usableRedirect(u string) error {
	if err := ValidateRedirectURI(u); err != nil {
		return InvalidRequest("the client's redirect_uri is not usable").WithCause(err)
	}
	return nil
}

// requestObject decodes a request object passed by value (OIDC Core §6.1, RFC 9101). An
// unsigned one (alg none) is accepted only when the client has not registered a signing
// alg; a signed one must verify with the client's registered keys. Its client_id must be
// the client's; its claims become the request's parameters.
func (p *Provider) requestObject(ctx context.Context, realm string, c store.Client, raw string) (map[string]string, error) {
	bad := InvalidRequestObject
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, bad("the request object is not a compact JWS")
	}
	var payload []byte
	hdr, err := decodeSegment(parts[0])
	if err != nil {
		return nil, bad("the request object header is malformed")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdr, &h) != nil {
		return nil, bad("the request object header is malformed")
	}
	switch {
	case h.Alg == "none":
		if c.RequestObjectSigningAlg != "" && c.RequestObjectSigningAlg != "none" || parts[2] != "" {
			return nil, bad("the client must sign request objects")
		}
		if payload, err = decodeSegment(parts[1]); err != nil {
			return nil, bad("the request object payload is malformed")
		}
	default:
		algs := []keys.Alg{keys.RS256, keys.PS256, keys.ES256, keys.EdDSA}
		if c.RequestObjectSigningAlg != "" {
			algs = []keys.Alg{keys.Alg(c.RequestObjectSigningAlg)}
		}
		if len(c.JWKS) == 0 && c.JWKSURI == "" {
			return nil, bad("the client has no registered keys")
		}
		if payload, err = p.verifyWithClientKeys(ctx, c, raw, algs); err != nil {
			return nil, bad("the request object signature does not verify").WithCause(err)
		}
		// RFC 9101 §4: a signed request object names its client as issuer and this
		// provider as audience, and may not have expired.
		var rc struct {
			Issuer   string   `json:"iss"`
			Audience audience `json:"aud"`
			Expiry   int64    `json:"exp"`
		}
		if json.Unmarshal(payload, &rc) != nil || rc.Issuer != c.ID || !audienceHas(rc.Audience, p.Issuer(realm)) ||
			rc.Expiry != 0 && rc.Expiry <= p.now().Unix() {
			return nil, bad("the signed request object needs iss = client_id, aud = the issuer and an exp in the future")
		}
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, bad("the request object payload is not a JSON object")
	}
	if id, ok := claims["client_id"]; ok && id != c.ID {
		return nil, bad("the request object names another client")
	}
	out := map[string]string{}
	for k, val := range claims {
		switch k {
		case "iss", "aud", "exp", "iat", "nbf", "jti", "request", "request_uri":
			continue
		}
		switch x := val.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			b, _ := json.Marshal(x) // claims and other structured members stay JSON
			out[k] = string(b)
		}
	}
	return out, nil
}

// fetchRequestObject gets a request object by reference (OIDC Core §6.2): an https URL
// fetched through the outbound client (no redirects, no private targets unless allowed,
// bounded time and size, CONFORMANCE §4.18).
func (p *Provider) fetchRequestObject(ctx context.Context, ru string) (string, error) {
	u, err := url.Parse(ru)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(ru) > 512 {
		return "", InvalidRequestURI("request_uri must be an https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ru, nil)
	if err != nil {
		return "", InvalidRequestURI("request_uri is not a valid URL").WithCause(err)
	}
	req.Header.Set("Accept", "application/oauth-authz-req+jwt, application/jwt")
	resp, err := p.out.Do(ctx, req)
	if err == nil && resp.Status != http.StatusOK {
		err = fmt.Errorf("request_uri answered status %d", resp.Status)
	}
	if err == nil && len(resp.Body) > maxRequestObjectLen {
		err = errors.New("request object too large")
	}
	if err != nil {
		return "", InvalidRequestURI("the request object could not be fetched from request_uri").WithCause(err)
	}
	return strings.TrimSpace(string(resp.Body)), nil
}
