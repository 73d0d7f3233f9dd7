package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// Signals is what creating a request needs of the ephemeral store: a counter for the
// per-user limit, and the notice to the nodes.
type Signals interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	Publish(ctx context.Context, channel string, msg []byte) error
}

// RequestsPerUserPerMinute bounds the requests made for one user in a minute, against
// push bombing (CONFORMANCE §3): a user flooded with prompts approves one by mistake.
const RequestsPerUserPerMinute = 10

// ErrTooManyRequests refuses a request over RequestsPerUserPerMinute.
var ErrTooManyRequests = errors.New("device: too many requests for this user; try again in a minute")

// MaxAuthorizationDetails bounds a request's authorization_details, so that a request
// always fits in one frame with room to spare.
const MaxAuthorizationDetails = 16 << 10

// NewRequest is a request for the user's devices to approve.
type NewRequest struct {
	Realm, UserID, ClientID string
	Kind                    string // "login", "transaction"
	Text                    string // what the user sees and signs
	AuthorizationDetails    json.RawMessage
	// MatchNumber turns on number matching: the number shown where the request started.
	MatchNumber string
	Origin      map[string]string
	TTL         time.Duration // 0: DefaultRequestTTL; at most 10 minutes
}

// CreateRequest stores a request for every active device of the user and tells the
// connected ones; the others find it when they connect (store and forward).
func (s *Server) CreateRequest(ctx context.Context, nr NewRequest) (store.AuthnRequest, error) {
	return CreateRequest(ctx, s.cfg.Store, s.cfg.Ephemeral, s.cfg.Now(), nr)
}

// CreateRequest is Server.CreateRequest for nodes without the device role: the notice
// reaches the devices through the ephemeral store's pub/sub.
func CreateRequest(ctx context.Context, st store.Store, eph Signals, now time.Time, nr NewRequest) (store.AuthnRequest, error) {
	ttl := nr.TTL
	if ttl == 0 {
		ttl = DefaultRequestTTL
	}
	switch {
	case ttl < 10*time.Second || ttl > 10*time.Minute:
		return store.AuthnRequest{}, fmt.Errorf("%w: a request lives between 10 seconds and 10 minutes", store.ErrInvalid)
	case nr.Kind == "" || nr.ClientID == "":
		return store.AuthnRequest{}, fmt.Errorf("%w: kind and client are required", store.ErrInvalid)
	case utf8.RuneCountInString(nr.Text) > 1000:
		return store.AuthnRequest{}, fmt.Errorf("%w: the text is longer than 1000 characters", store.ErrInvalid)
	case len(nr.AuthorizationDetails) > MaxAuthorizationDetails:
		return store.AuthnRequest{}, fmt.Errorf("%w: authorization_details is longer than %d bytes", store.ErrInvalid, MaxAuthorizationDetails)
	}
	// The device signs the details byte for byte as it receives them, so they are kept
	// in one canonical form: compact JSON.
	var details []byte
	if len(nr.AuthorizationDetails) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, nr.AuthorizationDetails); err != nil {
			return store.AuthnRequest{}, fmt.Errorf("%w: authorization_details is not JSON", store.ErrInvalid)
		}
		details = buf.Bytes()
	}
	u, err := st.GetUser(ctx, nr.Realm, nr.UserID)
	if err != nil {
		return store.AuthnRequest{}, err
	}
	if !u.Enabled || now.Before(u.LockedUntil) {
		return store.AuthnRequest{}, fmt.Errorf("%w: the user is disabled or locked", store.ErrInvalid)
	}
	n, err := eph.Incr(ctx, "device:requests:"+u.Realm+"\x00"+u.ID, time.Minute)
	if err != nil {
		return store.AuthnRequest{}, fmt.Errorf("count requests: %w", err)
	}
	if n > RequestsPerUserPerMinute {
		return store.AuthnRequest{}, ErrTooManyRequests
	}
	r, err := st.CreateAuthnRequest(ctx, store.AuthnRequest{
		Realm: nr.Realm, ID: newID(), UserID: u.ID, ClientID: nr.ClientID, Kind: nr.Kind,
		BindingMessage: nr.Text, AuthorizationDetails: details, MatchNumber: nr.MatchNumber,
		Origin: nr.Origin, State: store.AuthnPending, CreatedAt: now, ExpiresAt: now.Add(ttl),
	})
	if err != nil {
		return store.AuthnRequest{}, err
	}
	if err := eph.Publish(ctx, noticeChannel, notice(r.Realm, r.UserID, r.ID)); err != nil {
		// The request is stored; devices see it at their next list.
		return r, nil
	}
	return r, nil
}

// view is a request as a device sees it.
func (s *Server) view(ctx context.Context, r store.AuthnRequest) message.Request {
	v := message.Request{
		ID: r.ID, Realm: r.Realm, Kind: r.Kind, ClientID: r.ClientID, Text: r.BindingMessage,
		AuthorizationDetails: string(r.AuthorizationDetails), Origin: r.Origin,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
	}
	if c, err := s.cfg.Store.GetClient(ctx, r.Realm, r.ClientID); err == nil {
		v.ClientName = c.Name
	}
	if r.MatchNumber != "" {
		v.NumberChoices = numberChoices(r.MatchNumber)
	}
	return v
}

// numberChoices is the matching number among two others of the same width, in random order.
func numberChoices(match string) []string {
	width := len(match)
	limit := big.NewInt(1)
	for range width {
		limit.Mul(limit, big.NewInt(10))
	}
	out := []string{match}
	for len(out) < 3 && limit.Int64() > 3 {
		n, _ := rand.Int(rand.Reader, limit)
		s := fmt.Sprintf("%0*d", width, n.Int64())
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	for i := len(out) - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Receipt is a stored answer: the signed statement and its signature, which anyone with
// the device's public key can verify (sigma.VerifyApproval) without trusting Signet.
type Receipt struct {
	Statement sigma.Approval
	Signature []byte
	DeviceKey []byte // uncompressed P-256 point
}

// ReceiptFor rebuilds the statement a device signed for an answered request; the
// request keeps the device key, so the receipt verifies after the device is gone.
func ReceiptFor(r store.AuthnRequest) (Receipt, error) {
	if len(r.Signature) == 0 || len(r.DeviceKey) == 0 {
		return Receipt{}, errors.New("the request has no signed answer")
	}
	decision := sigma.Deny
	if r.SignedDecision == "approve" {
		decision = sigma.Approve
	}
	return Receipt{
		Statement: sigma.Approval{
			RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID, Text: r.BindingMessage,
			AuthorizationDetails: r.AuthorizationDetails, Number: r.AnsweredNumber, Decision: decision, Time: r.SignedAt,
		},
		Signature: r.Signature, DeviceKey: r.DeviceKey,
	}, nil
}
