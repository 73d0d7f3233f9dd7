package oidc

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// userinfo is OIDC Core §5.3: GET or POST, the access token in the Authorization header
// (RFC 6750 §2.1) or, for POST, in the form body (§2.2). It answers with the claims the
// grant's scopes and claims request release, as JSON or, when the client registered
// userinfo_signed_response_alg, as a signed JWT.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	token, inHeader := BearerToken(r)
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "" {
		if err := parseForm(w, r); err != nil {
			return err
		}
		if t := r.PostForm.Get("access_token"); t != "" {
			if inHeader {
				return InvalidRequest("send the access token one way only")
			}
			token = t
		}
	}
	if token == "" {
		return bearerError(InvalidToken("an access token is required"), "")
	}
	ctx := r.Context()
	b, err := p.VerifyBearer(ctx, realm.Name, token)
	if errors.Is(err, ErrInvalidBearer) {
		return bearerError(InvalidToken("the access token is not valid"), "invalid_token")
	}
	if err != nil {
		return err
	}
	if b.GrantID == "" || !b.HasScope("openid") {
		return bearerError(InsufficientScope("the access token was not issued for OpenID Connect"), "insufficient_scope")
	}
	g, err := p.st.GetGrant(ctx, realm.Name, b.GrantID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return bearerError(InvalidToken("the access token is not valid"), "invalid_token")
		}
		return err
	}
	u, err := p.activeUser(ctx, realm.Name, b.Subject)
	if err != nil {
		return bearerError(InvalidToken("the access token is not valid"), "invalid_token")
	}
	c, err := p.st.GetClient(ctx, realm.Name, b.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	claims := userClaims(u, b.Scopes, c.Scopes, parseClaimsRequest(g.Claims).UserInfo)
	claims["sub"] = u.ID
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if alg := keys.Alg(c.UserinfoSignedResponseAlg); alg != "" && alg != "none" {
		claims["iss"], claims["aud"] = p.Issuer(realm.Name), c.ID
		payload, err := json.Marshal(claims)
		if err != nil {
			return err
		}
		jwt, err := p.keys.Sign(ctx, realm.Name, alg, keys.TypeJWT, payload)
		if err != nil {
			return err
		}
		h.Set("Content-Type", "application/jwt")
		_, err = w.Write([]byte(jwt))
		return err
	}
	h.Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(claims)
}

// bearerError is an RFC 6750 §3 error: the status and a WWW-Authenticate challenge.
func bearerError(e *Error, code string) error {
	return &Error{Code: e.Code, Description: e.Description, Status: e.Status, Cause: errBearerChallenge{code}}
}

type errBearerChallenge struct{ code string }

func (e errBearerChallenge) Error() string { return "bearer challenge " + e.code }
