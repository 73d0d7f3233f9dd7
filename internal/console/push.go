package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/apns"
	"github.com/signet-auth/signet/internal/rest"
)

// providerNames are the push providers, as the pages name them.
var providerNames = map[string]string{
	push.ProviderAPNs:        "APNs (Apple)",
	push.ProviderFCM:         "FCM (Firebase Cloud Messaging)",
	push.ProviderUnifiedPush: "UnifiedPush and WebPush (VAPID)",
}

// pushRow is one provider's credential as the page shows it: its settings, and only
// whether a secret is stored, never the secret.
type pushRow struct {
	Provider, Name string
	Set            bool
	UpdatedAt      time.Time
	Summary        string
	Delete         string
}

// pushView is the push page's data: the credentials, the forms' current settings, and
// the realm's active devices for a test push.
type pushView struct {
	Rows                 []pushRow
	APNs                 messaging.APNs
	FCM                  messaging.FCM
	UnifiedPush          messaging.UnifiedPush
	Set                  map[string]bool
	Environments, Ports  []option
	Devices              []admin.Device
	Base, TestPush, Back string
	MoreDevices          bool
}

// pushPage lists the realm's push credentials with a form per provider, and offers a
// test push to one of the realm's active devices.
func (c *Console) pushPage(q *req) error {
	var creds rest.Page[messaging.Credential]
	if err := q.call("GET", q.apiRealm("push"), nil, &creds); err != nil {
		return err
	}
	var devices rest.Page[admin.Device]
	if err := q.call("GET", q.apiRealm("devices")+"?"+url.Values{"state": {"active"}, "limit": {"200"}}.Encode(), nil, &devices); err != nil {
		return err
	}
	v := pushView{Set: map[string]bool{}, Devices: devices.Items, MoreDevices: devices.Next != "",
		Base: q.realmURL("push"), TestPush: q.realmURL("test-push"), Back: q.realmURL("push")}
	stored := map[string]messaging.Credential{}
	for _, cr := range creds.Items {
		stored[cr.Provider] = cr
		v.Set[cr.Provider] = true
		// The settings hold no secret (the API never gives one); unknown fields are
		// ignored, and a setting that does not decode is shown empty.
		switch cr.Provider {
		case push.ProviderAPNs:
			_ = json.Unmarshal(cr.Settings, &v.APNs)
		case push.ProviderFCM:
			_ = json.Unmarshal(cr.Settings, &v.FCM)
		case push.ProviderUnifiedPush:
			_ = json.Unmarshal(cr.Settings, &v.UnifiedPush)
		}
	}
	for _, p := range []string{push.ProviderAPNs, push.ProviderFCM, push.ProviderUnifiedPush} {
		row := pushRow{Provider: p, Name: providerNames[p]}
		if cr, ok := stored[p]; ok {
			row.Set, row.UpdatedAt, row.Delete = true, cr.UpdatedAt, q.realmURL("push", p, "delete")
			row.Summary = pushSummary(p, v)
		}
		v.Rows = append(v.Rows, row)
	}
	env := v.APNs.Environment
	if env == "" {
		env = string(apns.Production)
	}
	v.Environments = options(env, [][2]string{{string(apns.Production), "Production"}, {string(apns.Sandbox), "Sandbox (development builds)"}})
	port := strconv.Itoa(v.APNs.Port)
	if v.APNs.Port == 0 {
		port = strconv.Itoa(apns.DefaultPort)
	}
	v.Ports = options(port, [][2]string{{strconv.Itoa(apns.DefaultPort), "443"}, {strconv.Itoa(apns.AlternativePort), "2197 (where 443 is blocked)"}})
	return q.show(http.StatusOK, "push", "Push credentials of "+q.managed, "push", v)
}

// pushSummary is what the page tells of a stored credential's settings.
func pushSummary(provider string, v pushView) string {
	var parts []string
	add := func(name, value string) {
		if value != "" {
			parts = append(parts, name+" "+value)
		}
	}
	switch provider {
	case push.ProviderAPNs:
		add("key ID", v.APNs.KeyID)
		add("team", v.APNs.TeamID)
		add("topic", v.APNs.Topic)
		add("environment", v.APNs.Environment)
		if v.APNs.Port != 0 {
			add("port", strconv.Itoa(v.APNs.Port))
		}
	case push.ProviderFCM:
		add("project", v.FCM.ProjectID)
		add("service account", v.FCM.ClientEmail)
	case push.ProviderUnifiedPush:
		add("subject", v.UnifiedPush.Subject)
		add("public key", v.UnifiedPush.ApplicationServerKey)
	}
	return strings.Join(parts, ", ")
}

