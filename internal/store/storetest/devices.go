package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var deviceTests = []testCase{
	{"DeviceEnroll", testDeviceEnroll},
	{"DeviceEnrollDefaults", testDeviceEnrollDefaults},
	{"DeviceEnrollRefused", testDeviceEnrollRefused},
	{"DeviceEnrollInactiveUser", testDeviceEnrollInactiveUser},
	{"DeviceEnrollLimit", testDeviceEnrollLimit},
	{"DeviceEnrollConflict", testDeviceEnrollConflict},
	{"DeviceEnrollConcurrent", testDeviceEnrollConcurrent},
	{"DeviceEnrollLimitConcurrent", testDeviceEnrollLimitConcurrent},
	{"DeviceNotFound", testDeviceNotFound},
	{"DeviceFind", testDeviceFind},
	{"DeviceKeepingOne", testDeviceKeepingOne},
	{"DeviceUpdate", testDeviceUpdate},
	{"DeviceUpdateRefused", testDeviceUpdateRefused},
	{"DeviceTouch", testDeviceTouch},
	{"DeviceDelete", testDeviceDelete},
	{"DeviceListPages", testDeviceListPages},
	{"DeviceListFilters", testDeviceListFilters},
	{"DeviceListInvalid", testDeviceListInvalid},
	{"UserDevices", testUserDevices},
	{"DeviceCount", testDeviceCount},
	{"AuditListPages", testAuditListPages},
}

// enrollNow is the time EnrollDevice is told it is in the suite: an hour before the
// codes' expiry, instant(0).
var enrollNow = instant(-time.Hour)

// publicKey is a distinct well-formed device key for each n.
func publicKey(n int) []byte {
	k := make([]byte, store.DevicePublicKeyLen)
	k[0] = 0x04
	k[1], k[2], k[64] = byte(n), byte(n>>8), 0xff
	return k
}

// codeHash is the code hash of the activation code named id (its hash differs from realm
// to realm, as the codes themselves would).
func codeHash(realm, id string) []byte {
	h := sha256.Sum256([]byte(realm + "/" + id))
	return h[:]
}

func newCode(realm, id, userID string) store.ActivationCode {
	return store.ActivationCode{Realm: realm, ID: id, CodeHash: codeHash(realm, id), UserID: userID, CreatedBy: "admin", ExpiresAt: instant(0)}
}

// newDevice is a device with only what enrollment needs: an ID and a key.
func newDevice(id string, key int) store.Device {
	return store.Device{ID: id, PublicKey: publicKey(key)}
}

// fullDevice sets every field of a device that the caller owns.
func fullDevice(id string, key int) store.Device {
	return store.Device{
		ID: id, PublicKey: publicKey(key), DisplayName: "Ålice's phone ✓", Platform: "android 15",
		AppVersion: "2.3.1", PushProvider: "fcm", PushToken: strings.Repeat("t", store.MaxPushTokenLen),
		State: store.DeviceLocked, LastSeenAt: instant(-time.Minute),
	}
}

func audit(action string) store.Audit {
	return store.Audit{Actor: "admin", Action: action}
}

// createCode creates the activation code named id for userID in realm.
func createCode(t *testing.T, s store.Store, realm, id, userID string) store.ActivationCode {
	t.Helper()
	c, err := s.CreateActivationCode(t.Context(), newCode(realm, id, userID), audit("activation_created"))
	ok(t, "CreateActivationCode "+id, err)
	return c
}

// enroll creates a code for userID in realm and enrolls d with it.
func enroll(t *testing.T, s store.Store, realm, userID string, d store.Device) store.Device {
	t.Helper()
	createCode(t, s, realm, "code-"+d.ID, userID)
	got, err := s.EnrollDevice(t.Context(), realm, codeHash(realm, "code-"+d.ID), enrollNow, 0, d, audit("enrolled"))
	ok(t, "EnrollDevice "+d.ID, err)
	return got
}

// auditLog lists every audit event of realm, newest first, each as one line.
func auditLog(t *testing.T, s store.Store, realm string, f store.AuditFilter) []string {
	t.Helper()
	var lines []string
	cursor := ""
	for range 100 {
		page, err := s.ListAuditEvents(t.Context(), realm, f, store.ListOptions{Cursor: cursor})
		ok(t, "ListAuditEvents", err)
		for _, e := range page.Items {
			lines = append(lines, eventLine(e))
		}
		if cursor = page.Next; cursor == "" {
			return lines
		}
	}
	t.Fatal("ListAuditEvents never reached the last page")
	return nil
}

// eventLine is what the suite checks of an audit event: all but its Seq and time.
func eventLine(e store.AuditEvent) string {
	return fmt.Sprintf("%s %s by %s user=%s device=%s %v", e.Realm, e.Action, e.Actor, e.UserID, e.DeviceID, e.Detail)
}

// checkAudit fails the test unless realm's audit log, newest first, is want.
func checkAudit(t *testing.T, s store.Store, realm string, want ...string) {
	t.Helper()
	if got := auditLog(t, s, realm, store.AuditFilter{}); !slices.Equal(got, want) {
		t.Errorf("audit log of %s:\n got  %q\n want %q", realm, got, want)
	}
}

func testDeviceEnroll(t *testing.T, s store.Store) {
	world(t, s, "r")
	code := createCode(t, s, "r", "a1", "u1")
	in := fullDevice("d1", 1)
	a := store.Audit{Actor: "device:d1", Action: "enrolled", Detail: map[string]string{"ip": "192.0.2.7"}}
	before := store.Timestamp(time.Now())
	created, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "a1"), enrollNow, 5, in, a)
	ok(t, "EnrollDevice", err)
	checkNow(t, "CreatedAt", created.CreatedAt, before)
	want := fullDevice("d1", 1)
	want.Realm, want.UserID = "r", "u1"
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, created.CreatedAt, 1
	checkEqual(t, "EnrollDevice result", created, want)
	checkStored(t, "GetDevice", s.GetDevice, "r", "d1", want)
	in.PublicKey[1], a.Detail["ip"] = 0xee, "changed"
	checkEqual(t, "EnrollDevice result after the caller changed its input", created, want)

	// The code is redeemed by the device, at the time the caller gave.
	code.RedeemedAt, code.DeviceID, code.Version = enrollNow, "d1", 2
	codes := listCodes(t, s, "r", "", 0)
	checkEqual(t, "redeemed code", codes, []store.ActivationCode{code})
	checkAudit(t, s, "r",
		"r enrolled by device:d1 user=u1 device=d1 map[activation_id:a1 ip:192.0.2.7]",
		"r activation_created by admin user=u1 device= map[activation_id:a1]")

	page, err := s.ListAuditEvents(t.Context(), "r", store.AuditFilter{}, store.ListOptions{})
	ok(t, "ListAuditEvents", err)
	for _, e := range page.Items {
		checkNow(t, "audit event time", e.At, before.Add(-time.Minute))
		if e.Seq <= 0 || e.Detail == nil {
			t.Errorf("audit event %+v: want a positive Seq and a Detail map", e)
		}
	}
	if len(page.Items) == 2 && page.Items[0].Seq <= page.Items[1].Seq {
		t.Errorf("audit Seq %d of the newer event is not above %d", page.Items[0].Seq, page.Items[1].Seq)
	}
}

