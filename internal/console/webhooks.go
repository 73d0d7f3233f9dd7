package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/signet-auth/signet/internal/rest"
)

// webhookRow is a webhook with the console page about it.
type webhookRow struct {
	rest.Webhook
	URL, Types string
}

func (q *req) webhookURL(id string, rest ...string) string {
	return q.realmURL(append([]string{"webhooks", url.PathEscape(id)}, rest...)...)
}

func typesText(types []string) string {
	if len(types) == 0 {
		return "every event"
	}
	return strings.Join(types, ", ")
}

// webhooksPage lists the realm's webhooks, with a form to subscribe a URL and the
// rotation of the realm's callback secret.
func (c *Console) webhooksPage(q *req) error {
	hooks, next, err := listing[rest.Webhook](q, q.apiRealm("webhooks"), nil)
	if err != nil {
		return err
	}
	rows := make([]webhookRow, len(hooks))
	for i, h := range hooks {
		rows[i] = webhookRow{Webhook: h, URL: q.webhookURL(h.ID), Types: typesText(h.EventTypes)}
	}
	return q.show(http.StatusOK, "webhooks", "Webhooks of "+q.managed, "webhooks", struct {
		Rows             []webhookRow
		Next             string
		Base, Deliveries string
		Types            []string
	}{rows, next, q.realmURL("webhooks"), q.realmURL("webhook-deliveries"), eventTypes})
}