// setPush stores a provider's credential from its form. The secret is required each
// time (the stored one is never read back), except UnifiedPush's, which Signet makes.
func (c *Console) setPush(q *req) error {
	back := q.realmURL("push")
	provider := q.r.PathValue("provider")
	var in any
	switch provider {
	case push.ProviderAPNs:
		port := 0
		if p := q.form("port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return q.flash(back, "The APNs port must be 443 or 2197.", true)
			}
			port = n
		}
		in = admin.APNsCredentialSet{Key: q.r.PostForm.Get("key"), KeyID: q.form("key_id"), TeamID: q.form("team_id"),
			Topic: q.form("topic"), Environment: q.form("environment"), Port: port}
	case push.ProviderFCM:
		set := admin.FCMCredentialSet{ProjectID: q.form("project_id")}
		if file := q.form("service_account"); file != "" {
			// The key file as it is, in a JSON string: the API parses and checks it.
			set.ServiceAccount, _ = json.Marshal(file)
		}
		in = set
	case push.ProviderUnifiedPush:
		in = admin.UnifiedPushCredentialSet{Subject: q.form("subject"), VAPIDPrivateKey: q.form("vapid_private_key")}
	default:
		return &apiError{Status: http.StatusNotFound, Detail: "There is no push provider " + provider + "."}
	}
	if err := q.call("PUT", q.apiRealm("push", provider), in, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, providerNames[provider]+" credential saved.")
}

func (c *Console) confirmDeletePush(q *req) error {
	provider := q.r.PathValue("provider")
	var cr messaging.Credential
	if err := q.call("GET", q.apiRealm("push", provider), nil, &cr); err != nil {
		return err
	}
	return q.show(http.StatusOK, "confirm", "Delete the "+providerNames[provider]+" credential", "push", confirmation{
		Question: "Delete the " + providerNames[provider] + " credential of " + q.managed + "? Phones registered with " + provider +
			" are no longer woken until a new credential is set; those connected still get their requests.",
		Action: q.realmURL("push", provider, "delete"), Button: "Delete credential", Back: q.realmURL("push"),
	})
}

func (c *Console) deletePush(q *req) error {
	provider := q.r.PathValue("provider")
	back := q.realmURL("push")
	if err := q.call("DELETE", q.apiRealm("push", provider), nil, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, providerNames[provider]+" credential deleted.")
}

// testPush sends one wake-up to a device now and tells what became of it: accepted by
// the provider, or why not.
func (c *Console) testPush(q *req) error {
	back := q.form("back")
	if !validBack(q, back) {
		back = q.realmURL("push")
	}
	id := q.form("device")
	if id == "" {
		return q.flash(back, "Choose a device to send the test push to.", true)
	}
	var d admin.Device
	if err := q.call("GET", q.apiRealm("devices", id), nil, &d); err != nil {
		return q.refused(back, err)
	}
	var st messaging.Status
	if err := q.call("POST", q.apiRealm("devices", id, "test-push"), nil, &st); err != nil {
		return q.refused(back, err)
	}
	msg, failed := testPushResult(d.DisplayName, st)
	return q.flash(back, msg, failed)
}

// testPushResult says what became of a test push to the device named name.
func testPushResult(name string, st messaging.Status) (msg string, failed bool) {
	provider := providerNames[st.Provider]
	if provider == "" {
		provider = st.Provider
	}
	switch st.Route {
	case messaging.RoutePush:
		return "Test push to " + name + " delivered: " + provider + " accepted it.", false
	case messaging.RouteNoRegistration:
		return "Test push to " + name + " not sent: the device has no push registration (it is woken only while connected).", true
	case messaging.RouteNoCredential:
		return "Test push to " + name + " not sent: the realm has no " + provider + " credential. Set one on the push page.", true
	case messaging.RouteFailed:
		if provider != "" {
			provider = " (" + provider + ")"
		}
		return "Test push to " + name + " failed" + provider + ": " + st.Error, true
	}
	return "Test push to " + name + ": " + st.Route + ".", st.Error != ""
}
