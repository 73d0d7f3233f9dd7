package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/store"
)

// Dynamic client registration (RFC 7591) and its management protocol (RFC 7592) at
// Keycloak's path, {issuer}/clients-registrations/openid-connect[/{client_id}].

// Realm attributes of dynamic registration.
const (
	// RegistrationPolicyAttribute says who may register clients: RegistrationOff (the
	// default, also for any unknown value), RegistrationToken or RegistrationOpen.
	RegistrationPolicyAttribute = "signet.registration"
	// InitialAccessTokenAttribute holds the hex SHA-256 of the realm's initial access
	// token (see GenerateInitialAccessToken).
	InitialAccessTokenAttribute = "signet.registration_initial_token_sha256"
)

// Registration policies.
const (
	// RegistrationOff: registration answers 403. Clients registered before keep
	// managing themselves with their registration access tokens (RFC 7592).
	RegistrationOff = "off"
	// RegistrationToken: registering needs the realm's initial access token as a
	// bearer token (RFC 7591 §3).
	RegistrationToken = "token"
	// RegistrationOpen: anyone may register a client.
	RegistrationOpen = "open"
)

// maxRegistrationBytes bounds a registration request body.
const maxRegistrationBytes = 64 << 10

// RegistrationPolicy returns the realm's registration policy: the attribute's value when
// it names a policy, RegistrationOff otherwise.
func RegistrationPolicy(realm store.Realm) string {
	switch v := realm.Attributes[RegistrationPolicyAttribute]; v {
	case RegistrationToken, RegistrationOpen:
		return v
	}
	return RegistrationOff
}

// registrationRoutes mounts the registration endpoints under the realm path r.
func (p *Provider) registrationRoutes(mux *http.ServeMux, r string) {
	reg := r + "/clients-registrations/openid-connect"
	mux.Handle("POST "+reg, p.jsonEndpoint(p.register))
	mux.Handle("GET "+reg+"/{client_id}", p.jsonEndpoint(p.readRegistration))
	mux.Handle("PUT "+reg+"/{client_id}", p.jsonEndpoint(p.updateRegistration))
	mux.Handle("DELETE "+reg+"/{client_id}", p.jsonEndpoint(p.deleteRegistration))
}

func (p *Provider) registrationEndpoint(realm string) string {
	return p.Issuer(realm) + "/clients-registrations/openid-connect"
}

// registrationResponse is the client information response (RFC 7591 §3.2.1, RFC 7592 §3).
type registrationResponse struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is 0 (never) for clients with a secret, absent otherwise.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	clientMetadata
}

func (p *Provider) registrationResponse(c store.Client, secret, token string) registrationResponse {
	resp := registrationResponse{
		ClientID: c.ID, ClientSecret: secret, ClientIDIssuedAt: c.CreatedAt.Unix(),
		RegistrationAccessToken: token,
		RegistrationClientURI:   p.registrationEndpoint(c.Realm) + "/" + url.PathEscape(c.ID),
		clientMetadata:          metadataOf(c),
	}
	if c.SecretHash != nil {
		resp.ClientSecretExpiresAt = new(int64)
	}
	return resp
}

// register is the client registration endpoint (RFC 7591 §3).
func (p *Provider) register(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	realm, err := p.realm(ctx, r)
	if err != nil {
		return err
	}
	if err := checkRegistrationPolicy(w, r, realm); err != nil {
		return err
	}
	fields, err := readJSONObject(w, r)
	if err != nil {
		return err
	}
	m, err := p.checkedMetadata(ctx, fields)
	if err != nil {
		return err
	}
	if err := cibaRegistrable(realm, m); err != nil {
		return err
	}
	c := store.Client{Realm: realm.Name, ID: NewIdentifier(), Dynamic: true, Enabled: true}
	m.applyTo(&c)
	var secret string
	if usesSecret(c.AuthMethod) {
		hasher, err := p.peppers.Hasher(ctx, realm.Name)
		if err != nil {
			return err
		}
		secret = NewSecret()
		c.SecretHash = hasher.Hash(secret)
	}
	token, hash := newRegistrationToken()
	c.RegistrationTokenHash = hash
	created, err := p.st.CreateClient(ctx, c)
	if err != nil {
		return fmt.Errorf("register client: %w", err)
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "client registered", slog.String("realm", realm.Name),
		slog.String("client_id", created.ID), slog.String("request_id", ops.RequestID(ctx)))
	return writeJSON(w, http.StatusCreated, p.registrationResponse(created, secret, token))
}

