package fcmtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// grantTypeJWTBearer is the RFC 7523 §2.1 grant type.
const grantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxAssertionLifetime is Google's limit on exp - iat ("OAuth 2.0 for Server to Server
// Applications", JWT claim set: exp has "a maximum of 1 hour after the issued time").
const maxAssertionLifetime = time.Hour

// assertionSkew is how far in the future an assertion's iat may lie, for clock skew.
const assertionSkew = time.Minute

type tokenFailure struct {
	status     int
	code       string
	retryAfter string
}

// accessToken is an opaque token the fake issued.
type accessToken struct {
	expires time.Time // by the fake's clock
	scopes  []string
	project string
}

// oauthError writes an RFC 6749 §5.2 error response, as Google's token endpoint does.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// serveToken is the token endpoint: RFC 7523 §2.1 JWT bearer grant, as Google runs it
// for service accounts.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost { // RFC 6749 §3.2: the client MUST use POST
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "token requests must use POST")
		return
	}
	s.mu.Lock()
	latency := s.tokenLatency
	var fail *tokenFailure
	if len(s.tokenFailures) > 0 {
		f := s.tokenFailures[0]
		s.tokenFailures = s.tokenFailures[1:]
		fail = &f
	}
	s.mu.Unlock()
	s.wait(r, latency)
	if fail != nil {
		if fail.retryAfter != "" {
			w.Header().Set("Retry-After", fail.retryAfter)
		}
		oauthError(w, fail.status, fail.code, "scripted failure")
		return
	}

	// RFC 6749 §4.1.3 / RFC 7523 §2.1: parameters in an application/x-www-form-urlencoded body.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != grantTypeJWTBearer {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: assertion")
		return
	}
	claims, acct, desc := s.verifyAssertion(assertion)
	if desc != "" {
		// RFC 7523 §3.1: an invalid assertion is invalid_grant.
		oauthError(w, http.StatusBadRequest, "invalid_grant", desc)
		return
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "Empty or missing scope not allowed.")
		return
	}

	buf := make([]byte, 32)
	rand.Read(buf)
	tok := "ya29.fake-" + base64.RawURLEncoding.EncodeToString(buf)
	s.mu.Lock()
	lifetime := s.lifetime
	s.tokens[tok] = accessToken{expires: s.now().Add(lifetime), scopes: scopes, project: acct.project}
	s.issued++
	s.mu.Unlock()

	// RFC 6749 §5.1: the response is JSON and must not be cached.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"expires_in":   int64(lifetime / time.Second),
		"token_type":   "Bearer",
	})
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
	Sub   string `json:"sub"`
}

// verifyAssertion checks a service account's JWT as Google does ("OAuth 2.0 for Server
// to Server Applications": header alg RS256, claims iss = the account's client_email,
// aud = the token endpoint, iat and exp in seconds with exp at most an hour after iat,
// signed with the account's key). It returns a non-empty description when the assertion
// is refused. The signature is verified here with crypto/rsa, not with the library the
// sender uses to make it, so a shared bug cannot hide.
func (s *Server) verifyAssertion(assertion string) (jwtClaims, *account, string) {
	var claims jwtClaims
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return claims, nil, "Invalid JWT: not a compact JWS (RFC 7515 §7.1)"
	}
	var hdr jwtHeader
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return claims, nil, "Invalid JWT: unreadable header"
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return claims, nil, "Invalid JWT: unreadable claim set"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return claims, nil, "Invalid JWT Signature."
	}
	if hdr.Alg != "RS256" {
		return claims, nil, "Invalid JWT: alg must be RS256"
	}
	s.mu.Lock()
	acct := s.accounts[claims.Iss]
	s.mu.Unlock()
	if acct == nil {
		return claims, nil, "Invalid grant: account not found"
	}
	// Google picks the key by kid when there is one; a kid naming another key fails.
	if hdr.Kid != "" && hdr.Kid != acct.keyID {
		return claims, nil, "Invalid JWT Signature."
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(acct.pub, crypto.SHA256, digest[:], sig); err != nil {
		return claims, nil, "Invalid JWT Signature."
	}
	if claims.Aud != s.TokenURL {
		return claims, nil, "Invalid JWT: audience must be the token endpoint " + s.TokenURL
	}
	now := time.Now() // wall clock: see the package comment
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iat == 0 || claims.Exp == 0 || !exp.After(iat) || exp.Sub(iat) > maxAssertionLifetime ||
		iat.After(now.Add(assertionSkew)) || !exp.After(now) {
		return claims, nil, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	return claims, acct, ""
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// authorize checks an FCM request's bearer token. It returns the HTTP status and
// google.rpc.Status to answer with when the request is refused, or 0.
func (s *Server) authorize(r *http.Request, project string) (int, string) {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return http.StatusUnauthorized, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential."
	}
	s.mu.Lock()
	at, known := s.tokens[tok]
	now := s.now()
	s.mu.Unlock()
	if !known || !now.Before(at.expires) {
		return http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
	}
	if !slices.Contains(at.scopes, Scope) && !slices.Contains(at.scopes, CloudPlatformScope) {
		return http.StatusForbidden, "Request had insufficient authentication scopes."
	}
	if project != at.project {
		return http.StatusForbidden, "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/" + project + "' (or it may not exist)."
	}
	return 0, ""
}
