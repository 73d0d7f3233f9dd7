package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/apns"
	"github.com/signet-auth/signet/internal/push/fcm"
	"github.com/signet-auth/signet/internal/push/unifiedpush"
	"github.com/signet-auth/signet/internal/store"
)

// APNs is a realm's APNs credential as an administrator sets it: the token signing key
// (.p8) and where it applies.
type APNs struct {
	// Key is the .p8 file's PEM; secret.
	Key         []byte `json:"-"`
	KeyID       string `json:"key_id"`
	TeamID      string `json:"team_id"`
	Topic       string `json:"topic"`
	Environment string `json:"environment"`
	// Port is 443 (also 0) or Apple's alternative 2197.
	Port int `json:"port,omitempty"`
}

// FCM is a realm's Firebase Cloud Messaging credential: the service account's JSON key
// file.
type FCM struct {
	// ServiceAccount is the JSON key file; secret.
	ServiceAccount []byte `json:"-"`
	// ProjectID overrides the key file's project; shown is the one in use.
	ProjectID string `json:"project_id"`
	// ClientEmail is the service account's, shown so an administrator can tell which
	// key is set; read from the key file.
	ClientEmail string `json:"client_email,omitempty"`
}

// UnifiedPush is a realm's VAPID identity for UnifiedPush and WebPush.
type UnifiedPush struct {
	// VAPIDPrivateKey is the raw P-256 scalar, base64url; secret. Empty at Put makes a
	// new key pair.
	VAPIDPrivateKey string `json:"-"`
	// Subject is the contact push services may use: "mailto:" or "https:".
	Subject string `json:"subject"`
	// ApplicationServerKey is the public key apps subscribe with (base64url); shown.
	ApplicationServerKey string `json:"application_server_key,omitempty"`
}

// Credential is one stored credential as it may be shown: its settings, never its
// secret.
type Credential struct {
	Realm     string          `json:"realm"`
	Provider  string          `json:"provider"`
	Settings  json.RawMessage `json:"settings"`
	UpdatedAt time.Time       `json:"updated_at"`
	Version   int64           `json:"version"`
}

// ErrInvalidCredential wraps every refusal of a credential's content.
var ErrInvalidCredential = errors.New("messaging: invalid push credential")

// Credentials keeps the realms' push credentials, their secrets sealed under the
// key-encryption key with the realm and provider as associated data.
type Credentials struct {
	Store store.PushCredentials
	Ring  *keys.Keyring
}

func sealAAD(realm, provider string) []byte {
	return []byte("signet push credential\x00" + realm + "\x00" + provider)
}

// PutAPNs checks c by building a sender from it and stores it.
func (cs Credentials) PutAPNs(ctx context.Context, realm string, c APNs) (Credential, error) {
	cfg := apns.Config{Key: c.Key, KeyID: c.KeyID, TeamID: c.TeamID, Topic: c.Topic, Environment: apns.Environment(c.Environment), Port: c.Port}
	if err := cfg.Validate(); err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	return cs.put(ctx, realm, push.ProviderAPNs, c, c.Key)
}

// PutFCM checks c and stores it.
func (cs Credentials) PutFCM(ctx context.Context, realm string, c FCM) (Credential, error) {
	cfg := fcm.Config{ServiceAccountJSON: c.ServiceAccount, ProjectID: c.ProjectID}
	if err := cfg.Validate(); err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	var file struct {
		ProjectID   string `json:"project_id"`
		ClientEmail string `json:"client_email"`
	}
	_ = json.Unmarshal(c.ServiceAccount, &file) // Validate has parsed it
	if c.ProjectID == "" {
		c.ProjectID = file.ProjectID
	}
	c.ClientEmail = file.ClientEmail
	return cs.put(ctx, realm, push.ProviderFCM, c, c.ServiceAccount)
}

// PutUnifiedPush checks c, making a new VAPID key pair when it has none, and stores it.
func (cs Credentials) PutUnifiedPush(ctx context.Context, realm string, c UnifiedPush) (Credential, error) {
	if c.VAPIDPrivateKey == "" {
		priv, _, err := unifiedpush.GenerateVAPIDKey()
		if err != nil {
			return Credential{}, err
		}
		c.VAPIDPrivateKey = priv
	}
	cfg := unifiedpush.Config{VAPIDPrivateKey: c.VAPIDPrivateKey, Subject: c.Subject}
	// New validates and derives the public key; the client is never used here.
	s, err := unifiedpush.New(cfg, outbound.New(outbound.DefaultPolicy()))
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	c.ApplicationServerKey = s.ApplicationServerKey()
	return cs.put(ctx, realm, push.ProviderUnifiedPush, c, []byte(c.VAPIDPrivateKey))
}

func (cs Credentials) put(ctx context.Context, realm, provider string, settings any, secret []byte) (Credential, error) {
	b, err := json.Marshal(settings)
	if err != nil {
		return Credential{}, err
	}
	sealed, err := cs.Ring.Seal(secret, sealAAD(realm, provider))
	if err != nil {
		return Credential{}, fmt.Errorf("seal the %s credential: %w", provider, err)
	}
	pc, err := cs.Store.PutPushCredential(ctx, store.PushCredential{Realm: realm, Provider: provider, Settings: b, Sealed: sealed})
	if err != nil {
		return Credential{}, err
	}
	return shown(pc), nil
}

// Get returns the realm's credential for provider as it may be shown.
func (cs Credentials) Get(ctx context.Context, realm, provider string) (Credential, error) {
	pc, err := cs.Store.GetPushCredential(ctx, realm, provider)
	if err != nil {
		return Credential{}, err
	}
	return shown(pc), nil
}

// List returns the realm's credentials as they may be shown.
func (cs Credentials) List(ctx context.Context, realm string) ([]Credential, error) {
	pcs, err := cs.Store.ListPushCredentials(ctx, realm)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, len(pcs))
	for i, pc := range pcs {
		out[i] = shown(pc)
	}
	return out, nil
}

// Delete removes the realm's credential for provider.
func (cs Credentials) Delete(ctx context.Context, realm, provider string) error {
	return cs.Store.DeletePushCredential(ctx, realm, provider)
}

func shown(pc store.PushCredential) Credential {
	return Credential{Realm: pc.Realm, Provider: pc.Provider, Settings: pc.Settings, UpdatedAt: pc.UpdatedAt, Version: pc.Version}
}

// open returns the stored credential with its secret.
func (cs Credentials) open(ctx context.Context, realm, provider string) (store.PushCredential, []byte, error) {
	pc, err := cs.Store.GetPushCredential(ctx, realm, provider)
	if err != nil {
		return store.PushCredential{}, nil, err
	}
	secret, err := cs.Ring.Open(pc.Sealed, sealAAD(realm, provider))
	if err != nil {
		return store.PushCredential{}, nil, fmt.Errorf("open the %s credential of realm %s: %w", provider, realm, err)
	}
	return pc, secret, nil
}

// ValidProvider reports whether p names a push provider.
func ValidProvider(p string) bool {
	switch strings.ToLower(p) {
	case push.ProviderAPNs, push.ProviderFCM, push.ProviderUnifiedPush:
		return p == strings.ToLower(p)
	}
	return false
}

func unmarshalSettings(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("stored settings: %w", err)
	}
	return nil
}
