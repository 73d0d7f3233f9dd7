package api

import "github.com/signet-auth/signet/internal/rest"

// The representations of webhook subscriptions, their deliveries and secret rotations,
// shared with the admin API.
type (
	Webhook         = rest.Webhook
	WebhookCreate   = rest.WebhookCreate
	WebhookPatch    = rest.WebhookPatch
	SecretRotate    = rest.SecretRotate
	SecretRotation  = rest.SecretRotation
	WebhookDelivery = rest.WebhookDelivery
)

// MaxSecretGraceSeconds bounds a rotation's grace period: a week.
const MaxSecretGraceSeconds = rest.MaxSecretGraceSeconds

// webhooks serves the realm's webhooks, deliveries and callback secret.
func (a *API) webhooks() *rest.Webhooks {
	return &rest.Webhooks{Store: a.cfg.Store, Keyring: a.cfg.Keyring, Now: a.now, Location: a.location}
}
