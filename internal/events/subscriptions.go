package events

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// WebhookSecret is one signing secret of a subscription. A subscription signs with
// every secret that has not expired, so during a rotation receivers holding either the
// old or the new secret verify its deliveries (Standard Webhooks allows several
// signatures in webhook-signature).
type WebhookSecret struct {
	// Secret is "whsec_" and the key in base64 (NewWebhookSecret).
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt ends a secret replaced by a rotation; zero for the current one.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// DefaultSecretGrace is how long a rotated-out secret keeps signing, so receivers have
// a day to switch.
const DefaultSecretGrace = 24 * time.Hour

// ErrNoSecret means a subscription's sealed secrets hold none valid now.
var ErrNoSecret = errors.New("events: the subscription has no valid signing secret")

// secretsAAD binds sealed secrets to their subscription, so they cannot be moved to
// another one.
func secretsAAD(realm, subscriptionID string) []byte {
	return []byte("signet webhook secrets\x00" + realm + "\x00" + subscriptionID)
}

// SealWebhookSecrets seals secrets for the subscription named by realm and
// subscriptionID under the key-encryption key.
func SealWebhookSecrets(ring *keys.Keyring, realm, subscriptionID string, secrets []WebhookSecret) ([]byte, error) {
	for _, s := range secrets {
		if _, err := ParseWebhookSecret(s.Secret); err != nil || !strings.HasPrefix(s.Secret, webhookSecretPrefix) {
			return nil, ErrWebhookSecret
		}
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	sealed, err := ring.Seal(plain, secretsAAD(realm, subscriptionID))
	if err != nil {
		return nil, fmt.Errorf("seal the secrets of webhook subscription %q: %w", subscriptionID, err)
	}
	return sealed, nil
}

// OpenWebhookSecrets opens what SealWebhookSecrets sealed for the subscription.
func OpenWebhookSecrets(ring *keys.Keyring, realm, subscriptionID string, sealed []byte) ([]WebhookSecret, error) {
	plain, err := ring.Open(sealed, secretsAAD(realm, subscriptionID))
	if err != nil {
		return nil, fmt.Errorf("open the secrets of webhook subscription %q: %w", subscriptionID, err)
	}
	var secrets []WebhookSecret
	if err := json.Unmarshal(plain, &secrets); err != nil {
		return nil, fmt.Errorf("secrets of webhook subscription %q: %w", subscriptionID, err)
	}
	return secrets, nil
}

// SigningKeys returns the keys of the secrets valid at now, the current one first;
// ErrNoSecret when none is.
func SigningKeys(secrets []WebhookSecret, now time.Time) ([][]byte, error) {
	var out [][]byte
	for _, s := range secrets {
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			continue
		}
		key, err := ParseWebhookSecret(s.Secret)
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	if len(out) == 0 {
		return nil, ErrNoSecret
	}
	return out, nil
}

// RotateWebhookSecrets returns secrets with a new current secret first, the ones that
// were current expiring at now+grace (sooner if they expired already), and the expired
// ones dropped; and the new secret, for the caller to show once.
func RotateWebhookSecrets(secrets []WebhookSecret, now time.Time, grace time.Duration) ([]WebhookSecret, string) {
	fresh := WebhookSecret{Secret: NewWebhookSecret(), CreatedAt: now.UTC()}
	out := []WebhookSecret{fresh}
	for _, s := range secrets {
		if s.ExpiresAt.IsZero() || s.ExpiresAt.After(now.Add(grace)) {
			s.ExpiresAt = now.Add(grace).UTC()
		}
		if s.ExpiresAt.After(now) {
			out = append(out, s)
		}
	}
	return out, fresh.Secret
}

// Subscriptions manages the realms' webhook subscriptions with their signing secrets
// sealed under the key-encryption key; the store never sees a secret in the clear.
type Subscriptions struct {
	Store store.WebhookSubscriptions
	Ring  *keys.Keyring
	// Now is the clock of secret creation and expiry; nil means time.Now.
	Now func() time.Time
}

func (s Subscriptions) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// NewSubscriptionID returns a random subscription ID: "wh_" and 26 base32 characters.
func NewSubscriptionID() string { return "wh_" + strings.ToLower(rand.Text()) }

// Create stores w, with a random ID when it has none and a new signing secret (whatever
// w.Secrets held), and returns it with the secret, which is not shown again.
func (s Subscriptions) Create(ctx context.Context, w store.WebhookSubscription) (store.WebhookSubscription, string, error) {
	if w.ID == "" {
		w.ID = NewSubscriptionID()
	}
	secret := WebhookSecret{Secret: NewWebhookSecret(), CreatedAt: s.now().UTC()}
	sealed, err := SealWebhookSecrets(s.Ring, w.Realm, w.ID, []WebhookSecret{secret})
	if err != nil {
		return store.WebhookSubscription{}, "", err
	}
	w.Secrets = sealed
	created, err := s.Store.CreateWebhookSubscription(ctx, w)
	if err != nil {
		return store.WebhookSubscription{}, "", err
	}
	return created, secret.Secret, nil
}

// RotateSecret gives the subscription a new current signing secret and keeps the ones
// current so far signing for grace (DefaultSecretGrace when 0; a negative grace ends
// them at once). It returns the updated subscription and the new secret.
func (s Subscriptions) RotateSecret(ctx context.Context, realm, id string, grace time.Duration) (store.WebhookSubscription, string, error) {
	if grace == 0 {
		grace = DefaultSecretGrace
	}
	grace = max(grace, 0)
	var secret string
	w, err := s.Store.UpdateWebhookSubscription(ctx, realm, id, func(w store.WebhookSubscription) (store.WebhookSubscription, error) {
		old, err := OpenWebhookSecrets(s.Ring, realm, id, w.Secrets)
		if err != nil {
			return w, err
		}
		var next []WebhookSecret
		next, secret = RotateWebhookSecrets(old, s.now(), grace)
		w.Secrets, err = SealWebhookSecrets(s.Ring, realm, id, next)
		return w, err
	})
	if err != nil {
		return store.WebhookSubscription{}, "", err
	}
	return w, secret, nil
}

// Secrets returns the subscription's secrets as they are now, the current one first.
func (s Subscriptions) Secrets(ctx context.Context, realm, id string) ([]WebhookSecret, error) {
	w, err := s.Store.GetWebhookSubscription(ctx, realm, id)
	if err != nil {
		return nil, err
	}
	secrets, err := OpenWebhookSecrets(s.Ring, realm, id, w.Secrets)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return slices.DeleteFunc(secrets, func(s WebhookSecret) bool { return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) }), nil
}
