package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// Scopes and grant types a dynamically registered client may have.
var (
	registrationScopes        = []string{"openid", "profile", "email", "address", "phone", "offline_access"}
	defaultRegistrationScopes = "openid profile email"
	registrationGrantTypes    = []string{"authorization_code", "refresh_token", "client_credentials", GrantCIBA}
)

// Bounds on registration metadata, far above what a real client needs.
const (
	maxRegisteredURIs = 50
	maxURILength      = 2000
	maxContacts       = 20
	maxNameLength     = 200
)

// clientMetadata is the client metadata of RFC 7591 §2 and OpenID Connect Dynamic Client
// Registration §2 that Signet keeps; it is both what a client sends and what it gets back.
type clientMetadata struct {
	RedirectURIs                []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg"`
	UserinfoSignedResponseAlg   string          `json:"userinfo_signed_response_alg,omitempty"`
	RequestObjectSigningAlg     string          `json:"request_object_signing_alg,omitempty"`
	ClientName                  string          `json:"client_name,omitempty"`
	LogoURI                     string          `json:"logo_uri,omitempty"`
	PolicyURI                   string          `json:"policy_uri,omitempty"`
	TOSURI                      string          `json:"tos_uri,omitempty"`
	ClientURI                   string          `json:"client_uri,omitempty"`
	Contacts                    []string        `json:"contacts,omitempty"`
	Scope                       string          `json:"scope"`
	SubjectType                 string          `json:"subject_type"`
	SectorIdentifierURI         string          `json:"sector_identifier_uri,omitempty"`
	// OpenID CIBA Core §4.
	BackchannelTokenDeliveryMode          string `json:"backchannel_token_delivery_mode,omitempty"`
	BackchannelClientNotificationEndpoint string `json:"backchannel_client_notification_endpoint,omitempty"`
	BackchannelUserCodeParameter          bool   `json:"backchannel_user_code_parameter,omitempty"`
}

// encryptionMetadata asks for encrypted tokens or request objects, which Signet does not
// produce or read: refused rather than ignored, so no client expects encryption it
// does not get.
var encryptionMetadata = []string{
	"id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
	"userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc",
	"request_object_encryption_alg", "request_object_encryption_enc",
	"authorization_encrypted_response_alg", "authorization_encrypted_response_enc",
}

// decodeMetadata reads client metadata from the members of a JSON object. Names match
// exactly (encoding/json alone would match them case-insensitively), unknown members are
// ignored (RFC 7591 §2), and null is the same as absent.
func decodeMetadata(fields map[string]json.RawMessage) (clientMetadata, error) {
	var m clientMetadata
	v := reflect.ValueOf(&m).Elem()
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, v.Field(i).Addr().Interface()); err != nil {
			return clientMetadata{}, InvalidClientMetadata(name + " has the wrong type").WithCause(err)
		}
	}
	for _, name := range encryptionMetadata {
		if raw, ok := fields[name]; ok && string(raw) != "null" {
			return clientMetadata{}, InvalidClientMetadata(name + " is not supported: Signet does not encrypt tokens")
		}
	}
	return m, nil
}

// check fills in defaults and applies every registration rule but the sector identifier
// document (checkSectorIdentifier), which needs the network.
func (m *clientMetadata) check() error {
	for _, step := range []func() error{m.checkGrants, m.checkAuthentication, m.checkRedirectURIs, m.checkAlgs, m.checkDisplay, m.checkScope, m.checkSubject, m.checkCIBA} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// checkGrants: code flow, refresh and client credentials only (no implicit, no password:
// RFC 9700 §2.1.2, §2.4), and response types that match the grant types (RFC 7591 §2.1).
func (m *clientMetadata) checkGrants() error {
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code"}
	}
	m.GrantTypes = unique(m.GrantTypes)
	for _, g := range m.GrantTypes {
		if !slices.Contains(registrationGrantTypes, g) {
			return InvalidClientMetadata(fmt.Sprintf("grant type %q is not supported; use authorization_code, refresh_token, client_credentials or %s", g, GrantCIBA))
		}
	}
	code := slices.Contains(m.GrantTypes, "authorization_code")
	if m.ResponseTypes == nil {
		m.ResponseTypes = []string{}
		if code {
			m.ResponseTypes = []string{"code"}
		}
	}
	m.ResponseTypes = unique(m.ResponseTypes)
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return InvalidClientMetadata(fmt.Sprintf("response type %q is not supported; use code", rt))
		}
	}
	if code != slices.Contains(m.ResponseTypes, "code") {
		return InvalidClientMetadata("response type code goes with grant type authorization_code, and only with it")
	}
	return nil
}