func testDeviceEnrollDefaults(t *testing.T, s store.Store) {
	world(t, s, "r")
	createCode(t, s, "r", "a1", "u2")
	// The caller's realm and user are replaced by the code's; an empty State is active.
	d := store.Device{Realm: "elsewhere", ID: "d1", UserID: "u1", PublicKey: publicKey(1)}
	created, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "a1"), enrollNow, 0, d, audit("enrolled"))
	ok(t, "EnrollDevice", err)
	want := store.Device{Realm: "r", ID: "d1", UserID: "u2", PublicKey: publicKey(1), State: store.DeviceActive,
		CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt, Version: 1}
	checkEqual(t, "EnrollDevice result", created, want)
	checkStored(t, "GetDevice", s.GetDevice, "r", "d1", want)
}

// checkUnchanged fails the test unless realm holds no device and its codes and audit log
// are as they were: what a failed call must leave.
func checkUnchanged(t *testing.T, s store.Store, realm string, codes []store.ActivationCode, log []string) {
	t.Helper()
	if devices := listDevices(t, s, realm, store.DeviceFilter{}, 0); len(devices) != 0 {
		t.Errorf("%s holds devices %v after failed enrollments", realm, deviceIDs(devices))
	}
	checkEqual(t, "codes after failed calls", listCodes(t, s, realm, "", 0), codes)
	checkAudit(t, s, realm, log...)
}

// testDeviceEnrollInactiveUser: a disabled or locked user enrolls nothing, and the code
// stays unredeemed for when the user is active again.
func testDeviceEnrollInactiveUser(t *testing.T, s store.Store) {
	world(t, s, "r")
	createCode(t, s, "r", "a1", "u1")
	set := func(fn func(*store.User)) {
		_, err := s.UpdateUser(t.Context(), "r", "u1", func(u store.User) (store.User, error) { fn(&u); return u, nil })
		ok(t, "UpdateUser", err)
	}
	set(func(u *store.User) { u.Enabled = false })
	_, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "a1"), enrollNow, 0, newDevice("d1", 1), audit("enrolled"))
	wantErr(t, "EnrollDevice for a disabled user", err, store.ErrUserInactive)
	set(func(u *store.User) { u.Enabled, u.LockedUntil = true, enrollNow.Add(time.Minute) })
	_, err = s.EnrollDevice(t.Context(), "r", codeHash("r", "a1"), enrollNow, 3, newDevice("d1", 1), audit("enrolled"))
	wantErr(t, "EnrollDevice for a locked user", err, store.ErrUserInactive)
	set(func(u *store.User) { u.LockedUntil = enrollNow.Add(-time.Minute) })
	_, err = s.EnrollDevice(t.Context(), "r", codeHash("r", "a1"), enrollNow, 3, newDevice("d1", 1), audit("enrolled"))
	ok(t, "EnrollDevice once the lock has passed", err)
}

func testDeviceEnrollRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	code := createCode(t, s, "r", "a1", "u1")
	enrollWith := func(realm string, hash []byte, now time.Time, d store.Device, a store.Audit) error {
		_, err := s.EnrollDevice(t.Context(), realm, hash, now, 0, d, a)
		return err
	}
	hash := codeHash("r", "a1")
	d := newDevice("d1", 1)
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"an unknown code", enrollWith("r", codeHash("r", "nope"), enrollNow, d, audit("enrolled")), store.ErrNotFound},
		{"no code", enrollWith("r", nil, enrollNow, d, audit("enrolled")), store.ErrNotFound},
		{"the code of another realm", enrollWith("other", hash, enrollNow, d, audit("enrolled")), store.ErrActivationRealm},
		{"a missing realm", enrollWith("nope", hash, enrollNow, d, audit("enrolled")), store.ErrActivationRealm},
		{"an expired code", enrollWith("r", hash, instant(0), d, audit("enrolled")), store.ErrActivationExpired},
		{"a long expired code", enrollWith("r", hash, instant(time.Hour), d, audit("enrolled")), store.ErrActivationExpired},
		{"a short key", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: publicKey(1)[:64]}, audit("enrolled")), store.ErrInvalid},
		{"a compressed key", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: append([]byte{0x02}, publicKey(1)[1:]...)}, audit("enrolled")), store.ErrInvalid},
		{"no key", enrollWith("r", hash, enrollNow, store.Device{ID: "d1"}, audit("enrolled")), store.ErrInvalid},
		{"no ID", enrollWith("r", hash, enrollNow, newDevice("", 1), audit("enrolled")), store.ErrInvalid},
		{"an unknown state", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: publicKey(1), State: "lost"}, audit("enrolled")), store.ErrInvalid},
		{"a long name", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: publicKey(1), DisplayName: strings.Repeat("é", store.MaxDeviceNameLen+1)}, audit("enrolled")), store.ErrInvalid},
		{"a control character in the platform", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: publicKey(1), Platform: "ios\x00"}, audit("enrolled")), store.ErrInvalid},
		{"a long app version", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: publicKey(1), AppVersion: strings.Repeat("1", store.MaxDevicePlatformLen+1)}, audit("enrolled")), store.ErrInvalid},
		{"a long push token", enrollWith("r", hash, enrollNow, store.Device{ID: "d1", PublicKey: publicKey(1), PushToken: strings.Repeat("t", store.MaxPushTokenLen+1)}, audit("enrolled")), store.ErrInvalid},
		{"a zero time", enrollWith("r", hash, time.Time{}, d, audit("enrolled")), store.ErrInvalid},
		{"no actor", enrollWith("r", hash, enrollNow, d, store.Audit{Action: "enrolled"}), store.ErrInvalid},
		{"no action", enrollWith("r", hash, enrollNow, d, store.Audit{Actor: "admin"}), store.ErrInvalid},
		{"a long action", enrollWith("r", hash, enrollNow, d, store.Audit{Actor: "admin", Action: strings.Repeat("a", store.MaxActionLen+1)}), store.ErrInvalid},
		{"a long actor", enrollWith("r", hash, enrollNow, d, store.Audit{Actor: strings.Repeat("a", store.MaxActorLen+1), Action: "enrolled"}), store.ErrInvalid},
		{"a large detail", enrollWith("r", hash, enrollNow, d, store.Audit{Actor: "admin", Action: "enrolled", Detail: map[string]string{"k": strings.Repeat("v", store.MaxMapValueLen+1)}}), store.ErrInvalid},
		{"an empty detail key", enrollWith("r", hash, enrollNow, d, store.Audit{Actor: "admin", Action: "enrolled", Detail: map[string]string{"": "v"}}), store.ErrInvalid},
	} {
		wantErr(t, "EnrollDevice with "+tc.what, tc.err, tc.want)
	}
	log := []string{"r activation_created by admin user=u1 device= map[activation_id:a1]"}
	checkUnchanged(t, s, "r", []store.ActivationCode{code}, log)
	checkUnchanged(t, s, "other", []store.ActivationCode{}, nil)

	// The code still works once, and then is redeemed, expired or not.
	ok(t, "EnrollDevice after the refusals", enrollWith("r", hash, enrollNow, d, audit("enrolled")))
	wantErr(t, "second EnrollDevice", enrollWith("r", hash, enrollNow, newDevice("d2", 2), audit("enrolled")), store.ErrActivationRedeemed)
	wantErr(t, "second EnrollDevice after the expiry", enrollWith("r", hash, instant(time.Hour), newDevice("d2", 2), audit("enrolled")), store.ErrActivationRedeemed)
	wantErr(t, "second EnrollDevice in another realm", enrollWith("other", hash, enrollNow, newDevice("d2", 2), audit("enrolled")), store.ErrActivationRealm)
	if got := deviceIDs(listDevices(t, s, "r", store.DeviceFilter{}, 0)); !slices.Equal(got, []string{"d1"}) {
		t.Errorf("devices after one redemption: %v, want [d1]", got)
	}
}

