package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// dispatch handles one decrypted message; it reports whether the connection goes on.
func (c *conn) dispatch(ctx context.Context, plain []byte) bool {
	var in message.Envelope
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return c.fail(in.ID, message.ErrCodeBadRequest, "the message is not a valid JSON object of a known shape")
	}
	if c.enrollKey != nil && in.Type != message.TypeEnroll && in.Type != message.TypePing {
		return c.fail(in.ID, message.ErrCodeNotAllowed, "this session may only enroll")
	}
	if c.enrollKey == nil && in.Type == message.TypeEnroll {
		return c.fail(in.ID, message.ErrCodeNotAllowed, "this device is already enrolled")
	}
	if c.enrollKey == nil {
		c.srv.hub.renew(c)
		// A device locked or revoked, or a user disabled or locked, since the handshake
		// is served no further on this connection.
		_, u, err := c.srv.lookupDevice(ctx, decodeIDOrZero(c.dev.ID))
		if err != nil {
			c.fail(in.ID, message.ErrCodeUserDisabled, "this device may no longer be used")
			return false
		}
		if !c.srv.usable(u) {
			c.fail(in.ID, message.ErrCodeUserDisabled, "the user is disabled or locked")
			return false
		}
	}
	enrolling := c.enrollKey != nil
	out, code, msg := c.handle(ctx, &in)
	if code != "" {
		// An enrollment session gets one attempt: a wrong code ends it.
		return c.fail(in.ID, code, msg) && !(enrolling && in.Type == message.TypeEnroll)
	}
	out.ID, out.Type = in.ID, message.OKType(in.Type)
	return c.send(out)
}

// fail answers a request with an error; the connection stays open unless the error
// is one the device cannot recover from on this connection.
func (c *conn) fail(id uint64, code, msg string) bool {
	ok := c.send(&message.Envelope{ID: id, Type: message.TypeError, Error: code, Message: msg})
	return ok && code != message.ErrCodeUserDisabled
}

func (c *conn) handle(ctx context.Context, in *message.Envelope) (out *message.Envelope, code, msg string) {
	s := c.srv
	switch in.Type {
	case message.TypePing:
		return &message.Envelope{}, "", ""
	case message.TypeEnroll:
		return c.enroll(ctx, in)
	case message.TypeHello, message.TypePushToken:
		if len(in.PushToken) > 4096 || len(in.PushProvider) > 32 || len(in.AppVersion) > 64 || len(in.Platform) > 64 {
			return nil, message.ErrCodeBadRequest, "a field is too long"
		}
		for _, f := range []string{in.PushToken, in.PushProvider, in.AppVersion, in.Platform} {
			if !printable(f) {
				return nil, message.ErrCodeBadRequest, "a field holds control characters or is not UTF-8"
			}
		}
		if c.unchanged(in) {
			// A reconnecting app says what the server knows already: no write, no audit row.
			return &message.Envelope{Device: c.info()}, "", ""
		}
		// Each change writes the device and an audit row: one a connection may make
		// every updateInterval, so a device cannot flood the store.
		now := s.cfg.Now()
		if now.Sub(c.lastUpdate) < updateInterval {
			return nil, message.ErrCodeRateLimited, "the device was updated a moment ago"
		}
		c.lastUpdate = now
		d, err := s.cfg.Store.UpdateDevice(ctx, c.dev.Realm, c.dev.ID,
			store.Audit{Actor: "device:" + c.dev.ID, Action: auditActionFor(in.Type)},
			func(d store.Device) (store.Device, error) {
				if in.Type == message.TypeHello {
					d.AppVersion = orKeep(in.AppVersion, d.AppVersion)
					d.Platform = orKeep(in.Platform, d.Platform)
				}
				if in.PushToken != "" || in.Type == message.TypePushToken {
					d.PushProvider, d.PushToken = in.PushProvider, in.PushToken
				}
				return d, nil
			})
		if err != nil {
			return nil, storeCode(err), "the device could not be updated"
		}
		// Only what a hello or push token changes: the hub reads the rest unlocked.
		c.dev.Platform, c.dev.AppVersion, c.dev.PushProvider = d.Platform, d.AppVersion, d.PushProvider
		c.dev.pushSum = sha256.Sum256([]byte(d.PushToken))
		return &message.Envelope{Device: c.info()}, "", ""
	case message.TypeList:
		reqs, err := s.cfg.Requests.Pending(ctx, c.dev.Realm, c.dev.UserID)
		if err != nil {
			return nil, message.ErrCodeUnavailable, "pending requests could not be read"
		}
		// A listing carries summaries (fetch gives the details) and stops before the
		// answer would outgrow a frame; the device lists again after answering.
		out := &message.Envelope{Requests: make([]message.Request, 0, len(reqs))}
		budget := s.cfg.MaxMessage / 2
		for _, r := range reqs {
			if !r.Addressed(c.dev.ID) {
				continue
			}
			v := view(r)
			v.AuthorizationDetails = ""
			if budget -= 512 + 6*len(v.Text) + len(v.ClientName); budget < 0 {
				break
			}
			out.Requests = append(out.Requests, v)
		}
		return out, "", ""
	case message.TypeFetch:
		r, code, msg := c.pending(ctx, in.RequestID)
		if code != "" {
			return nil, code, msg
		}
		v := view(r)
		return &message.Envelope{Request: &v}, "", ""
	case message.TypeClaim:
		// A QR login shown on a login page of this device's realm: the scanning device
		// takes it for its user, then answers it as any other request.
		r, err := s.cfg.Requests.Claim(ctx, c.dev.Realm, in.RequestID, c.dev.UserID, c.dev.ID)
		switch {
		case errors.Is(err, authn.ErrNotFound):
			return nil, message.ErrCodeNotFound, "no such sign-in; scan the code again"
		case errors.Is(err, authn.ErrNotPending):
			return nil, message.ErrCodeAnswered, "the sign-in was taken or has ended; scan the code again"
		case err != nil:
			return nil, message.ErrCodeUnavailable, "the sign-in could not be read"
		}
		v := view(r)
		return &message.Envelope{Request: &v}, "", ""
	case message.TypeAnswer:
		return c.answer(ctx, in)
	case message.TypeMessages:
		return c.listMessages(ctx)
	case message.TypeMessageAck:
		return c.ackMessage(ctx, in)
	}
	return nil, message.ErrCodeBadRequest, "unknown message type"
}

