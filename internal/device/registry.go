package device

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
)

// ErrLastDevice refuses removing (or revoking) a user's last active device without force:
// the user would be left without the factor.
var ErrLastDevice = errors.New("device: this is the user's last active device")

// Registry changes enrolled devices on behalf of an actor (an administrator or the API);
// every change is audited in the same transaction.
type Registry struct {
	Store store.Store
}

// Rename sets a device's display name.
func (g Registry) Rename(ctx context.Context, realm, id, name, actor string) (store.Device, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return store.Device{}, fmt.Errorf("%w: the name must have 1 to 100 characters", store.ErrInvalid)
	}
	return g.Store.UpdateDevice(ctx, realm, id, store.Audit{Actor: actor, Action: "renamed", Detail: map[string]string{"name": name}},
		func(d store.Device) (store.Device, error) {
			d.DisplayName = name
			return d, nil
		})
}

// SetState locks, unlocks or revokes a device. A revoked device stays revoked; a locked
// or revoked device cannot complete a handshake or answer a request.
func (g Registry) SetState(ctx context.Context, realm, id string, state store.DeviceState, actor string, force bool) (store.Device, error) {
	action := map[store.DeviceState]string{store.DeviceActive: "unlocked", store.DeviceLocked: "locked", store.DeviceRevoked: "revoked"}[state]
	if action == "" {
		return store.Device{}, fmt.Errorf("%w: unknown state %q", store.ErrInvalid, state)
	}
	if state != store.DeviceActive && !force {
		if err := g.checkNotLast(ctx, realm, id); err != nil {
			return store.Device{}, err
		}
	}
	return g.Store.UpdateDevice(ctx, realm, id, store.Audit{Actor: actor, Action: action},
		func(d store.Device) (store.Device, error) {
			if d.State == store.DeviceRevoked && state != store.DeviceRevoked {
				return d, fmt.Errorf("%w: a revoked device cannot be %s", store.ErrConflict, action)
			}
			d.State = state
			return d, nil
		})
}

// Remove deletes a device; removing the user's last active device needs force.
func (g Registry) Remove(ctx context.Context, realm, id, actor string, force bool) error {
	if !force {
		if err := g.checkNotLast(ctx, realm, id); err != nil {
			return err
		}
	}
	return g.Store.DeleteDevice(ctx, realm, id, store.Audit{Actor: actor, Action: "removed"})
}

// checkNotLast refuses when id is the only active device of its user.
func (g Registry) checkNotLast(ctx context.Context, realm, id string) error {
	d, err := g.Store.GetDevice(ctx, realm, id)
	if err != nil {
		return err
	}
	if d.State != store.DeviceActive {
		return nil
	}
	page, err := g.Store.ListDevices(ctx, realm, store.DeviceFilter{UserID: d.UserID, State: store.DeviceActive}, store.ListOptions{Limit: 2})
	if err != nil {
		return err
	}
	if len(page.Items) < 2 {
		return ErrLastDevice
	}
	return nil
}