func testDeviceEnrollLimit(t *testing.T, s store.Store) {
	world(t, s, "r")
	enrollLimited := func(id string, key, max int) error {
		createCode(t, s, "r", "code-"+id, "u1")
		_, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "code-"+id), enrollNow, max, newDevice(id, key), audit("enrolled"))
		return err
	}
	ok(t, "first device", enrollLimited("d1", 1, 2))
	ok(t, "second device", enrollLimited("d2", 2, 2))
	enroll(t, s, "r", "u2", newDevice("other-user", 9)) // another user's devices do not count
	wantErr(t, "third device at a limit of 2", enrollLimited("d3", 3, 2), store.ErrDeviceLimit)
	wantErr(t, "third device at a limit of 1", enrollLimited("d3b", 3, 1), store.ErrDeviceLimit)
	// A locked device counts, a revoked one does not.
	_, err := s.UpdateDevice(t.Context(), "r", "d1", audit("locked"), func(d store.Device) (store.Device, error) {
		d.State = store.DeviceLocked
		return d, nil
	})
	ok(t, "lock d1", err)
	wantErr(t, "third device beside a locked one", enrollLimited("d3c", 3, 2), store.ErrDeviceLimit)
	_, err = s.UpdateDevice(t.Context(), "r", "d1", audit("revoked"), func(d store.Device) (store.Device, error) {
		d.State = store.DeviceRevoked
		return d, nil
	})
	ok(t, "revoke d1", err)
	ok(t, "third device beside a revoked one", enrollLimited("d3d", 3, 2))
	// No limit at 0 or below.
	ok(t, "fourth device without a limit", enrollLimited("d4", 4, 0))
	ok(t, "fifth device with a negative limit", enrollLimited("d5", 5, -1))
	got := deviceIDs(listDevices(t, s, "r", store.DeviceFilter{UserID: "u1"}, 0))
	slices.Sort(got)
	if want := []string{"d1", "d2", "d3d", "d4", "d5"}; !slices.Equal(got, want) {
		t.Errorf("devices of u1 = %v, want %v", got, want)
	}
	// The refused codes are still unredeemed.
	for _, c := range listCodes(t, s, "r", "u1", 0) {
		if refused := strings.HasPrefix(c.ID, "code-d3") && c.ID != "code-d3d"; refused == c.Redeemed() {
			t.Errorf("code %s redeemed %t after its enrollment was refused %t", c.ID, c.Redeemed(), refused)
		}
	}
}

func testDeviceEnrollConflict(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	first := enroll(t, s, "r", "u1", newDevice("d1", 1))
	createCode(t, s, "r", "a2", "u2")
	for what, d := range map[string]store.Device{
		"a taken ID":         newDevice("d1", 2),
		"a taken public key": newDevice("d2", 1),
	} {
		_, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "a2"), enrollNow, 0, d, audit("enrolled"))
		wantErr(t, "EnrollDevice with "+what, err, store.ErrConflict)
	}
	checkStored(t, "first device after conflicting enrollments", s.GetDevice, "r", "d1", first)
	// Nothing of the failed calls stays: the code still enrolls, and the log has no trace.
	_, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "a2"), enrollNow, 0, newDevice("d2", 2), audit("enrolled"))
	ok(t, "EnrollDevice after the conflicts", err)
	checkAudit(t, s, "r",
		"r enrolled by admin user=u2 device=d2 map[activation_id:a2]",
		"r activation_created by admin user=u2 device= map[activation_id:a2]",
		"r enrolled by admin user=u1 device=d1 map[activation_id:code-d1]",
		"r activation_created by admin user=u1 device= map[activation_id:code-d1]")
	// Another realm has its own keys; IDs are unique across realms (testDeviceFind).
	enroll(t, s, "other", "u1", newDevice("d9", 1))
}