// readRegistration is the client read request (RFC 7592 §2.1). The answer must carry a
// registration access token (§3) and Signet keeps only its hash, so a new one replaces
// the one presented, as §2.1 allows.
func (p *Provider) readRegistration(w http.ResponseWriter, r *http.Request) error {
	c, presented, err := p.managedClient(w, r)
	if err != nil {
		return err
	}
	token, hash := newRegistrationToken()
	c, err = p.updateManaged(r.Context(), c, presented, func(cur *store.Client) {
		cur.RegistrationTokenHash = hash
	})
	if err != nil {
		return managementError(w, err)
	}
	return writeJSON(w, http.StatusOK, p.registrationResponse(c, "", token))
}

// updateRegistration is the client update request (RFC 7592 §2.2): the body replaces
// the metadata (omitted fields take their defaults). The secret stays unless the new
// method needs none; a client that had none and now needs one gets a new one. The
// registration access token is replaced, as for a read.
func (p *Provider) updateRegistration(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, presented, err := p.managedClient(w, r)
	if err != nil {
		return err
	}
	fields, err := readJSONObject(w, r)
	if err != nil {
		return err
	}
	var id, oldSecret string
	if json.Unmarshal(fields["client_id"], &id) != nil || id != c.ID {
		return InvalidRequest("client_id must be the client's client_id")
	}
	hasher, err := p.peppers.Hasher(ctx, c.Realm)
	if err != nil {
		return err
	}
	if raw, ok := fields["client_secret"]; ok {
		// §2.2: a client_secret in the body must be the current one; a client never
		// chooses its own.
		if json.Unmarshal(raw, &oldSecret) != nil || !hasher.Verify(oldSecret, c.SecretHash) {
			return InvalidClientMetadata("client_secret is not the client's current secret")
		}
	}
	m, err := p.checkedMetadata(ctx, fields)
	if err != nil {
		return err
	}
	realmRec, err := p.st.GetRealm(ctx, c.Realm)
	if err != nil {
		return err
	}
	if err := cibaRegistrable(realmRec, m); err != nil {
		return err
	}
	token, hash := newRegistrationToken()
	candidate := NewSecret()
	var issued string
	c, err = p.updateManaged(ctx, c, presented, func(cur *store.Client) {
		m.applyTo(cur)
		issued = ""
		switch {
		case !usesSecret(cur.AuthMethod):
			cur.SecretHash = nil
		case cur.SecretHash == nil:
			issued, cur.SecretHash = candidate, hasher.Hash(candidate)
		}
		cur.RegistrationTokenHash = hash
	})
	if err != nil {
		return managementError(w, err)
	}
	return writeJSON(w, http.StatusOK, p.registrationResponse(c, issued, token))
}

// deleteRegistration is the client delete request (RFC 7592 §2.3). The token is checked
// against the stored record and revoked with the client disabled in one update, so a
// token replaced meanwhile (or a stale cached client) cannot delete it.
func (p *Provider) deleteRegistration(w http.ResponseWriter, r *http.Request) error {
	c, presented, err := p.managedClient(w, r)
	if err != nil {
		return err
	}
	_, err = p.updateManaged(r.Context(), c, presented, func(cur *store.Client) {
		cur.Enabled, cur.RegistrationTokenHash = false, nil
	})
	if err != nil {
		return managementError(w, err)
	}
	if err := p.st.DeleteClient(r.Context(), c.Realm, c.ID); err != nil {
		return managementError(w, err)
	}
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "registered client deleted", slog.String("realm", c.Realm),
		slog.String("client_id", c.ID), slog.String("request_id", ops.RequestID(r.Context())))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errStaleRegistrationToken means the token was replaced between check and update.
var errStaleRegistrationToken = errors.New("registration access token replaced meanwhile")

// managedClient authenticates a request to the client configuration endpoint by its
// registration access token (RFC 7592 §2) and returns the client and the token. A
// missing or wrong token, an unknown client, a client registered otherwise and a
// disabled one all get the same 401, so the answer does not tell whether a client exists.
func (p *Provider) managedClient(w http.ResponseWriter, r *http.Request) (store.Client, string, error) {
	ctx := r.Context()
	realm, err := p.realm(ctx, r)
	if err != nil {
		return store.Client{}, "", err
	}
	token, _ := BearerToken(r)
	c, err := p.st.GetClient(ctx, realm.Name, r.PathValue("client_id"))
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid) {
		return store.Client{}, "", err
	}
	if !registrationTokenMatches(c, token) {
		return store.Client{}, "", invalidRegistrationToken(w)
	}
	return c, token, nil
}

