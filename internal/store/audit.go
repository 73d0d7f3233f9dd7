package store

import (
	"fmt"
	"maps"
	"time"
)

// Limits on audit fields.
const (
	MaxActorLen  = 255 // characters, Audit.Actor and ActivationCode.CreatedBy
	MaxActionLen = 64  // characters
)

// Validate reports whether a may be written to the audit log: an Actor of 1 to
// MaxActorLen and an Action of 1 to MaxActionLen characters, and a Detail map within the
// map limits (MaxMapEntries...). The error wraps ErrInvalid.
func (a Audit) Validate() error {
	const key = "audit"
	if err := checkText(key, "actor", a.Actor, 1, MaxActorLen, false); err != nil {
		return err
	}
	if err := checkText(key, "action", a.Action, 1, MaxActionLen, false); err != nil {
		return err
	}
	return checkMap(key, "detail", a.Detail)
}

// Validate reports whether e may be written: what Audit.Validate checks of its actor,
// action and detail, and a storable time. The error wraps ErrInvalid.
func (e AuditEvent) Validate() error {
	if err := (Audit{Actor: e.Actor, Action: e.Action, Detail: e.Detail}).Validate(); err != nil {
		return err
	}
	return checkTimes(e.key(), e.At)
}

func (e *AuditEvent) key() string {
	return fmt.Sprintf("audit event %d in realm %q", e.Seq, e.Realm)
}

func (e *AuditEvent) normalize() {
	e.Detail = cloneMap(e.Detail)
	timestamps(&e.At)
}

// At is the store's: an event records when it was written.
func (e *AuditEvent) stamps() stamps { return stamps{created: &e.At} }

func (e *AuditEvent) document() any {
	return &struct {
		Actor  *string            `json:"actor"`
		Action *string            `json:"action"`
		Detail *map[string]string `json:"detail"`
	}{&e.Actor, &e.Action, &e.Detail}
}

// PrepareAudit returns the audit event that a's change of userID's device deviceID (or
// of no device, when empty) in realm writes at now, with its JSON document: a's Detail
// with the activation code's ID under DetailActivationID when activationID is not empty.
// An invalid a is an error wrapping ErrInvalid.
func PrepareAudit(a Audit, realm, userID, deviceID, activationID string, now time.Time) (AuditEvent, []byte, error) {
	detail := a.Detail
	if activationID != "" {
		detail = maps.Clone(detail)
		if detail == nil {
			detail = map[string]string{}
		}
		detail[DetailActivationID] = activationID
	}
	e := AuditEvent{Realm: realm, Actor: a.Actor, Action: a.Action, UserID: userID, DeviceID: deviceID, Detail: detail}
	return PrepareCreate(e, now)
}