// testDeviceEnrollConcurrent redeems one code from many goroutines at once, each with its
// own device: exactly one enrolls, every other finds the code redeemed. It races for
// several codes in turn, so that the later races run on connections the earlier ones
// opened, and overlap on the database rather than queue for a connection.
func testDeviceEnrollConcurrent(t *testing.T, s store.Store) {
	const n, rounds = 100, 3
	world(t, s, "r")
	var log []string
	for round := range rounds {
		code := fmt.Sprintf("a%d", round)
		createCode(t, s, "r", code, "u1")
		won, lost := race(t, "EnrollDevice", n, store.ErrActivationRedeemed, func(i int) (string, error) {
			d := newDevice(fmt.Sprintf("d%04d", round*n+i), round*n+i)
			_, err := s.EnrollDevice(t.Context(), "r", codeHash("r", code), enrollNow, 0, d, audit("enrolled"))
			return d.ID, err
		})
		if len(won) != 1 || lost != n-1 {
			t.Fatalf("code %s: %d enrollments (%v) and %d redeemed, want 1 and %d", code, len(won), won, lost, n-1)
		}
		log = append([]string{
			"r enrolled by admin user=u1 device=" + won[0] + " map[activation_id:" + code + "]",
			"r activation_created by admin user=u1 device= map[activation_id:" + code + "]",
		}, log...)
		codes := listCodes(t, s, "r", "", 0)
		if c := codes[len(codes)-1]; c.ID != code || c.DeviceID != won[0] || c.Version != 2 {
			t.Errorf("code after the race = %+v, want %s redeemed once by %s", c, code, won[0])
		}
	}
	if got := listDevices(t, s, "r", store.DeviceFilter{}, 0); len(got) != rounds {
		t.Errorf("devices = %v, want one per code", deviceIDs(got))
	}
	checkAudit(t, s, "r", log...)
}

// race calls call(0) to call(n-1) from n goroutines released at once, and returns what
// the calls that succeeded returned and how many failed with an error wrapping expected;
// any other error fails the test.
func race[T any](t *testing.T, what string, n int, expected error, call func(i int) (T, error)) (won []T, lost int) {
	t.Helper()
	var (
		start sync.WaitGroup
		wg    sync.WaitGroup
		mu    sync.Mutex
	)
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			v, err := call(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, v)
			case errors.Is(err, expected):
				lost++
			default:
				t.Errorf("%s: %v, want success or %v", what, err, expected)
			}
		})
	}
	start.Done()
	wg.Wait()
	return won, lost
}

// testDeviceEnrollLimitConcurrent enrolls many devices of one user at once, each with
// its own code, under a limit of 2: exactly two enroll, the others meet the limit and
// keep their codes. It races for several users in turn (see testDeviceEnrollConcurrent).
func testDeviceEnrollLimitConcurrent(t *testing.T, s store.Store) {
	const n, rounds, limit = 20, 3, 2
	mustCreate(t, s, store.Realm{Name: "r"})
	for round := range rounds {
		user := fmt.Sprintf("u%d", round)
		u := newUser("r", user)
		u.Enabled = true
		must(t, s.CreateUser, u)
		for i := range n {
			createCode(t, s, "r", fmt.Sprintf("%s-a%d", user, i), user)
		}
		won, full := race(t, "EnrollDevice", n, store.ErrDeviceLimit, func(i int) (store.Device, error) {
			key := round*n + i
			return s.EnrollDevice(t.Context(), "r", codeHash("r", fmt.Sprintf("%s-a%d", user, i)), enrollNow, limit,
				newDevice(fmt.Sprintf("d%04d", key), key), audit("enrolled"))
		})
		if len(won) != limit || full != n-limit {
			t.Errorf("%s: %d enrollments and %d at the limit, want %d and %d", user, len(won), full, limit, n-limit)
		}
		if got := listDevices(t, s, "r", store.DeviceFilter{UserID: user}, 0); len(got) != limit {
			t.Errorf("%s has devices %v, want %d", user, deviceIDs(got), limit)
		}
		redeemed := 0
		for _, c := range listCodes(t, s, "r", user, 0) {
			if c.Redeemed() {
				redeemed++
			}
		}
		if redeemed != limit {
			t.Errorf("%s: %d codes redeemed, want %d", user, redeemed, limit)
		}
	}
}

// testDeviceFind: a device is found by its id alone, and an id is unique across realms.
func testDeviceFind(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	d := enroll(t, s, "r", "u1", newDevice("d1", 1))
	checkStored(t, "FindDevice", func(ctx context.Context, _, id string) (store.Device, error) {
		d, _, err := s.FindDevice(ctx, id)
		return d, err
	}, "", "d1", d)
	// The device's user comes with it, as GetUser reads it.
	u, err := s.GetUser(t.Context(), "r", "u1")
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, "FindDevice's user", func(ctx context.Context, _, id string) (store.User, error) {
		_, u, err := s.FindDevice(ctx, id)
		return u, err
	}, "", "d1", u)
	_, _, err = s.FindDevice(t.Context(), "missing")
	wantErr(t, "FindDevice(missing)", err, store.ErrNotFound)
	createCode(t, s, "other", "a9", "u1")
	_, err = s.EnrollDevice(t.Context(), "other", codeHash("other", "a9"), enrollNow, 0, newDevice("d1", 2), audit("enrolled"))
	wantErr(t, "EnrollDevice with an id taken in another realm", err, store.ErrConflict)
}

func testDeviceNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	enroll(t, s, "r", "u1", newDevice("d1", 1))
	log := auditLog(t, s, "r", store.AuditFilter{})
	wantErr(t, "GetDevice(missing)", second(s.GetDevice(t.Context(), "r", "missing")), store.ErrNotFound)
	wantErr(t, "GetDevice in another realm", second(s.GetDevice(t.Context(), "other", "d1")), store.ErrNotFound)
	wantErr(t, "DeleteDevice(missing)", s.DeleteDevice(t.Context(), "r", "missing", audit("removed")), store.ErrNotFound)
	wantErr(t, "DeleteDevice in another realm", s.DeleteDevice(t.Context(), "other", "d1", audit("removed")), store.ErrNotFound)
	wantErr(t, "TouchDevice(missing)", s.TouchDevice(t.Context(), "r", "missing", instant(0)), store.ErrNotFound)
	checkUpdateMissing(t, "UpdateDevice", func(ctx context.Context, realm, id string, fn func(store.Device) (store.Device, error)) (store.Device, error) {
		return s.UpdateDevice(ctx, realm, id, audit("renamed"), fn)
	}, "r", "missing")
	checkAudit(t, s, "r", log...)
	checkAudit(t, s, "other")
}

