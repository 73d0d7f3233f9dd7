package admin

import (
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Devices is what the device endpoints need to make activation codes.
type Devices = rest.Enrollment

// WithDevices turns on the device endpoints (the server always sets it).
func WithDevices(d Devices) Option { return func(a *API) { a.devices = &d } }

// Activation is a created activation code: Code and URL are shown once.
type Activation = rest.Activation

// ActivationCreate is the body of an activation request (optional).
type ActivationCreate = rest.ActivationCreate

// DevicePatch renames a device or changes its state.
type DevicePatch = rest.DevicePatch

// Device is the JSON representation of an enrolled device.
type Device = rest.Device

// AuditEvent is one recorded device change.
type AuditEvent struct {
	Seq      int64             `json:"seq"`
	At       time.Time         `json:"at"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	UserID   string            `json:"user_id,omitempty"`
	DeviceID string            `json:"device_id,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
}

func auditJSON(e store.AuditEvent) AuditEvent {
	return AuditEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, UserID: e.UserID, DeviceID: e.DeviceID, Detail: e.Detail}
}

// actor names who makes a change, for the audit log.
func actor(r *http.Request) string {
	if c, ok := CallerOf(r.Context()); ok {
		switch {
		case c.Subject != "" && !c.Platform():
			return "realm-admin:" + c.Subject
		case c.Subject != "":
			return "admin:" + c.Subject
		}
		return "client:" + c.ClientID
	}
	return "admin"
}

// deviceOps serves the device operations the admin API shares with the business API.
func (a *API) deviceOps() rest.Devices {
	return rest.Devices{Store: a.st, Enrollment: a.devices, Now: a.now, Actor: actor}
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	return a.deviceOps().ListDevices(w, r, realm.Name, store.DeviceFilter{UserID: q.Get("user"), State: store.DeviceState(q.Get("state"))})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{UserID: q.Get("user"), DeviceID: q.Get("device")}
	return rest.WriteListing(w, r, "audit listing", func(opts store.ListOptions) (store.Page[store.AuditEvent], error) {
		return a.st.ListAuditEvents(r.Context(), realm.Name, f, opts)
	}, auditJSON)
}
