package account

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/store"
)

type devicesView struct {
	common
	Devices []deviceView
	// CanEnroll: this node makes activation codes.
	CanEnroll bool
	// Confirm asks again before locking or removing the user's last active phone.
	Confirm *confirmView
}

type deviceView struct {
	ID, Name, Platform, AppVersion string
	// StateKey is the catalog key of the device's state.
	StateKey                string
	Active, Locked, Revoked bool
	LastSeen, Enrolled      timeView
}

type confirmView struct {
	Action, Name string
	// Lock: the question is about locking (else removing).
	Lock bool
}

// maxListed bounds the devices a page lists; realms allow a user at most 100.
const maxListed = 100

func (c *Console) devicesView(r *http.Request, q *request) (devicesView, error) {
	v := devicesView{common: c.common(q, "devices"), CanEnroll: c.enrollment() != nil}
	// Listed uncached: last-seen times in the cached reads lag.
	page, err := c.st.ListDevices(r.Context(), q.realm.Name, store.DeviceFilter{UserID: q.user.ID}, store.ListOptions{Limit: maxListed})
	if err != nil {
		return v, err
	}
	for _, d := range page.Items {
		name := d.DisplayName
		if name == "" {
			name = d.ID
		}
		v.Devices = append(v.Devices, deviceView{
			ID: d.ID, Name: name, Platform: d.Platform, AppVersion: d.AppVersion, StateKey: "account.device.state." + string(d.State),
			Active: d.State == store.DeviceActive, Locked: d.State == store.DeviceLocked, Revoked: d.State == store.DeviceRevoked,
			LastSeen: timeOf(d.LastSeenAt), Enrolled: timeOf(d.CreatedAt),
		})
	}
	return v, nil
}

func (c *Console) devices(w http.ResponseWriter, r *http.Request, q *request) {
	c.devicesPage(w, r, q, http.StatusOK, "", nil)
}

func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request, q *request, status int, errKey string, confirm *confirmView) {
	v, err := c.devicesView(r, q)
	if err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if errKey != "" {
		v.Error, v.Notice = errKey, ""
	}
	v.Confirm = confirm
	c.show(w, q, status, "devices", "account.devices.title", v)
}

// ownDevice loads the device of the path if it is the user's; another user's device is
// not found, as a missing one is.
func (c *Console) ownDevice(w http.ResponseWriter, r *http.Request, q *request) (store.Device, bool) {
	d, err := c.st.GetDevice(r.Context(), q.realm.Name, r.PathValue("device"))
	if err == nil && d.UserID != q.user.ID {
		err = store.ErrNotFound
	}
	if err != nil {
		c.storeFailure(w, r, q, "account.error.device_not_found", err)
		return store.Device{}, false
	}
	return d, true
}

func (c *Console) registry() device.Registry { return device.Registry{Store: c.st} }

func (c *Console) renameDevice(w http.ResponseWriter, r *http.Request, q *request) {
	d, ok := c.ownDevice(w, r, q)
	if !ok {
		return
	}
	_, err := c.registry().Rename(r.Context(), q.realm.Name, d.ID, r.PostForm.Get("name"), actor(q))
	c.deviceChanged(w, r, q, err, "renamed", nil)
}

// lockDevice locks a phone (lost, stolen): it can no longer connect or approve. Locking
// the user's last active phone needs a confirmation.
func (c *Console) lockDevice(w http.ResponseWriter, r *http.Request, q *request) {
	d, ok := c.ownDevice(w, r, q)
	if !ok {
		return
	}
	force := r.PostForm.Get("confirm") == "yes"
	_, err := c.registry().SetState(r.Context(), q.realm.Name, d.ID, store.DeviceLocked, actor(q), force)
	c.deviceChanged(w, r, q, err, "locked", &confirmView{Action: q.base + "/devices/" + d.ID + "/lock", Name: d.DisplayName, Lock: true})
}

// removeDevice deletes a phone: its key is forgotten, it can no longer connect or
// approve. Removing the user's last active phone needs a confirmation.
func (c *Console) removeDevice(w http.ResponseWriter, r *http.Request, q *request) {
	d, ok := c.ownDevice(w, r, q)
	if !ok {
		return
	}
	force := r.PostForm.Get("confirm") == "yes"
	err := c.registry().Remove(r.Context(), q.realm.Name, d.ID, actor(q), force)
	c.deviceChanged(w, r, q, err, "removed", &confirmView{Action: q.base + "/devices/" + d.ID + "/remove", Name: d.DisplayName})
}

// deviceChanged answers a device change: the devices page with what happened.
func (c *Console) deviceChanged(w http.ResponseWriter, r *http.Request, q *request, err error, done string, confirm *confirmView) {
	switch {
	case err == nil:
		c.redirect(w, r, q, "devices", done)
	case errors.Is(err, device.ErrLastDevice) && confirm != nil:
		c.devicesPage(w, r, q, http.StatusConflict, "account.error.last_device", confirm)
	case errors.Is(err, store.ErrInvalid):
		c.devicesPage(w, r, q, http.StatusBadRequest, "account.error.device_name", nil)
	case errors.Is(err, store.ErrConflict):
		c.devicesPage(w, r, q, http.StatusConflict, "account.error.device_revoked", nil)
	default:
		c.storeFailure(w, r, q, "account.error.device_not_found", err)
	}
}

type enrollView struct {
	common
	QRImage      template.URL
	Code, URL    string
	Expires      timeView
	Unavailable  bool
	MinutesValid int
}

// enroll shows a new phone's activation code (the QR payload the admin and REST APIs
// make) after a fresh approval only: without one the user signs in again (prompt=login),
// and the sign-in's auth_time must be within freshApproval. An approval makes one code.
func (c *Console) enroll(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	e := c.enrollment()
	if e == nil {
		v := enrollView{common: c.common(q, "devices"), Unavailable: true}
		c.show(w, q, http.StatusServiceUnavailable, "enroll", "account.enroll.title", v)
		return
	}
	now := c.now()
	approved := q.sess.Approved
	if approved.IsZero() || now.Sub(approved) > freshApproval {
		c.signIn(w, r, q, purposeEnroll)
		return
	}
	// The approval is used up before the code is made: of two loads, one gets a code.
	used, err := c.update(ctx, q, func(rec *record) {
		if rec.Approved.Equal(approved) {
			rec.Approved = time.Time{}
		}
	})
	if err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if !used {
		c.signIn(w, r, q, purposeEnroll)
		return
	}
	act, err := e.Create(ctx, c.st, now, device.ActivationRequest{Realm: q.realm.Name, UserID: q.user.ID, Actor: actor(q)})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrConflict) {
			c.redirect(w, r, q, "devices", "enroll_failed")
			return
		}
		c.storeFailure(w, r, q, "account.error.not_found", err)
		return
	}
	v := enrollView{common: c.common(q, "devices"), Code: act.Code, URL: act.URL, Expires: timeOf(act.ExpiresAt),
		MinutesValid: int(act.ExpiresAt.Sub(now).Round(time.Minute) / time.Minute),
		QRImage:      template.URL("data:image/png;base64," + act.QRPNG)}
	c.show(w, q, http.StatusOK, "enroll", "account.enroll.title", v)
}