func testDeviceUpdate(t *testing.T, s store.Store) {
	world(t, s, "r")
	created := enroll(t, s, "r", "u1", newDevice("d1", 1))
	a := store.Audit{Actor: "u1", Action: "renamed", Detail: map[string]string{"from": "", "to": "Ålice's phone ✓"}}
	updated, err := s.UpdateDevice(t.Context(), "r", "d1", a, func(d store.Device) (store.Device, error) {
		checkEqual(t, "fn argument", d, created)
		next := fullDevice("d1", 2)
		next.Realm, next.UserID = "r", "u1"
		next.CreatedAt, next.UpdatedAt, next.Version = time.Unix(0, 0), time.Unix(0, 0), 42 // not the caller's to set
		return next, nil
	})
	ok(t, "UpdateDevice", err)
	if updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("UpdatedAt %v is before the previous %v", updated.UpdatedAt, created.UpdatedAt)
	}
	want := fullDevice("d1", 2)
	want.Realm, want.UserID = "r", "u1"
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, updated.UpdatedAt, 2
	checkEqual(t, "UpdateDevice result", updated, want)
	checkStored(t, "GetDevice after update", s.GetDevice, "r", "d1", want)

	cleared, err := s.UpdateDevice(t.Context(), "r", "d1", audit("push_token"), func(d store.Device) (store.Device, error) {
		d.PushProvider, d.PushToken, d.DisplayName, d.LastSeenAt = "", "", "", time.Time{}
		return d, nil
	})
	ok(t, "UpdateDevice clearing fields", err)
	got := checkStored(t, "GetDevice after clearing", s.GetDevice, "r", "d1", cleared)
	if got.PushToken != "" || !got.LastSeenAt.IsZero() || got.Version != 3 {
		t.Errorf("after clearing: %+v", got)
	}
	checkAudit(t, s, "r",
		"r push_token by admin user=u1 device=d1 map[]",
		"r renamed by u1 user=u1 device=d1 map[from: to:Ålice's phone ✓]",
		"r enrolled by admin user=u1 device=d1 map[activation_id:code-d1]",
		"r activation_created by admin user=u1 device= map[activation_id:code-d1]")
}

func testDeviceUpdateRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	created := enroll(t, s, "r", "u1", fullDevice("d1", 1))
	enroll(t, s, "r", "u2", newDevice("d2", 2))
	log := auditLog(t, s, "r", store.AuditFilter{})
	checkRefusals(t, "UpdateDevice", func(fn func(store.Device) (store.Device, error)) (store.Device, error) {
		return s.UpdateDevice(t.Context(), "r", "d1", audit("renamed"), fn)
	}, []refusal[store.Device]{
		{"an error from fn", func(d store.Device) (store.Device, error) {
			d.DisplayName, d.PublicKey[1] = "changed", 0xee
			return d, errRefused
		}, errRefused},
		{"a new ID", func(d store.Device) (store.Device, error) { d.ID = "d3"; return d, nil }, store.ErrInvalid},
		{"a new realm", func(d store.Device) (store.Device, error) { d.Realm = "other"; return d, nil }, store.ErrInvalid},
		{"a new user", func(d store.Device) (store.Device, error) { d.UserID = "u2"; return d, nil }, store.ErrInvalid},
		{"an unknown state", func(d store.Device) (store.Device, error) { d.State = "stolen"; return d, nil }, store.ErrInvalid},
		{"a bad key", func(d store.Device) (store.Device, error) { d.PublicKey = []byte{4}; return d, nil }, store.ErrInvalid},
		{"a taken key", func(d store.Device) (store.Device, error) { d.PublicKey = publicKey(2); return d, nil }, store.ErrConflict},
	})
	for what, a := range map[string]store.Audit{
		"no actor":           {Action: "renamed"},
		"no action":          {Actor: "admin"},
		"a newline in actor": {Actor: "ad\nmin", Action: "renamed"},
		"a large detail":     {Actor: "admin", Action: "renamed", Detail: largeMap()},
	} {
		called := false
		_, err := s.UpdateDevice(t.Context(), "r", "d1", a, func(d store.Device) (store.Device, error) {
			called = true
			return d, nil
		})
		wantErr(t, "UpdateDevice with an audit of "+what, err, store.ErrInvalid)
		if called {
			t.Errorf("UpdateDevice with an audit of %s called fn", what)
		}
	}
	checkStored(t, "device after refused updates", s.GetDevice, "r", "d1", created)
	checkAudit(t, s, "r", log...)
}

