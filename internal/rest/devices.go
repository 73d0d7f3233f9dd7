package rest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/store"
)

// Enrollment is what activation codes need: the DEVICE listener's public URL and the
// channel key fingerprint (both go into activation QR payloads) and the pepper under
// which activation codes are hashed.
type Enrollment struct {
	PublicURL   string
	Fingerprint func() ([32]byte, error)
	Pepper      []byte
}

// Activation is a created activation code: Code, URL and QRPNG are shown once.
type Activation struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RedeemedAt time.Time `json:"redeemed_at,omitzero"`
	DeviceID   string    `json:"device_id,omitempty"`
	Code       string    `json:"code,omitempty"`
	// URL is the QR payload.
	URL string `json:"url,omitempty"`
	// QRPNG is the URL as a QR code, a base64 PNG.
	QRPNG string `json:"qr_png,omitempty"`
}

// ActivationJSON is the representation of a stored activation code (without its code).
func ActivationJSON(c store.ActivationCode) Activation {
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

// DeviceJSON is the representation of d.
func DeviceJSON(d store.Device) Device {
	return Device{ID: d.ID, UserID: d.UserID, DisplayName: d.DisplayName, Platform: d.Platform, AppVersion: d.AppVersion,
		PushProvider: d.PushProvider, HasPushToken: d.PushToken != "", State: string(d.State),
		PublicKey: base64.RawURLEncoding.EncodeToString(d.PublicKey), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		LastSeenAt: d.LastSeenAt}
}

// DeviceWhat names a device in messages.
func DeviceWhat(realm, id string) string { return fmt.Sprintf("device %q in realm %q", id, realm) }

// Devices serves the device and activation operations of an API. Actor names who makes
// a change, for the audit log.
type Devices struct {
	Store store.Store
	// Enrollment is nil on a node that makes no activation codes.
	Enrollment *Enrollment
	Now        func() time.Time
	Actor      func(r *http.Request) string
}

// CreateActivation answers POST .../users/{user}/activations: the code, its QR payload
// and the payload as a PNG, shown this once.
func (ds Devices) CreateActivation(w http.ResponseWriter, r *http.Request) error {
	if ds.Enrollment == nil {
		return Problemf(http.StatusNotImplemented, "this node serves no device endpoints")
	}
	u, err := InRealm(r, ds.Store, "user", ds.Store.GetUser, UserWhat)
	if err != nil {
		return err
	}
	var in ActivationCreate
	if err := Decode(w, r, &in, true); err != nil {
		return err
	}
	// The store checks the lifetime; a value no Duration holds would wrap first.
	if in.TTLSeconds < 0 || in.TTLSeconds > int64(device.MaxActivationTTL/time.Second) {
		return BadRequest("ttl_seconds must be from %d to %d", int64(device.MinActivationTTL/time.Second), int64(device.MaxActivationTTL/time.Second))
	}
	out, err := ds.Enrollment.Create(r.Context(), ds.Store, ds.Now(),
		device.ActivationRequest{Realm: u.Realm, UserID: u.ID, TTL: time.Duration(in.TTLSeconds) * time.Second, Actor: ds.Actor(r)})
	if err != nil {
		return StoreError(err, UserWhat(u.Realm, u.ID))
	}
	return WriteJSON(w, http.StatusCreated, out)
}

// Create makes a one-time activation code as req asks and returns it with its QR payload
// and the payload as a PNG: what the admin API, the REST API and the account console
// show once.
func (e Enrollment) Create(ctx context.Context, st store.Store, now time.Time, req device.ActivationRequest) (Activation, error) {
	fp, err := e.Fingerprint()
	if err != nil {
		return Activation{}, err
	}
	act, err := device.CreateActivation(ctx, st, e.Pepper, fp, e.PublicURL, now, req)
	if err != nil {
		return Activation{}, err
	}
	png, err := device.QRPNG(act.URL, 320)
	if err != nil {
		return Activation{}, err
	}
	out := ActivationJSON(act.ActivationCode)
	out.Code, out.URL, out.QRPNG = act.Code, act.URL, base64.StdEncoding.EncodeToString(png)
	return out, nil
}

// ListActivations answers GET .../users/{user}/activations.
func (ds Devices) ListActivations(w http.ResponseWriter, r *http.Request) error {
	u, err := InRealm(r, ds.Store, "user", ds.Store.GetUser, UserWhat)
	if err != nil {
		return err
	}
	return WriteListing(w, r, "activation listing", func(opts store.ListOptions) (store.Page[store.ActivationCode], error) {
		return ds.Store.ListActivationCodes(r.Context(), u.Realm, u.ID, opts)
	}, ActivationJSON)
}

// DeleteActivation answers DELETE .../activations/{activation}: the code is revoked.
func (ds Devices) DeleteActivation(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, ds.Store)
	if err != nil {
		return err
	}
	id := r.PathValue("activation")
	if err := ds.Store.DeleteActivationCode(r.Context(), realm.Name, id, store.Audit{Actor: ds.Actor(r), Action: "activation_deleted"}); err != nil {
		return StoreError(err, fmt.Sprintf("activation %q in realm %q", id, realm.Name))
	}
	return WriteJSON(w, http.StatusNoContent, nil)
}

