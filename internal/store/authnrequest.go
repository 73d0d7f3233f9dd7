package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Limits on authentication request fields.
const (
	MaxAuthnKindLen             = 64        // characters
	MaxBindingMessageLen        = 1024      // characters
	MaxAuthorizationDetailsSize = 64 << 10  // bytes
	MaxMatchNumberLen           = 16        // characters
	MaxSignatureLen             = 1024      // bytes
	MaxReceiptLen               = 128 << 10 // bytes
)

// authnStates are the values of AuthnRequest.State.
var authnStates = []AuthnState{AuthnPending, AuthnApproved, AuthnDenied, AuthnExpired, AuthnCancelled}

// Validate reports whether r may be stored: an ID of 1 to MaxIDLen bytes, a user, a
// client_id of at most MaxClientIDLen bytes, a Kind of 1 to MaxAuthnKindLen characters, a
// known State, a binding message (newlines allowed) and match number of UTF-8 without
// control characters within their limits, authorization details that are empty or a JSON
// array (RFC 9396 §2) of at most MaxAuthorizationDetailsSize bytes, an Origin within the
// map limits, a signature of at most MaxSignatureLen bytes, an ExpiresAt, and storable
// times. The error wraps ErrInvalid.
func (r AuthnRequest) Validate() error {
	key := r.key()
	if err := checkID(key, "ID", r.ID); err != nil {
		return err
	}
	switch {
	case r.UserID == "":
		return invalid(key, "user ID is empty")
	case len(r.ClientID) > MaxClientIDLen:
		return invalid(key, "client_id must be at most %d bytes, got %d", MaxClientIDLen, len(r.ClientID))
	case len(r.DeviceID) > MaxIDLen:
		return invalid(key, "device ID must be at most %d bytes, got %d", MaxIDLen, len(r.DeviceID))
	case !slices.Contains(authnStates, r.State):
		return invalid(key, "state %q is not one of %v", r.State, authnStates)
	case len(r.Signature) > MaxSignatureLen:
		return invalid(key, "signature must be at most %d bytes, got %d", MaxSignatureLen, len(r.Signature))
	case len(r.Receipt) > MaxReceiptLen:
		return invalid(key, "receipt must be at most %d bytes, got %d", MaxReceiptLen, len(r.Receipt))
	case r.ExpiresAt.IsZero():
		return invalid(key, "no expiry")
	}
	if err := checkText(key, "kind", r.Kind, 1, MaxAuthnKindLen, false); err != nil {
		return err
	}
	if err := checkText(key, "binding message", r.BindingMessage, 0, MaxBindingMessageLen, true); err != nil {
		return err
	}
	if err := checkText(key, "match number", r.MatchNumber, 0, MaxMatchNumberLen, false); err != nil {
		return err
	}
	if err := checkText(key, "answered number", r.AnsweredNumber, 0, MaxMatchNumberLen, false); err != nil {
		return err
	}
	switch r.SignedDecision {
	case "", "approve", "deny":
	default:
		return invalid(key, "signed decision %q is neither approve nor deny", r.SignedDecision)
	}
	if err := checkAuthorizationDetails(key, r.AuthorizationDetails); err != nil {
		return err
	}
	if err := checkMap(key, "origin", r.Origin); err != nil {
		return err
	}
	return checkTimes(key, r.CreatedAt, r.ExpiresAt, r.AnsweredAt)
}

// checkAuthorizationDetails refuses details that are neither empty nor a JSON array.
func checkAuthorizationDetails(key string, details []byte) error {
	switch {
	case len(details) == 0:
		return nil
	case len(details) > MaxAuthorizationDetailsSize:
		return invalid(key, "authorization details must be at most %d bytes, got %d", MaxAuthorizationDetailsSize, len(details))
	case !json.Valid(details) || !bytes.HasPrefix(bytes.TrimLeft(details, " \t\r\n"), []byte("[")):
		return invalid(key, "authorization details must be a JSON array")
	}
	return nil
}

// key names the user too, so that an update cannot hand the request to another user.
func (r *AuthnRequest) key() string {
	return fmt.Sprintf("authentication request %q of user %q in realm %q", r.ID, r.UserID, r.Realm)
}

func (r *AuthnRequest) normalize() {
	r.AuthorizationDetails = cloneBytes(r.AuthorizationDetails)
	r.Signature = cloneBytes(r.Signature)
	r.DeviceKey = cloneBytes(r.DeviceKey)
	r.Origin = cloneMap(r.Origin)
	timestamps(&r.CreatedAt, &r.ExpiresAt, &r.AnsweredAt)
}

func (r *AuthnRequest) stamps() stamps {
	return stamps{created: &r.CreatedAt, callerCreated: true, version: &r.Version}
}

func (r *AuthnRequest) document() any {
	return &struct {
		ClientID       *string            `json:"client_id"`
		Kind           *string            `json:"kind"`
		BindingMessage *string            `json:"binding_message"`
		MatchNumber    *string            `json:"match_number"`
		Origin         *map[string]string `json:"origin"`
		DeviceID       *string            `json:"device_id"`
		SignedAt       *int64             `json:"signed_at"`
		SignedDecision *string            `json:"signed_decision"`
		AnsweredNumber *string            `json:"answered_number"`
		DeviceKey      *[]byte            `json:"device_key"`
		Receipt        *string            `json:"receipt,omitempty"`
	}{&r.ClientID, &r.Kind, &r.BindingMessage, &r.MatchNumber, &r.Origin, &r.DeviceID, &r.SignedAt,
		&r.SignedDecision, &r.AnsweredNumber, &r.DeviceKey, &r.Receipt}
}

// PrepareAuthnRequest is PrepareCreate for a new authentication request, whose State is
// AuthnPending when empty.
func PrepareAuthnRequest(r AuthnRequest, now time.Time) (AuthnRequest, []byte, error) {
	if r.State == "" {
		r.State = AuthnPending
	}
	return PrepareCreate(r, now)
}