// largeMap has one entry more than an audit detail or request origin may hold.
func largeMap() map[string]string {
	m := map[string]string{}
	for i := range store.MaxMapEntries + 1 {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func testDeviceTouch(t *testing.T, s store.Store) {
	world(t, s, "r")
	created := enroll(t, s, "r", "u1", newDevice("d1", 1))
	d2 := enroll(t, s, "r", "u1", newDevice("d2", 2))
	log := auditLog(t, s, "r", store.AuditFilter{})
	ok(t, "TouchDevice", s.TouchDevice(t.Context(), "r", "d1", instant(time.Minute)))
	want := created
	want.LastSeenAt = instant(time.Minute)
	checkStored(t, "GetDevice after touch", s.GetDevice, "r", "d1", want)
	// An earlier time, from a slower node, does not move it back.
	ok(t, "TouchDevice earlier", s.TouchDevice(t.Context(), "r", "d1", instant(0)))
	checkStored(t, "GetDevice after an earlier touch", s.GetDevice, "r", "d1", want)
	ok(t, "TouchDevice later", s.TouchDevice(t.Context(), "r", "d1", instant(time.Hour)))
	want.LastSeenAt = instant(time.Hour)
	checkStored(t, "GetDevice after a later touch", s.GetDevice, "r", "d1", want)
	wantErr(t, "TouchDevice with a zero time", s.TouchDevice(t.Context(), "r", "d1", time.Time{}), store.ErrInvalid)
	wantErr(t, "TouchDevice with an unstorable time", s.TouchDevice(t.Context(), "r", "d1", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)), store.ErrInvalid)
	checkStored(t, "GetDevice after refused touches", s.GetDevice, "r", "d1", want)

	// Many at once: each moves forward only, a device that is gone is skipped, and a
	// zero time touches none.
	ok(t, "TouchDevices", s.TouchDevices(t.Context(), []store.DeviceSeen{
		{Realm: "r", ID: "d1", Seen: instant(30 * time.Minute)}, // earlier than stored: kept
		{Realm: "r", ID: "gone", Seen: instant(2 * time.Hour)},
		{Realm: "r", ID: "d2", Seen: instant(2 * time.Hour)},
	}))
	checkStored(t, "GetDevice d1 after TouchDevices", s.GetDevice, "r", "d1", want)
	want2 := d2
	want2.LastSeenAt = instant(2 * time.Hour)
	checkStored(t, "GetDevice d2 after TouchDevices", s.GetDevice, "r", "d2", want2)
	wantErr(t, "TouchDevices with a zero time", s.TouchDevices(t.Context(), []store.DeviceSeen{
		{Realm: "r", ID: "d2", Seen: instant(3 * time.Hour)}, {Realm: "r", ID: "d1"},
	}), store.ErrInvalid)
	checkStored(t, "GetDevice d2 after a refused TouchDevices", s.GetDevice, "r", "d2", want2)
	ok(t, "TouchDevices of none", s.TouchDevices(t.Context(), nil))
	checkAudit(t, s, "r", log...)
}

func testDeviceDelete(t *testing.T, s store.Store) {
	world(t, s, "r")
	enroll(t, s, "r", "u1", newDevice("d1", 1))
	enroll(t, s, "r", "u1", newDevice("d2", 2))
	wantErr(t, "DeleteDevice with an invalid audit", s.DeleteDevice(t.Context(), "r", "d1", store.Audit{Actor: "admin"}), store.ErrInvalid)
	ok(t, "DeleteDevice", s.DeleteDevice(t.Context(), "r", "d1", store.Audit{Actor: "admin", Action: "removed", Detail: map[string]string{"reason": "lost"}}))
	wantErr(t, "GetDevice after delete", second(s.GetDevice(t.Context(), "r", "d1")), store.ErrNotFound)
	wantErr(t, "second DeleteDevice", s.DeleteDevice(t.Context(), "r", "d1", audit("removed")), store.ErrNotFound)
	if _, err := s.GetDevice(t.Context(), "r", "d2"); err != nil {
		t.Errorf("GetDevice(d2) after deleting d1: %v", err)
	}
	want := []string{
		"r removed by admin user=u1 device=d1 map[reason:lost]",
		"r enrolled by admin user=u1 device=d1 map[activation_id:code-d1]",
	}
	if got := auditLog(t, s, "r", store.AuditFilter{DeviceID: "d1"}); !slices.Equal(got, want) {
		t.Errorf("audit log of the deleted device:\n got  %q\n want %q", got, want)
	}
	// The ID and the key are free again.
	createCode(t, s, "r", "again", "u2")
	got, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "again"), enrollNow, 0, newDevice("d1", 1), audit("enrolled"))
	ok(t, "EnrollDevice with the ID and key of a deleted device", err)
	if got.Version != 1 || got.UserID != "u2" {
		t.Errorf("re-enrolled device = %+v, want version 1 of u2", got)
	}
}

func deviceIDs(devices []store.Device) []string {
	return ids(devices, func(d store.Device) string { return d.ID })
}

// listDevices pages through ListDevices with limit and returns every device.
func listDevices(t *testing.T, s store.Store, realm string, f store.DeviceFilter, limit int) []store.Device {
	t.Helper()
	return listAll(t, "ListDevices", func(opts store.ListOptions) (store.Page[store.Device], error) {
		return s.ListDevices(t.Context(), realm, f, opts)
	}, limit)
}

// listAll pages through list with limit and returns every item.
func listAll[T any](t *testing.T, what string, list func(store.ListOptions) (store.Page[T], error), limit int) []T {
	t.Helper()
	items := []T{}
	cursor := ""
	for range 1000 {
		page, err := list(store.ListOptions{Limit: limit, Cursor: cursor})
		ok(t, fmt.Sprintf("%s(cursor %q)", what, cursor), err)
		if page.Items == nil || (limit > 0 && len(page.Items) > limit) {
			t.Fatalf("%s returned %d items (nil %t) for a limit of %d", what, len(page.Items), page.Items == nil, limit)
		}
		if page.Next != "" && len(page.Items) == 0 {
			t.Fatalf("%s returned an empty page with a cursor", what)
		}
		items = append(items, page.Items...)
		if cursor = page.Next; cursor == "" {
			return items
		}
	}
	t.Fatalf("%s never reached the last page", what)
	return nil
}

// byCreation orders records as the (created_at, id) listings do.
func byCreation[T any](items []T, key func(T) (time.Time, string)) []string {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b T) int {
		at, aid := key(a)
		bt, bid := key(b)
		if c := at.Compare(bt); c != 0 {
			return c
		}
		return strings.Compare(aid, bid)
	})
	return ids(sorted, func(item T) string { _, id := key(item); return id })
}

func deviceKey(d store.Device) (time.Time, string) { return d.CreatedAt, d.ID }

func testDeviceListPages(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	// IDs out of creation order, with punctuation that collations reorder.
	var created []store.Device
	for i, id := range []string{"e", "a_1", "c", "a1", "a-1", "d", "b"} {
		created = append(created, enroll(t, s, "r", "u1", newDevice(id, i)))
	}
	enroll(t, s, "other", "u1", newDevice("x", 1))
	want := byCreation(created, deviceKey)
	for _, limit := range []int{1, 2, 3, 7, 0} {
		got := listDevices(t, s, "r", store.DeviceFilter{}, limit)
		if !slices.Equal(deviceIDs(got), want) {
			t.Errorf("limit %d: devices %v, want %v", limit, deviceIDs(got), want)
		}
	}
	checkEqual(t, "listed devices", listDevices(t, s, "r", store.DeviceFilter{}, 0), sortedLike(created, want, func(d store.Device) string { return d.ID }))
	if got := listDevices(t, s, "missing", store.DeviceFilter{}, 0); len(got) != 0 {
		t.Errorf("ListDevices of a missing realm = %v, want none", deviceIDs(got))
	}
}

// sortedLike returns items in the order of the IDs in order.
func sortedLike[T any](items []T, order []string, id func(T) string) []T {
	out := make([]T, 0, len(items))
	for _, want := range order {
		for _, item := range items {
			if id(item) == want {
				out = append(out, item)
			}
		}
	}
	return out
}

