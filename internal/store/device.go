package store

import (
	"context"
	"time"
)

// The device areas: enrolled phones (devices), the one-time codes that enroll them
// (activation codes), the authentication requests they are asked to approve, and the
// audit log of every change to devices and codes. They follow the rules of the identity
// areas (see identity.go); what they add:
//   - A device exists only through EnrollDevice, which redeems an activation code.
//   - Changes to devices and codes take an Audit and write its row in the same
//     transaction; a change that fails writes none.
//   - Audit rows outlive the device and the user they name; they go with the realm.

// DeviceState is the state of an enrolled device.
type DeviceState string

// Device states.
const (
	// DeviceActive devices receive and answer authentication requests.
	DeviceActive DeviceState = "active"
	// DeviceLocked devices are refused until unlocked.
	DeviceLocked DeviceState = "locked"
	// DeviceRevoked devices are refused for good; they no longer count towards the
	// user's device limit.
	DeviceRevoked DeviceState = "revoked"
)

// Device is an enrolled authenticator: a phone holding a device-bound P-256 key.
type Device struct {
	Realm string
	// ID is opaque and random, chosen by the caller (the device server uses 16 random bytes in hex).
	ID     string
	UserID string
	// PublicKey is the device key as an uncompressed P-256 point (65 bytes, 0x04 first),
	// unique per realm. The caller checks that it is on the curve.
	PublicKey   []byte
	DisplayName string
	Platform    string
	AppVersion  string
	// PushProvider names how the device is woken ("fcm", "apns", "webhook"; empty:
	// none) and PushToken is its address there.
	PushProvider string
	PushToken    string
	State        DeviceState
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// LastSeenAt is when the device last connected; TouchDevice sets it.
	LastSeenAt time.Time
	Version    int64
}

// DeviceFilter narrows ListDevices; an empty field matches any device.
type DeviceFilter struct {
	UserID string
	State  DeviceState
}

// MaxUserDevices bounds what UserDevices returns; realms allow a user at most 100.
const MaxUserDevices = 1000

// Devices stores enrolled devices. EnrollDevice (ActivationCodes) creates them.
type Devices interface {
	GetDevice(ctx context.Context, realm, id string) (Device, error)
	// FindDevice returns the device with this id in whichever realm holds it, and its
	// user, read together: ids are unique across realms (a create with a taken id is
	// ErrConflict), and the channel handshake names a device by its id alone and then
	// checks both.
	FindDevice(ctx context.Context, id string) (Device, User, error)
	// ListDevices returns the realm's devices that match f, ordered by CreatedAt, then
	// ID. A State that is not a DeviceState is ErrInvalid.
	ListDevices(ctx context.Context, realm string, f DeviceFilter, opts ListOptions) (Page[Device], error)
	// UserDevices returns the user's devices in every state, ordered by CreatedAt, then
	// ID, at most MaxUserDevices of them; none (not ErrNotFound) for an unknown user.
	// Every push request reads it to address the user's devices.
	UserDevices(ctx context.Context, realm, userID string) ([]Device, error)
	// UpdateDevice applies fn atomically and writes a's audit row in the same transaction;
	// realm, ID and user cannot change; ErrConflict when the new public key is taken. An
	// invalid a is ErrInvalid before fn runs.
	UpdateDevice(ctx context.Context, realm, id string, a Audit, fn func(Device) (Device, error)) (Device, error)
	// DeleteDevice removes the device and writes a's audit row, which outlives it.
	DeleteDevice(ctx context.Context, realm, id string, a Audit) error
	// UpdateDeviceKeepingOne is UpdateDevice that refuses with ErrLastDevice, changing
	// nothing, a change that takes an active device out of that state when it is its
	// user's last active one. The user's row is locked first, so that two such changes
	// of one user's devices queue and cannot both pass.
	UpdateDeviceKeepingOne(ctx context.Context, realm, id string, a Audit, fn func(Device) (Device, error)) (Device, error)
	// DeleteDeviceKeepingOne is DeleteDevice with the same guard.
	DeleteDeviceKeepingOne(ctx context.Context, realm, id string, a Audit) error
	// TouchDevice sets LastSeenAt to seen unless it is later already: no Version change,
	// no audit row, since it runs on every connect. A zero seen is ErrInvalid.
	TouchDevice(ctx context.Context, realm, id string, seen time.Time) error
	// TouchDevices is TouchDevice for many devices in one transaction. A device that is
	// gone (deleted since it connected) is skipped; a zero time anywhere is ErrInvalid
	// and touches none.
	TouchDevices(ctx context.Context, seen []DeviceSeen) error
	// CountDevices returns how many devices every realm holds together in each state;
	// a state without devices is absent. It reads every device (one aggregate query):
	// callers that ask often cache the answer.
	CountDevices(ctx context.Context) (map[DeviceState]int64, error)
}