// checkAuthentication: the token endpoint method, and the keys private_key_jwt needs.
func (m *clientMetadata) checkAuthentication() error {
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthClientSecretBasic // RFC 7591 §2
	}
	switch m.TokenEndpointAuthMethod {
	case AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT:
	case AuthNone:
		if slices.Contains(m.GrantTypes, "client_credentials") {
			return InvalidClientMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials")
		}
	default:
		return InvalidClientMetadata(fmt.Sprintf("token_endpoint_auth_method %q is not supported; use client_secret_basic, client_secret_post, private_key_jwt or none", m.TokenEndpointAuthMethod))
	}
	if m.TokenEndpointAuthSigningAlg != "" {
		if err := checkSigningAlg("token_endpoint_auth_signing_alg", m.TokenEndpointAuthSigningAlg); err != nil {
			return err
		}
	}
	if len(m.JWKS) > 0 && m.JWKSURI != "" {
		return InvalidClientMetadata("jwks and jwks_uri cannot both be given") // RFC 7591 §2
	}
	if len(m.JWKS) > 0 {
		set, err := parseClientJWKS(m.JWKS)
		if err != nil {
			return InvalidClientMetadata("jwks is not a set of public keys").WithCause(err)
		}
		m.JWKS, _ = json.Marshal(set) // stored as parsed: public members only
	}
	if err := checkHTTPSURL("jwks_uri", m.JWKSURI); err != nil {
		return err
	}
	if m.TokenEndpointAuthMethod == AuthPrivateKeyJWT && len(m.JWKS) == 0 && m.JWKSURI == "" {
		return InvalidClientMetadata("private_key_jwt needs jwks or jwks_uri")
	}
	return nil
}

// checkRedirectURIs applies the registration rules of ValidateRedirectURI (no fragment,
// no script or data scheme in any case, plain http only on loopback).
func (m *clientMetadata) checkRedirectURIs() error {
	if slices.Contains(m.GrantTypes, "authorization_code") && len(m.RedirectURIs) == 0 {
		return InvalidRedirectURI("redirect_uris is required for the authorization_code grant")
	}
	for _, list := range []struct {
		name string
		uris *[]string
		bad  func(string) *Error
	}{
		{"redirect_uris", &m.RedirectURIs, InvalidRedirectURI},
		{"post_logout_redirect_uris", &m.PostLogoutRedirectURIs, InvalidClientMetadata},
	} {
		if len(*list.uris) > maxRegisteredURIs {
			return list.bad(fmt.Sprintf("%s has more than %d entries", list.name, maxRegisteredURIs))
		}
		for _, u := range *list.uris {
			if len(u) > maxURILength {
				return list.bad(fmt.Sprintf("%s: a URI is longer than %d characters", list.name, maxURILength))
			}
			if err := ValidateRedirectURI(u); err != nil {
				return list.bad(list.name + ": " + strings.TrimPrefix(err.Error(), ErrInvalidRedirectURI.Error()+" "))
			}
		}
		*list.uris = unique(*list.uris)
	}
	return nil
}

// checkAlgs: signed responses use an algorithm Signet signs with; "none" never
// (CONFORMANCE oidcc-idtoken-unsigned). RS256 is the ID token default (OIDC Core §3.1.3.7).
func (m *clientMetadata) checkAlgs() error {
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = string(keys.RS256)
	}
	for _, f := range []struct{ name, alg string }{
		{"id_token_signed_response_alg", m.IDTokenSignedResponseAlg},
		{"userinfo_signed_response_alg", m.UserinfoSignedResponseAlg},
		{"request_object_signing_alg", m.RequestObjectSigningAlg},
	} {
		if f.alg == "" {
			continue
		}
		if err := checkSigningAlg(f.name, f.alg); err != nil {
			return err
		}
	}
	return nil
}

