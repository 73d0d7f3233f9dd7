package store

import (
	"errors"
	"testing"
	"time"
)

func TestCheckRedeemable(t *testing.T) {
	t.Parallel()
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	code := ActivationCode{Realm: "r", ID: "a1", UserID: "u1", ExpiresAt: expires}
	redeemed := code
	redeemed.RedeemedAt, redeemed.DeviceID = expires.Add(-time.Hour), "d1"
	for _, tc := range []struct {
		what  string
		code  ActivationCode
		realm string
		now   time.Time
		want  error
	}{
		{"a fresh code", code, "r", expires.Add(-time.Nanosecond), nil},
		{"a code at its expiry", code, "r", expires, ErrActivationExpired},
		{"a redeemed code", redeemed, "r", expires.Add(-2 * time.Hour), ErrActivationRedeemed},
		// The realm is checked first, so another realm learns nothing of the code's state,
		// and a redeemed code reads as redeemed even once expired.
		{"a redeemed code of another realm", redeemed, "other", expires.Add(time.Hour), ErrActivationRealm},
		{"a redeemed, expired code", redeemed, "r", expires.Add(time.Hour), ErrActivationRedeemed},
	} {
		err := CheckRedeemable(tc.code, tc.realm, tc.now)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
}

func TestPrepareEnrollment(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	code := ActivationCode{Realm: "r", ID: "a1", CodeHash: make([]byte, 32), UserID: "u1", CreatedBy: "admin",
		CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Version: 1}
	key := make([]byte, DevicePublicKeyLen)
	key[0] = 4
	d := Device{Realm: "x", ID: "d1", UserID: "x", PublicKey: key}
	a := Audit{Actor: "admin", Action: "enrolled"}

	e, err := PrepareEnrollment(code, d, a, 1, 2, now, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if e.Device.Realm != "r" || e.Device.UserID != "u1" || e.Device.State != DeviceActive || e.Device.Version != 1 ||
		!e.Device.CreatedAt.Equal(now.Add(time.Second)) {
		t.Errorf("device = %+v, want the code's realm and user, active, version 1, created at the store's time", e.Device)
	}
	if !e.Code.RedeemedAt.Equal(now) || e.Code.DeviceID != "d1" || e.Code.Version != 2 || !e.Code.CreatedAt.Equal(code.CreatedAt) {
		t.Errorf("code = %+v, want redeemed at now by d1, version 2", e.Code)
	}
	if e.Event.UserID != "u1" || e.Event.DeviceID != "d1" || e.Event.Detail[DetailActivationID] != "a1" || len(e.EventDocument) == 0 {
		t.Errorf("event = %+v, want it about u1, d1 and code a1", e.Event)
	}
	for what, err := range map[string]error{
		"at the limit":     second(PrepareEnrollment(code, d, a, 2, 2, now, now)),
		"above the limit":  second(PrepareEnrollment(code, d, a, 3, 2, now, now)),
		"a zero time":      second(PrepareEnrollment(code, d, a, 0, 0, time.Time{}, now)),
		"an invalid audit": second(PrepareEnrollment(code, d, Audit{Actor: "admin"}, 0, 0, now, now)),
	} {
		want := ErrInvalid
		if what == "at the limit" || what == "above the limit" {
			want = ErrDeviceLimit
		}
		if !errors.Is(err, want) {
			t.Errorf("PrepareEnrollment %s: %v, want %v", what, err, want)
		}
	}
	if _, err := PrepareEnrollment(code, d, a, 100, 0, now, now); err != nil {
		t.Errorf("PrepareEnrollment without a limit: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
