package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/rest"
)

// home is the console's start: platform administrators see the realms and the node's
// health; a realm administrator goes to its realm.
func (c *Console) home(q *req) error {
	if !q.platform {
		http.Redirect(q.w, q.r, c.base(q.realm)+"realms/"+q.realm+"/", http.StatusFound)
		return nil
	}
	var realms rest.Page[admin.Realm]
	if err := q.call("GET", "/realms?limit=500", nil, &realms); err != nil {
		return err
	}
	data := struct {
		Realms []admin.Realm
		Health *ops.Report
	}{Realms: realms.Items}
	if c.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
		defer cancel()
		rep := c.cfg.Health.Check(ctx)
		data.Health = &rep
	}
	return q.show(http.StatusOK, "home", "Realms", "realms", data)
}

// health is the node's health report, as the OPS listener's /health shows it.
func (c *Console) health(q *req) error {
	if c.cfg.Health == nil {
		return &apiError{Status: http.StatusNotFound, Detail: "Health reports are not available on this node."}
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	rep := c.cfg.Health.Check(ctx)
	return q.show(http.StatusOK, "health", "Health", "health", rep)
}

func (c *Console) createRealm(q *req) error {
	name := q.form("name")
	in := map[string]any{"name": name, "display_name": q.form("display_name")}
	if err := q.call("POST", "/realms", in, nil); err != nil {
		return q.refused(c.base(q.realm), err)
	}
	return q.done(c.base(q.realm)+"realms/"+name+"/", "Realm "+name+" created.")
}

// realmPage shows a realm's settings and login policy, with links to its users and
// devices.
func (c *Console) realmPage(q *req) error {
	var realm admin.Realm
	if err := q.call("GET", q.apiRealm(), nil, &realm); err != nil {
		return err
	}
	var admins rest.Page[admin.User]
	if err := q.call("GET", q.apiRealm("admins"), nil, &admins); err != nil {
		return err
	}
	data := struct {
		Realm                             admin.Realm
		Admins                            []admin.User
		IsMaster                          bool
		Factors, Second                   map[string]bool
		NotMeOptions, RegistrationOptions []option
		NumberMatchingOptions             []option
		SignInURL                         string
	}{Realm: realm, Admins: admins.Items, IsMaster: realm.Name == admin.MasterRealm,
		Factors: set(realm.Settings.LoginFirstFactors), Second: set(realm.Settings.LoginSecondFactors),
		NotMeOptions: options(realm.Settings.DeviceNotMe, [][2]string{
			{device.NotMeLockDevice, "Lock the device until an administrator unlocks it"},
			{device.NotMeLockUser, "Lock the user until an administrator unlocks them"},
			{device.NotMeReport, "Only record the event"},
		}),
		NumberMatchingOptions: options(realm.Settings.NumberMatching, [][2]string{
			{authn.NumberMatchingPick, "Pick the number the sign-in page shows (recommended)"},
			{authn.NumberMatchingOff, "Off: approve or deny only, open to push fatigue"},
		}),
		RegistrationOptions: options(realm.Settings.Registration, [][2]string{
			{oidc.RegistrationOff, "Off"}, {oidc.RegistrationToken, "With an initial access token"}, {oidc.RegistrationOpen, "Open to anyone"},
		}),
		SignInURL: c.cfg.AdminURL + "/admin/" + realm.Name + "/console/"}
	return q.show(http.StatusOK, "realm", realm.Name, "realm", data)
}

// option is one choice of a <select>.
type option struct {
	Value, Label string
	Selected     bool
}

func options(current string, choices [][2]string) []option {
	out := make([]option, len(choices))
	for i, ch := range choices {
		out[i] = option{Value: ch[0], Label: ch[1], Selected: ch[0] == current}
	}
	return out
}

func set(items []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range items {
		m[s] = true
	}
	return m
}

// updateRealm saves the realm's settings form: display name, enabled, and the login
// policy (factors, lockout, session lifetimes, devices per user, number matching and the
// limits on phone requests).
func (c *Console) updateRealm(q *req) error {
	back := q.realmURL()
	settings := map[string]any{
		"login_first_factors":  q.r.PostForm["first_factor"],
		"login_second_factors": q.r.PostForm["second_factor"],
	}
	if settings["login_first_factors"] == nil {
		settings["login_first_factors"] = []string{}
	}
	if settings["login_second_factors"] == nil {
		settings["login_second_factors"] = []string{}
	}
	// The limits on phone requests show the node's values until the realm sets its own:
	// only a changed one is sent, so saving the form does not pin the node's to the realm.
	var current admin.Realm
	if err := q.call("GET", q.apiRealm(), nil, &current); err != nil {
		return q.refused(back, err)
	}
	cur := current.Settings
	nodeValued := map[string]int64{"max_pending_per_user": int64(cur.MaxPendingPerUser),
		"denials_before_cooldown": int64(cur.DenialsBeforeCooldown), "denial_window": cur.DenialWindow, "cooldown": cur.Cooldown}
	for _, f := range []string{"sso_idle_timeout", "sso_max_lifespan", "lockout_threshold", "lockout_duration", "device_max_per_user",
		"max_pending_per_user", "denials_before_cooldown", "denial_window", "cooldown"} {
		v := q.form(f)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return q.flash(back, "settings."+f+": not a whole number", true)
		}
		if was, ok := nodeValued[f]; ok && was == n {
			continue
		}
		settings[f] = n
	}
	if v := q.form("registration"); v != "" {
		settings["registration"] = v
	}
	if v := q.form("device_not_me"); v != "" {
		settings["device_not_me"] = v
	}
	if v := q.form("number_matching"); v != "" {
		settings["number_matching"] = v
	}
	in := map[string]any{"display_name": q.form("display_name"), "enabled": q.form("enabled") == "on", "settings": settings}
	if err := q.call("PATCH", q.apiRealm(), in, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "Settings saved.")
}

func (c *Console) confirmDeleteRealm(q *req) error {
	var realm admin.Realm
	if err := q.call("GET", q.apiRealm(), nil, &realm); err != nil {
		return err
	}
	return q.show(http.StatusOK, "confirm", "Delete realm "+realm.Name, "realm", confirmation{
		Question: "Delete the realm " + realm.Name + " with all its users, clients, devices and keys? This cannot be undone.",
		Action:   q.realmURL("delete"), Button: "Delete realm", Back: q.realmURL(), Confirm: realm.Name,
	})
}

// confirmation is a page that asks before a change that cannot be undone.
type confirmation struct {
	Question, Action, Button, Back string
	// Confirm, when set, must be typed into the form.
	Confirm string
}

func (c *Console) deleteRealm(q *req) error {
	if q.form("confirm") != q.managed {
		return q.flash(q.realmURL("delete"), "Type the realm's name to confirm.", true)
	}
	if err := q.call("DELETE", q.apiRealm(), nil, nil); err != nil {
		return q.refused(q.realmURL(), err)
	}
	return q.done(c.base(q.realm), "Realm "+q.managed+" deleted.")
}
