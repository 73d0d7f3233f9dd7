package device

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// view is a request as a device sees it: what the user is shown, and the numbers to
// pick from.
func view(r authn.Request) message.Request {
	v := message.Request{
		ID: r.ID, Realm: r.Realm, Kind: string(r.Kind), ClientID: r.ClientID, ClientName: r.ClientName, Text: r.Text,
		AuthorizationDetails: string(r.AuthorizationDetails), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		NumberChoices: numberChoices(r.MatchNumber),
	}
	if r.RequesterIP != "" || r.UserAgent != "" {
		v.Origin = map[string]string{}
		if r.RequesterIP != "" {
			v.Origin["ip"] = r.RequesterIP
		}
		if r.UserAgent != "" {
			v.Origin["user_agent"] = r.UserAgent
		}
	}
	return v
}

// numberChoices is the matching number among two others of the same width, in random
// order (none when the request has no number).
func numberChoices(match string) []string {
	if match == "" {
		return nil
	}
	width := len(match)
	lo, hi := int64(1), int64(10)
	for range width - 1 {
		lo *= 10
		hi *= 10
	}
	if width == 1 {
		lo = 0
	}
	out := []string{match}
	for len(out) < 3 && hi-lo >= 3 {
		n, _ := rand.Int(rand.Reader, big.NewInt(hi-lo))
		s := strconv.FormatInt(lo+n.Int64(), 10)
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for i := len(out) - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return out
}

// Receipt is an answer as signed: the statement and its signature, which anyone with the
// device's public key can verify (sigma.VerifyApproval) without trusting Signet.
type Receipt struct {
	Statement sigma.Approval
	Signature []byte
	DeviceKey []byte // uncompressed P-256 point
}

// ReceiptFor rebuilds the statement a device signed for an answered request; the answer
// keeps the device key, so the receipt verifies after the device is gone.
func ReceiptFor(r authn.Request) (Receipt, error) {
	a := r.Answer
	if a == nil || len(a.Signature) == 0 || len(a.DeviceKey) == 0 {
		return Receipt{}, errors.New("the request has no signed answer")
	}
	decision := sigma.Deny
	if a.Decision == "approve" {
		decision = sigma.Approve
	}
	return Receipt{
		Statement: sigma.Approval{
			RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID, Text: r.Text,
			AuthorizationDetails: r.AuthorizationDetails, Number: a.Number, Decision: decision, Time: a.SignedAt,
		},
		Signature: a.Signature, DeviceKey: a.DeviceKey,
	}, nil
}

// The policies for a denial the user marks "this wasn't me" (AttrNotMePolicy).
const (
	NotMeLockDevice = "lock_device" // the default: the device answers no more until an administrator unlocks it
	NotMeLockUser   = "lock_user"   // the user is locked until an administrator unlocks them
	NotMeReport     = "report"      // only the event
)

// AttrNotMePolicy is the realm attribute naming the not-me policy.
const AttrNotMePolicy = "signet.device.not_me"

// NotMePolicy is realm's policy for "this wasn't me".
func NotMePolicy(r store.Realm) string {
	switch p := r.Attributes[AttrNotMePolicy]; p {
	case NotMeLockUser, NotMeReport:
		return p
	}
	return NotMeLockDevice
}

// userLockForNotMe is how long a not-me report locks a user: until an administrator
// unlocks them.
const userLockForNotMe = 100 * 365 * 24 * time.Hour

// reportedNotMe applies the realm's policy to a device whose user reported a request as
// not theirs; the event is authn's.
func (s *Server) reportedNotMe(ctx context.Context, realm, deviceID, userID string) error {
	rm, err := s.cfg.Store.GetRealm(ctx, realm)
	if err != nil {
		return err
	}
	actor := "device:" + deviceID
	switch NotMePolicy(rm) {
	case NotMeLockDevice:
		locked := store.DeviceLocked
		_, err = Registry{Store: s.cfg.Store}.Update(ctx, realm, deviceID, Change{State: &locked, Force: true}, actor)
	case NotMeLockUser:
		_, err = s.cfg.Store.UpdateUser(ctx, realm, userID, func(u store.User) (store.User, error) {
			u.LockedUntil = s.cfg.Now().Add(userLockForNotMe)
			return u, nil
		})
	}
	if err != nil {
		return fmt.Errorf("apply the not-me policy: %w", err)
	}
	return nil
}

// ErrNoDevice: the user has no active device to ask.
var ErrNoDevice = errors.New("device: the user has no active device")

// ErrUserDisabled: the user is disabled or locked, and is asked nothing.
var ErrUserDisabled = errUserDisabled

// Ask makes a request of every active device of n's user, naming the client as the user
// knows it: connected devices get it at once (on whichever node holds them), the others
// when they connect, until it expires. It refuses a disabled or locked user
// (ErrUserDisabled) and a user without an active device (ErrNoDevice).
func Ask(ctx context.Context, st store.Store, reqs *authn.Service, now time.Time, n authn.NewRequest) (authn.Request, error) {
	u, err := st.GetUser(ctx, n.Realm, n.UserID)
	if err != nil {
		return authn.Request{}, err
	}
	if !u.Enabled || now.Before(u.LockedUntil) {
		return authn.Request{}, ErrUserDisabled
	}
	n.Devices = nil
	devices, err := st.UserDevices(ctx, n.Realm, u.ID)
	if err != nil {
		return authn.Request{}, err
	}
	for _, d := range devices {
		if d.State == store.DeviceActive && len(n.Devices) < authn.MaxDevices {
			n.Devices = append(n.Devices, d.ID)
		}
	}
	if len(n.Devices) == 0 {
		return authn.Request{}, ErrNoDevice
	}
	if c, err := st.GetClient(ctx, n.Realm, n.ClientID); err == nil {
		if n.ClientName == "" {
			n.ClientName = c.Name
		}
		if n.TTL == 0 {
			n.TTL = authn.ClientTTL(c.Attributes)
		}
	}
	return reqs.Create(ctx, n)
}
