package store

import (
	"context"
	"time"
)

// The identity areas: users, clients, realm signing keys, browser sessions, grants (the
// authorizations behind refresh and access tokens) and consents. Every record belongs to a
// realm; deleting a realm deletes everything in it.
//
// Rules common to every area:
//   - A record that fails its type's Validate is refused with ErrInvalid.
//   - Records come back with non-nil slices and maps; a byte slice comes back nil when
//     empty (an empty hash or secret means none). Times come back in UTC, truncated to the
//     microsecond (Timestamp); the zero time means "not set" or "never".
//   - Create sets Version to 1. Update applies fn to the stored record atomically (no
//     concurrent update is lost), returns an error from fn unchanged, refuses a change of
//     realm or ID with ErrInvalid and increases Version by one. fn may run while the back
//     end holds its only write connection (SQLite), so it must not write through the store.
//   - Get, Update and Delete of a missing record are ErrNotFound, and so is a create whose
//     realm, user or client is missing. Listings of a missing realm or user are empty.

// User is an account in a realm.
type User struct {
	Realm string
	// ID is the stable, opaque OIDC subject: random, never reused, never changes.
	ID string
	// Username is unique per realm, compared case-insensitively (stored as given).
	Username string
	// Email is unique per realm when not empty, compared case-insensitively.
	Email         string
	EmailVerified bool
	Enabled       bool
	// LockedUntil: the user is locked while now < LockedUntil (zero: not locked).
	LockedUntil time.Time
	Profile     Profile
	// PasswordHash is an Argon2id PHC string; empty means the user has no password.
	PasswordHash      string
	PasswordChangedAt time.Time
	// TOTPSecret is the TOTP secret sealed under the realm keyring; nil means no TOTP.
	TOTPSecret []byte
	// FailedLogins counts consecutive failed password or TOTP attempts.
	FailedLogins int
	Attributes   map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64
}

// Profile holds the OIDC standard claims (OIDC Core §5.1) besides sub and email.
type Profile struct {
	Name                string  `json:"name,omitempty"`
	GivenName           string  `json:"given_name,omitempty"`
	FamilyName          string  `json:"family_name,omitempty"`
	MiddleName          string  `json:"middle_name,omitempty"`
	Nickname            string  `json:"nickname,omitempty"`
	Picture             string  `json:"picture,omitempty"`
	Website             string  `json:"website,omitempty"`
	Gender              string  `json:"gender,omitempty"`
	Birthdate           string  `json:"birthdate,omitempty"`
	Zoneinfo            string  `json:"zoneinfo,omitempty"`
	Locale              string  `json:"locale,omitempty"`
	PhoneNumber         string  `json:"phone_number,omitempty"`
	PhoneNumberVerified bool    `json:"phone_number_verified,omitempty"`
	Address             Address `json:"address,omitzero"`
}

// Address is the OIDC address claim (OIDC Core §5.1.1).
type Address struct {
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	// Search matches users whose username or email starts with it, case-insensitively.
	Search string
}

// Users stores accounts.
type Users interface {
	// CreateUser stores a new user; ErrConflict if the ID, username or email is taken in the
	// realm, ErrNotFound if the realm does not exist.
	// CreatedAt and UpdatedAt are set by the store.
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, realm, id string) (User, error)
	// GetUserByUsername and GetUserByEmail match case-insensitively; an empty email
	// matches no user.
	GetUserByUsername(ctx context.Context, realm, username string) (User, error)
	GetUserByEmail(ctx context.Context, realm, email string) (User, error)
	// ListUsers returns users ordered by lower-cased username (LowerKey).
	ListUsers(ctx context.Context, realm string, f UserFilter, opts ListOptions) (Page[User], error)
	// UpdateUser applies fn atomically; realm and ID cannot change; ErrConflict when a new
	// username or email is taken.
	UpdateUser(ctx context.Context, realm, id string, fn func(User) (User, error)) (User, error)
	DeleteUser(ctx context.Context, realm, id string) error
}

