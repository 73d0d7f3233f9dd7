package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Client is the JSON representation of an OAuth client. It never carries the secret
// hash or the registration token hash; the secret itself is shown once, when it is
// made (ClientWithSecret).
type Client struct {
	ClientID                    string          `json:"client_id"`
	Name                        string          `json:"name"`
	Public                      bool            `json:"public"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	HasSecret                   bool            `json:"has_secret"`
	RedirectURIs                []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	Scopes                      []string        `json:"scopes"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	TLSClientCertificates       []string        `json:"tls_client_certificates"`
	TLSClientAuthSubjectDN      string          `json:"tls_client_auth_subject_dn,omitempty"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg,omitempty"`
	UserinfoSignedResponseAlg   string          `json:"userinfo_signed_response_alg,omitempty"`
	RequestObjectSigningAlg     string          `json:"request_object_signing_alg,omitempty"`
	AccessTokenTTL              int64           `json:"access_token_ttl"`
	IDTokenTTL                  int64           `json:"id_token_ttl"`
	RefreshTokenIdleTTL         int64           `json:"refresh_token_idle_ttl"`
	RefreshTokenMaxTTL          int64           `json:"refresh_token_max_ttl"`
	RefreshRotation             bool            `json:"refresh_rotation"`
	ConsentRequired             bool            `json:"consent_required"`
	LogoURI                     string          `json:"logo_uri,omitempty"`
	PolicyURI                   string          `json:"policy_uri,omitempty"`
	TOSURI                      string          `json:"tos_uri,omitempty"`
	ClientURI                   string          `json:"client_uri,omitempty"`
	Contacts                    []string        `json:"contacts"`
	SubjectType                 string          `json:"subject_type,omitempty"`
	SectorIdentifierURI         string          `json:"sector_identifier_uri,omitempty"`
	Dynamic                     bool            `json:"dynamic"`
	// CIBA (OpenID CIBA Core §4) and the phone requests made for the client.
	BackchannelTokenDeliveryMode          string            `json:"backchannel_token_delivery_mode,omitempty"`
	BackchannelClientNotificationEndpoint string            `json:"backchannel_client_notification_endpoint,omitempty"`
	RequestTTL                            int64             `json:"request_ttl"`
	LoginFirstFactors                     []string          `json:"login_first_factors,omitempty"`
	LoginSecondFactors                    []string          `json:"login_second_factors,omitempty"`
	Enabled                               bool              `json:"enabled"`
	Attributes                            map[string]string `json:"attributes"`
	CreatedAt                             time.Time         `json:"created_at"`
	UpdatedAt                             time.Time         `json:"updated_at"`
	Version                               int64             `json:"version"`
}