func testDeviceListFilters(t *testing.T, s store.Store) {
	world(t, s, "r")
	var all []store.Device
	for i, tc := range []struct {
		id, user string
		state    store.DeviceState
	}{
		{"d1", "u1", store.DeviceActive}, {"d2", "u1", store.DeviceLocked}, {"d3", "u1", store.DeviceRevoked},
		{"d4", "u2", store.DeviceActive}, {"d5", "u2", store.DeviceRevoked}, {"d6", "u1", store.DeviceActive},
	} {
		d := newDevice(tc.id, i)
		d.State = tc.state
		all = append(all, enroll(t, s, "r", tc.user, d))
	}
	for _, f := range []store.DeviceFilter{
		{}, {UserID: "u1"}, {UserID: "u2"}, {UserID: "nobody"}, {State: store.DeviceActive},
		{State: store.DeviceRevoked}, {UserID: "u1", State: store.DeviceActive}, {UserID: "u2", State: store.DeviceLocked},
	} {
		var match []store.Device
		for _, d := range all {
			if (f.UserID == "" || d.UserID == f.UserID) && (f.State == "" || d.State == f.State) {
				match = append(match, d)
			}
		}
		want := byCreation(match, deviceKey)
		for _, limit := range []int{1, 2, 0} {
			if got := deviceIDs(listDevices(t, s, "r", f, limit)); !slices.Equal(got, want) {
				t.Errorf("filter %+v, limit %d: %v, want %v", f, limit, got, want)
			}
		}
	}
}

func testDeviceListInvalid(t *testing.T, s store.Store) {
	world(t, s, "r")
	enroll(t, s, "r", "u1", newDevice("d1", 1))
	enroll(t, s, "r", "u1", newDevice("d2", 2))
	_, err := s.ListDevices(t.Context(), "r", store.DeviceFilter{State: "gone"}, store.ListOptions{})
	wantErr(t, "ListDevices with an unknown state", err, store.ErrInvalid)
	for _, cursor := range []string{
		store.EncodeCursor("user", "a"), store.EncodeCursor("activation_code", "0|a"), store.EncodeCursor("device", "x|a"),
		store.EncodeCursor("device", "12"), store.EncodeCursor("device", "12|"), "not a cursor!",
	} {
		_, err := s.ListDevices(t.Context(), "r", store.DeviceFilter{}, store.ListOptions{Cursor: cursor})
		wantErr(t, fmt.Sprintf("ListDevices(cursor %q)", cursor), err, store.ErrInvalidCursor)
	}
	// A device cursor serves another filter of the same listing.
	page, err := s.ListDevices(t.Context(), "r", store.DeviceFilter{}, store.ListOptions{Limit: 1})
	ok(t, "ListDevices", err)
	next, err := s.ListDevices(t.Context(), "r", store.DeviceFilter{UserID: "u1"}, store.ListOptions{Cursor: page.Next})
	ok(t, "ListDevices with a device cursor", err)
	if len(page.Items) != 1 || len(next.Items) != 1 || page.Items[0].ID == next.Items[0].ID {
		t.Errorf("pages %v then %v, want one device each, different", deviceIDs(page.Items), deviceIDs(next.Items))
	}
}

