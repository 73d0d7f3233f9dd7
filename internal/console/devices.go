package console

import (
	"net/http"
	"net/url"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/rest"
)

// devicesPage lists a realm's enrolled devices, by state.
func (c *Console) devicesPage(q *req) error {
	state := q.r.URL.Query().Get("state")
	v := url.Values{"limit": {"200"}}
	if state != "" {
		v.Set("state", state)
	}
	if cur := q.r.URL.Query().Get("cursor"); cur != "" {
		v.Set("cursor", cur)
	}
	var devices rest.Page[admin.Device]
	if err := q.call("GET", q.apiRealm("devices")+"?"+v.Encode(), nil, &devices); err != nil {
		return err
	}
	next := ""
	if devices.Next != "" {
		nv := url.Values{"cursor": {devices.Next}}
		if state != "" {
			nv.Set("state", state)
		}
		next = "?" + nv.Encode()
	}
	back := q.realmURL("devices")
	if state != "" {
		back += "?" + url.Values{"state": {state}}.Encode()
	}
	return q.show(http.StatusOK, "devices", "Devices of "+q.managed, "devices", struct {
		Rows  []deviceRow
		State string
		Next  string
	}{q.deviceRows(devices.Items, back, true), state, next})
}

// deviceRow is a device with the form that changes its state, and the one that sends
// it a test push when it can be woken.
type deviceRow struct {
	Device             admin.Device
	Action, Back, CSRF string
	UserURL            string
	TestPush           string
}

func (q *req) deviceRows(devices []admin.Device, back string, withUser bool) []deviceRow {
	rows := make([]deviceRow, len(devices))
	for i, d := range devices {
		rows[i] = deviceRow{Device: d, Action: q.realmURL("devices", d.ID, "state"), Back: back, CSRF: q.c.cfg.CSRF.Token(q.id)}
		if withUser {
			rows[i].UserURL = q.realmURL("users", d.UserID)
		}
		if d.State == "active" && d.HasPushToken {
			rows[i].TestPush = q.realmURL("test-push")
		}
	}
	return rows
}

// setDeviceState locks, unlocks or revokes a device. Locking or revoking a user's last
// active device needs the form's confirmation (the API's force).
func (c *Console) setDeviceState(q *req) error {
	back := q.form("back")
	if !validBack(q, back) {
		back = q.realmURL("devices")
	}
	state := q.form("state")
	path := q.apiRealm("devices", q.r.PathValue("device"))
	if q.form("force") == "on" {
		path += "?force=true"
	}
	if err := q.call("PATCH", path, admin.DevicePatch{State: &state}, nil); err != nil {
		return q.refused(back, err)
	}
	msg := map[string]string{"locked": "Device locked.", "active": "Device unlocked.", "revoked": "Device revoked."}[state]
	return q.done(back, msg)
}

// validBack reports whether back is a page of this console for the managed realm, so a
// form's return address cannot send the administrator elsewhere.
func validBack(q *req, back string) bool {
	u, err := url.Parse(back)
	return err == nil && u.Scheme == "" && u.Host == "" && len(back) < 512 &&
		len(u.Path) > len(q.realmURL()) && u.Path[:len(q.realmURL())] == q.realmURL()
}