// unchanged reports whether a hello or push_token would change nothing stored.
func (c *conn) unchanged(in *message.Envelope) bool {
	sameToken := in.PushProvider == c.dev.PushProvider && sha256.Sum256([]byte(in.PushToken)) == c.dev.pushSum
	if in.Type == message.TypePushToken {
		return sameToken
	}
	return (in.AppVersion == "" || in.AppVersion == c.dev.AppVersion) &&
		(in.Platform == "" || in.Platform == c.dev.Platform) &&
		(in.PushToken == "" || sameToken)
}

func auditActionFor(t string) string {
	if t == message.TypeHello {
		return "hello"
	}
	return "push_token"
}

func orKeep(v, old string) string {
	if v == "" {
		return old
	}
	return v
}

func (c *conn) info() *message.Device {
	return &message.Device{ID: c.dev.ID, Realm: c.dev.Realm, UserID: c.dev.UserID, Username: c.dev.Username,
		DisplayName: c.dev.DisplayName, ServerTime: c.srv.cfg.Now().UTC()}
}

// pending loads a request addressed to this device that still waits.
func (c *conn) pending(ctx context.Context, id string) (authn.Request, string, string) {
	r, err := c.srv.cfg.Requests.Get(ctx, c.dev.Realm, id)
	switch {
	case errors.Is(err, authn.ErrNotFound), err == nil && (r.UserID != c.dev.UserID || !r.Addressed(c.dev.ID)):
		return r, message.ErrCodeNotFound, "no such request"
	case err != nil:
		return r, message.ErrCodeUnavailable, "the request could not be read"
	case r.State == authn.Expired:
		return r, message.ErrCodeExpired, "the request has expired"
	case r.State != authn.Pending:
		return r, message.ErrCodeAnswered, "the request is " + string(r.State)
	}
	return r, "", ""
}

// answer records a signed decision, exactly once; authn checks the signature against the
// request as stored, so a device cannot sign something other than what it was asked.
// dispatch has checked, for this message, that the device is active and its user enabled
// and not locked.
func (c *conn) answer(ctx context.Context, in *message.Envelope) (*message.Envelope, string, string) {
	s := c.srv
	var decision sigma.Decision
	switch in.Decision {
	case "approve":
		decision = sigma.Approve
	case "deny":
		decision = sigma.Deny
	default:
		return nil, message.ErrCodeBadRequest, `decision must be "approve" or "deny"`
	}
	r, err := s.cfg.Requests.Answer(ctx, c.dev.Realm, in.RequestID, authn.Reply{
		DeviceID: c.dev.ID, UserID: c.dev.UserID, DeviceKey: c.dev.PublicKey, Decision: decision,
		Number: in.Number, SignedAt: in.Time, Signature: in.Signature, NotMe: in.NotMe,
	})
	switch {
	case errors.Is(err, authn.ErrNotFound), errors.Is(err, authn.ErrNotAddressed):
		return nil, message.ErrCodeNotFound, "no such request"
	case errors.Is(err, authn.ErrNotPending):
		return nil, message.ErrCodeAnswered, "the request was answered already"
	case errors.Is(err, authn.ErrExpired):
		return nil, message.ErrCodeExpired, "the request has expired"
	case errors.Is(err, authn.ErrBadSignature):
		return nil, message.ErrCodeBadSignature, "the signature does not verify"
	case errors.Is(err, authn.ErrInvalid):
		return nil, message.ErrCodeBadRequest, strings.TrimPrefix(err.Error(), authn.ErrInvalid.Error()+": ")
	case err != nil:
		return nil, message.ErrCodeUnavailable, "the answer could not be stored"
	}
	if r.Kind == authn.KindTransaction && s.cfg.Receipts != nil {
		// The answer stands either way; a missing receipt is made when the outcome is read.
		if _, err := s.cfg.Receipts.Issue(ctx, r); err != nil {
			s.log.Error("device: the receipt of an answered transaction was not kept", "request", r.ID, "err", err)
		}
	}
	if in.NotMe {
		if err := s.reportedNotMe(ctx, c.dev.Realm, c.dev.ID, c.dev.UserID); err != nil {
			s.log.Error("device: a not-me report was recorded but its policy not applied", "device", c.dev.ID, "err", err)
		}
	}
	if r.Answer != nil && r.Answer.WrongNumber {
		return nil, message.ErrCodeWrongNumber, "the number does not match; the request is denied"
	}
	return &message.Envelope{State: string(r.State)}, "", ""
}

// updateInterval is how often one connection may update its device (hello, push token).
const updateInterval = 10 * time.Second

// storeCode maps a store error to the code a device sees.
func storeCode(err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return message.ErrCodeNotFound
	case errors.Is(err, errUserDisabled):
		return message.ErrCodeUserDisabled
	}
	return message.ErrCodeUnavailable
}