// DeviceSeen is when one device connected, for TouchDevices.
type DeviceSeen struct {
	Realm, ID string
	Seen      time.Time
}

// ActivationCode is a one-time enrollment code. The code itself is never stored, only
// its keyed hash.
type ActivationCode struct {
	Realm string
	// ID is public and random, to list and delete the code by; it is not the code.
	ID string
	// CodeHash is the keyed hash of the code (HMAC-SHA256 under a pepper, computed by the
	// caller), unique across all realms so that a code is found without its realm.
	CodeHash []byte
	UserID   string
	// CreatedBy names the actor who created the code.
	CreatedBy string
	CreatedAt time.Time
	// ExpiresAt is required: a code redeems while now < ExpiresAt.
	ExpiresAt time.Time
	// RedeemedAt and DeviceID are set by EnrollDevice; a zero RedeemedAt is a code not
	// yet redeemed.
	RedeemedAt time.Time
	DeviceID   string
	Version    int64
}

// Redeemed reports whether the code has enrolled a device.
func (c ActivationCode) Redeemed() bool { return !c.RedeemedAt.IsZero() }

// ActivationCodes stores activation codes and redeems them.
type ActivationCodes interface {
	// CreateActivationCode stores a new code and a's audit row (with the code's ID in its
	// Detail); ErrConflict if the ID is taken in the realm or the hash anywhere,
	// ErrNotFound if the realm or user is missing. CreatedAt is the store's clock;
	// RedeemedAt and DeviceID must be empty.
	CreateActivationCode(ctx context.Context, c ActivationCode, a Audit) (ActivationCode, error)
	// ListActivationCodes returns the realm's codes, only userID's unless it is empty,
	// ordered by CreatedAt, then ID; redeemed and expired ones included.
	ListActivationCodes(ctx context.Context, realm, userID string, opts ListOptions) (Page[ActivationCode], error)
	// DeleteActivationCode removes the code and writes a's audit row (with the code's ID
	// in its Detail).
	DeleteActivationCode(ctx context.Context, realm, id string, a Audit) error
	// EnrollDevice redeems the code whose hash is codeHash and creates d for the code's
	// user in one transaction: of any number of concurrent calls with one code exactly one
	// succeeds. It fills d.Realm and d.UserID from the code, and d.State with DeviceActive
	// when empty; the code gets RedeemedAt now and DeviceID d.ID. Errors, wrapped:
	//   - ErrNotFound: no code has that hash;
	//   - ErrActivationRealm: the code belongs to a realm other than realm;
	//   - ErrActivationRedeemed: the code was used already;
	//   - ErrActivationExpired: now >= ExpiresAt;
	//   - ErrUserInactive: the code's user is disabled, or locked at now;
	//   - ErrDeviceLimit: the user has maxDevices devices that are not revoked
	//     (maxDevices <= 0: no limit);
	//   - ErrConflict: the device ID or public key is taken;
	//   - ErrInvalid: d or a is invalid.
	// A failed call changes nothing. a's audit row (callers name it "enrolled"), with the
	// code's ID in its Detail, is written in the same transaction.
	EnrollDevice(ctx context.Context, realm string, codeHash []byte, now time.Time, maxDevices int, d Device, a Audit) (Device, error)
	// PurgeActivationCodes deletes the codes, in every realm, that expired or were
	// redeemed before before, and returns how many.
	PurgeActivationCodes(ctx context.Context, before time.Time) (int, error)
}

// Audit is what the caller of a change tells the audit log: who did it and what.
type Audit struct {
	// Actor names who made the change: a user, an administrator, an API client, the
	// device itself.
	Actor string
	// Action names the change: "enrolled", "renamed", "locked", "unlocked", "revoked",
	// "removed", "push_token", "activation_created", "activation_deleted"...
	Action string
	Detail map[string]string
}

