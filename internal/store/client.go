package store

import (
	"strings"
	"time"
)

// MaxClientIDLen is the longest client_id accepted.
const MaxClientIDLen = 255

// Validate reports whether c may be stored: a client_id of 1 to MaxClientIDLen printable
// ASCII characters (RFC 6749 Appendix A.1: VSCHAR) and no negative lifetime. The error
// wraps ErrInvalid.
func (c Client) Validate() error {
	key := c.key()
	if c.ID == "" || len(c.ID) > MaxClientIDLen {
		return invalid(key, "client_id must be 1 to %d characters, got %d", MaxClientIDLen, len(c.ID))
	}
	if strings.ContainsFunc(c.ID, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return invalid(key, "client_id may only hold printable ASCII characters")
	}
	switch c.BackchannelTokenDeliveryMode {
	case "", "poll", "ping", "push":
	default:
		return invalid(key, "backchannel_token_delivery_mode %q is not poll, ping or push", c.BackchannelTokenDeliveryMode)
	}
	if len(c.TLSClientCertificates) > MaxClientCertificates {
		return invalid(key, "at most %d tls_client_certificates", MaxClientCertificates)
	}
	for _, fp := range c.TLSClientCertificates {
		if !ValidCertificateFingerprint(fp) {
			return invalid(key, "tls_client_certificates: %q is not a SHA-256 fingerprint (64 lowercase hex digits)", fp)
		}
	}
	if len(c.TLSClientAuthSubjectDN) > MaxSubjectDNLen {
		return invalid(key, "tls_client_auth_subject_dn is longer than %d bytes", MaxSubjectDNLen)
	}
	if len(c.BackchannelClientNotificationEndpoint) > 2000 {
		return invalid(key, "backchannel_client_notification_endpoint is longer than 2000 characters")
	}
	for _, d := range []time.Duration{c.AccessTokenTTL, c.IDTokenTTL, c.RefreshTokenIdleTTL, c.RefreshTokenMaxTTL} {
		if d < 0 {
			return invalid(key, "token lifetime %v is negative", d)
		}
	}
	return nil
}

// MaxSubjectDNLen bounds Client.TLSClientAuthSubjectDN.
const MaxSubjectDNLen = 1024

// MaxClientCertificates bounds Client.TLSClientCertificates (a few while one is rotated).
const MaxClientCertificates = 8

// ValidCertificateFingerprint reports whether fp is a SHA-256 fingerprint as
// Client.TLSClientCertificates keeps it: 64 lowercase hex digits.
func ValidCertificateFingerprint(fp string) bool {
	if len(fp) != 64 {
		return false
	}
	for _, r := range fp {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

func (c *Client) key() string { return recordKey("client", c.Realm, c.ID) }

func (c *Client) normalize() {
	c.SecretHash = cloneBytes(c.SecretHash)
	c.JWKS = cloneBytes(c.JWKS)
	c.RegistrationTokenHash = cloneBytes(c.RegistrationTokenHash)
	for _, s := range []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Scopes, &c.Contacts, &c.TLSClientCertificates} {
		*s = cloneStrings(*s)
	}
	c.Attributes = cloneMap(c.Attributes)
	timestamps(&c.CreatedAt, &c.UpdatedAt)
}

func (c *Client) stamps() stamps {
	return stamps{created: &c.CreatedAt, updated: &c.UpdatedAt, version: &c.Version}
}

// document names the fields after the client metadata of RFC 7591 §2 where there is one.
func (c *Client) document() any {
	return &struct {
		Name                        *string            `json:"client_name"`
		Public                      *bool              `json:"public"`
		AuthMethod                  *string            `json:"token_endpoint_auth_method"`
		TokenEndpointAuthSigningAlg *string            `json:"token_endpoint_auth_signing_alg"`
		RedirectURIs                *[]string          `json:"redirect_uris"`
		PostLogoutRedirectURIs      *[]string          `json:"post_logout_redirect_uris"`
		GrantTypes                  *[]string          `json:"grant_types"`
		ResponseTypes               *[]string          `json:"response_types"`
		Scopes                      *[]string          `json:"scopes"`
		JWKSURI                     *string            `json:"jwks_uri"`
		IDTokenSignedResponseAlg    *string            `json:"id_token_signed_response_alg"`
		UserinfoSignedResponseAlg   *string            `json:"userinfo_signed_response_alg"`
		RequestObjectSigningAlg     *string            `json:"request_object_signing_alg"`
		AccessTokenTTL              *time.Duration     `json:"access_token_ttl_ns"`
		IDTokenTTL                  *time.Duration     `json:"id_token_ttl_ns"`
		RefreshTokenIdleTTL         *time.Duration     `json:"refresh_token_idle_ttl_ns"`
		RefreshTokenMaxTTL          *time.Duration     `json:"refresh_token_max_ttl_ns"`
		RefreshRotation             *bool              `json:"refresh_rotation"`
		ConsentRequired             *bool              `json:"consent_required"`
		LogoURI                     *string            `json:"logo_uri"`
		PolicyURI                   *string            `json:"policy_uri"`
		TOSURI                      *string            `json:"tos_uri"`
		ClientURI                   *string            `json:"client_uri"`
		Contacts                    *[]string          `json:"contacts"`
		SubjectType                 *string            `json:"subject_type"`
		SectorIdentifierURI         *string            `json:"sector_identifier_uri"`
		Dynamic                     *bool              `json:"dynamic"`
		BackchannelMode             *string            `json:"backchannel_token_delivery_mode,omitempty"`
		BackchannelEndpoint         *string            `json:"backchannel_client_notification_endpoint,omitempty"`
		TLSClientCertificates       *[]string          `json:"tls_client_certificates,omitempty"`
		TLSClientAuthSubjectDN      *string            `json:"tls_client_auth_subject_dn,omitempty"`
		Enabled                     *bool              `json:"enabled"`
		Attributes                  *map[string]string `json:"attributes"`
	}{
		&c.Name, &c.Public, &c.AuthMethod, &c.TokenEndpointAuthSigningAlg,
		&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Scopes,
		&c.JWKSURI, &c.IDTokenSignedResponseAlg, &c.UserinfoSignedResponseAlg, &c.RequestObjectSigningAlg,
		&c.AccessTokenTTL, &c.IDTokenTTL, &c.RefreshTokenIdleTTL, &c.RefreshTokenMaxTTL,
		&c.RefreshRotation, &c.ConsentRequired, &c.LogoURI, &c.PolicyURI, &c.TOSURI, &c.ClientURI,
		&c.Contacts, &c.SubjectType, &c.SectorIdentifierURI, &c.Dynamic, &c.BackchannelTokenDeliveryMode, &c.BackchannelClientNotificationEndpoint, &c.TLSClientCertificates, &c.TLSClientAuthSubjectDN, &c.Enabled, &c.Attributes,
	}
}
