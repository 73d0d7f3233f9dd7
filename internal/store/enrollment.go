package store

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sentinel errors of EnrollDevice.
var (
	// ErrActivationRedeemed: the activation code has enrolled a device already.
	ErrActivationRedeemed = errors.New("store: activation code already redeemed")
	// ErrActivationExpired: the activation code expired.
	ErrActivationExpired = errors.New("store: activation code expired")
	// ErrActivationRealm: the activation code belongs to another realm.
	ErrActivationRealm = errors.New("store: activation code of another realm")
	// ErrDeviceLimit: the user has as many devices as allowed.
	ErrDeviceLimit = errors.New("store: device limit reached")
	// ErrUserInactive: the code's user is disabled or locked; the code stays unredeemed.
	ErrUserInactive = errors.New("store: the user is disabled or locked")
	// ErrLastDevice: the change would leave the user without an active device.
	ErrLastDevice = errors.New("store: the user's last active device")
)

// Limits on device fields.
const (
	// DevicePublicKeyLen is the length of an uncompressed P-256 point (SEC 1 §2.3.3):
	// 0x04, then X and Y of 32 bytes each.
	DevicePublicKeyLen   = 65
	MaxDeviceNameLen     = 100  // characters
	MaxDevicePlatformLen = 64   // characters, Platform and AppVersion
	MaxPushProviderLen   = 64   // characters
	MaxPushTokenLen      = 4096 // bytes
)

// deviceStates are the values of Device.State.
var deviceStates = []DeviceState{DeviceActive, DeviceLocked, DeviceRevoked}

// checkDeviceState refuses a state that is not a DeviceState.
func checkDeviceState(key string, s DeviceState) error {
	if !slices.Contains(deviceStates, s) {
		return invalid(key, "state %q is not one of %v", s, deviceStates)
	}
	return nil
}

// ValidDeviceFilter reports whether f may filter ListDevices: its State is empty or a
// DeviceState. The error wraps ErrInvalid.
func ValidDeviceFilter(f DeviceFilter) error {
	if f.State == "" {
		return nil
	}
	return checkDeviceState("device filter", f.State)
}

// Validate reports whether d may be stored: an ID of 1 to MaxIDLen bytes, a user, a
// public key that has the form of an uncompressed P-256 point, a known State, text
// fields of UTF-8 without control characters within their limits (MaxDeviceNameLen...)
// and storable times. The error wraps ErrInvalid.
func (d Device) Validate() error {
	key := d.key()
	if err := checkID(key, "ID", d.ID); err != nil {
		return err
	}
	if d.UserID == "" {
		return invalid(key, "user ID is empty")
	}
	if len(d.PublicKey) != DevicePublicKeyLen || d.PublicKey[0] != 0x04 {
		return invalid(key, "public key must be an uncompressed P-256 point: %d bytes starting with 0x04", DevicePublicKeyLen)
	}
	if err := checkDeviceState(key, d.State); err != nil {
		return err
	}
	if len(d.PushToken) > MaxPushTokenLen {
		return invalid(key, "push token must be at most %d bytes, got %d", MaxPushTokenLen, len(d.PushToken))
	}
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{
		{"display name", d.DisplayName, MaxDeviceNameLen},
		{"platform", d.Platform, MaxDevicePlatformLen},
		{"app version", d.AppVersion, MaxDevicePlatformLen},
		{"push provider", d.PushProvider, MaxPushProviderLen},
		{"push token", d.PushToken, MaxPushTokenLen},
	} {
		if err := checkText(key, f.name, f.value, 0, f.max, false); err != nil {
			return err
		}
	}
	return checkTimes(key, d.CreatedAt, d.UpdatedAt, d.LastSeenAt)
}

// key names the user too, so that an update cannot give the device to another user.
func (d *Device) key() string {
	return fmt.Sprintf("device %q of user %q in realm %q", d.ID, d.UserID, d.Realm)
}

// ValidLastSeen reports whether TouchDevice may store seen: a time, and one every back end
// can store. The error wraps ErrInvalid.
func ValidLastSeen(seen time.Time) error {
	if seen.IsZero() {
		return fmt.Errorf("%w: last seen time is zero", ErrInvalid)
	}
	return checkTimes("last seen time", seen)
}

func (d *Device) normalize() {
	d.PublicKey = cloneBytes(d.PublicKey)
	timestamps(&d.CreatedAt, &d.UpdatedAt, &d.LastSeenAt)
}

func (d *Device) stamps() stamps {
	return stamps{created: &d.CreatedAt, updated: &d.UpdatedAt, version: &d.Version}
}

func (d *Device) document() any {
	return &struct {
		DisplayName  *string `json:"display_name"`
		Platform     *string `json:"platform"`
		AppVersion   *string `json:"app_version"`
		PushProvider *string `json:"push_provider"`
		PushToken    *string `json:"push_token"`
	}{&d.DisplayName, &d.Platform, &d.AppVersion, &d.PushProvider, &d.PushToken}
}

// Limits on the code hash of an activation code, in bytes: no shorter than a truncated
// MAC worth the name, no longer than SHA-512.
const (
	MinCodeHashLen = 16
	MaxCodeHashLen = 64
)

