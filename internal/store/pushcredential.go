package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// PushProviders are the providers a realm may hold push credentials for.
var PushProviders = []string{"fcm", "apns", "unifiedpush"}

// PushCredential is one realm's credentials for one push provider: the settings anyone
// with the realm's admin rights may read (project, key id, topic, …) and the secret
// (service-account key, .p8 key, VAPID private key) sealed under the key-encryption
// key, which the store never sees in the clear.
type PushCredential struct {
	Realm    string
	Provider string
	// Settings is a JSON object of the provider's non-secret settings.
	Settings  json.RawMessage
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Validate reports whether c may be stored.
func (c PushCredential) Validate() error {
	key := recordKey("push credential", c.Realm, c.Provider)
	switch {
	case c.Realm == "":
		return invalid(key, "realm is required")
	case !slices.Contains(PushProviders, c.Provider):
		return invalid(key, "provider must be one of fcm, apns, unifiedpush")
	case len(c.Settings) > 16<<10 || !json.Valid(c.Settings) || len(c.Settings) == 0 || c.Settings[0] != '{':
		return invalid(key, "settings must be a JSON object of at most 16 KiB")
	case len(c.Sealed) == 0 || len(c.Sealed) > 64<<10:
		return invalid(key, "the sealed secret must have 1 byte to 64 KiB")
	}
	return checkTimes(key, c.CreatedAt, c.UpdatedAt)
}

// ScannedPushCredential normalizes a credential read from a database.
func ScannedPushCredential(c PushCredential) PushCredential {
	c.Settings = json.RawMessage(cloneBytes(c.Settings))
	c.Sealed = cloneBytes(c.Sealed)
	timestamps(&c.CreatedAt, &c.UpdatedAt)
	return c
}

// PushCredentials stores the realms' push credentials.
type PushCredentials interface {
	// PutPushCredential creates or replaces the realm's credential for c.Provider; the
	// stored one keeps its CreatedAt and gets the next Version. ErrNotFound when the
	// realm does not exist.
	PutPushCredential(ctx context.Context, c PushCredential) (PushCredential, error)
	// GetPushCredential returns the realm's credential for provider, or ErrNotFound.
	GetPushCredential(ctx context.Context, realm, provider string) (PushCredential, error)
	// ListPushCredentials returns the realm's credentials ordered by provider.
	ListPushCredentials(ctx context.Context, realm string) ([]PushCredential, error)
	// DeletePushCredential removes the realm's credential for provider, or ErrNotFound.
	DeletePushCredential(ctx context.Context, realm, provider string) error
}