// checkDisplay: what the login page may show about the client.
func (m *clientMetadata) checkDisplay() error {
	if len(m.ClientName) > maxNameLength || strings.ContainsFunc(m.ClientName, unicode.IsControl) {
		return InvalidClientMetadata(fmt.Sprintf("client_name must be at most %d characters without control characters", maxNameLength))
	}
	for _, f := range []struct{ name, uri string }{
		{"logo_uri", m.LogoURI}, {"policy_uri", m.PolicyURI}, {"tos_uri", m.TOSURI}, {"client_uri", m.ClientURI},
	} {
		if err := checkHTTPSURL(f.name, f.uri); err != nil {
			return err
		}
	}
	if len(m.Contacts) > maxContacts {
		return InvalidClientMetadata(fmt.Sprintf("contacts has more than %d entries", maxContacts))
	}
	for _, c := range m.Contacts {
		if c == "" || len(c) > 254 || strings.ContainsFunc(c, unicode.IsControl) {
			return InvalidClientMetadata("contacts must be non-empty strings of at most 254 characters")
		}
	}
	m.Contacts = unique(m.Contacts)
	return nil
}

// checkScope: a subset of the realm's standard scopes.
func (m *clientMetadata) checkScope() error {
	if strings.TrimSpace(m.Scope) == "" {
		m.Scope = defaultRegistrationScopes
	}
	scopes := unique(strings.Fields(m.Scope))
	for _, s := range scopes {
		if !slices.Contains(registrationScopes, s) {
			return InvalidClientMetadata(fmt.Sprintf("scope %q is not available; use any of %s", s, strings.Join(registrationScopes, " ")))
		}
	}
	m.Scope = strings.Join(scopes, " ")
	return nil
}

// checkSubject: public or pairwise subjects. Without a sector identifier, pairwise
// subjects are computed per redirect URI host, so all must share one (OIDC Core §8.1).
func (m *clientMetadata) checkSubject() error {
	if m.SubjectType == "" {
		m.SubjectType = "public"
	}
	if m.SubjectType != "public" && m.SubjectType != "pairwise" {
		return InvalidClientMetadata(fmt.Sprintf("subject_type %q is not supported; use public or pairwise", m.SubjectType))
	}
	if err := checkHTTPSURL("sector_identifier_uri", m.SectorIdentifierURI); err != nil {
		return err
	}
	if m.SubjectType == "pairwise" && m.SectorIdentifierURI == "" {
		hosts := map[string]bool{}
		for _, r := range m.RedirectURIs {
			if u, err := url.Parse(r); err == nil {
				hosts[u.Host] = true
			}
		}
		if len(hosts) > 1 {
			return InvalidClientMetadata("pairwise subjects with redirect URIs on several hosts need a sector_identifier_uri")
		}
	}
	return nil
}

