package cached_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/testutil"
)

// seedUser creates user u1 in realm acme (seed's realm) with one device per id, straight
// in the database.
func seedUser(t testing.TB, s store.Store, deviceIDs ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, store.User{Realm: "acme", ID: "u1", Username: "alice", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for i, id := range deviceIDs {
		enrollDevice(t, s, id, i)
	}
}

// enrollDevice enrolls a device of u1 through an activation code, the one way the store
// makes devices.
func enrollDevice(t testing.TB, s store.Store, id string, key int) store.Device {
	t.Helper()
	ctx := context.Background()
	hash := sha256.Sum256([]byte("code " + id))
	if _, err := s.CreateActivationCode(ctx, store.ActivationCode{Realm: "acme", ID: "code-" + id, CodeHash: hash[:], UserID: "u1",
		CreatedBy: "test", ExpiresAt: time.Now().Add(time.Hour)}, store.Audit{Actor: "test", Action: "activation_created"}); err != nil {
		t.Fatal(err)
	}
	point := make([]byte, 65)
	point[0] = 4
	copy(point[1:], fmt.Sprintf("%064d", key))
	d, err := s.EnrollDevice(ctx, "acme", hash[:], time.Now(), 0, store.Device{ID: id, PublicKey: point, DisplayName: id},
		store.Audit{Actor: "test", Action: "enrolled"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func lockDevice(d store.Device) (store.Device, error) {
	d.State = store.DeviceLocked
	return d, nil
}

// The device channel's reads (the device with its user, the user's devices, the user)
// come from memory after the first.
func TestUserAndDeviceReadsServedFromMemory(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	s, inner := newNode(t, path, newBus(t))
	seed(t, inner.Store)
	seedUser(t, inner.Store, "d1", "d2")
	ctx := t.Context()
	for range 3 {
		d, u, err := s.FindDevice(ctx, "d1")
		if err != nil || d.ID != "d1" || u.ID != "u1" || !u.Enabled {
			t.Fatalf("FindDevice = %+v, %+v, %v", d, u, err)
		}
		if u, err := s.GetUser(ctx, "acme", "u1"); err != nil || u.Username != "alice" {
			t.Fatalf("GetUser = %+v, %v", u, err)
		}
		ds, err := s.UserDevices(ctx, "acme", "u1")
		if err != nil || len(ds) != 2 || ds[0].ID != "d1" || ds[1].ID != "d2" {
			t.Fatalf("UserDevices = %+v, %v", ds, err)
		}
	}
	if n := inner.userReads.Load(); n != 3 {
		t.Errorf("%d user and device reads reached the database, want 3 (FindDevice, GetUser and UserDevices once)", n)
	}
	// A device never enrolled is not cached: ids come from handshakes anyone can start.
	for range 2 {
		if _, _, err := s.FindDevice(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FindDevice(nope) = %v, want ErrNotFound", err)
		}
	}
	if n := inner.userReads.Load(); n != 5 {
		t.Errorf("%d reads, want the unknown device read from the database each time (5)", n)
	}
}

// A lock, a removal, an enrollment or a deleted user made through one node is seen by the
// others: the device channel on every node refuses a locked device or user.
func TestUserAndDeviceChangesSeenOnOtherNode(t *testing.T) {
	t.Parallel()
	path, bus := dbPath(t), newBus(t)
	long := []cached.Option{cached.WithTTL(time.Hour), cached.WithNegativeTTL(time.Hour)}
	a, innerA := newNode(t, path, bus, long...)
	b, _ := newNode(t, path, bus, long...)
	seed(t, innerA.Store)
	seedUser(t, innerA.Store, "d1", "d2")
	ctx := t.Context()
	findOnB := func(id string) (store.Device, store.User, error) { return b.FindDevice(ctx, id) }
	devicesOnB := func() []string {
		ds, err := b.UserDevices(ctx, "acme", "u1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID+":"+string(d.State))
		}
		return ids
	}
	if _, _, err := findOnB("d1"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(devicesOnB()); got != "[d1:active d2:active]" {
		t.Fatalf("devices on B = %s", got)
	}

	if _, err := a.UpdateDevice(ctx, "acme", "d1", store.Audit{Actor: "admin", Action: "device_locked"}, lockDevice); err != nil {
		t.Fatal(err)
	}
	if d, _, err := a.FindDevice(ctx, "d1"); err != nil || d.State != store.DeviceLocked {
		t.Errorf("node A after its own lock: %+v, %v", d, err)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		d, _, err := findOnB("d1")
		return err == nil && d.State == store.DeviceLocked && fmt.Sprint(devicesOnB()) == "[d1:locked d2:active]"
	}, "node B to see the device locked on node A")

	if err := a.DeleteDevice(ctx, "acme", "d2", store.Audit{Actor: "admin", Action: "device_removed"}); err != nil {
		t.Fatal(err)
	}
	enrollDevice(t, a, "d3", 3)
	testutil.Eventually(t, waitTimeout, func() bool {
		_, _, err := findOnB("d2")
		return errors.Is(err, store.ErrNotFound) && fmt.Sprint(devicesOnB()) == "[d1:locked d3:active]"
	}, "node B to see d2 removed and d3 enrolled on node A")

	if _, err := a.UpdateUser(ctx, "acme", "u1", func(u store.User) (store.User, error) {
		u.LockedUntil = time.Now().Add(time.Hour)
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		_, u, err := findOnB("d3")
		return err == nil && !u.LockedUntil.IsZero()
	}, "node B to see the user locked on node A")

	if err := a.DeleteUser(ctx, "acme", "u1"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		_, _, err1 := findOnB("d1")
		_, err2 := b.GetUser(ctx, "acme", "u1")
		return errors.Is(err1, store.ErrNotFound) && errors.Is(err2, store.ErrNotFound) && len(devicesOnB()) == 0
	}, "node B to see the user deleted on node A")
}

// What the cache hands out is the caller's own: changing it changes nothing cached.
func TestUserAndDeviceCopiesAreIndependent(t *testing.T) {
	t.Parallel()
	s, inner := newNode(t, dbPath(t), newBus(t))
	seed(t, inner.Store)
	seedUser(t, inner.Store, "d1")
	ctx := t.Context()
	d, u, err := s.FindDevice(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	d.PublicKey[1] ^= 0xff
	u.Username = "mallory"
	ds, err := s.UserDevices(ctx, "acme", "u1")
	if err != nil {
		t.Fatal(err)
	}
	ds[0].PublicKey[1] ^= 0xff
	d2, u2, err := s.FindDevice(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	ds2, err := s.UserDevices(ctx, "acme", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if d2.PublicKey[1] == d.PublicKey[1] || u2.Username != "alice" || ds2[0].PublicKey[1] == ds[0].PublicKey[1] {
		t.Error("a caller's change reached the cache")
	}
}

// A user disabled on another node while this node's FindDevice is reading is not
// served enabled afterwards: the user read with the device is not cached unfenced.
func TestFindDeviceRacingUserChange(t *testing.T) {
	t.Parallel()
	path, bus := dbPath(t), newBus(t)
	long := []cached.Option{cached.WithTTL(time.Hour), cached.WithNegativeTTL(time.Hour)}
	a, innerA := newNode(t, path, bus, long...)
	b, innerB := newNode(t, path, bus, long...)
	seed(t, innerA.Store)
	seedUser(t, innerA.Store, "d1")
	ctx := t.Context()
	innerB.mu.Lock()
	innerB.afterFindDevice = func() {
		// B has read the enabled user; A disables it, and B applies the invalidation,
		// before B's FindDevice returns. The count is read before the change: its
		// invalidation may reach B before UpdateUser returns to A.
		before := b.Stats().Invalidations
		if _, err := a.UpdateUser(ctx, "acme", "u1", func(u store.User) (store.User, error) {
			u.Enabled = false
			return u, nil
		}); err != nil {
			t.Error(err)
		}
		testutil.Eventually(t, waitTimeout, func() bool { return b.Stats().Invalidations > before }, "node B to apply the change")
	}
	innerB.mu.Unlock()
	if _, _, err := b.FindDevice(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if u, err := b.GetUser(ctx, "acme", "u1"); err != nil || u.Enabled {
		t.Errorf("node B serves the user as %+v, %v after it was disabled", u, err)
	}
	if _, u, err := b.FindDevice(ctx, "d1"); err != nil || u.Enabled {
		t.Errorf("node B's FindDevice serves the user as enabled=%v, %v after it was disabled", u.Enabled, err)
	}
}

// An update its function refuses writes nothing and announces nothing.
func TestRefusedUserUpdateNotAnnounced(t *testing.T) {
	t.Parallel()
	s, inner := newNode(t, dbPath(t), newBus(t))
	seed(t, inner.Store)
	seedUser(t, inner.Store)
	errNothing := errors.New("nothing to change")
	before := s.Stats().Invalidations
	if _, err := s.UpdateUser(t.Context(), "acme", "u1", func(store.User) (store.User, error) { return store.User{}, errNothing }); !errors.Is(err, errNothing) {
		t.Fatalf("UpdateUser = %v, want the function's error", err)
	}
	if got := s.Stats().Invalidations; got != before {
		t.Errorf("a refused update invalidated %d times", got-before)
	}
	if _, err := s.UpdateUser(t.Context(), "acme", "u1", func(u store.User) (store.User, error) { u.Username = "alice2"; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Invalidations; got == before {
		t.Error("a made update was not announced")
	}
}