// Client is an OAuth client (relying party) of a realm.
type Client struct {
	Realm string
	// ID is the client_id, unique per realm.
	ID   string
	Name string
	// Public clients have no secret and authenticate with "none" plus PKCE.
	Public bool
	// SecretHash is HMAC-SHA256 of the client secret under the server pepper; nil when
	// the client has no secret.
	SecretHash []byte
	// AuthMethod is the token_endpoint_auth_method: client_secret_basic,
	// client_secret_post, private_key_jwt or none.
	AuthMethod                  string
	TokenEndpointAuthSigningAlg string
	RedirectURIs                []string
	PostLogoutRedirectURIs      []string
	GrantTypes                  []string
	ResponseTypes               []string
	// Scopes the client may request.
	Scopes []string
	// JWKS (JSON) or JWKSURI holds the client's public keys for private_key_jwt and
	// signed request objects.
	JWKS                      []byte
	JWKSURI                   string
	IDTokenSignedResponseAlg  string
	UserinfoSignedResponseAlg string
	RequestObjectSigningAlg   string
	AccessTokenTTL            time.Duration
	IDTokenTTL                time.Duration
	RefreshTokenIdleTTL       time.Duration
	RefreshTokenMaxTTL        time.Duration
	// RefreshRotation issues a new refresh token at each refresh and detects reuse.
	RefreshRotation bool
	ConsentRequired bool
	LogoURI         string
	PolicyURI       string
	TOSURI          string
	ClientURI       string
	Contacts        []string
	// SubjectType is "public" or "pairwise"; SectorIdentifierURI applies to pairwise.
	SubjectType         string
	SectorIdentifierURI string
	// Dynamic marks a client created by dynamic registration (RFC 7591);
	// RegistrationTokenHash is the SHA-256 of its registration access token (RFC 7592).
	Dynamic               bool
	RegistrationTokenHash []byte
	// BackchannelTokenDeliveryMode is the client's CIBA delivery mode (poll, ping or push;
	// empty: poll), and BackchannelClientNotificationEndpoint where ping and push go
	// (OpenID CIBA Core §4).
	BackchannelTokenDeliveryMode          string
	BackchannelClientNotificationEndpoint string
	// TLSClientCertificates are the SHA-256 fingerprints (lowercase hex) of the client
	// certificates that identify this client at the API and GRPC listeners (in client
	// authentication mode verify or require): connecting with one of them is calling as
	// this client, with its scopes.
	TLSClientCertificates []string
	// TLSClientAuthSubjectDN, when set, is the subject distinguished name (RFC 4514
	// string form, as pki.DN writes it) of the client certificates that identify this
	// client, signed by the listener's client CA (RFC 8705 §2.1.2,
	// tls_client_auth_subject_dn): a certificate renewed with the same subject keeps
	// calling as this client. A subject maps only a certificate whose chain the listener
	// verified (client authentication mode verify, or optional with a client CA).
	TLSClientAuthSubjectDN string
	Enabled                bool
	Attributes             map[string]string
	CreatedAt              time.Time
	UpdatedAt              time.Time
	Version                int64
}

// Clients stores OAuth clients.
type Clients interface {
	// CreateClient: ErrConflict if the client_id is taken, ErrNotFound if the realm is missing.
	// CreatedAt and UpdatedAt are set by the store.
	CreateClient(ctx context.Context, c Client) (Client, error)
	GetClient(ctx context.Context, realm, id string) (Client, error)
	// ListClients returns clients ordered by client_id, bytewise.
	ListClients(ctx context.Context, realm string, opts ListOptions) (Page[Client], error)
	UpdateClient(ctx context.Context, realm, id string, fn func(Client) (Client, error)) (Client, error)
	DeleteClient(ctx context.Context, realm, id string) error
}

