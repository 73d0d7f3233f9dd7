package admin

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/store"
)

// Devices is what the device endpoints need: the DEVICE listener's public URL and the
// channel key fingerprint (both go into activation QR payloads) and the pepper under
// which activation codes are hashed.
type Devices struct {
	PublicURL   string
	Fingerprint func() ([32]byte, error)
	Pepper      []byte
}

// WithDevices turns on the device endpoints (the server always sets it).
func WithDevices(d Devices) Option { return func(a *API) { a.devices = &d } }

// Activation is a created activation code: Code and URL are shown once.
type Activation struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RedeemedAt time.Time `json:"redeemed_at,omitzero"`
	DeviceID   string    `json:"device_id,omitempty"`
	Code       string    `json:"code,omitempty"`
	URL        string    `json:"url,omitempty"`
	// QRPNG is the URL as a QR code, a base64 PNG.
	QRPNG string `json:"qr_png,omitempty"`
}

func activationJSON(c store.ActivationCode) Activation {
	return Activation{ID: c.ID, UserID: c.UserID, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt,
		RedeemedAt: c.RedeemedAt, DeviceID: c.DeviceID}
}

// ActivationCreate is the body of an activation request (optional).
type ActivationCreate struct {
	// TTLSeconds is the code's lifetime: 60 to 86400; 0 means 15 minutes.
	TTLSeconds int64 `json:"ttl_seconds"`
}

// DevicePatch renames a device or changes its state.
type DevicePatch struct {
	DisplayName *string `json:"display_name"`
	State       *string `json:"state"`
}

// Device is the JSON representation of an enrolled device.
type Device struct {
	ID           string    `json:"id"`
	UserID       string    `json:"user_id"`
	DisplayName  string    `json:"display_name"`
	Platform     string    `json:"platform,omitempty"`
	AppVersion   string    `json:"app_version,omitempty"`
	PushProvider string    `json:"push_provider,omitempty"`
	HasPushToken bool      `json:"has_push_token"`
	State        string    `json:"state"`
	PublicKey    string    `json:"public_key"` // base64url uncompressed P-256 point
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	LastSeenAt   time.Time `json:"last_seen_at,omitzero"`
}

func deviceJSON(d store.Device) Device {
	return Device{ID: d.ID, UserID: d.UserID, DisplayName: d.DisplayName, Platform: d.Platform, AppVersion: d.AppVersion,
		PushProvider: d.PushProvider, HasPushToken: d.PushToken != "", State: string(d.State),
		PublicKey: base64.RawURLEncoding.EncodeToString(d.PublicKey), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		LastSeenAt: d.LastSeenAt}
}

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
	if b, ok := r.Context().Value(bearerKey{}).(oidc.Bearer); ok {
		if b.Subject != "" {
			return "admin:" + b.Subject
		}
		return "client:" + b.ClientID
	}
	return "admin"
}

func (a *API) deviceSupport() (*Devices, error) {
	if a.devices == nil {
		return nil, problemf(http.StatusNotImplemented, "this node serves no device endpoints")
	}
	return a.devices, nil
}

func (a *API) createActivation(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.deviceSupport()
	if err != nil {
		return err
	}
	u, err := a.user(r)
	if err != nil {
		return err
	}
	var in ActivationCreate
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	fp, err := ds.Fingerprint()
	if err != nil {
		return err
	}
	act, err := device.CreateActivation(r.Context(), a.st, ds.Pepper, fp, ds.PublicURL, a.now(),
		device.ActivationRequest{Realm: u.Realm, UserID: u.ID, TTL: time.Duration(in.TTLSeconds) * time.Second, Actor: actor(r)})
	if errors.Is(err, store.ErrInvalid) {
		return badRequest("%s", err)
	}
	if err != nil {
		return storeError(err, userWhat(u.Realm, u.ID))
	}
	png, err := device.QRPNG(act.URL, 320)
	if err != nil {
		return err
	}
	out := activationJSON(act.ActivationCode)
	out.Code, out.URL, out.QRPNG = act.Code, act.URL, base64.StdEncoding.EncodeToString(png)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) listActivations(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	return writeListing(w, r, "activation listing", func(opts store.ListOptions) (store.Page[store.ActivationCode], error) {
		return a.st.ListActivationCodes(r.Context(), u.Realm, u.ID, opts)
	}, activationJSON)
}