// Validate reports whether c may be stored: an ID of 1 to MaxIDLen bytes, a code hash of
// MinCodeHashLen to MaxCodeHashLen bytes, a user, a creator of 1 to MaxActorLen
// characters, an ExpiresAt after CreatedAt, a DeviceID exactly when it is redeemed, and
// storable times. The error wraps ErrInvalid.
func (c ActivationCode) Validate() error {
	key := c.key()
	if err := checkID(key, "ID", c.ID); err != nil {
		return err
	}
	if n := len(c.CodeHash); n < MinCodeHashLen || n > MaxCodeHashLen {
		return invalid(key, "code hash must be %d to %d bytes, got %d", MinCodeHashLen, MaxCodeHashLen, n)
	}
	if c.UserID == "" {
		return invalid(key, "user ID is empty")
	}
	if err := checkText(key, "creator", c.CreatedBy, 1, MaxActorLen, false); err != nil {
		return err
	}
	if !c.ExpiresAt.After(c.CreatedAt) {
		return invalid(key, "expiry %v is not after creation %v", c.ExpiresAt, c.CreatedAt)
	}
	if c.Redeemed() != (c.DeviceID != "") {
		return invalid(key, "a redeemed code names its device, and only a redeemed one")
	}
	return checkTimes(key, c.CreatedAt, c.ExpiresAt, c.RedeemedAt)
}

func (c *ActivationCode) key() string { return recordKey("activation code", c.Realm, c.ID) }

func (c *ActivationCode) normalize() {
	c.CodeHash = cloneBytes(c.CodeHash)
	timestamps(&c.CreatedAt, &c.ExpiresAt, &c.RedeemedAt)
}

func (c *ActivationCode) stamps() stamps {
	return stamps{created: &c.CreatedAt, version: &c.Version}
}

func (c *ActivationCode) document() any {
	return &struct {
		CreatedBy *string `json:"created_by"`
		DeviceID  *string `json:"device_id"`
	}{&c.CreatedBy, &c.DeviceID}
}

// PrepareActivationCode is PrepareCreate for a new activation code, which must not be
// redeemed.
func PrepareActivationCode(c ActivationCode, now time.Time) (ActivationCode, []byte, error) {
	if c.Redeemed() || c.DeviceID != "" {
		return ActivationCode{}, nil, invalid(c.key(), "a new code cannot be redeemed")
	}
	return PrepareCreate(c, now)
}

// CheckRedeemable tells whether code, found by its hash, may enroll a device in realm at
// now: an error wrapping ErrActivationRealm, ErrActivationRedeemed or
// ErrActivationExpired, checked in that order, or nil.
func CheckRedeemable(code ActivationCode, realm string, now time.Time) error {
	switch {
	case code.Realm != realm:
		// The other realm is not named: the caller need not learn it.
		return fmt.Errorf("activation code for realm %q: %w", realm, ErrActivationRealm)
	case code.Redeemed():
		return fmt.Errorf("%s: %w", code.key(), ErrActivationRedeemed)
	case !now.Before(code.ExpiresAt):
		return fmt.Errorf("%s: %w", code.key(), ErrActivationExpired)
	}
	return nil
}

// Enrollment is what EnrollDevice writes: the new device, the redeemed code and the
// audit event, each with its JSON document.
type Enrollment struct {
	Device         Device
	DeviceDocument []byte
	Code           ActivationCode
	CodeDocument   []byte
	Event          AuditEvent
	EventDocument  []byte
}

// PrepareEnrollment returns what EnrollDevice writes once CheckRedeemable has passed
// code: d as a new device of the code's user (an empty State becomes DeviceActive),
// stamped at storeNow; the code redeemed by it at now; and a's audit event, with the
// code's ID in its Detail, at storeNow. devices is how many devices of the user are not
// revoked: with maxDevices > 0 and devices >= maxDevices the error wraps ErrDeviceLimit.
// An invalid d or a is an error wrapping ErrInvalid.
func PrepareEnrollment(code ActivationCode, d Device, a Audit, devices, maxDevices int, now, storeNow time.Time) (Enrollment, error) {
	if maxDevices > 0 && devices >= maxDevices {
		return Enrollment{}, fmt.Errorf("user %q in realm %q has %d devices, the most allowed: %w", code.UserID, code.Realm, devices, ErrDeviceLimit)
	}
	if now.IsZero() {
		return Enrollment{}, invalid(code.key(), "redemption time is zero")
	}
	d.Realm, d.UserID = code.Realm, code.UserID
	if d.State == "" {
		d.State = DeviceActive
	}
	var e Enrollment
	var err error
	if e.Device, e.DeviceDocument, err = PrepareCreate(d, storeNow); err != nil {
		return Enrollment{}, err
	}
	e.Code, e.CodeDocument, err = PrepareUpdate(code, func(c ActivationCode) (ActivationCode, error) {
		c.RedeemedAt, c.DeviceID = now, d.ID
		return c, nil
	}, storeNow)
	if err != nil {
		return Enrollment{}, err
	}
	if e.Event, e.EventDocument, err = PrepareAudit(a, code.Realm, code.UserID, d.ID, code.ID, storeNow); err != nil {
		return Enrollment{}, err
	}
	return e, nil
}
