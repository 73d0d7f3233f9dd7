package oidc

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/signet-auth/signet/internal/login"
)

// discovery serves OpenID Connect Discovery 1.0 and RFC 8414 metadata for a realm. It
// lists only what the realm's endpoints implement.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	name := realm.Name
	authMethods := clientAuthMethods
	algs := []string{"RS256", "ES256", "PS256", "EdDSA"}
	grantTypes := []string{"authorization_code", "refresh_token", "client_credentials"}
	if p.requests != nil {
		grantTypes = append(grantTypes, GrantCIBA)
	}
	doc := map[string]any{
		"issuer":                 p.Issuer(name),
		"authorization_endpoint": p.endpoint(name, "auth"),
		"token_endpoint":         p.endpoint(name, "token"),
		"introspection_endpoint": p.endpoint(name, "token/introspect"),
		"revocation_endpoint":    p.endpoint(name, "revoke"),
		"userinfo_endpoint":      p.endpoint(name, "userinfo"),
		"check_session_iframe":   p.endpoint(name, "login-status-iframe.html"),
		"end_session_endpoint":   p.endpoint(name, "logout"),
		"jwks_uri":               p.endpoint(name, "certs"),
		"grant_types_supported":  grantTypes,
		"token_endpoint_auth_signing_alg_values_supported":         assertionAlgNames(),
		"introspection_endpoint_auth_signing_alg_values_supported": assertionAlgNames(),
		"response_types_supported":                                 []string{"code"},
		"response_modes_supported":                                 []string{ResponseModeQuery, ResponseModeFragment, ResponseModeFormPost},
		"token_endpoint_auth_methods_supported":                    append(slices.Clone(authMethods), AuthNone),
		"introspection_endpoint_auth_methods_supported":            authMethods,
		"revocation_endpoint_auth_methods_supported":               append(slices.Clone(authMethods), AuthNone),
		"scopes_supported":                                         []string{"openid", "profile", "email", "address", "phone", "offline_access"},
		"claims_supported":                                         supportedClaims(),
		"claims_parameter_supported":                               true,
		"claim_types_supported":                                    []string{"normal"},
		"acr_values_supported":                                     []string{login.ACRSingle, login.ACRMulti},
		"subject_types_supported":                                  []string{"public"},
		"id_token_signing_alg_values_supported":                    algs,
		"userinfo_signing_alg_values_supported":                    algs,
		"request_object_signing_alg_values_supported":              append([]string{"none"}, algs...),
		"request_parameter_supported":                              true,
		"request_uri_parameter_supported":                          false,
		"prompt_values_supported":                                  []string{"none", "login", "consent", "select_account"},
		"ui_locales_supported":                                     p.render.Catalog().Locales(),
		"code_challenge_methods_supported":                         []string{PKCEMethodS256},
		"authorization_response_iss_parameter_supported":           true,
		"frontchannel_logout_supported":                            false,
		"backchannel_logout_supported":                             false,
	}
	if RegistrationPolicy(realm) != RegistrationOff {
		doc["registration_endpoint"] = p.registrationEndpoint(name)
	}
	if p.requests != nil {
		// OpenID CIBA Core §4, on the nodes that serve it.
		doc["backchannel_authentication_endpoint"] = p.endpoint(name, "ext/ciba/auth")
		doc["backchannel_token_delivery_modes_supported"] = []string{"poll", "ping", "push"}
		doc["backchannel_user_code_parameter_supported"] = false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	return json.NewEncoder(w).Encode(doc)
}

// certs serves the realm's JWKS: every published signing key, public parts only.
func (p *Provider) certs(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	jwks, err := p.keys.JWKS(r.Context(), realm.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short caching: relying parties re-fetch on an unknown kid anyway, and a retired key
	// stays published long after its successor appears.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err = w.Write(jwks)
	return err
}