func (a *API) deleteActivation(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	id := r.PathValue("activation")
	if err := a.st.DeleteActivationCode(r.Context(), realm.Name, id, store.Audit{Actor: actor(r), Action: "activation_deleted"}); err != nil {
		return storeError(err, fmt.Sprintf("activation %q in realm %q", id, realm.Name))
	}
	return writeJSON(w, http.StatusNoContent, nil)
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.DeviceFilter{UserID: q.Get("user"), State: store.DeviceState(q.Get("state"))}
	if err := store.ValidDeviceFilter(f); err != nil {
		return badRequest("state must be active, locked or revoked")
	}
	return writeListing(w, r, "device listing", func(opts store.ListOptions) (store.Page[store.Device], error) {
		return a.st.ListDevices(r.Context(), realm.Name, f, opts)
	}, deviceJSON)
}

func deviceWhat(realm, id string) string { return fmt.Sprintf("device %q in realm %q", id, realm) }

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := inRealm(a, r, "device", a.st.GetDevice, deviceWhat)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(d.Version))
	return writeJSON(w, http.StatusOK, deviceJSON(d))
}

// updateDevice renames a device or changes its state (lock, unlock, revoke). Locking or
// revoking the user's last active device needs ?force=true.
func (a *API) updateDevice(w http.ResponseWriter, r *http.Request) error {
	d, force, err := a.deviceToChange(r)
	if err != nil {
		return err
	}
	var in DevicePatch
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	ch := device.Change{DisplayName: in.DisplayName, Force: force}
	if r.Header.Get("If-Match") != "" {
		ch.Version = d.Version // checked again inside the update
	}
	if in.State != nil {
		state := store.DeviceState(*in.State)
		ch.State = &state
	}
	updated, err := (device.Registry{Store: a.st}).Update(r.Context(), d.Realm, d.ID, ch, actor(r))
	if err != nil {
		return deviceError(err, d)
	}
	w.Header().Set("ETag", etag(updated.Version))
	return writeJSON(w, http.StatusOK, deviceJSON(updated))
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	d, force, err := a.deviceToChange(r)
	if err != nil {
		return err
	}
	if err := (device.Registry{Store: a.st}).Remove(r.Context(), d.Realm, d.ID, actor(r), force); err != nil {
		return deviceError(err, d)
	}
	return writeJSON(w, http.StatusNoContent, nil)
}

// deviceToChange loads the device a change addresses, checks If-Match, and reads ?force.
func (a *API) deviceToChange(r *http.Request) (store.Device, bool, error) {
	d, err := inRealm(a, r, "device", a.st.GetDevice, deviceWhat)
	if err != nil {
		return d, false, err
	}
	if err := ifMatch(r)(d.Version); err != nil {
		return d, false, err
	}
	return d, r.URL.Query().Get("force") == "true", nil
}

func deviceError(err error, d store.Device) error {
	switch {
	case errors.Is(err, device.ErrLastDevice):
		return conflict("this is the user's last active device; repeat with ?force=true to go ahead")
	case errors.Is(err, device.ErrVersion):
		return problemf(http.StatusPreconditionFailed, "the device has changed; read it again")
	case errors.Is(err, store.ErrInvalid):
		return badRequest("%s", err)
	}
	return storeError(err, deviceWhat(d.Realm, d.ID))
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{UserID: q.Get("user"), DeviceID: q.Get("device")}
	return writeListing(w, r, "audit listing", func(opts store.ListOptions) (store.Page[store.AuditEvent], error) {
		return a.st.ListAuditEvents(r.Context(), realm.Name, f, opts)
	}, auditJSON)
}