// checkSectorIdentifier fetches the sector identifier document, which must be a JSON
// array holding every redirect URI (OIDC Dynamic Client Registration §5; CONFORMANCE
// oidcc-registration-sector-uri and -sector-bad). It goes through the outbound client:
// no redirects, no private targets, bounded time and size.
func (p *Provider) checkSectorIdentifier(ctx context.Context, m clientMetadata) error {
	if m.SectorIdentifierURI == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.SectorIdentifierURI, nil)
	if err != nil {
		return InvalidClientMetadata("sector_identifier_uri is not a valid URL").WithCause(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.out.Do(ctx, req)
	if err == nil && (resp.Status < 200 || resp.Status > 299) {
		err = fmt.Errorf("sector_identifier_uri answered status %d", resp.Status)
	}
	if err != nil {
		return InvalidClientMetadata("sector_identifier_uri could not be fetched").WithCause(err)
	}
	var listed []string
	if err := json.Unmarshal(resp.Body, &listed); err != nil {
		return InvalidClientMetadata("sector_identifier_uri does not hold a JSON array of URIs").WithCause(err)
	}
	for _, r := range m.RedirectURIs {
		if !slices.Contains(listed, r) {
			return InvalidClientMetadata(fmt.Sprintf("redirect URI %q is not listed at the sector_identifier_uri", r))
		}
	}
	return nil
}

// checkCIBA: a CIBA client is confidential; ping and push need an https notification
// endpoint (CIBA Core §4); no user codes.
func (m *clientMetadata) checkCIBA() error {
	ciba := slices.Contains(m.GrantTypes, GrantCIBA)
	switch {
	case !ciba && (m.BackchannelTokenDeliveryMode != "" || m.BackchannelClientNotificationEndpoint != ""):
		return InvalidClientMetadata("backchannel metadata needs grant type " + GrantCIBA)
	case !ciba:
		return nil
	case m.TokenEndpointAuthMethod == AuthNone:
		return InvalidClientMetadata("a CIBA client must authenticate: token_endpoint_auth_method none is not allowed")
	case m.BackchannelUserCodeParameter:
		return InvalidClientMetadata("backchannel_user_code_parameter is not supported")
	case m.BackchannelTokenDeliveryMode == "":
		m.BackchannelTokenDeliveryMode = "poll"
	}
	switch m.BackchannelTokenDeliveryMode {
	case "poll":
		if m.BackchannelClientNotificationEndpoint != "" {
			return InvalidClientMetadata("backchannel_client_notification_endpoint is for ping and push mode")
		}
		return nil
	case "ping", "push":
		if m.BackchannelClientNotificationEndpoint == "" {
			return InvalidClientMetadata("backchannel_client_notification_endpoint is required in " + m.BackchannelTokenDeliveryMode + " mode")
		}
		return checkHTTPSURL("backchannel_client_notification_endpoint", m.BackchannelClientNotificationEndpoint)
	}
	return InvalidClientMetadata("backchannel_token_delivery_mode must be poll, ping or push")
}

// applyTo writes checked metadata into a client.
func (m clientMetadata) applyTo(c *store.Client) {
	c.Name = m.ClientName
	c.AuthMethod = m.TokenEndpointAuthMethod
	c.Public = m.TokenEndpointAuthMethod == AuthNone
	c.TokenEndpointAuthSigningAlg = m.TokenEndpointAuthSigningAlg
	c.RedirectURIs = m.RedirectURIs
	c.PostLogoutRedirectURIs = m.PostLogoutRedirectURIs
	c.GrantTypes = m.GrantTypes
	c.ResponseTypes = m.ResponseTypes
	c.Scopes = strings.Fields(m.Scope)
	c.JWKS = m.JWKS
	c.JWKSURI = m.JWKSURI
	c.IDTokenSignedResponseAlg = m.IDTokenSignedResponseAlg
	c.UserinfoSignedResponseAlg = m.UserinfoSignedResponseAlg
	c.RequestObjectSigningAlg = m.RequestObjectSigningAlg
	c.LogoURI, c.PolicyURI, c.TOSURI, c.ClientURI = m.LogoURI, m.PolicyURI, m.TOSURI, m.ClientURI
	c.Contacts = m.Contacts
	c.SubjectType = m.SubjectType
	c.SectorIdentifierURI = m.SectorIdentifierURI
	c.BackchannelTokenDeliveryMode = m.BackchannelTokenDeliveryMode
	c.BackchannelClientNotificationEndpoint = m.BackchannelClientNotificationEndpoint
}

// metadataOf is the registered metadata of a client.
func metadataOf(c store.Client) clientMetadata {
	return clientMetadata{
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes,
		TokenEndpointAuthMethod: c.AuthMethod, TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
		JWKS: c.JWKS, JWKSURI: c.JWKSURI,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, UserinfoSignedResponseAlg: c.UserinfoSignedResponseAlg,
		RequestObjectSigningAlg: c.RequestObjectSigningAlg,
		ClientName:              c.Name, LogoURI: c.LogoURI, PolicyURI: c.PolicyURI, TOSURI: c.TOSURI, ClientURI: c.ClientURI,
		Contacts: c.Contacts, Scope: strings.Join(c.Scopes, " "),
		SubjectType: c.SubjectType, SectorIdentifierURI: c.SectorIdentifierURI,
		BackchannelTokenDeliveryMode: c.BackchannelTokenDeliveryMode, BackchannelClientNotificationEndpoint: c.BackchannelClientNotificationEndpoint,
	}
}

func checkSigningAlg(field, alg string) error {
	if _, err := keys.ParseAlg(alg); err != nil {
		return InvalidClientMetadata(fmt.Sprintf("%s %q is not supported; use RS256, ES256, PS256 or EdDSA", field, alg))
	}
	return nil
}

// checkHTTPSURL accepts an empty value or an absolute https URL without userinfo or
// fragment.
func checkHTTPSURL(field, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURILength || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		strings.ContainsAny(raw, "# \t\r\n\\") {
		return InvalidClientMetadata(field + " must be an https URL without userinfo or fragment")
	}
	return nil
}

// unique returns list without repeated entries, in first-seen order.
func unique(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
