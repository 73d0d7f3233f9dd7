package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// Webhooks serves a realm's webhook subscriptions, their deliveries and the realm's
// callback secret, for the business API and the admin API alike (each mounts these
// handlers under its own paths and authorization): the realm is the path's {realm},
// a subscription its {webhook}, a delivery its {delivery}.
type Webhooks struct {
	Store store.Store
	// Keyring seals the secrets; nil: creating and rotating answer 501.
	Keyring *keys.Keyring
	Now     func() time.Time
	// Location is the absolute URL of an API path (a created subscription's Location).
	Location func(path string) string
}

// Routes are the operations below realm (the path of a realm, with its {realm}), each
// needing scopes.
func (h *Webhooks) Routes(realm string, scopes []string) []Route {
	hook, deliv := realm+"/webhooks/{webhook}", realm+"/webhook-deliveries/{delivery}"
	return []Route{
		{Method: "POST", Path: realm + "/webhooks", Handler: h.Create, Scopes: scopes},
		{Method: "GET", Path: realm + "/webhooks", Handler: h.List, Scopes: scopes},
		{Method: "GET", Path: hook, Handler: h.Get, Scopes: scopes},
		{Method: "PATCH", Path: hook, Handler: h.Update, Scopes: scopes},
		{Method: "DELETE", Path: hook, Handler: h.Delete, Scopes: scopes},
		{Method: "POST", Path: hook + "/rotate-secret", Handler: h.RotateSecret, Scopes: scopes},
		{Method: "GET", Path: realm + "/webhook-deliveries", Handler: h.ListDeliveries, Scopes: scopes},
		{Method: "GET", Path: deliv, Handler: h.GetDelivery, Scopes: scopes},
		{Method: "POST", Path: deliv + "/redeliver", Handler: h.Redeliver, Scopes: scopes},
		{Method: "POST", Path: realm + "/callback-secret", Handler: h.RotateCallbackSecret, Scopes: scopes},
	}
}

// Webhook is a webhook subscription of the realm. Its signing secret is in the answer
// that creates it only (and a rotation's); it is kept sealed and never shown again.
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// EventTypes selects the events delivered: empty for every event; "authn.*" for
	// every type starting "authn."; else exact types.
	EventTypes  []string  `json:"event_types"`
	Description string    `json:"description,omitempty"`
	Enabled     bool      `json:"enabled"`
	Secret      string    `json:"secret,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

func webhookJSON(w store.WebhookSubscription) Webhook {
	types := w.EventTypes
	if types == nil {
		types = []string{}
	}
	return Webhook{ID: w.ID, URL: w.URL, EventTypes: types, Description: w.Description, Enabled: w.Enabled,
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(), Version: w.Version}
}

// WebhookCreate is the body of POST .../webhooks; Enabled defaults to true.
type WebhookCreate struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description string   `json:"description"`
	Enabled     *bool    `json:"enabled"`
}

// WebhookPatch is the body of PATCH .../webhooks/{webhook}: only the fields present
// change.
type WebhookPatch struct {
	URL         *string   `json:"url"`
	EventTypes  *[]string `json:"event_types"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// SecretRotate is the (optional) body of a secret rotation.
type SecretRotate struct {
	// GraceSeconds is how long the secrets replaced keep signing, 0 to
	// MaxSecretGraceSeconds; absent: a day. 0 ends them at once, as after a leak.
	GraceSeconds *int64 `json:"grace_seconds"`
}

// MaxSecretGraceSeconds bounds a rotation's grace period: a week.
const MaxSecretGraceSeconds = 7 * 24 * 60 * 60

// SecretRotation answers a rotation: the new secret, shown this once, and when the
// secrets it replaces stop signing at the latest (absent when it replaces none).
type SecretRotation struct {
	Secret                  string    `json:"secret"`
	PreviousSecretsExpireAt time.Time `json:"previous_secrets_expire_at,omitzero"`
}

// WebhookDelivery is one event on its way to a subscription or a per-request callback.
type WebhookDelivery struct {
	ID int64 `json:"id"`
	// WebhookID is the webhook-id header of its requests, by which receivers
	// deduplicate.
	WebhookID      string `json:"webhook_id"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	// URL is a callback's origin: its path and query may carry a credential of the
	// client that set it, and every client managing the realm's webhooks reads this. A
	// subscription's delivery goes to the subscription's URL.
	URL       string `json:"url,omitempty"`
	EventSeq  int64  `json:"event_seq"`
	EventType string `json:"event_type"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	// NextAttemptAt is when a pending delivery is due.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LastStatus    int       `json:"last_status,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
}