// ListDevices answers a listing of the realm's devices narrowed by f.
func (ds Devices) ListDevices(w http.ResponseWriter, r *http.Request, realm string, f store.DeviceFilter) error {
	if err := store.ValidDeviceFilter(f); err != nil {
		return BadRequest("state must be active, locked or revoked")
	}
	return WriteListing(w, r, "device listing", func(opts store.ListOptions) (store.Page[store.Device], error) {
		return ds.Store.ListDevices(r.Context(), realm, f, opts)
	}, DeviceJSON)
}

// Device loads the device of the path.
func (ds Devices) Device(r *http.Request) (store.Device, error) {
	return InRealm(r, ds.Store, "device", ds.Store.GetDevice, DeviceWhat)
}

// GetDevice answers GET .../devices/{device} with its ETag.
func (ds Devices) GetDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := ds.Device(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", ETag(d.Version))
	return WriteJSON(w, http.StatusOK, DeviceJSON(d))
}

// UpdateDevice answers PATCH .../devices/{device}: a rename or a change of state (lock,
// unlock, revoke). Locking or revoking the user's last active device needs ?force=true.
func (ds Devices) UpdateDevice(w http.ResponseWriter, r *http.Request) error {
	var in DevicePatch
	return ds.ChangeDevice(w, r, func() (device.Change, error) {
		if err := Decode(w, r, &in, false); err != nil {
			return device.Change{}, err
		}
		ch := device.Change{DisplayName: in.DisplayName}
		if in.State != nil {
			state := store.DeviceState(*in.State)
			ch.State = &state
		}
		return ch, nil
	})
}

// ChangeDevice loads the device of the path, checks If-Match and reads ?force, then
// makes the change change returns and answers the device as it is afterwards.
func (ds Devices) ChangeDevice(w http.ResponseWriter, r *http.Request, change func() (device.Change, error)) error {
	d, force, err := ds.deviceToChange(r)
	if err != nil {
		return err
	}
	ch, err := change()
	if err != nil {
		return err
	}
	ch.Force = force
	if r.Header.Get("If-Match") != "" {
		ch.Version = d.Version // checked again inside the update
	}
	updated, err := (device.Registry{Store: ds.Store}).Update(r.Context(), d.Realm, d.ID, ch, ds.Actor(r))
	if err != nil {
		return deviceError(err, d)
	}
	w.Header().Set("ETag", ETag(updated.Version))
	return WriteJSON(w, http.StatusOK, DeviceJSON(updated))
}

// DeleteDevice answers DELETE .../devices/{device}.
func (ds Devices) DeleteDevice(w http.ResponseWriter, r *http.Request) error {
	d, force, err := ds.deviceToChange(r)
	if err != nil {
		return err
	}
	if err := (device.Registry{Store: ds.Store}).Remove(r.Context(), d.Realm, d.ID, ds.Actor(r), force); err != nil {
		return deviceError(err, d)
	}
	return WriteJSON(w, http.StatusNoContent, nil)
}

// deviceToChange loads the device a change addresses, checks If-Match, and reads ?force.
func (ds Devices) deviceToChange(r *http.Request) (store.Device, bool, error) {
	d, err := ds.Device(r)
	if err != nil {
		return d, false, err
	}
	if err := IfMatch(r)(d.Version); err != nil {
		return d, false, err
	}
	return d, r.URL.Query().Get("force") == "true", nil
}

func deviceError(err error, d store.Device) error {
	switch {
	case errors.Is(err, device.ErrLastDevice):
		return Conflict("this is the user's last active device; repeat with ?force=true to go ahead")
	case errors.Is(err, device.ErrVersion):
		return Problemf(http.StatusPreconditionFailed, "the device has changed; read it again")
	}
	return StoreError(err, DeviceWhat(d.Realm, d.ID))
}
