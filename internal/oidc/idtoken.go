package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// defaultIDTokenAlg: OIDC Core §3.1.3.7 makes RS256 the default every relying party
// supports; a client may register another (id_token_signed_response_alg).
const defaultIDTokenAlg = keys.RS256

const defaultIDTokenTTL = 5 * time.Minute

// scopeClaims are the claims each standard scope requests (OIDC Core §5.4).
var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// supportedClaims lists every claim Signet can release, for discovery.
func supportedClaims() []string {
	out := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid"}
	for _, scope := range []string{"profile", "email", "address", "phone"} {
		out = append(out, scopeClaims[scope]...)
	}
	return out
}

// claimsRequest is the "claims" request parameter (OIDC Core §5.5): per target, the
// claims asked for by name (their options are not needed to release them).
type claimsRequest struct {
	UserInfo map[string]json.RawMessage `json:"userinfo"`
	IDToken  map[string]json.RawMessage `json:"id_token"`
}

func parseClaimsRequest(raw []byte) claimsRequest {
	var cr claimsRequest
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &cr) // validated as JSON at the authorization endpoint
	}
	return cr
}

// userClaims returns the user's claims released by scopes, plus the ones requested by
// name in extra (the claims parameter) whose scope is in allowed (the client's scopes).
func userClaims(u store.User, scopes, allowed []string, extra map[string]json.RawMessage) map[string]any {
	all := map[string]any{}
	pr := u.Profile
	put := func(name string, v any, set bool) {
		if set {
			all[name] = v
		}
	}
	put("name", pr.Name, pr.Name != "")
	put("family_name", pr.FamilyName, pr.FamilyName != "")
	put("given_name", pr.GivenName, pr.GivenName != "")
	put("middle_name", pr.MiddleName, pr.MiddleName != "")
	put("nickname", pr.Nickname, pr.Nickname != "")
	put("preferred_username", u.Username, true)
	put("picture", pr.Picture, pr.Picture != "")
	put("website", pr.Website, pr.Website != "")
	put("gender", pr.Gender, pr.Gender != "")
	put("birthdate", pr.Birthdate, pr.Birthdate != "")
	put("zoneinfo", pr.Zoneinfo, pr.Zoneinfo != "")
	put("locale", pr.Locale, pr.Locale != "")
	put("updated_at", u.UpdatedAt.Unix(), !u.UpdatedAt.IsZero())
	put("email", u.Email, u.Email != "")
	put("email_verified", u.EmailVerified, u.Email != "")
	put("phone_number", pr.PhoneNumber, pr.PhoneNumber != "")
	put("phone_number_verified", pr.PhoneNumberVerified, pr.PhoneNumber != "")
	put("address", pr.Address, pr.Address != (store.Address{}))
	out := map[string]any{}
	for _, s := range scopes {
		for _, name := range scopeClaims[s] {
			if v, ok := all[name]; ok {
				out[name] = v
			}
		}
	}
	// A claim asked for by name (the claims parameter) is released only if its scope is
	// one the client may have: the parameter picks claims, it does not widen access.
	for name := range extra {
		if v, ok := all[name]; ok && slices.Contains(allowed, claimScope[name]) {
			out[name] = v
		}
	}
	return out
}

// claimScope is the scope each releasable claim belongs to.
var claimScope = func() map[string]string {
	m := map[string]string{}
	for scope, claims := range scopeClaims {
		for _, c := range claims {
			m[c] = scope
		}
	}
	return m
}()

// idTokenInput is what an ID token states besides the user's claims.
type idTokenInput struct {
	client      store.Client
	user        store.User
	scopes      []string
	claims      []byte
	nonce       string
	sessionID   string
	authTime    int64
	amr         []string
	acr         string
	accessToken string
	// CIBA push mode (CIBA Core §10.3.1): the request's id and the refresh token's hash.
	authReqID    string
	refreshToken string
}