func deliveryJSON(d store.WebhookDelivery) WebhookDelivery {
	out := WebhookDelivery{ID: d.ID, WebhookID: events.WebhookID(d.ID), SubscriptionID: d.SubscriptionID,
		EventSeq: d.EventSeq, EventType: d.EventType, State: string(d.State), Attempts: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(), DeliveredAt: d.DeliveredAt.UTC()}
	if d.SubscriptionID == "" {
		if u, err := url.Parse(d.URL); err == nil {
			out.URL = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
		}
	}
	if d.State == store.WebhookPending {
		out.NextAttemptAt = d.NextAttemptAt.UTC()
	}
	return out
}

func webhookWhat(realm, id string) string { return fmt.Sprintf("webhook %q in realm %q", id, realm) }

// Create answers POST .../webhooks with the subscription and its secret.
func (h *Webhooks) Create(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, h.Store)
	if err != nil {
		return err
	}
	var in WebhookCreate
	if err := Decode(w, r, &in, false); err != nil {
		return err
	}
	if h.Keyring == nil {
		return Problemf(http.StatusNotImplemented, "this node cannot keep webhook secrets")
	}
	subs := events.Subscriptions{Store: h.Store, Ring: h.Keyring, Now: h.Now}
	created, secret, err := subs.Create(r.Context(), store.WebhookSubscription{Realm: realm.Name, URL: in.URL,
		EventTypes: in.EventTypes, Description: in.Description, Enabled: in.Enabled == nil || *in.Enabled})
	if err != nil {
		return StoreError(err, "webhook in realm "+strconv.Quote(realm.Name))
	}
	out := webhookJSON(created)
	out.Secret = secret
	w.Header().Set("Location", h.Location("/realms/"+url.PathEscape(realm.Name)+"/webhooks/"+url.PathEscape(created.ID)))
	w.Header().Set("ETag", ETag(created.Version))
	return WriteJSON(w, http.StatusCreated, out)
}

func (h *Webhooks) List(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, h.Store)
	if err != nil {
		return err
	}
	return WriteListing(w, r, "webhook listing", func(opts store.ListOptions) (store.Page[store.WebhookSubscription], error) {
		return h.Store.ListWebhookSubscriptions(r.Context(), realm.Name, opts)
	}, webhookJSON)
}

func (h *Webhooks) webhook(r *http.Request) (store.WebhookSubscription, error) {
	return InRealm(r, h.Store, "webhook", h.Store.GetWebhookSubscription, webhookWhat)
}

func (h *Webhooks) Get(w http.ResponseWriter, r *http.Request) error {
	sub, err := h.webhook(r)
	if err != nil {
		return err
	}
	return writeWebhook(w, sub)
}

func writeWebhook(w http.ResponseWriter, sub store.WebhookSubscription) error {
	w.Header().Set("ETag", ETag(sub.Version))
	return WriteJSON(w, http.StatusOK, webhookJSON(sub))
}

// Update answers PATCH .../webhooks/{webhook}; If-Match is checked inside the
// update. Disabling fails the subscription's pending deliveries.
func (h *Webhooks) Update(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, h.Store)
	if err != nil {
		return err
	}
	var in WebhookPatch
	if err := Decode(w, r, &in, false); err != nil {
		return err
	}
	id, match := r.PathValue("webhook"), IfMatch(r)
	updated, err := h.Store.UpdateWebhookSubscription(r.Context(), realm.Name, id, func(sub store.WebhookSubscription) (store.WebhookSubscription, error) {
		if err := match(sub.Version); err != nil {
			return sub, err
		}
		if in.URL != nil {
			sub.URL = *in.URL
		}
		if in.EventTypes != nil {
			sub.EventTypes = *in.EventTypes
		}
		if in.Description != nil {
			sub.Description = *in.Description
		}
		if in.Enabled != nil {
			sub.Enabled = *in.Enabled
		}
		return sub, nil
	})
	if err != nil {
		return StoreError(err, webhookWhat(realm.Name, id))
	}
	return writeWebhook(w, updated)
}

// Delete answers DELETE .../webhooks/{webhook}: its deliveries go with it.
func (h *Webhooks) Delete(w http.ResponseWriter, r *http.Request) error {
	sub, err := h.webhook(r)
	if err != nil {
		return err
	}
	return Deleted(w, r, sub.Version, webhookWhat(sub.Realm, sub.ID), func(ctx context.Context) error {
		return h.Store.DeleteWebhookSubscription(ctx, sub.Realm, sub.ID)
	})
}

