package ops

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
)

// enrolled scrapes reg and returns signet_devices_enrolled by state; nil when the
// metric is absent.
func enrolled(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "signet_devices_enrolled" {
			continue
		}
		got := map[string]float64{}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
		return got
	}
	return nil
}

// TestEnrolledDevices: the gauge reports the store's count of active and locked devices
// of every realm (revoked ones are enrolled no more), counted again only once the TTL
// has passed, on SQLite and PostgreSQL.
func TestEnrolledDevices(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := testdb.Open(t, backend)
			ctx := context.Background()
			clock := testutil.NewClock(time.Now())
			reg := prometheus.NewRegistry()
			reg.MustRegister(NewEnrolledDevices(st.CountDevices, time.Minute, clock.Now))

			want := func(active, locked float64) {
				t.Helper()
				if got, w := enrolled(t, reg), map[string]float64{"active": active, "locked": locked}; !maps.Equal(got, w) {
					t.Errorf("signet_devices_enrolled %v, want %v", got, w)
				}
			}
			want(0, 0)

			// Three phones of two users in two realms; one is locked, one revoked.
			n := 0
			enroll := func(realm, user string, state store.DeviceState) string {
				t.Helper()
				n++
				id := realm + "-d" + string(rune('0'+n))
				hash := sha256.Sum256([]byte(id))
				if _, err := st.CreateActivationCode(ctx, store.ActivationCode{Realm: realm, ID: "code-" + id, CodeHash: hash[:],
					UserID: user, CreatedBy: "admin", ExpiresAt: time.Now().Add(time.Hour)}, store.Audit{Actor: "admin", Action: "activation_created"}); err != nil {
					t.Fatal(err)
				}
				key := make([]byte, store.DevicePublicKeyLen)
				key[0], key[1] = 0x04, byte(n)
				if _, err := st.EnrollDevice(ctx, realm, hash[:], time.Now(), 0, store.Device{ID: id, PublicKey: key, State: state},
					store.Audit{Actor: "device", Action: "enrolled"}); err != nil {
					t.Fatal(err)
				}
				return id
			}
			for _, realm := range []string{"acme", "globex"} {
				if _, err := st.CreateRealm(ctx, store.Realm{Name: realm, Enabled: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.CreateUser(ctx, store.User{Realm: realm, ID: "u1", Username: "alice", Enabled: true}); err != nil {
					t.Fatal(err)
				}
			}
			first := enroll("acme", "u1", store.DeviceActive)
			enroll("acme", "u1", store.DeviceActive)
			enroll("globex", "u1", store.DeviceActive)
			enroll("globex", "u1", store.DeviceRevoked)
			if _, err := st.UpdateDevice(ctx, "acme", first, store.Audit{Actor: "admin", Action: "locked"}, func(d store.Device) (store.Device, error) {
				d.State = store.DeviceLocked
				return d, nil
			}); err != nil {
				t.Fatal(err)
			}

			// Within the TTL the earlier count stands; after it, the new one shows.
			clock.Advance(time.Minute - time.Second)
			want(0, 0)
			clock.Advance(time.Second)
			want(2, 1)
		})
	}
}

// TestEnrolledDevicesCaches: scrapes within the TTL, concurrent ones too, share one
// count; a count that fails reports no metric and is not retried before the TTL passes.
func TestEnrolledDevicesCaches(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var fail atomic.Bool
	count := func(context.Context) (map[store.DeviceState]int64, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("database down")
		}
		return map[store.DeviceState]int64{store.DeviceActive: 7, store.DeviceRevoked: 3}, nil
	}
	clock := testutil.NewClock(time.Now())
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewEnrolledDevices(count, 0, clock.Now))

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := enrolled(t, reg); !maps.Equal(got, map[string]float64{"active": 7, "locked": 0}) {
		t.Errorf("signet_devices_enrolled %v, want 7 active and 0 locked", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d counts for 9 scrapes within the TTL, want 1", n)
	}

	fail.Store(true)
	clock.Advance(DefaultDeviceCountTTL)
	if got := enrolled(t, reg); got != nil {
		t.Errorf("a failed count reports %v, want no metric", got)
	}
	clock.Advance(DefaultDeviceCountTTL / 2)
	enrolled(t, reg)
	if n := calls.Load(); n != 2 {
		t.Errorf("%d counts, want 2: a failed count is kept for the TTL too", n)
	}
	fail.Store(false)
	clock.Advance(DefaultDeviceCountTTL / 2)
	if got := enrolled(t, reg); got["active"] != 7 {
		t.Errorf("after the database is back: %v", got)
	}
}
