package api

import (
	"net/http"

	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// listUserDevices answers GET .../users/{user}/devices: the user's devices, ?state=
// narrowing them.
func (a *API) listUserDevices(w http.ResponseWriter, r *http.Request) error {
	u, err := a.users.User(r)
	if err != nil {
		return err
	}
	f := store.DeviceFilter{UserID: u.ID, State: store.DeviceState(r.URL.Query().Get("state"))}
	return a.devices.ListDevices(w, r, u.Realm, f)
}

// setDeviceState answers POST .../devices/{device}/lock and /unlock (no body). Locking
// the user's last active device needs ?force=true.
func (a *API) setDeviceState(state store.DeviceState) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return a.devices.ChangeDevice(w, r, func() (device.Change, error) {
			if err := rest.Decode(w, r, &struct{}{}, true); err != nil {
				return device.Change{}, err
			}
			return device.Change{State: &state}, nil
		})
	}
}
