package device

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
)

// ErrLastDevice refuses removing (or locking, or revoking) a user's last active device
// without force: the user would be left without the factor. The store checks it in the
// change's own transaction, so two concurrent changes cannot both pass.
var ErrLastDevice = store.ErrLastDevice

// Registry changes enrolled devices on behalf of an actor (an administrator or the API);
// every change is audited in the same transaction.
type Registry struct {
	Store store.Store
}

// Change is what Update may change; nil fields stay as they are.
type Change struct {
	DisplayName *string
	State       *store.DeviceState
	// Version, when not zero, must be the stored device's (If-Match).
	Version int64
	// Force allows locking or revoking the user's last active device.
	Force bool
}

// ErrVersion refuses an update of a device that changed since the caller read it.
var ErrVersion = errors.New("device: the device has changed")

// Update renames a device and changes its state (lock, unlock, revoke) in one audited
// transaction. A revoked device stays revoked; a locked or revoked device cannot
// complete a handshake or answer a request.
func (g Registry) Update(ctx context.Context, realm, id string, ch Change, actor string) (store.Device, error) {
	var name string
	if ch.DisplayName != nil {
		name = strings.TrimSpace(*ch.DisplayName)
		if name == "" || utf8.RuneCountInString(name) > 100 || !printable(name) {
			return store.Device{}, fmt.Errorf("%w: the name must have 1 to 100 printable characters", store.ErrInvalid)
		}
	}
	actions := map[store.DeviceState]string{store.DeviceActive: "unlocked", store.DeviceLocked: "locked", store.DeviceRevoked: "revoked"}
	a := store.Audit{Actor: actor, Action: "renamed", Detail: map[string]string{}}
	if ch.DisplayName != nil {
		a.Detail["name"] = name
	}
	if ch.State != nil {
		if actions[*ch.State] == "" {
			return store.Device{}, fmt.Errorf("%w: unknown state %q", store.ErrInvalid, *ch.State)
		}
		a.Action = actions[*ch.State]
		if ch.DisplayName != nil {
			a.Action += "+renamed"
		}
	}
	update := g.Store.UpdateDeviceKeepingOne
	if ch.Force {
		update = g.Store.UpdateDevice
	}
	return update(ctx, realm, id, a, func(d store.Device) (store.Device, error) {
		if ch.Version != 0 && d.Version != ch.Version {
			return d, ErrVersion
		}
		if ch.State != nil && *ch.State != d.State {
			if d.State == store.DeviceRevoked {
				return d, fmt.Errorf("%w: a revoked device cannot be %s", store.ErrConflict, actions[*ch.State])
			}
			d.State = *ch.State
		}
		if ch.DisplayName != nil {
			d.DisplayName = name
		}
		return d, nil
	})
}

// Rename sets a device's display name.
func (g Registry) Rename(ctx context.Context, realm, id, name, actor string) (store.Device, error) {
	return g.Update(ctx, realm, id, Change{DisplayName: &name}, actor)
}

// SetState locks, unlocks or revokes a device.
func (g Registry) SetState(ctx context.Context, realm, id string, state store.DeviceState, actor string, force bool) (store.Device, error) {
	return g.Update(ctx, realm, id, Change{State: &state, Force: force}, actor)
}

// Remove deletes a device; removing the user's last active device needs force.
func (g Registry) Remove(ctx context.Context, realm, id, actor string, force bool) error {
	a := store.Audit{Actor: actor, Action: "removed"}
	if force {
		return g.Store.DeleteDevice(ctx, realm, id, a)
	}
	return g.Store.DeleteDeviceKeepingOne(ctx, realm, id, a)
}
