package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// CallbackSecretsAttribute is the realm attribute holding the realm's callback signing
// secrets: per-request callbacks (an authentication's or transaction's callback_url)
// are signed with them as subscriptions' deliveries are with theirs. The value is the
// base64 of the secrets sealed under the key-encryption key; the "signet." prefix keeps
// it out of the admin API.
const CallbackSecretsAttribute = "signet.callback_secrets"

// RealmGetter reads a realm; store.Realms is one.
type RealmGetter interface {
	GetRealm(ctx context.Context, name string) (store.Realm, error)
}

// callbackSecretsAAD binds sealed callback secrets to their realm. Its prefix differs
// from secretsAAD's, so a subscription's sealed secrets never open as a realm's.
func callbackSecretsAAD(realm string) []byte {
	return []byte("signet callback secrets\x00" + realm)
}

// HasCallbackSecret reports whether r has callback secrets. A rotation always leaves a
// current secret that does not expire, so a realm that has them can sign now.
func HasCallbackSecret(r store.Realm) bool { return r.Attributes[CallbackSecretsAttribute] != "" }

// OpenCallbackSecrets returns r's callback secrets as stored, the current one first;
// ErrNoSecret when r has none.
func OpenCallbackSecrets(ring *keys.Keyring, r store.Realm) ([]WebhookSecret, error) {
	if !HasCallbackSecret(r) {
		return nil, ErrNoSecret
	}
	sealed, err := base64.StdEncoding.DecodeString(r.Attributes[CallbackSecretsAttribute])
	if err != nil {
		return nil, fmt.Errorf("callback secrets of realm %q: %w", r.Name, err)
	}
	plain, err := ring.Open(sealed, callbackSecretsAAD(r.Name))
	if err != nil {
		return nil, fmt.Errorf("open the callback secrets of realm %q: %w", r.Name, err)
	}
	var secrets []WebhookSecret
	if err := json.Unmarshal(plain, &secrets); err != nil {
		return nil, fmt.Errorf("callback secrets of realm %q: %w", r.Name, err)
	}
	return secrets, nil
}

// sealCallbackSecrets returns the attribute value of secrets sealed for realm.
func sealCallbackSecrets(ring *keys.Keyring, realm string, secrets []WebhookSecret) (string, error) {
	plain, err := json.Marshal(secrets)
	if err != nil {
		return "", err
	}
	sealed, err := ring.Seal(plain, callbackSecretsAAD(realm))
	if err != nil {
		return "", fmt.Errorf("seal the callback secrets of realm %q: %w", realm, err)
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// RotateCallbackSecret gives the realm a new current callback secret, atomically, and
// returns it to be shown once; the secrets current so far keep signing for grace
// (DefaultSecretGrace when 0; a negative grace ends them at once), as
// Subscriptions.RotateSecret does. The first rotation of a realm creates its secret.
func RotateCallbackSecret(ctx context.Context, realms store.Realms, ring *keys.Keyring, realm string, now time.Time, grace time.Duration) (string, error) {
	if grace == 0 {
		grace = DefaultSecretGrace
	}
	grace = max(grace, 0)
	var secret string
	_, err := realms.UpdateRealm(ctx, realm, func(r store.Realm) (store.Realm, error) {
		var old []WebhookSecret
		if HasCallbackSecret(r) {
			var err error
			if old, err = OpenCallbackSecrets(ring, r); err != nil {
				return r, err
			}
		}
		next, fresh := RotateWebhookSecrets(old, now, grace)
		value, err := sealCallbackSecrets(ring, r.Name, next)
		if err != nil {
			return r, err
		}
		r.Attributes = maps.Clone(r.Attributes)
		if r.Attributes == nil {
			r.Attributes = map[string]string{}
		}
		r.Attributes[CallbackSecretsAttribute], secret = value, fresh
		return r, nil
	})
	if err != nil {
		return "", fmt.Errorf("rotate the callback secret of realm %q: %w", realm, err)
	}
	return secret, nil
}

// CallbackSigningKeys returns the keys the realm's callbacks are signed with at now, the
// current one first; ErrNoSecret when the realm has none.
func CallbackSigningKeys(ctx context.Context, realms RealmGetter, ring *keys.Keyring, realm string, now time.Time) ([][]byte, error) {
	r, err := realms.GetRealm(ctx, realm)
	if err != nil {
		return nil, fmt.Errorf("callback secrets of realm %q: %w", realm, err)
	}
	secrets, err := OpenCallbackSecrets(ring, r)
	if err != nil {
		return nil, err
	}
	return SigningKeys(secrets, now)
}