// mintIDToken signs an ID token (OIDC Core §2) with the client's registered alg.
func (p *Provider) mintIDToken(ctx context.Context, realm string, in idTokenInput) (string, error) {
	alg := keys.Alg(in.client.IDTokenSignedResponseAlg)
	if alg == "" {
		alg = defaultIDTokenAlg
	}
	if !alg.Valid() {
		// "none" and unknown algs: never an unsigned ID token (oidcc-idtoken-unsigned).
		return "", UnauthorizedClient("the client's id_token_signed_response_alg " + string(alg) + " is not supported")
	}
	ttl := in.client.IDTokenTTL
	if ttl <= 0 {
		ttl = defaultIDTokenTTL
	}
	now := p.now()
	c := userClaims(in.user, in.scopes, in.client.Scopes, parseClaimsRequest(in.claims).IDToken)
	c["iss"] = p.Issuer(realm)
	c["sub"] = in.user.ID
	c["aud"] = in.client.ID
	c["azp"] = in.client.ID
	c["iat"] = now.Unix()
	c["exp"] = now.Add(ttl).Unix()
	c["auth_time"] = in.authTime
	if in.nonce != "" {
		c["nonce"] = in.nonce
	}
	if in.sessionID != "" {
		c["sid"] = in.sessionID
	}
	if len(in.amr) > 0 {
		c["amr"] = in.amr
	}
	if in.acr != "" {
		c["acr"] = in.acr
	}
	if in.accessToken != "" {
		c["at_hash"] = halfHash(alg, in.accessToken)
	}
	if in.authReqID != "" {
		c["urn:openid:params:jwt:claim:auth_req_id"] = in.authReqID
	}
	if in.refreshToken != "" {
		c["urn:openid:params:jwt:claim:rt_hash"] = halfHash(alg, in.refreshToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode id token: %w", err)
	}
	return p.keys.Sign(ctx, realm, alg, keys.TypeJWT, payload)
}

// halfHash is at_hash (OIDC Core §3.1.3.6): the left half of the hash that goes with the
// signing alg, base64url. Ed25519 pairs with SHA-512.
func halfHash(alg keys.Alg, v string) string {
	var h hash.Hash = sha256.New()
	if alg == keys.EdDSA {
		h = sha512.New()
	}
	h.Write([]byte(v))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// idTokenHintSubject verifies an ID token this realm issued to clientID (expired ones
// too: a hint is usually old) and returns its subject.
func (p *Provider) idTokenHintSubject(ctx context.Context, realm, clientID, hint string) (string, error) {
	c, err := p.verifyIDToken(ctx, realm, hint)
	if err != nil {
		return "", err
	}
	if clientID != "" && !audienceHas(c.Audience, clientID) {
		return "", fmt.Errorf("id token hint: issued to another client")
	}
	return c.Subject, nil
}

// idTokenClaims are the claims logout and hints read from an ID token.
type idTokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	SessionID string   `json:"sid"`
	IssuedAt  int64    `json:"iat"`
	Expiry    int64    `json:"exp"`
}

// verifyIDToken checks signature (a realm key, never "none"), type and issuer.
func (p *Provider) verifyIDToken(ctx context.Context, realm, token string) (idTokenClaims, error) {
	set, err := p.keys.PublicKeys(ctx, realm)
	if err != nil {
		return idTokenClaims{}, err
	}
	payload, h, err := keys.Verify(token, set, keys.Algs())
	if err != nil {
		return idTokenClaims{}, err
	}
	if !keys.TypeIs(h, keys.TypeJWT) && !keys.TypeIs(h, "") {
		return idTokenClaims{}, fmt.Errorf("id token: wrong type")
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return idTokenClaims{}, err
	}
	// iat and exp: every ID token has them, a signed userinfo response does not.
	if c.Issuer != p.Issuer(realm) || c.Subject == "" || c.IssuedAt == 0 || c.Expiry == 0 || len(c.Audience) == 0 {
		return idTokenClaims{}, fmt.Errorf("id token: wrong issuer, or no subject, audience, iat or exp")
	}
	return c, nil
}

// audience is "aud": one string or an array (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

func audienceHas(a audience, v string) bool { return slices.Contains(a, v) }

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func b64std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
