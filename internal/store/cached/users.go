package cached

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Users and devices are cached for the device channel and push requests, which read the
// user and the device on every message and every request: GetUser, FindDevice and
// UserDevices come from memory, invalidated like realms and clients. A user locked,
// disabled or deleted, or a device locked, revoked or removed, through any node is so
// refused on every node as soon as the invalidation arrives (and on this node at once).
//
// TouchDevice and TouchDevices do not invalidate: LastSeenAt in what FindDevice and
// UserDevices return may lag by up to the TTL. GetDevice and ListDevices, which consoles
// show, always read the database.

type userKey struct{ realm, id string }

// GetUser implements store.Users from memory when it can.
func (s *Store) GetUser(ctx context.Context, realm, id string) (store.User, error) {
	return read(s, s.users, userKey{realm, id}, cloneUser, func() (store.User, error) {
		return s.backend.GetUser(ctx, realm, id)
	})
}

// FindDevice implements store.Devices from memory when it can: the device by its id,
// its user through GetUser.
func (s *Store) FindDevice(ctx context.Context, id string) (store.Device, store.User, error) {
	if !s.live.Load() {
		s.misses.Add(1)
		return s.backend.FindDevice(ctx, id)
	}
	if d, err, ok := s.devices.get(id, s.cfg.now()); ok && err == nil {
		s.hits.Add(1)
		u, err := s.GetUser(ctx, d.Realm, d.UserID)
		if err != nil {
			return store.Device{}, store.User{}, err
		}
		return cloneDevice(d), u, nil
	}
	s.misses.Add(1)
	now := s.cfg.now()
	slot, gen := s.devices.begin(id)
	d, u, err := s.backend.FindDevice(ctx, id)
	if err != nil {
		// Not found is not cached: a device is found by an id its handshake names, and
		// a flood of unknown ids must not fill the table.
		s.devices.abandon(slot)
		return d, u, err
	}
	s.devices.finish(slot, gen, d, nil, now.Add(s.cfg.ttl))
	// The user that came with the device is not cached: its read was not fenced against
	// an invalidation of the user that arrived meanwhile (GetUser's own load is).
	return cloneDevice(d), u, nil
}

// UserDevices implements store.Devices from memory when it can.
func (s *Store) UserDevices(ctx context.Context, realm, userID string) ([]store.Device, error) {
	return read(s, s.owned, userKey{realm, userID}, cloneDevices, func() ([]store.Device, error) {
		return s.backend.UserDevices(ctx, realm, userID)
	})
}

// CreateUser implements store.Users and invalidates the user (a cached not-found).
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	created, err := s.backend.CreateUser(ctx, u)
	id := created.ID
	if id == "" {
		id = u.ID
	}
	if id != "" {
		s.changed(ctx, message{Kind: kindUser, Realm: u.Realm, User: id})
	}
	return created, err
}

// UpdateUser implements store.Users and invalidates the user, unless fn refused the
// change (then the transaction wrote nothing): a password login that finds nothing to
// count publishes nothing.
func (s *Store) UpdateUser(ctx context.Context, realm, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	var refused error
	updated, err := s.backend.UpdateUser(ctx, realm, id, func(u store.User) (store.User, error) {
		next, err := fn(u)
		refused = err
		return next, err
	})
	if err == nil || refused == nil || !errors.Is(err, refused) {
		s.changed(ctx, message{Kind: kindUser, Realm: realm, User: id})
	}
	return updated, err
}

// DeleteUser implements store.Users and invalidates the user and their devices, which
// the inner store deletes with them.
func (s *Store) DeleteUser(ctx context.Context, realm, id string) error {
	err := s.backend.DeleteUser(ctx, realm, id)
	s.changed(ctx, message{Kind: kindUserTree, Realm: realm, User: id})
	return err
}

// EnrollDevice implements store.ActivationCodes and invalidates the new device's user's
// device list.
func (s *Store) EnrollDevice(ctx context.Context, realm string, codeHash []byte, now time.Time, maxDevices int, d store.Device, a store.Audit) (store.Device, error) {
	enrolled, err := s.backend.EnrollDevice(ctx, realm, codeHash, now, maxDevices, d, a)
	switch {
	case err == nil:
		s.changed(ctx, message{Kind: kindDevice, Realm: realm, Device: enrolled.ID, User: enrolled.UserID})
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		// Refused before anything was written (a bad or used code, a taken key).
	default:
		// It may have happened; which user the code was for is unknown here.
		s.changed(ctx, message{Kind: kindDevice, Realm: realm, Device: d.ID})
	}
	return enrolled, err
}

// UpdateDevice implements store.Devices and invalidates the device.
func (s *Store) UpdateDevice(ctx context.Context, realm, id string, a store.Audit, fn func(store.Device) (store.Device, error)) (store.Device, error) {
	updated, err := s.backend.UpdateDevice(ctx, realm, id, a, fn)
	s.deviceChanged(ctx, realm, id, updated.UserID)
	return updated, err
}

// UpdateDeviceKeepingOne implements store.Devices and invalidates the device.
func (s *Store) UpdateDeviceKeepingOne(ctx context.Context, realm, id string, a store.Audit, fn func(store.Device) (store.Device, error)) (store.Device, error) {
	updated, err := s.backend.UpdateDeviceKeepingOne(ctx, realm, id, a, fn)
	s.deviceChanged(ctx, realm, id, updated.UserID)
	return updated, err
}

// DeleteDevice implements store.Devices and invalidates the device.
func (s *Store) DeleteDevice(ctx context.Context, realm, id string, a store.Audit) error {
	user := s.ownerOf(ctx, realm, id)
	err := s.backend.DeleteDevice(ctx, realm, id, a)
	s.deviceChanged(ctx, realm, id, user)
	return err
}

// DeleteDeviceKeepingOne implements store.Devices and invalidates the device.
func (s *Store) DeleteDeviceKeepingOne(ctx context.Context, realm, id string, a store.Audit) error {
	user := s.ownerOf(ctx, realm, id)
	err := s.backend.DeleteDeviceKeepingOne(ctx, realm, id, a)
	s.deviceChanged(ctx, realm, id, user)
	return err
}

// ownerOf reads which user a device belongs to ("" when it cannot tell), so that its
// removal names the device list to drop.
func (s *Store) ownerOf(ctx context.Context, realm, id string) string {
	d, err := s.backend.GetDevice(ctx, realm, id)
	if err != nil {
		return ""
	}
	return d.UserID
}

// deviceChanged invalidates a device and its user's device list; an unknown user ("")
// drops the device lists of the whole realm.
func (s *Store) deviceChanged(ctx context.Context, realm, id, user string) {
	s.changed(ctx, message{Kind: kindDevice, Realm: realm, Device: id, User: user})
}

// cloneUser copies u so that no caller shares the cached slices and maps.
func cloneUser(u store.User) store.User {
	u.TOTPSecret = slices.Clone(u.TOTPSecret)
	u.Attributes = maps.Clone(u.Attributes)
	return u
}

// cloneDevice copies d so that no caller shares the cached public key.
func cloneDevice(d store.Device) store.Device {
	d.PublicKey = slices.Clone(d.PublicKey)
	return d
}

func cloneDevices(ds []store.Device) []store.Device {
	out := make([]store.Device, len(ds))
	for i, d := range ds {
		out[i] = cloneDevice(d)
	}
	return out
}