// eventTypesForm reads the event types field: entries separated by commas, spaces or
// lines; none means every event.
func (q *req) eventTypesForm() []string {
	return strings.FieldsFunc(q.r.PostForm.Get("event_types"), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
}

// createWebhook subscribes a URL and shows its signing secret, once.
func (c *Console) createWebhook(q *req) error {
	enabled := q.form("enabled") == "on"
	in := rest.WebhookCreate{URL: q.form("url"), EventTypes: q.eventTypesForm(), Description: q.form("description"), Enabled: &enabled}
	var created rest.Webhook
	if err := q.call("POST", q.apiRealm("webhooks"), in, &created); err != nil {
		return q.refused(q.realmURL("webhooks"), err)
	}
	return q.showWebhookSecret("Webhook "+created.URL+" is subscribed. It signs every delivery with this secret.", created.Secret, q.webhookURL(created.ID))
}

// showWebhookSecret shows a signing secret once: the answer to the form that made it,
// never kept in the session or put in a URL.
func (q *req) showWebhookSecret(what, secret, back string) error {
	q.w.Header().Set("Cache-Control", "no-store")
	return q.show(http.StatusOK, "webhook_secret", "Signing secret", "webhooks", struct {
		What, Secret, Back string
	}{what, secret, back})
}

// deliveryRow is a delivery with the form that redelivers it.
type deliveryRow struct {
	rest.WebhookDelivery
	Redeliver, WebhookURL string
}

// deliveryTable is a table of deliveries; a redelivery comes back to Back.
type deliveryTable struct {
	Rows       []deliveryRow
	CSRF, Back string
}

func (q *req) deliveryTable(ds []rest.WebhookDelivery, back string) deliveryTable {
	rows := make([]deliveryRow, len(ds))
	for i, d := range ds {
		rows[i] = deliveryRow{WebhookDelivery: d, Redeliver: q.realmURL("webhook-deliveries", strconv.FormatInt(d.ID, 10), "redeliver")}
		if d.SubscriptionID != "" {
			rows[i].WebhookURL = q.webhookURL(d.SubscriptionID)
		}
	}
	return deliveryTable{Rows: rows, CSRF: q.c.cfg.CSRF.Token(q.id), Back: back}
}

// webhookPage shows a webhook to edit, its secret's rotation, its removal, and its
// latest deliveries.
func (c *Console) webhookPage(q *req) error {
	id := q.r.PathValue("webhook")
	var h rest.Webhook
	if err := q.call("GET", q.apiRealm("webhooks", id), nil, &h); err != nil {
		return err
	}
	var ds rest.Page[rest.WebhookDelivery]
	if err := q.call("GET", q.apiRealm("webhook-deliveries")+"?"+url.Values{"subscription": {id}, "limit": {"20"}}.Encode(), nil, &ds); err != nil {
		return err
	}
	return q.show(http.StatusOK, "webhook", "Webhook "+h.URL, "webhooks", struct {
		Hook       rest.Webhook
		TypesText  string
		URL        string
		Deliveries deliveryTable
		AllURL     string
	}{h, strings.Join(h.EventTypes, "\n"), q.webhookURL(id), q.deliveryTable(ds.Items, q.webhookURL(id)),
		q.realmURL("webhook-deliveries") + "?" + url.Values{"subscription": {id}}.Encode()})
}

// updateWebhook changes a webhook's URL, event types, description or whether it is
// enabled; disabling it fails its pending deliveries.
func (c *Console) updateWebhook(q *req) error {
	id := q.r.PathValue("webhook")
	u, types, desc, enabled := q.form("url"), q.eventTypesForm(), q.form("description"), q.form("enabled") == "on"
	in := rest.WebhookPatch{URL: &u, EventTypes: &types, Description: &desc, Enabled: &enabled}
	if err := q.call("PATCH", q.apiRealm("webhooks", id), in, nil); err != nil {
		return q.refused(q.webhookURL(id), err)
	}
	return q.done(q.webhookURL(id), "Webhook saved.")
}

// graceChoices are the grace periods a rotation offers, in seconds.
var graceChoices = map[string]int64{"0": 0, "3600": 3600, "86400": 86400, "604800": 604800}

// rotateWebhookSecret makes a new signing secret and shows it once; the old one signs
// on for the grace period chosen.
func (c *Console) rotateWebhookSecret(q *req) error {
	id := q.r.PathValue("webhook")
	grace, ok := graceChoices[q.form("grace")]
	if !ok {
		return q.flash(q.webhookURL(id), "Choose how long the old secret keeps signing.", true)
	}
	var rot rest.SecretRotation
	if err := q.call("POST", q.apiRealm("webhooks", id, "rotate-secret"), rest.SecretRotate{GraceSeconds: &grace}, &rot); err != nil {
		return q.refused(q.webhookURL(id), err)
	}
	return q.showWebhookSecret("The webhook has a new signing secret."+expiry(rot), rot.Secret, q.webhookURL(id))
}

func expiry(rot rest.SecretRotation) string {
	if rot.PreviousSecretsExpireAt.IsZero() {
		return ""
	}
	return " The previous one signs too until " + rot.PreviousSecretsExpireAt.UTC().Format("2006-01-02 15:04") + " UTC."
}

// rotateCallbackSecret makes a new secret for the realm's per-request callbacks and
// shows it once.
func (c *Console) rotateCallbackSecret(q *req) error {
	grace, ok := graceChoices[q.form("grace")]
	if !ok {
		return q.flash(q.realmURL("webhooks"), "Choose how long the old secret keeps signing.", true)
	}
	var rot rest.SecretRotation
	if err := q.call("POST", q.apiRealm("callback-secret"), rest.SecretRotate{GraceSeconds: &grace}, &rot); err != nil {
		return q.refused(q.realmURL("webhooks"), err)
	}
	return q.showWebhookSecret("The realm's callbacks have a new signing secret."+expiry(rot), rot.Secret, q.realmURL("webhooks"))
}

// deleteWebhook removes a webhook and its deliveries, once the form confirms it.
func (c *Console) deleteWebhook(q *req) error {
	id := q.r.PathValue("webhook")
	if q.form("confirm") != "on" {
		return q.flash(q.webhookURL(id), "Tick the box to confirm the removal.", true)
	}
	if err := q.call("DELETE", q.apiRealm("webhooks", id), nil, nil); err != nil {
		return q.refused(q.webhookURL(id), err)
	}
	return q.done(q.realmURL("webhooks"), "Webhook removed, with its deliveries.")
}

// deliveriesPage lists the realm's webhook deliveries, newest first, by state and
// webhook: what was delivered, what is still retried and why, what failed.
func (c *Console) deliveriesPage(q *req) error {
	qs := q.r.URL.Query()
	state, sub := qs.Get("state"), strings.TrimSpace(qs.Get("subscription"))
	ds, next, err := listing[rest.WebhookDelivery](q, q.apiRealm("webhook-deliveries"), url.Values{"state": {state}, "subscription": {sub}})
	if err != nil {
		return err
	}
	back := q.realmURL("webhook-deliveries")
	if v := (url.Values{"state": {state}, "subscription": {sub}}); state != "" || sub != "" {
		if state == "" {
			v.Del("state")
		}
		if sub == "" {
			v.Del("subscription")
		}
		back += "?" + v.Encode()
	}
	return q.show(http.StatusOK, "deliveries", "Webhook deliveries of "+q.managed, "deliveries", struct {
		State, Subscription string
		Table               deliveryTable
		Next                string
	}{state, sub, q.deliveryTable(ds, back), next})
}

// redeliver sends a failed delivery again, due now, with the same webhook-id.
func (c *Console) redeliver(q *req) error {
	back := q.form("back")
	if !validBack(q, back) {
		back = q.realmURL("webhook-deliveries")
	}
	id := q.r.PathValue("delivery")
	if err := q.call("POST", q.apiRealm("webhook-deliveries", id, "redeliver"), nil, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "Delivery msg_"+id+" is due again.")
}