func testAuditListPages(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	enroll(t, s, "r", "u1", newDevice("d1", 1))
	enroll(t, s, "r", "u2", newDevice("d2", 2))
	enroll(t, s, "other", "u1", newDevice("o1", 1))
	for _, action := range []string{"renamed", "locked", "unlocked"} {
		_, err := s.UpdateDevice(t.Context(), "r", "d1", audit(action), func(d store.Device) (store.Device, error) { return d, nil })
		ok(t, "UpdateDevice "+action, err)
	}
	createCode(t, s, "r", "spare", "u1")
	ok(t, "DeleteActivationCode", s.DeleteActivationCode(t.Context(), "r", "spare", audit("activation_deleted")))

	all := []string{
		"r activation_deleted by admin user=u1 device= map[activation_id:spare]",
		"r activation_created by admin user=u1 device= map[activation_id:spare]",
		"r unlocked by admin user=u1 device=d1 map[]",
		"r locked by admin user=u1 device=d1 map[]",
		"r renamed by admin user=u1 device=d1 map[]",
		"r enrolled by admin user=u2 device=d2 map[activation_id:code-d2]",
		"r activation_created by admin user=u2 device= map[activation_id:code-d2]",
		"r enrolled by admin user=u1 device=d1 map[activation_id:code-d1]",
		"r activation_created by admin user=u1 device= map[activation_id:code-d1]",
	}
	keep := func(pred func(string) bool) []string {
		var out []string
		for _, line := range all {
			if pred(line) {
				out = append(out, line)
			}
		}
		return out
	}
	for _, tc := range []struct {
		f    store.AuditFilter
		want []string
	}{
		{store.AuditFilter{}, all},
		{store.AuditFilter{UserID: "u1"}, keep(func(l string) bool { return strings.Contains(l, "user=u1 ") })},
		{store.AuditFilter{DeviceID: "d1"}, keep(func(l string) bool { return strings.Contains(l, "device=d1 ") })},
		{store.AuditFilter{UserID: "u2", DeviceID: "d2"}, keep(func(l string) bool { return strings.Contains(l, "device=d2 ") })},
		{store.AuditFilter{UserID: "u2", DeviceID: "d1"}, nil},
	} {
		for _, limit := range []int{1, 2, 4, 0} {
			events := listAll(t, "ListAuditEvents", func(opts store.ListOptions) (store.Page[store.AuditEvent], error) {
				return s.ListAuditEvents(t.Context(), "r", tc.f, opts)
			}, limit)
			var got []string
			for i, e := range events {
				got = append(got, eventLine(e))
				if i > 0 && e.Seq >= events[i-1].Seq {
					t.Errorf("filter %+v: Seq %d follows %d, want newest first", tc.f, e.Seq, events[i-1].Seq)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("filter %+v, limit %d:\n got  %q\n want %q", tc.f, limit, got, tc.want)
			}
		}
	}
	if got := auditLog(t, s, "missing", store.AuditFilter{}); len(got) != 0 {
		t.Errorf("audit log of a missing realm = %q, want none", got)
	}
	for _, cursor := range []string{store.EncodeCursor("device", "1"), store.EncodeCursor("audit_event", "x"), "%%%"} {
		_, err := s.ListAuditEvents(t.Context(), "r", store.AuditFilter{}, store.ListOptions{Cursor: cursor})
		wantErr(t, fmt.Sprintf("ListAuditEvents(cursor %q)", cursor), err, store.ErrInvalidCursor)
	}
}

// testDeviceKeepingOne: the guarded update and delete refuse to take a user's last active
// device, change nothing when they refuse, and of two concurrent changes that would each
// take one of the last two, exactly one passes.
func testDeviceKeepingOne(t *testing.T, s store.Store) {
	world(t, s, "r")
	enroll(t, s, "r", "u1", newDevice("d1", 1))
	enroll(t, s, "r", "u1", newDevice("d2", 2))
	lock := func(d store.Device) (store.Device, error) { d.State = store.DeviceLocked; return d, nil }
	_, err := s.UpdateDeviceKeepingOne(t.Context(), "r", "d1", audit("locked"), lock)
	ok(t, "UpdateDeviceKeepingOne of one of two", err)
	_, err = s.UpdateDeviceKeepingOne(t.Context(), "r", "d2", audit("locked"), lock)
	wantErr(t, "UpdateDeviceKeepingOne of the last", err, store.ErrLastDevice)
	wantErr(t, "DeleteDeviceKeepingOne of the last", s.DeleteDeviceKeepingOne(t.Context(), "r", "d2", audit("removed")), store.ErrLastDevice)
	if d, err := s.GetDevice(t.Context(), "r", "d2"); err != nil || d.State != store.DeviceActive {
		t.Fatalf("the refused changes changed the device: %+v, %v", d, err)
	}
	// An inactive device goes freely; a missing one is ErrNotFound.
	ok(t, "DeleteDeviceKeepingOne of a locked device", s.DeleteDeviceKeepingOne(t.Context(), "r", "d1", audit("removed")))
	wantErr(t, "DeleteDeviceKeepingOne(missing)", s.DeleteDeviceKeepingOne(t.Context(), "r", "d1", audit("removed")), store.ErrNotFound)
	_, err = s.UpdateDeviceKeepingOne(t.Context(), "r", "missing", audit("locked"), lock)
	wantErr(t, "UpdateDeviceKeepingOne(missing)", err, store.ErrNotFound)

	// Two active devices, both revoked at once: exactly one change passes.
	for round := range 3 {
		user := fmt.Sprintf("u%d", round+10)
		u := newUser("r", user)
		u.Enabled = true
		must(t, s.CreateUser, u)
		ids := []string{fmt.Sprintf("k%d-a", round), fmt.Sprintf("k%d-b", round)}
		for i, id := range ids {
			enroll(t, s, "r", user, newDevice(id, 100+round*2+i))
		}
		won, lost := race(t, "guarded revocation", 2, store.ErrLastDevice, func(i int) (store.Device, error) {
			if i == 0 {
				return s.UpdateDeviceKeepingOne(t.Context(), "r", ids[0], audit("revoked"), func(d store.Device) (store.Device, error) {
					d.State = store.DeviceRevoked
					return d, nil
				})
			}
			return store.Device{}, s.DeleteDeviceKeepingOne(t.Context(), "r", ids[1], audit("removed"))
		})
		if len(won) != 1 || lost != 1 {
			t.Fatalf("round %d: %d changes passed, %d refused; want one each", round, len(won), lost)
		}
	}
}

// UserDevices lists one user's devices in every state, oldest first, and nobody else's.
func testUserDevices(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	var mine []store.Device
	for i, tc := range []struct {
		id, user string
		state    store.DeviceState
	}{
		{"d3", "u1", store.DeviceActive}, {"d1", "u1", store.DeviceLocked}, {"d2", "u2", store.DeviceActive},
		{"d4", "u1", store.DeviceRevoked},
	} {
		d := newDevice(tc.id, i)
		d.State = tc.state
		d = enroll(t, s, "r", tc.user, d)
		if tc.user == "u1" {
			mine = append(mine, d)
		}
	}
	enroll(t, s, "other", "u1", newDevice("x", 9))
	got, err := s.UserDevices(t.Context(), "r", "u1")
	ok(t, "UserDevices", err)
	checkEqual(t, "devices of u1", got, sortedLike(mine, byCreation(mine, deviceKey), func(d store.Device) string { return d.ID }))
	for _, tc := range [][2]string{{"r", "nobody"}, {"missing", "u1"}} {
		got, err := s.UserDevices(t.Context(), tc[0], tc[1])
		ok(t, "UserDevices of "+tc[1], err)
		if got == nil || len(got) != 0 {
			t.Errorf("UserDevices(%q, %q) = %v, want an empty list", tc[0], tc[1], deviceIDs(got))
		}
	}
}

// testDeviceCount: CountDevices counts every realm's devices by state, and follows
// enrollments, changes of state and removals.
func testDeviceCount(t *testing.T, s store.Store) {
	check := func(what string, want map[store.DeviceState]int64) {
		t.Helper()
		got, err := s.CountDevices(t.Context())
		ok(t, "CountDevices "+what, err)
		if !maps.Equal(got, want) {
			t.Errorf("CountDevices %s = %v, want %v", what, got, want)
		}
	}
	check("of an empty store", map[store.DeviceState]int64{})
	world(t, s, "r")
	world(t, s, "other")
	for i, tc := range []struct {
		realm, id, user string
		state           store.DeviceState
	}{
		{"r", "d1", "u1", store.DeviceActive}, {"r", "d2", "u1", store.DeviceLocked}, {"r", "d3", "u2", store.DeviceActive},
		{"r", "d4", "u2", store.DeviceRevoked}, {"other", "x1", "u1", store.DeviceActive}, {"other", "x2", "u2", ""},
	} {
		d := newDevice(tc.id, i)
		d.State = tc.state
		enroll(t, s, tc.realm, tc.user, d)
	}
	check("after enrollments", map[store.DeviceState]int64{store.DeviceActive: 4, store.DeviceLocked: 1, store.DeviceRevoked: 1})

	_, err := s.UpdateDevice(t.Context(), "other", "x1", audit("locked"), func(d store.Device) (store.Device, error) {
		d.State = store.DeviceLocked
		return d, nil
	})
	ok(t, "UpdateDevice", err)
	ok(t, "DeleteDevice", s.DeleteDevice(t.Context(), "r", "d4", audit("removed")))
	check("after a lock and a removal", map[store.DeviceState]int64{store.DeviceActive: 3, store.DeviceLocked: 2})
}