// updateManaged applies fn to the stored client in one update if presented is still its
// registration access token, else fails with errStaleRegistrationToken.
func (p *Provider) updateManaged(ctx context.Context, c store.Client, presented string, fn func(*store.Client)) (store.Client, error) {
	return p.st.UpdateClient(ctx, c.Realm, c.ID, func(cur store.Client) (store.Client, error) {
		if !registrationTokenMatches(cur, presented) {
			return cur, errStaleRegistrationToken
		}
		fn(&cur)
		return cur, nil
	})
}

// managementError answers a failed update or delete: a client deleted or a token
// replaced meanwhile is the 401 of a bad token.
func managementError(w http.ResponseWriter, err error) error {
	if errors.Is(err, errStaleRegistrationToken) || errors.Is(err, store.ErrNotFound) {
		return invalidRegistrationToken(w)
	}
	return err
}

func invalidRegistrationToken(w http.ResponseWriter) error {
	// RFC 6750 §3: a 401 for a bearer token names the scheme and the error.
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	return InvalidToken("the registration access token is not valid for this client")
}

// registrationTokenMatches compares token with the client's stored hash over the full
// length in constant time; a zero client (not found) never matches.
func registrationTokenMatches(c store.Client, token string) bool {
	sum := sha256.Sum256([]byte(token))
	match := subtle.ConstantTimeCompare(sum[:], c.RegistrationTokenHash) == 1
	return match && token != "" && c.Dynamic && c.Enabled
}

// newRegistrationToken returns a registration access token (256 bits) and its SHA-256.
func newRegistrationToken() (string, []byte) {
	token := RandomToken(32)
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

// usesSecret reports whether a client authenticating with method has a client secret.
func usesSecret(method string) bool {
	return method == AuthClientSecretBasic || method == AuthClientSecretPost
}

// checkRegistrationPolicy lets a registration through as the realm's policy says.
func checkRegistrationPolicy(w http.ResponseWriter, r *http.Request, realm store.Realm) error {
	switch RegistrationPolicy(realm) {
	case RegistrationOpen:
		return nil
	case RegistrationToken:
		token, _ := BearerToken(r)
		want, err := hex.DecodeString(realm.Attributes[InitialAccessTokenAttribute])
		sum := sha256.Sum256([]byte(token))
		if err == nil && token != "" && subtle.ConstantTimeCompare(sum[:], want) == 1 {
			return nil
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return InvalidToken("registering a client needs a valid initial access token")
	}
	return AccessDenied("dynamic client registration is not enabled in this realm")
}

// GenerateInitialAccessToken creates a new initial access token for dynamic
// registration in realm (policy RegistrationToken), replacing the previous one, and
// returns it. Only its SHA-256 is stored.
func (p *Provider) GenerateInitialAccessToken(ctx context.Context, realm string) (string, error) {
	token := RandomToken(32)
	sum := sha256.Sum256([]byte(token))
	_, err := p.st.UpdateRealm(ctx, realm, func(cur store.Realm) (store.Realm, error) {
		cur.Attributes = maps.Clone(cur.Attributes)
		if cur.Attributes == nil {
			cur.Attributes = map[string]string{}
		}
		cur.Attributes[InitialAccessTokenAttribute] = hex.EncodeToString(sum[:])
		return cur, nil
	})
	if err != nil {
		return "", fmt.Errorf("initial access token of realm %s: %w", realm, err)
	}
	return token, nil
}

// cibaRegistrable refuses the CIBA grant under open registration: a CIBA client asks any
// user of the realm for an approval on their phone, so it needs the realm's initial access
// token (an administrator's consent), as the phone shows the client's name as given.
func cibaRegistrable(realm store.Realm, m clientMetadata) error {
	if slices.Contains(m.GrantTypes, GrantCIBA) && RegistrationPolicy(realm) == RegistrationOpen {
		return InvalidClientMetadata("the CIBA grant needs the realm's initial access token; open registration does not give it")
	}
	return nil
}

// checkedMetadata decodes and checks registration metadata, the sector identifier
// document included.
func (p *Provider) checkedMetadata(ctx context.Context, fields map[string]json.RawMessage) (clientMetadata, error) {
	m, err := decodeMetadata(fields)
	if err != nil {
		return clientMetadata{}, err
	}
	if err := m.check(); err != nil {
		return clientMetadata{}, err
	}
	if err := p.checkSectorIdentifier(ctx, m); err != nil {
		return clientMetadata{}, err
	}
	return m, nil
}

// readJSONObject reads a bounded application/json body holding one JSON object.
func readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, InvalidRequest("the body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err != nil {
		return nil, InvalidRequest(fmt.Sprintf("the body is unreadable or longer than %d bytes", maxRegistrationBytes)).WithCause(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, InvalidClientMetadata("the body must be a JSON object").WithCause(err)
	}
	return fields, nil
}