// AuditEvent is one row of the audit log.
type AuditEvent struct {
	Realm string
	// Seq is assigned by the store, increasing in the order rows are written.
	Seq int64
	// At is the store's clock when the row was written.
	At     time.Time
	Actor  string
	Action string
	// UserID is the user the change concerns; DeviceID the device, empty for events of
	// activation codes, whose ID is in Detail under DetailActivationID.
	UserID   string
	DeviceID string
	Detail   map[string]string
}

// DetailActivationID is the Detail key under which the store records the activation code
// an audit event concerns.
const DetailActivationID = "activation_id"

// AuditFilter narrows ListAuditEvents; an empty field matches any event.
type AuditFilter struct {
	UserID   string
	DeviceID string
}

// AuditLog reads the audit log; the other areas write it.
type AuditLog interface {
	// ListAuditEvents returns the realm's events that match f, newest (highest Seq) first.
	ListAuditEvents(ctx context.Context, realm string, f AuditFilter, opts ListOptions) (Page[AuditEvent], error)
}

// AuthnState is the state of an authentication request.
type AuthnState string

// Authentication request states. Every state but AuthnPending is final.
const (
	AuthnPending   AuthnState = "pending"
	AuthnApproved  AuthnState = "approved"
	AuthnDenied    AuthnState = "denied"
	AuthnExpired   AuthnState = "expired"
	AuthnCancelled AuthnState = "cancelled"
)

// AuthnRequest is what a user's device is asked to approve: a login, a transaction. It
// is kept durably so that a request made while the phone is offline waits for it, and so
// that the signed receipt of the answer is kept.
type AuthnRequest struct {
	Realm string
	// ID is random, chosen by the caller.
	ID       string
	UserID   string
	ClientID string
	// Kind is "login", "transaction", ...
	Kind string
	// BindingMessage is the text shown to the user.
	BindingMessage string
	// AuthorizationDetails is the RFC 9396 authorization_details JSON array; nil: none.
	AuthorizationDetails []byte
	// MatchNumber is what the phone must show or pick (number matching); empty: none.
	MatchNumber string
	// Origin tells the user where the request comes from: ip, user_agent, location,
	// app name...
	Origin map[string]string
	State  AuthnState
	// CreatedAt is the caller's, or the store's clock when zero. ExpiresAt is required.
	CreatedAt time.Time
	ExpiresAt time.Time
	// AnsweredAt and DeviceID tell when and by which device the request was answered.
	AnsweredAt time.Time
	DeviceID   string
	// Signature is the device's signature over the canonical encoding of its answer, and
	// SignedAt the unix time inside the signed statement.
	Signature []byte
	SignedAt  int64
	// SignedDecision ("approve" or "deny") and AnsweredNumber are the decision and the
	// number inside the signed statement (a wrong number is signed as an approval and
	// recorded as AuthnDenied), and DeviceKey the answering device's public key, so the
	// receipt verifies later even if the device is removed.
	SignedDecision string
	AnsweredNumber string
	DeviceKey      []byte
	// Receipt is the realm-signed receipt of the answer (a JWS, package receipt).
	Receipt string
	Version int64
	// Events are appended to the event log (and fanned out to webhooks), in their order,
	// in the transaction that creates the record: a kept outcome and its events are never
	// one without the other. They must be of the record's realm; they are not read back.
	Events []Event
}

// AuthnRequests stores authentication requests.
type AuthnRequests interface {
	// CreateAuthnRequest: ErrConflict if the ID exists, ErrNotFound if the realm or user
	// is missing. An empty State is AuthnPending.
	CreateAuthnRequest(ctx context.Context, r AuthnRequest) (AuthnRequest, error)
	GetAuthnRequest(ctx context.Context, realm, id string) (AuthnRequest, error)
	// ListPendingAuthnRequests returns the user's requests in AuthnPending with
	// ExpiresAt > now, oldest (CreatedAt, then ID) first, at most limit (ClampLimit).
	ListPendingAuthnRequests(ctx context.Context, realm, userID string, now time.Time, limit int) ([]AuthnRequest, error)
	UpdateAuthnRequest(ctx context.Context, realm, id string, fn func(AuthnRequest) (AuthnRequest, error)) (AuthnRequest, error)
	// PurgeAuthnRequests deletes the requests, in every realm, that expired before before,
	// or were answered (left AuthnPending with an AnsweredAt) before before, and returns
	// how many.
	PurgeAuthnRequests(ctx context.Context, before time.Time) (int, error)
}