// ClientWithSecret is a client as returned when its secret is made: at creation and at
// regeneration. The secret is not stored and cannot be read again.
type ClientWithSecret struct {
	Client
	ClientSecret string `json:"client_secret,omitempty"`
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func clientJSON(c store.Client) Client {
	jwks := json.RawMessage(c.JWKS)
	if !json.Valid(jwks) {
		jwks = nil
	}
	return Client{
		ClientID: c.ID, Name: c.Name, Public: c.Public, TokenEndpointAuthMethod: c.AuthMethod,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg, HasSecret: len(c.SecretHash) > 0,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes,
		ResponseTypes: c.ResponseTypes, Scopes: c.Scopes, JWKS: jwks, JWKSURI: c.JWKSURI, TLSClientCertificates: c.TLSClientCertificates,
		TLSClientAuthSubjectDN:   c.TLSClientAuthSubjectDN,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, UserinfoSignedResponseAlg: c.UserinfoSignedResponseAlg,
		RequestObjectSigningAlg: c.RequestObjectSigningAlg,
		AccessTokenTTL:          seconds(c.AccessTokenTTL), IDTokenTTL: seconds(c.IDTokenTTL),
		RefreshTokenIdleTTL: seconds(c.RefreshTokenIdleTTL), RefreshTokenMaxTTL: seconds(c.RefreshTokenMaxTTL),
		RefreshRotation: c.RefreshRotation, ConsentRequired: c.ConsentRequired,
		LogoURI: c.LogoURI, PolicyURI: c.PolicyURI, TOSURI: c.TOSURI, ClientURI: c.ClientURI, Contacts: c.Contacts,
		SubjectType: c.SubjectType, SectorIdentifierURI: c.SectorIdentifierURI, Dynamic: c.Dynamic, Enabled: c.Enabled,
		BackchannelTokenDeliveryMode: c.BackchannelTokenDeliveryMode, BackchannelClientNotificationEndpoint: c.BackchannelClientNotificationEndpoint,
		RequestTTL: seconds(authn.ClientTTL(c.Attributes)), LoginFirstFactors: factorList(c.Attributes[login.AttrFirstFactors]),
		LoginSecondFactors: factorList(c.Attributes[login.AttrSecondFactors]),
		Attributes:         rest.PublicAttributes(c.Attributes), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Version: c.Version,
	}
}

// ClientSettings are the client fields an administrator sets; a field left out (nil)
// keeps its value (its default, at creation). Lifetimes are in seconds; 0 means the
// realm's default.
type ClientSettings struct {
	Name                        *string           `json:"name"`
	Public                      *bool             `json:"public"`
	TokenEndpointAuthMethod     *string           `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg *string           `json:"token_endpoint_auth_signing_alg"`
	RedirectURIs                *[]string         `json:"redirect_uris"`
	PostLogoutRedirectURIs      *[]string         `json:"post_logout_redirect_uris"`
	GrantTypes                  *[]string         `json:"grant_types"`
	ResponseTypes               *[]string         `json:"response_types"`
	Scopes                      *[]string         `json:"scopes"`
	JWKS                        *json.RawMessage  `json:"jwks"`
	JWKSURI                     *string           `json:"jwks_uri"`
	IDTokenSignedResponseAlg    *string           `json:"id_token_signed_response_alg"`
	UserinfoSignedResponseAlg   *string           `json:"userinfo_signed_response_alg"`
	RequestObjectSigningAlg     *string           `json:"request_object_signing_alg"`
	AccessTokenTTL              *int64            `json:"access_token_ttl"`
	IDTokenTTL                  *int64            `json:"id_token_ttl"`
	RefreshTokenIdleTTL         *int64            `json:"refresh_token_idle_ttl"`
	RefreshTokenMaxTTL          *int64            `json:"refresh_token_max_ttl"`
	RefreshRotation             *bool             `json:"refresh_rotation"`
	ConsentRequired             *bool             `json:"consent_required"`
	LogoURI                     *string           `json:"logo_uri"`
	PolicyURI                   *string           `json:"policy_uri"`
	TOSURI                      *string           `json:"tos_uri"`
	ClientURI                   *string           `json:"client_uri"`
	Contacts                    *[]string         `json:"contacts"`
	SubjectType                 *string           `json:"subject_type"`
	SectorIdentifierURI         *string           `json:"sector_identifier_uri"`
	Enabled                     *bool             `json:"enabled"`
	Attributes                  map[string]string `json:"attributes"`
	// CIBA delivery, and the phone requests made for the client: their life in seconds
	// (0: the default, 2 minutes), and factor lists overriding the realm's (empty: the
	// realm's).
	BackchannelTokenDeliveryMode          *string   `json:"backchannel_token_delivery_mode"`
	BackchannelClientNotificationEndpoint *string   `json:"backchannel_client_notification_endpoint"`
	RequestTTL                            *int64    `json:"request_ttl"`
	LoginFirstFactors                     *[]string `json:"login_first_factors"`
	LoginSecondFactors                    *[]string `json:"login_second_factors"`
	// The client's TLS client certificates, by SHA-256 fingerprint or as PEM certificates
	// whose fingerprints the server computes; either given, the two together replace the
	// list.
	TLSClientCertificates    *[]string `json:"tls_client_certificates"`
	TLSClientCertificatePEMs *[]string `json:"tls_client_certificate_pems"`
	// The subject of the client's certificates, signed by the listener's client CA
	// (RFC 8705 §2.1.2); empty removes it.
	TLSClientAuthSubjectDN *string `json:"tls_client_auth_subject_dn"`
}

// ClientCreate is the body of POST /realms/{realm}/clients.
type ClientCreate struct {
	ClientID string `json:"client_id"`
	ClientSettings
}

// ClientPatch is the body of PATCH /realms/{realm}/clients/{client}.
type ClientPatch = ClientSettings

// Grant types a client may be given. The implicit and password grants are not offered
// (RFC 9700 §2.1.2, §2.4).
var knownGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials", "urn:openid:params:grant-type:ciba"}

// maxTTL bounds configured token lifetimes.
const maxTTL = 10 * 365 * 24 * time.Hour

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func setList(dst *[]string, src *[]string) {
	if src != nil {
		*dst = slices.Clone(*src)
		if *dst == nil {
			*dst = []string{}
		}
	}
}

func setTTL(dst *time.Duration, src *int64, field string) error {
	if src == nil {
		return nil
	}
	if *src < 0 || *src > int64(maxTTL/time.Second) {
		return rest.BadRequest("%s must be between 0 and %d seconds", field, int64(maxTTL/time.Second))
	}
	*dst = time.Duration(*src) * time.Second
	return nil
}

// apply sets the given fields on c and keeps public and the authentication method
// consistent when only one of them is given.
func (s ClientSettings) apply(c *store.Client) error {
	set(&c.Name, s.Name)
	switch {
	case s.Public != nil && s.TokenEndpointAuthMethod == nil:
		c.Public = *s.Public
		if c.Public {
			c.AuthMethod = oidc.AuthNone
		} else if c.AuthMethod == oidc.AuthNone || c.AuthMethod == "" {
			c.AuthMethod = oidc.AuthClientSecretBasic
		}
	case s.TokenEndpointAuthMethod != nil && s.Public == nil:
		c.AuthMethod = *s.TokenEndpointAuthMethod
		c.Public = c.AuthMethod == oidc.AuthNone
	default:
		set(&c.Public, s.Public)
		set(&c.AuthMethod, s.TokenEndpointAuthMethod)
	}
	set(&c.TokenEndpointAuthSigningAlg, s.TokenEndpointAuthSigningAlg)
	setList(&c.RedirectURIs, s.RedirectURIs)
	setList(&c.PostLogoutRedirectURIs, s.PostLogoutRedirectURIs)
	setList(&c.GrantTypes, s.GrantTypes)
	setList(&c.ResponseTypes, s.ResponseTypes)
	setList(&c.Scopes, s.Scopes)
	setList(&c.Contacts, s.Contacts)
	if s.JWKS != nil {
		c.JWKS = nil
		// An empty object removes the key set (JSON null cannot: it means "not given").
		if raw := *s.JWKS; len(raw) > 0 && string(raw) != "null" && strings.Join(strings.Fields(string(raw)), "") != "{}" {
			c.JWKS = slices.Clone([]byte(raw))
		}
	}
	set(&c.JWKSURI, s.JWKSURI)
	set(&c.IDTokenSignedResponseAlg, s.IDTokenSignedResponseAlg)
	set(&c.UserinfoSignedResponseAlg, s.UserinfoSignedResponseAlg)
	set(&c.RequestObjectSigningAlg, s.RequestObjectSigningAlg)
	for _, ttl := range []struct {
		dst   *time.Duration
		src   *int64
		field string
	}{
		{&c.AccessTokenTTL, s.AccessTokenTTL, "access_token_ttl"},
		{&c.IDTokenTTL, s.IDTokenTTL, "id_token_ttl"},
		{&c.RefreshTokenIdleTTL, s.RefreshTokenIdleTTL, "refresh_token_idle_ttl"},
		{&c.RefreshTokenMaxTTL, s.RefreshTokenMaxTTL, "refresh_token_max_ttl"},
	} {
		if err := setTTL(ttl.dst, ttl.src, ttl.field); err != nil {
			return err
		}
	}
	set(&c.RefreshRotation, s.RefreshRotation)
	set(&c.ConsentRequired, s.ConsentRequired)
	set(&c.LogoURI, s.LogoURI)
	set(&c.PolicyURI, s.PolicyURI)
	set(&c.TOSURI, s.TOSURI)
	set(&c.ClientURI, s.ClientURI)
	set(&c.SubjectType, s.SubjectType)
	set(&c.SectorIdentifierURI, s.SectorIdentifierURI)
	set(&c.Enabled, s.Enabled)
	if s.Attributes != nil {
		if err := rest.CheckAttributes(s.Attributes); err != nil {
			return err
		}
		c.Attributes = rest.ReplaceAttributes(c.Attributes, s.Attributes)
	}
	set(&c.BackchannelTokenDeliveryMode, s.BackchannelTokenDeliveryMode)
	set(&c.BackchannelClientNotificationEndpoint, s.BackchannelClientNotificationEndpoint)
	if err := s.applyCertificates(c); err != nil {
		return err
	}
	return s.applyPhone(c)
}

// applyPhone sets the client's phone-request settings, kept in reserved attributes.
func (s ClientSettings) applyPhone(c *store.Client) error {
	reserved := map[string]string{}
	if s.RequestTTL != nil {
		d := time.Duration(*s.RequestTTL) * time.Second
		if d != 0 && (d < authn.MinTTL || d > authn.MaxTTL) {
			return rest.BadRequest("request_ttl must be 0 (the default) or between %d and %d seconds", seconds(authn.MinTTL), seconds(authn.MaxTTL))
		}
		reserved[authn.AttrRequestTTL] = ""
		if d != 0 {
			reserved[authn.AttrRequestTTL] = d.String()
		}
	}
	for _, f := range []struct {
		field, attr string
		list        *[]string
		known       []string
	}{
		{"login_first_factors", login.AttrFirstFactors, s.LoginFirstFactors, []string{login.FactorPassword, login.FactorPhone}},
		{"login_second_factors", login.AttrSecondFactors, s.LoginSecondFactors, []string{login.FactorTOTP, login.FactorPhone}},
	} {
		if f.list == nil {
			continue
		}
		reserved[f.attr] = ""
		if len(*f.list) > 0 {
			if err := checkFactors(f.field, f.list, f.known...); err != nil {
				return err
			}
			reserved[f.attr] = strings.Join(*f.list, ",")
		}
	}
	if len(reserved) == 0 {
		return nil
	}
	attrs := maps.Clone(c.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	for k, v := range reserved {
		if v == "" {
			delete(attrs, k)
		} else {
			attrs[k] = v
		}
	}
	c.Attributes = attrs
	return nil
}

// factorList is a stored factor list as the API shows it; nil when none is set.
func factorList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// usesSecret reports whether c authenticates with a client secret.
func usesSecret(c store.Client) bool {
	return !c.Public && (c.AuthMethod == oidc.AuthClientSecretBasic || c.AuthMethod == oidc.AuthClientSecretPost)
}

// validateClient checks a client as it would be stored: a consistent authentication
// method, known grant and response types, redirect URIs that registration accepts.
func validateClient(c store.Client) error {
	if err := rest.CheckText("name", c.Name, rest.MaxTextLen); err != nil {
		return err
	}
	switch c.AuthMethod {
	case oidc.AuthClientSecretBasic, oidc.AuthClientSecretPost, oidc.AuthPrivateKeyJWT, oidc.AuthNone:
	default:
		return rest.BadRequest("token_endpoint_auth_method must be one of %s, %s, %s or %s",
			oidc.AuthClientSecretBasic, oidc.AuthClientSecretPost, oidc.AuthPrivateKeyJWT, oidc.AuthNone)
	}
	if c.Public != (c.AuthMethod == oidc.AuthNone) {
		return rest.BadRequest("a public client authenticates with %q, and only a public client does", oidc.AuthNone)
	}
	if err := checkGrants(c); err != nil {
		return err
	}
	for field, uris := range map[string][]string{"redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs} {
		err := rest.CheckList(field, uris, func(u string) error {
			if len(u) > rest.MaxURILen {
				return rest.BadRequest("%s: a URI must be at most %d characters", field, rest.MaxURILen)
			}
			if err := oidc.ValidateRedirectURI(u); err != nil {
				return rest.BadRequest("%s: %v", field, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := rest.CheckList("scopes", c.Scopes, checkScopeToken); err != nil {
		return err
	}
	if err := rest.CheckList("contacts", c.Contacts, func(s string) error { return rest.CheckText("contacts", s, rest.MaxTextLen) }); err != nil {
		return err
	}
	if err := checkClientKeys(c); err != nil {
		return err
	}
	if err := checkCertificates(c.TLSClientCertificates); err != nil {
		return err
	}
	for field, alg := range map[string]string{
		"token_endpoint_auth_signing_alg": c.TokenEndpointAuthSigningAlg, "id_token_signed_response_alg": c.IDTokenSignedResponseAlg,
		"userinfo_signed_response_alg": c.UserinfoSignedResponseAlg, "request_object_signing_alg": c.RequestObjectSigningAlg,
	} {
		if _, err := keys.ParseAlg(alg); alg != "" && err != nil {
			return rest.BadRequest("%s must be one of %v", field, keys.Algs())
		}
	}
	for field, u := range map[string]string{"logo_uri": c.LogoURI, "policy_uri": c.PolicyURI, "tos_uri": c.TOSURI, "client_uri": c.ClientURI} {
		if err := checkWebURI(field, u, "http", "https"); err != nil {
			return err
		}
	}
	if err := checkWebURI("sector_identifier_uri", c.SectorIdentifierURI, "https"); err != nil {
		return err
	}
	switch c.SubjectType {
	case "", "public", "pairwise":
	default:
		return rest.BadRequest(`subject_type must be "public" or "pairwise"`)
	}
	return checkBackchannel(c)
}

// checkBackchannel: CIBA delivery needs the CIBA grant; ping and push an https
// notification endpoint (CIBA Core §4).
func checkBackchannel(c store.Client) error {
	ciba := slices.Contains(c.GrantTypes, knownGrantTypes[3])
	switch c.BackchannelTokenDeliveryMode {
	case "", "poll":
		if c.BackchannelClientNotificationEndpoint != "" {
			return rest.BadRequest("backchannel_client_notification_endpoint is for ping and push mode")
		}
	case "ping", "push":
		if !ciba {
			return rest.BadRequest("backchannel_token_delivery_mode needs the CIBA grant")
		}
		if c.BackchannelClientNotificationEndpoint == "" {
			return rest.BadRequest("backchannel_client_notification_endpoint is required in %s mode", c.BackchannelTokenDeliveryMode)
		}
		if len(c.BackchannelClientNotificationEndpoint) > rest.MaxURILen {
			return rest.BadRequest("backchannel_client_notification_endpoint must be at most %d characters", rest.MaxURILen)
		}
		return checkWebURI("backchannel_client_notification_endpoint", c.BackchannelClientNotificationEndpoint, "https")
	default:
		return rest.BadRequest("backchannel_token_delivery_mode must be poll, ping or push")
	}
	return nil
}

func checkGrants(c store.Client) error {
	for i, g := range c.GrantTypes {
		if !slices.Contains(knownGrantTypes, g) {
			return rest.BadRequest("grant type %q is not supported; use %s", g, strings.Join(knownGrantTypes, ", "))
		}
		if slices.Contains(c.GrantTypes[:i], g) {
			return rest.BadRequest("grant type %q is listed twice", g)
		}
	}
	hasCode := slices.Contains(c.GrantTypes, "authorization_code")
	switch {
	case c.Public && (slices.Contains(c.GrantTypes, "client_credentials") || slices.Contains(c.GrantTypes, knownGrantTypes[3])):
		return rest.BadRequest("a public client cannot use the client_credentials or CIBA grant: it cannot authenticate")
	case hasCode && len(c.RedirectURIs) == 0:
		return rest.BadRequest("the authorization_code grant needs at least one redirect URI in redirect_uris")
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return rest.BadRequest(`response type %q is not supported; only "code" is (no implicit flow)`, rt)
		}
		if !hasCode {
			return rest.BadRequest(`response type "code" needs the authorization_code grant`)
		}
	}
	return nil
}

// checkScopeToken: RFC 6749 §3.3, scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func checkScopeToken(s string) error {
	if s == "" || len(s) > rest.MaxTextLen || strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x21 || r == 0x22 || r == 0x5c || r > 0x7e
	}) {
		return rest.BadRequest("scope %q is not a valid scope token (RFC 6749 §3.3)", s)
	}
	return nil
}

// checkClientKeys: private_key_jwt needs the client's public keys, by value or by URI;
// a JWKS given by value holds public keys only.
func checkClientKeys(c store.Client) error {
	if len(c.JWKS) > 0 && c.JWKSURI != "" {
		return rest.BadRequest("give jwks or jwks_uri, not both")
	}
	if c.AuthMethod == oidc.AuthPrivateKeyJWT && len(c.JWKS) == 0 && c.JWKSURI == "" {
		return rest.BadRequest("private_key_jwt needs the client's public keys in jwks or jwks_uri")
	}
	if err := checkWebURI("jwks_uri", c.JWKSURI, "https"); err != nil {
		return err
	}
	if len(c.JWKS) == 0 {
		return nil
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &jwks); err != nil || len(jwks.Keys) == 0 {
		return rest.BadRequest("jwks must be a JSON Web Key Set with at least one key")
	}
	for _, k := range jwks.Keys {
		if !k.IsPublic() {
			return rest.BadRequest("jwks must hold public keys only")
		}
	}
	return nil
}

// checkWebURI accepts "" or an absolute URI of one of schemes with a host.
func checkWebURI(field, raw string, schemes ...string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || len(raw) > rest.MaxURILen || !slices.Contains(schemes, u.Scheme) || u.Host == "" || u.User != nil {
		return rest.BadRequest("%s must be an absolute %s URI with a host, at most %d characters", field, strings.Join(schemes, " or "), rest.MaxURILen)
	}
	return nil
}

func clientWhat(realm, id string) string { return fmt.Sprintf("client %q in realm %q", id, realm) }

func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	return rest.WriteListing(w, r, "client listing", func(opts store.ListOptions) (store.Page[store.Client], error) {
		return a.st.ListClients(r.Context(), realm.Name, opts)
	}, clientJSON)
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	var in ClientCreate
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	c := store.Client{
		Realm: realm.Name, ID: in.ClientID, Enabled: true, AuthMethod: oidc.AuthClientSecretBasic,
		GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes:     []string{"openid", "profile", "email"},
	}
	if err := in.apply(&c); err != nil {
		return err
	}
	if in.ResponseTypes == nil && slices.Contains(c.GrantTypes, "authorization_code") {
		c.ResponseTypes = []string{"code"}
	}
	if err := validateClient(c); err != nil {
		return err
	}
	var secret string
	if usesSecret(c) {
		hasher, err := a.provider.SecretHasher(r.Context(), realm.Name)
		if err != nil {
			return rest.StoreError(err, realmWhat(realm.Name))
		}
		secret = oidc.NewSecret()
		c.SecretHash = hasher.Hash(secret)
	}
	if err := a.certificatesFree(r.Context(), c); err != nil {
		return err
	}
	created, err := a.st.CreateClient(r.Context(), c)
	if err != nil {
		return rest.StoreError(err, clientWhat(realm.Name, in.ClientID))
	}
	w.Header().Set("Location", a.prefix+BasePath+"/realms/"+realm.Name+"/clients/"+url.PathEscape(created.ID))
	w.Header().Set("ETag", rest.ETag(created.Version))
	return rest.WriteJSON(w, http.StatusCreated, ClientWithSecret{Client: clientJSON(created), ClientSecret: secret})
}

// client loads the realm and the client named in the path.
func (a *API) client(r *http.Request) (store.Client, error) {
	return rest.InRealm(r, a.st, "client", a.st.GetClient, clientWhat)
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rest.ETag(c.Version))
	return rest.WriteJSON(w, http.StatusOK, clientJSON(c))
}

// updateClient changes the given fields. A client that comes to need a secret gets a
// new one (returned once); one that no longer uses a secret loses it.
func (a *API) updateClient(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	var in ClientPatch
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	hasher, err := a.provider.SecretHasher(r.Context(), realm.Name)
	if err != nil {
		return rest.StoreError(err, realmWhat(realm.Name))
	}
	id, match, secret := r.PathValue("client"), rest.IfMatch(r), ""
	updated, err := a.st.UpdateClient(r.Context(), realm.Name, id, func(c store.Client) (store.Client, error) {
		if err := match(c.Version); err != nil {
			return c, err
		}
		if err := in.apply(&c); err != nil {
			return c, err
		}
		if err := validateClient(c); err != nil {
			return c, err
		}
		if err := a.certificatesFree(r.Context(), c); err != nil {
			return c, err
		}
		switch {
		case usesSecret(c) && len(c.SecretHash) == 0:
			secret = oidc.NewSecret()
			c.SecretHash = hasher.Hash(secret)
		case !usesSecret(c):
			c.SecretHash = nil
		}
		return c, nil
	})
	if err != nil {
		return rest.StoreError(err, clientWhat(realm.Name, id))
	}
	w.Header().Set("ETag", rest.ETag(updated.Version))
	return rest.WriteJSON(w, http.StatusOK, ClientWithSecret{Client: clientJSON(updated), ClientSecret: secret})
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	if BuiltinClient(c.ID) {
		return rest.Conflict("%s is a built-in client Signet's own pages sign in with; disable it instead", c.ID)
	}
	// The client's grants go with it, and with them every token it holds.
	return rest.Deleted(w, r, c.Version, clientWhat(c.Realm, c.ID), func(ctx context.Context) error {
		return a.st.DeleteClient(ctx, c.Realm, c.ID)
	})
}

// regenerateSecret replaces a confidential client's secret; the old one stops working
// at once. The new secret is in the answer and nowhere else.
func (a *API) regenerateSecret(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	hasher, err := a.provider.SecretHasher(r.Context(), realm.Name)
	if err != nil {
		return rest.StoreError(err, realmWhat(realm.Name))
	}
	id, match, secret := r.PathValue("client"), rest.IfMatch(r), oidc.NewSecret()
	updated, err := a.st.UpdateClient(r.Context(), realm.Name, id, func(c store.Client) (store.Client, error) {
		if err := match(c.Version); err != nil {
			return c, err
		}
		if !usesSecret(c) {
			return c, rest.Conflict("client %q authenticates with %s; it has no secret", c.ID, c.AuthMethod)
		}
		c.SecretHash = hasher.Hash(secret)
		return c, nil
	})
	if err != nil {
		return rest.StoreError(err, clientWhat(realm.Name, id))
	}
	w.Header().Set("ETag", rest.ETag(updated.Version))
	return rest.WriteJSON(w, http.StatusOK, ClientWithSecret{Client: clientJSON(updated), ClientSecret: secret})
}