// rotate answers a rotation of a secret of the realm of the path: rotate makes
// the new secret at now, the secrets it replaces signing for grace (as events'
// rotations take it: 0 means the default, so an immediate end is negative), and tells
// whether it replaced any.
func (h *Webhooks) rotate(w http.ResponseWriter, r *http.Request, rotate func(realm store.Realm, now time.Time, grace time.Duration) (string, bool, error)) error {
	realm, err := Realm(r, h.Store)
	if err != nil {
		return err
	}
	var in SecretRotate
	if err := Decode(w, r, &in, true); err != nil {
		return err
	}
	grace := events.DefaultSecretGrace
	if in.GraceSeconds != nil {
		if *in.GraceSeconds < 0 || *in.GraceSeconds > MaxSecretGraceSeconds {
			return BadRequest("grace_seconds must be from 0 to %d", MaxSecretGraceSeconds)
		}
		grace = time.Duration(*in.GraceSeconds) * time.Second
	}
	if h.Keyring == nil {
		return Problemf(http.StatusNotImplemented, "this node cannot keep secrets")
	}
	now, eventsGrace := h.Now(), grace
	if grace == 0 {
		eventsGrace = -1 // events' rotations read 0 as their default
	}
	secret, replaced, err := rotate(realm, now, eventsGrace)
	if err != nil {
		return err
	}
	out := SecretRotation{Secret: secret}
	if replaced {
		out.PreviousSecretsExpireAt = now.Add(grace).UTC()
	}
	return WriteJSON(w, http.StatusOK, out)
}

// RotateSecret answers POST .../webhooks/{webhook}/rotate-secret.
func (h *Webhooks) RotateSecret(w http.ResponseWriter, r *http.Request) error {
	return h.rotate(w, r, func(realm store.Realm, now time.Time, grace time.Duration) (string, bool, error) {
		id := r.PathValue("webhook")
		subs := events.Subscriptions{Store: h.Store, Ring: h.Keyring, Now: func() time.Time { return now }}
		sub, secret, err := subs.RotateSecret(r.Context(), realm.Name, id, grace)
		if err != nil {
			return "", false, StoreError(err, webhookWhat(realm.Name, id))
		}
		w.Header().Set("ETag", ETag(sub.Version))
		return secret, true, nil
	})
}

// RotateCallbackSecret answers POST .../callback-secret: the realm's callbacks are
// signed with the new secret, and with the ones it replaces until they expire.
func (h *Webhooks) RotateCallbackSecret(w http.ResponseWriter, r *http.Request) error {
	return h.rotate(w, r, func(realm store.Realm, now time.Time, grace time.Duration) (string, bool, error) {
		secret, err := events.RotateCallbackSecret(r.Context(), h.Store, h.Keyring, realm.Name, now, grace)
		if err != nil {
			return "", false, StoreError(err, fmt.Sprintf("realm %q", realm.Name))
		}
		// Whether one was replaced, as the realm read before (a racing rotation aside).
		return secret, events.HasCallbackSecret(realm), nil
	})
}

// ListDeliveries answers GET .../webhook-deliveries, newest first, narrowed by
// ?subscription=, ?state= and ?event_seq=.
func (h *Webhooks) ListDeliveries(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, h.Store)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.WebhookDeliveryFilter{SubscriptionID: q.Get("subscription"), State: store.WebhookState(q.Get("state"))}
	if s := q.Get("event_seq"); s != "" {
		if f.EventSeq, err = strconv.ParseInt(s, 10, 64); err != nil || f.EventSeq < 1 {
			return BadRequest("event_seq must be a positive whole number")
		}
	}
	if err := store.ValidWebhookDeliveryFilter(f); err != nil {
		return BadRequest("state must be pending, delivered or failed")
	}
	return WriteListing(w, r, "webhook delivery listing", func(opts store.ListOptions) (store.Page[store.WebhookDelivery], error) {
		return h.Store.ListWebhookDeliveries(r.Context(), realm.Name, f, opts)
	}, deliveryJSON)
}

// delivery runs op on the delivery of the path, named by its id or by its webhook-id
// ("msg_" and the id) as a receiver logged it.
func (h *Webhooks) delivery(r *http.Request, op func(ctx context.Context, realm string, id int64) (store.WebhookDelivery, error)) (store.WebhookDelivery, error) {
	realm, err := Realm(r, h.Store)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	raw := r.PathValue("delivery")
	id, err := strconv.ParseInt(strings.TrimPrefix(raw, "msg_"), 10, 64)
	if err != nil || id < 1 {
		err = store.ErrNotFound
	} else {
		var d store.WebhookDelivery
		if d, err = op(r.Context(), realm.Name, id); err == nil {
			return d, nil
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return store.WebhookDelivery{}, &Problem{Status: http.StatusConflict, Cause: err,
			Detail: "only a failed delivery can be redelivered, and only while its webhook is enabled"}
	}
	return store.WebhookDelivery{}, StoreError(err, fmt.Sprintf("webhook delivery %q in realm %q", raw, realm.Name))
}

func (h *Webhooks) GetDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := h.delivery(r, h.Store.GetWebhookDelivery)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, deliveryJSON(d))
}

// Redeliver answers POST .../webhook-deliveries/{delivery}/redeliver: a
// failed delivery is pending again, due now, with the same webhook-id.
func (h *Webhooks) Redeliver(w http.ResponseWriter, r *http.Request) error {
	if err := Decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	d, err := h.delivery(r, h.Store.RedeliverWebhook)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, deliveryJSON(d))
}