// SigningKey is one realm signing key at rest.
type SigningKey struct {
	Realm string
	KID   string
	Alg   string
	// State is "next" (published, not yet signing), "active" or "retired".
	State string
	// Sealed is the private key sealed under the key-encryption keyring.
	Sealed []byte
	// PublicJWK is the public JWK as JSON, so the JWKS is served without unsealing.
	PublicJWK   []byte
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// SigningKeys stores realm signing keys. Rotation replaces the set in one transaction.
type SigningKeys interface {
	// ListSigningKeys returns the realm's keys ordered by CreatedAt, then KID.
	ListSigningKeys(ctx context.Context, realm string) ([]SigningKey, error)
	// UpdateSigningKeys gives fn the realm's current keys and stores the set it returns
	// (inserting, updating and deleting by KID), atomically and serialized per realm
	// across nodes, and returns it ordered as ListSigningKeys orders it. ErrNotFound if the
	// realm does not exist; ErrInvalid if a KID appears twice, a State is not next, active
	// or retired, or a key names another realm (an empty Realm means this one). A new key
	// with a zero CreatedAt gets the current time, a kept one its stored CreatedAt.
	UpdateSigningKeys(ctx context.Context, realm string, fn func([]SigningKey) ([]SigningKey, error)) ([]SigningKey, error)
}

// Session is a browser single-sign-on session.
type Session struct {
	Realm string
	// ID is the session id ("sid" claim): random, at least 128 bits.
	ID string
	// SecretHash is the SHA-256 of the secret half of the session cookie; the cookie value
	// itself is never stored.
	SecretHash []byte
	UserID     string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end; the idle timeout is checked against LastSeenAt.
	ExpiresAt time.Time
	Version   int64
}

// Sessions stores browser sessions.
type Sessions interface {
	// CreateSession: ErrConflict if the ID exists, ErrNotFound if realm or user is missing.
	// A zero CreatedAt is set to the current time. A zero ExpiresAt never expires.
	CreateSession(ctx context.Context, s Session) (Session, error)
	GetSession(ctx context.Context, realm, id string) (Session, error)
	// ListUserSessions returns a user's sessions, newest first.
	ListUserSessions(ctx context.Context, realm, userID string) ([]Session, error)
	UpdateSession(ctx context.Context, realm, id string, fn func(Session) (Session, error)) (Session, error)
	DeleteSession(ctx context.Context, realm, id string) error
	// DeleteUserSessions deletes every session of a user and returns how many there were.
	DeleteUserSessions(ctx context.Context, realm, userID string) (int, error)
	// DeleteExpiredSessions deletes sessions whose ExpiresAt is before t, in every realm.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error)
}

// Grant is one authorization of a client by a user (or by itself, for
// client_credentials): what a code redemption creates. Refresh and access tokens name
// their grant, so revoking the grant revokes every token issued from it.
type Grant struct {
	Realm    string
	ID       string
	ClientID string
	// UserID and SessionID are empty for client_credentials.
	UserID    string
	SessionID string
	Scopes    []string
	// Claims is the OIDC claims request (JSON) carried to refreshed ID tokens and userinfo.
	Claims   []byte
	AuthTime time.Time
	AMR      []string
	ACR      string
	// RefreshHash is the SHA-256 of the current refresh token's secret; nil: no refresh
	// token. PrevRefreshHash is the one it replaced, accepted until PrevValidUntil so that
	// concurrent refreshes of one token all succeed (grace window).
	RefreshHash       []byte
	PrevRefreshHash   []byte
	PrevValidUntil    time.Time
	RefreshGeneration int64
	CreatedAt         time.Time
	LastUsedAt        time.Time
	// ExpiresAt is the absolute end of the grant (refresh token maximum lifetime).
	ExpiresAt     time.Time
	RevokedAt     time.Time // zero: not revoked
	RevokedReason string
	Version       int64
}

// Revoked reports whether the grant has been revoked.
func (g Grant) Revoked() bool { return !g.RevokedAt.IsZero() }

// Grants stores grants.
type Grants interface {
	// CreateGrant: ErrConflict if the ID exists, ErrNotFound if realm, client or user is missing.
	// A zero CreatedAt is set to the current time. A zero ExpiresAt never expires.
	CreateGrant(ctx context.Context, g Grant) (Grant, error)
	GetGrant(ctx context.Context, realm, id string) (Grant, error)
	UpdateGrant(ctx context.Context, realm, id string, fn func(Grant) (Grant, error)) (Grant, error)
	// ListUserGrants returns a user's grants, newest first, revoked ones included.
	ListUserGrants(ctx context.Context, realm, userID string) ([]Grant, error)
	// RevokeUserGrants revokes every unrevoked grant of a user (optionally only those of
	// one session when sessionID is not empty), setting RevokedAt to at (the current time
	// when at is zero) and RevokedReason to reason and increasing Version, and returns how
	// many it revoked.
	RevokeUserGrants(ctx context.Context, realm, userID, sessionID, reason string, at time.Time) (int, error)
	// DeleteExpiredGrants deletes grants whose ExpiresAt is before t, in every realm.
	DeleteExpiredGrants(ctx context.Context, t time.Time) (int, error)
}

// Consent records the scopes a user allowed a client.
type Consent struct {
	Realm     string
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Consents stores consents, one per (realm, user, client).
type Consents interface {
	GetConsent(ctx context.Context, realm, userID, clientID string) (Consent, error)
	// PutConsent creates or replaces the consent; ErrNotFound if the realm, user or client
	// is missing. A zero GrantedAt is set to the current time.
	PutConsent(ctx context.Context, c Consent) error
	DeleteConsent(ctx context.Context, realm, userID, clientID string) error
	// ListUserConsents returns a user's consents ordered by client ID, bytewise.
	ListUserConsents(ctx context.Context, realm, userID string) ([]Consent, error)
}
