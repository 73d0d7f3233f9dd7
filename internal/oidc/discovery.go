package oidc

import (
	"encoding/json"
	"net/http"
)

// discovery serves OpenID Connect Discovery 1.0 and RFC 8414 metadata for a realm. It
// lists only what the realm's endpoints implement.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	name := realm.Name
	doc := map[string]any{
		"issuer":                                p.Issuer(name),
		"token_endpoint":                        p.endpoint(name, "token"),
		"introspection_endpoint":                p.endpoint(name, "token/introspect"),
		"jwks_uri":                              p.endpoint(name, "certs"),
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": clientAuthMethods,
		"introspection_endpoint_auth_methods_supported":            clientAuthMethods,
		"token_endpoint_auth_signing_alg_values_supported":         assertionAlgNames(),
		"introspection_endpoint_auth_signing_alg_values_supported": assertionAlgNames(),
		"scopes_supported":                               []string{"openid"},
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256", "PS256", "EdDSA"},
		"code_challenge_methods_supported":               []string{PKCEMethodS256},
		"authorization_response_iss_parameter_supported": true,
	}
	if registrationPolicy(realm) != RegistrationOff {
		doc["registration_endpoint"] = p.registrationEndpoint(name)
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
