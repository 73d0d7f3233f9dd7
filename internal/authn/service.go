package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
)

// Channels of the ephemeral store's pub/sub the service publishes on.
const (
	// RequestsChannel carries "realm\x00user\x00id" for every new request addressed to a
	// user: the device servers tell that user's connected devices.
	RequestsChannel = "authn.requests"
	// OutcomesChannel carries "realm\x00id\x00state" for every change of a request's
	// state: waiters on any node (Wait) read the request again.
	OutcomesChannel = "authn.outcomes"
)

// MaxClockSkew is how far a device's signed time may be from the server's clock.
const MaxClockSkew = 5 * time.Minute

// Config is what a Service needs. Store and Events are required.
type Config struct {
	Store  ephemeral.Store
	Events Sink
	// Outcomes, when set, records the outcomes it keeps with their events before the
	// outcome is made (Recorder); those events then do not go to Events. Every other
	// event goes to Events after its change.
	Outcomes Recorder
	Log      *slog.Logger
	Now      func() time.Time

	// MaxPending bounds one user's pending requests (push bombing); 0 means 3. This
	// limit and the cooldown's are the node's: a realm's Policy (NewRequest.Policy) may
	// set its own.
	MaxPending int
	// MaxCreated bounds the requests made for one user within CreatedWindow, cancelled
	// ones included, so cancelling and asking again cannot flood a phone either; 0 means
	// 10 within 10 minutes.
	MaxCreated    int
	CreatedWindow time.Duration
	// DenialsBeforeCooldown denials of one user's requests within DenialWindow start a
	// cooldown of Cooldown, during which no request for the user is made. 0 means 3,
	// 10 minutes and 2 minutes.
	DenialsBeforeCooldown int
	DenialWindow          time.Duration
	Cooldown              time.Duration
	// Retention is how long an outcome stays readable after the request's expiry; 0
	// means 10 minutes.
	Retention time.Duration
}

// Service runs the state machine. It is safe for concurrent use; every node of a cluster
// runs one over the same ephemeral store.
type Service struct {
	cfg      Config
	defaults Policy // where a realm's policy sets none
	log      *slog.Logger

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup // expiry callbacks under way
	timers  map[string]*time.Timer
	waiters map[string]map[chan struct{}]struct{}
	decoded decoded
	sub     ephemeral.Subscription
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

// New starts a Service: it subscribes to OutcomesChannel so that Wait wakes on changes
// made on any node. Close stops it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Events == nil {
		return nil, errors.New("authn: a store and an event sink are required")
	}
	cfg = cfg.withDefaults()
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sub, err := cfg.Store.Subscribe(sctx, OutcomesChannel)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("authn: subscribe to outcomes: %w", err)
	}
	s := &Service{cfg: cfg, defaults: cfg.Defaults(), log: log, timers: map[string]*time.Timer{}, waiters: map[string]map[chan struct{}]struct{}{},
		sub: sub, ctx: sctx, cancel: cancel, done: make(chan struct{})}
	go s.listen()
	return s, nil
}

func orDefault[T comparable](v T, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close stops the expiry timers and the subscription, ends every Wait, and waits for
// expiries under way. Requests stay in the store; a pending one past its expiry is
// reported expired by whoever reads it next.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
	s.cancel()
	_ = s.sub.Close()
	<-s.done
	s.running.Wait()
	return nil
}

// New is what a new request needs.
type NewRequest struct {
	Realm      string
	Kind       Kind
	ClientID   string
	ClientName string
	// UserID is required except for a QR login.
	UserID string
	// Devices are the devices to ask (for a QR login, none: the scanning device claims it).
	Devices              []string
	Text                 string
	AuthorizationDetails json.RawMessage
	RequesterIP          string
	UserAgent            string
	// TTL is the request's life; 0 means DefaultTTL.
	TTL time.Duration
	// Binding is what the request is bound to: a secret of the browser's pending login,
	// or the client's id. Only its SHA-256 is kept; Cancel and Consume need it again.
	Binding []byte
	// NoNumber leaves number matching out: for a requester that shows no number (a CIBA
	// client shows its binding message instead, CIBA Core §7.1).
	NoNumber bool
	// Policy is the realm's (RealmPolicy of the realm the caller holds): its number
	// matching and its limits, the node's where it sets none. The request keeps it as it
	// applied, so its denial counts toward a cooldown by the same rules.
	Policy Policy
	// Callback, when set, is where the events that end the request are delivered too,
	// as SealCallback made it.
	Callback *store.EventCallback
}

func requestKey(realm, id string) string { return "authn:r:" + realm + "\x00" + id }

// Create stores a new pending request with its number to match, and tells the devices
// of its user. It refuses a user with as many requests waiting as the policy allows
// (MaxPending), or in a cooldown.
func (s *Service) Create(ctx context.Context, n NewRequest) (Request, error) {
	r, err := s.prepare(n)
	if err != nil {
		return Request{}, err
	}
	ttl := r.ExpiresAt.Sub(r.CreatedAt)
	if r.UserID != "" {
		if err := s.admit(ctx, &r); err != nil {
			return Request{}, err
		}
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return Request{}, err
	}
	ok, err := s.cfg.Store.SetNX(ctx, requestKey(r.Realm, r.ID), b, ttl+s.cfg.Retention)
	if err == nil && !ok {
		err = errors.New("request id taken") // 128 random bits: not in this universe
	}
	if err != nil {
		if r.UserID != "" {
			s.unlist(ctx, r.Realm, r.UserID, r.ID)
		}
		return Request{}, fmt.Errorf("authn: store the request: %w", err)
	}
	r.version = 1
	s.decoded.put(requestKey(r.Realm, r.ID), &r)
	s.schedule(r.Realm, r.ID, ttl)
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterChange)
	defer cancel()
	// The event goes first: what the notice sets off (a device's answer) has events of
	// its own, which must follow this one in the log.
	s.emit(after, eventOf("authn.created", &r, ""))
	if r.UserID != "" {
		s.publish(after, RequestsChannel, r.Realm, r.UserID, r.ID)
	}
	return r, nil
}

// prepare validates n and builds the request.
func (s *Service) prepare(n NewRequest) (Request, error) {
	ttl := orDefault(n.TTL, DefaultTTL)
	switch {
	case n.Realm == "" || n.ClientID == "":
		return Request{}, invalid("realm and client are required")
	case !slices.Contains(kinds, n.Kind):
		return Request{}, invalid("unknown kind %q", n.Kind)
	case n.Kind == KindQRLogin && (n.UserID != "" || len(n.Devices) > 0):
		return Request{}, invalid("a QR login names no user: the scanning device does")
	case n.Kind != KindQRLogin && n.UserID == "":
		return Request{}, invalid("the user is required")
	case len(n.Devices) > MaxDevices:
		return Request{}, invalid("a request addresses at most %d devices", MaxDevices)
	case ttl < MinTTL || ttl > MaxTTL:
		return Request{}, invalid("a request lives between %v and %v", MinTTL, MaxTTL)
	case len(n.Binding) == 0:
		return Request{}, invalid("a request is bound to the browser or client that starts it")
	}
	if err := CheckText(n.Text); err != nil {
		return Request{}, err
	}
	details, err := compactDetails(n.AuthorizationDetails)
	if err != nil {
		return Request{}, err
	}
	var callback *store.EventCallback
	if n.Callback != nil {
		if err := (Callback{URL: n.Callback.URL}).Validate(); err != nil {
			return Request{}, err
		}
		callback = &store.EventCallback{URL: n.Callback.URL, Headers: slices.Clone(n.Callback.Headers)}
	}
	now := s.cfg.Now().UTC()
	sum := sha256.Sum256(n.Binding)
	policy := n.Policy.Or(s.defaults)
	number := matchNumber()
	if n.NoNumber || n.Kind == KindPushLogin && policy.NumberMatching == NumberMatchingOff {
		number = ""
	}
	return Request{
		ID: rand.Text(), Realm: n.Realm, Kind: n.Kind, ClientID: n.ClientID, ClientName: Clip(n.ClientName, 200),
		UserID: n.UserID, Devices: slices.Clone(n.Devices), Text: n.Text, AuthorizationDetails: details,
		RequesterIP: Clip(n.RequesterIP, 64), UserAgent: Clip(n.UserAgent, MaxUserAgent),
		MatchNumber: number, State: Pending, CreatedAt: now, ExpiresAt: now.Add(ttl),
		Binding: sum[:], ChangedAt: now, Callback: callback, Policy: policy,
	}, nil
}

// matchNumber is a random number from 10 to 99: two digits, none of them a leading zero
// a user could drop.
func matchNumber() string {
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if b[0] < 180 { // 180 = 2 × 90: no bias
			return fmt.Sprintf("%02d", 10+int(b[0])%90)
		}
	}
}

// Get returns a request; a pending one past its expiry is expired first.
func (s *Service) Get(ctx context.Context, realm, id string) (Request, error) {
	r, err := s.load(ctx, realm, id)
	if err != nil {
		return Request{}, err
	}
	if r.State == Pending && !s.cfg.Now().Before(r.ExpiresAt) {
		return s.expire(ctx, realm, id)
	}
	return r, nil
}

// Pending lists the user's requests that wait for an answer, oldest first.
func (s *Service) Pending(ctx context.Context, realm, userID string) ([]Request, error) {
	ids, err := s.listed(ctx, realm, userID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := make([]Request, 0, len(ids))
	for _, id := range ids {
		r, err := s.load(ctx, realm, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.State == Pending && now.Before(r.ExpiresAt) && r.UserID == userID {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Claim hands a pending QR login to the device that scanned it and its user; the device
// then answers it as any other request. A second claim by the same device changes
// nothing; a claim by another device is ErrNotPending.
func (s *Service) Claim(ctx context.Context, realm, id, userID, deviceID string) (Request, error) {
	if userID == "" || deviceID == "" {
		return Request{}, invalid("the claiming user and device are required")
	}
	return s.change(ctx, realm, id, func(r *Request) (string, error) {
		switch {
		case r.Kind != KindQRLogin:
			return "", ErrNotFound
		case r.State != Pending || !s.cfg.Now().Before(r.ExpiresAt):
			return "", ErrNotPending
		case r.UserID == userID && r.Addressed(deviceID):
			return "", errUnchanged
		case r.UserID != "":
			return "", ErrNotPending
		}
		r.UserID, r.Devices = userID, []string{deviceID}
		return "authn.claimed", nil
	})
}

// Reply is a device's signed decision on a request.
type Reply struct {
	DeviceID string
	UserID   string
	// DeviceKey is the device's public key as an uncompressed P-256 point.
	DeviceKey []byte
	Decision  sigma.Decision
	Number    string
	SignedAt  int64
	Signature []byte
	// NotMe marks a denial "this wasn't me".
	NotMe bool
}

// Answer records a device's signed decision: once, for a pending request addressed to
// the device, with a signature over the request as stored. An approval with the wrong
// number is recorded as a denial (the user may be looking at an attacker's page): the
// returned request says so in Answer.WrongNumber.
func (s *Service) Answer(ctx context.Context, realm, id string, rep Reply) (Request, error) {
	if rep.Decision != sigma.Approve && rep.Decision != sigma.Deny {
		return Request{}, invalid("the decision is neither approve nor deny")
	}
	if rep.NotMe && rep.Decision != sigma.Deny {
		return Request{}, invalid("only a denial can be marked as not the user's")
	}
	if len(rep.Number) > store.MaxMatchNumberLen || !utf8.ValidString(rep.Number) || strings.ContainsFunc(rep.Number, unicode.IsControl) {
		return Request{}, invalid("the number is not a number a request shows")
	}
	now := s.cfg.Now()
	if d := time.Unix(rep.SignedAt, 0).Sub(now); d > MaxClockSkew || d < -MaxClockSkew {
		return Request{}, invalid("the signed time is too far from the server's clock")
	}
	pub, err := parseKey(rep.DeviceKey)
	if err != nil {
		return Request{}, err
	}
	r, err := s.Get(ctx, realm, id)
	if err != nil {
		return Request{}, err
	}
	if err := answerable(&r, rep); err != nil {
		return r, err
	}
	// The statement is rebuilt from what is stored: its fields never change.
	statement := sigma.Approval{RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID, Text: r.Text,
		AuthorizationDetails: r.AuthorizationDetails, Number: rep.Number, Decision: rep.Decision, Time: rep.SignedAt}
	if err := sigma.VerifyApproval(pub, statement, rep.Signature); err != nil {
		return r, ErrBadSignature
	}
	wrong := rep.Decision == sigma.Approve && r.MatchNumber != "" &&
		subtle.ConstantTimeCompare([]byte(rep.Number), []byte(r.MatchNumber)) != 1
	out, err := s.change(ctx, realm, id, func(cur *Request) (string, error) {
		if err := answerable(cur, rep); err != nil {
			return "", err
		}
		if !s.cfg.Now().Before(cur.ExpiresAt) {
			return "", ErrExpired
		}
		decision := "deny"
		cur.State = Denied
		if rep.Decision == sigma.Approve {
			decision = "approve"
			if !wrong {
				cur.State = Approved
			}
		}
		cur.Answer = &Answer{DeviceID: rep.DeviceID, Decision: decision, Number: rep.Number, SignedAt: rep.SignedAt,
			Signature: slices.Clone(rep.Signature), DeviceKey: slices.Clone(rep.DeviceKey), NotMe: rep.NotMe, WrongNumber: wrong}
		return "authn." + string(cur.State), nil
	})
	if errors.Is(err, ErrExpired) {
		if r, err := s.expire(ctx, realm, id); err == nil && r.State != Expired {
			return r, ErrNotPending
		}
		return r, ErrExpired
	}
	if err != nil {
		return out, err
	}
	if out.State == Denied {
		s.denied(ctx, &out)
	}
	return out, nil
}

// answerable checks that rep may answer r: r is pending, for rep's user and device.
func answerable(r *Request, rep Reply) error {
	switch {
	case r.UserID == "" || r.UserID != rep.UserID:
		return ErrNotFound // not the caller's to see
	case !r.Addressed(rep.DeviceID):
		return ErrNotAddressed
	case r.State == Expired:
		return ErrExpired
	case r.State != Pending:
		return ErrNotPending
	}
	return nil
}

// denied counts a denial toward the user's cooldown, by the policy the request was made
// under (the node's for a request stored without one).
func (s *Service) denied(ctx context.Context, r *Request) {
	p := r.Policy.Or(s.defaults)
	n, err := s.cfg.Store.Incr(ctx, "authn:d:"+r.Realm+"\x00"+r.UserID, p.DenialWindow)
	if err != nil {
		s.log.Warn("authn: count a denial", "err", err)
		return
	}
	if n >= int64(p.DenialsBeforeCooldown) {
		if _, err := s.cfg.Store.Set(ctx, cooldownKey(r.Realm, r.UserID), []byte{1}, p.Cooldown); err != nil {
			s.log.Warn("authn: start a cooldown", "err", err)
		}
	}
}

func cooldownKey(realm, user string) string { return "authn:c:" + realm + "\x00" + user }

// Cancel ends a pending request for whoever started it (binding as at Create).
func (s *Service) Cancel(ctx context.Context, realm, id string, binding []byte) (Request, error) {
	return s.change(ctx, realm, id, func(r *Request) (string, error) {
		if !bound(r, binding) {
			return "", ErrNotFound
		}
		if r.State != Pending {
			return "", ErrNotPending
		}
		if !s.cfg.Now().Before(r.ExpiresAt) {
			return "", ErrExpired
		}
		r.State = Cancelled
		return "authn.cancelled", nil
	})
}

// Consume reads the outcome once, for whoever started the request (binding as at
// Create): the returned request holds the outcome in State and is Consumed in the store.
// A request without an outcome is ErrPending; a consumed one, ErrConsumed.
func (s *Service) Consume(ctx context.Context, realm, id string, binding []byte) (Request, error) {
	r, err := s.Get(ctx, realm, id) // expires what is due
	if err != nil {
		return Request{}, err
	}
	if !bound(&r, binding) {
		return Request{}, ErrNotFound
	}
	var outcome State
	_, err = s.change(ctx, realm, id, func(r *Request) (string, error) {
		switch {
		case r.State == Pending:
			return "", ErrPending
		case r.State == Consumed:
			return "", ErrConsumed
		}
		outcome = r.State
		r.State = Consumed
		return "authn.consumed", nil
	})
	if err != nil {
		return r, err
	}
	r.State = outcome
	return r, nil
}

// BoundTo reports whether r was created with binding (NewRequest.Binding): whoever
// reads a request's state checks it is theirs.
func (r *Request) BoundTo(binding []byte) bool { return bound(r, binding) }

func bound(r *Request, binding []byte) bool {
	sum := sha256.Sum256(binding)
	return subtle.ConstantTimeCompare(sum[:], r.Binding) == 1
}

// expire moves a pending request past its expiry to Expired; it returns the request as
// it is afterwards, whatever state it had.
func (s *Service) expire(ctx context.Context, realm, id string) (Request, error) {
	r, err := s.change(ctx, realm, id, func(r *Request) (string, error) {
		if r.State != Pending || s.cfg.Now().Before(r.ExpiresAt) {
			return "", errUnchanged
		}
		r.State = Expired
		return "authn.expired", nil
	})
	if errors.Is(err, ErrNotPending) {
		// Another outcome was recorded first: the request has that one.
		return r, nil
	}
	return r, err
}

// afterChange bounds what follows a change: the user's list, the notice, the event.
const afterChange = 10 * time.Second

// errUnchanged tells change to write nothing and return the request as it is.
var errUnchanged = errors.New("unchanged")

// change applies fn to the stored request with a compare-and-swap, again on a conflict.
// fn returns the event type of the change. An outcome is recorded first (Config.Outcomes):
// when another was recorded before, the request is given that one and change returns
// ErrNotPending. A change that ends the request's pending life takes it out of its
// user's list, stops its timer and wakes its waiters.
func (s *Service) change(ctx context.Context, realm, id string, fn func(*Request) (string, error)) (Request, error) {
	key := requestKey(realm, id)
	var recorded *Request // the outcome once recorded: what a retried swap writes
	for attempt := 0; ; attempt++ {
		r, err := s.load(ctx, realm, id)
		if err != nil {
			return Request{}, err
		}
		was := r.State
		typ := ""
		if recorded == nil {
			if typ, err = fn(&r); errors.Is(err, errUnchanged) {
				return r, nil
			} else if err != nil {
				return r, err
			}
			r.ChangedAt = s.cfg.Now().UTC()
			if was == Pending && r.State.Outcome() && s.cfg.Outcomes != nil && s.cfg.Outcomes.Keeps(&r) {
				// From the recording on, the outcome is made whatever becomes of the
				// caller: a caller that gave up must not be told it failed while its
				// outcome is committed after all. The recorder's own limits bound it.
				ctx = context.WithoutCancel(ctx)
				kept, err := s.cfg.Outcomes.Record(ctx, r, changeEvents(typ, &r))
				if errors.Is(err, ErrRecorded) {
					return s.settle(ctx, realm, id, kept)
				}
				if err != nil {
					return Request{}, fmt.Errorf("authn: record the outcome: %w", err)
				}
				rec := r
				recorded = &rec
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, afterChange)
				defer cancel()
			}
		} else {
			// The outcome is recorded; a conflict came between. A loser of the
			// recording may have written the bare outcome (settle): ours has the answer.
			// Once the request has moved on from it (consumed), the recorded outcome is
			// the answer to the caller.
			if r.State != Pending && (r.State != recorded.State || r.Answer != nil) {
				out := *recorded
				out.version = 0
				return out, nil
			}
			version := r.version
			r = *recorded
			r.version = version
		}
		if err := s.swap(ctx, key, &r); errors.Is(err, ephemeral.ErrConflict) && attempt < 16 {
			continue
		} else if err != nil {
			return Request{}, err
		}
		// The change is made: what follows it must happen even if the caller has gone
		// (a closed page, a device that hung up), and none of it waits for another.
		after, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterChange)
		defer cancel()
		s.changed(after, was, &r)
		if recorded == nil {
			// The events before the notice: a waiter woken by it consumes the outcome,
			// and the consumption's event must follow these in the log.
			for _, e := range changeEvents(typ, &r) {
				s.emit(after, e)
			}
		}
		s.publish(after, OutcomesChannel, realm, id, string(r.State))
		return r, nil
	}
}

// changed does what follows a change that ends a request's pending life: the request
// leaves its user's list and its timer stops. ctx is the change's, detached from its
// caller.
func (s *Service) changed(ctx context.Context, was State, r *Request) {
	if was != Pending || r.State == Pending {
		return
	}
	if r.UserID != "" && r.Kind != KindQRLogin {
		s.unlist(ctx, r.Realm, r.UserID, r.ID)
	}
	s.unschedule(r.Realm, r.ID)
}

// settle gives the request the outcome another change recorded first (on this node or
// another), without events: they were recorded with it. It returns the request and
// ErrNotPending. The change that recorded it writes its own, fuller, record over this
// one (change); a node that stopped between recording and writing leaves it to settle.
func (s *Service) settle(ctx context.Context, realm, id string, kept State) (Request, error) {
	key := requestKey(realm, id)
	for attempt := 0; ; attempt++ {
		r, err := s.load(ctx, realm, id)
		if err != nil {
			return Request{}, err
		}
		if r.State != Pending || !kept.Outcome() {
			return r, ErrNotPending
		}
		was := r.State
		r.State, r.ChangedAt = kept, s.cfg.Now().UTC()
		if err := s.swap(ctx, key, &r); errors.Is(err, ephemeral.ErrConflict) && attempt < 16 {
			continue
		} else if err != nil {
			return Request{}, err
		}
		after, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterChange)
		defer cancel()
		s.changed(after, was, &r)
		s.publish(after, OutcomesChannel, realm, id, string(r.State))
		return r, ErrNotPending
	}
}

// swap writes r over the stored request if that is still the version r was read at
// (ephemeral.ErrConflict if not), and keeps it decoded at its new version.
func (s *Service) swap(ctx context.Context, key string, r *Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	v, err := s.cfg.Store.CompareAndSwap(ctx, key, r.version, b, 0)
	if errors.Is(err, ephemeral.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("authn: store the request: %w", err)
	}
	r.version = v
	s.decoded.put(key, r)
	return nil
}

// load reads a request.
func (s *Service) load(ctx context.Context, realm, id string) (Request, error) {
	if id == "" || len(id) > 64 || strings.ContainsRune(id, 0) {
		return Request{}, ErrNotFound
	}
	e, err := s.cfg.Store.Get(ctx, requestKey(realm, id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("authn: read the request: %w", err)
	}
	key := requestKey(realm, id)
	if r, ok := s.decoded.get(key, e.Version); ok {
		return r, nil
	}
	var r Request
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return Request{}, fmt.Errorf("authn: stored request %q: %w", id, err)
	}
	r.version = e.Version
	s.decoded.put(key, &r)
	return r, nil
}

func (s *Service) emit(ctx context.Context, e Event) {
	if err := s.cfg.Events.Emit(ctx, e); err != nil {
		s.log.Error("authn: event not recorded", "type", e.Type, "request", e.RequestID, "err", err)
	}
}

func (s *Service) publish(ctx context.Context, channel string, parts ...string) {
	if err := s.cfg.Store.Publish(ctx, channel, []byte(strings.Join(parts, "\x00"))); err != nil {
		// Devices list again when they connect, waiters read at their next poll.
		s.log.Warn("authn: notice not sent", "channel", channel, "err", err)
	}
}

// schedule expires the request at its expiry on this node (any node that reads it after
// that expires it too).
func (s *Service) schedule(realm, id string, after time.Duration) {
	key := realm + "\x00" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if t, ok := s.timers[key]; ok {
		t.Stop()
	}
	s.timers[key] = time.AfterFunc(after, func() {
		s.mu.Lock()
		delete(s.timers, key)
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.running.Add(1) // Close waits for it: no change after Close returns
		s.mu.Unlock()
		defer s.running.Done()
		r, err := s.expire(s.ctx, realm, id)
		switch {
		case err == nil && r.State == Pending:
			// The timer ran on the monotonic clock, the expiry is wall time: not yet.
			s.schedule(realm, id, max(r.ExpiresAt.Sub(s.cfg.Now()), time.Millisecond))
		case err != nil && !errors.Is(err, ErrNotFound) && s.ctx.Err() == nil:
			s.log.Warn("authn: expire a request", "request", id, "err", err)
		}
	})
}

func (s *Service) unschedule(realm, id string) {
	key := realm + "\x00" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.timers[key]; ok {
		t.Stop()
		delete(s.timers, key)
	}
}

// Wait returns the request once it is no longer pending, or ctx's error. It wakes on a
// change made on any node, and reads the request again at least every poll as a safety
// net for a lost notice.
func (s *Service) Wait(ctx context.Context, realm, id string, poll time.Duration) (Request, error) {
	return s.WaitFor(ctx, realm, id, poll, func(r Request) bool { return r.State != Pending })
}

// WaitFor is Wait until done holds for the request (or it is no longer pending).
func (s *Service) WaitFor(ctx context.Context, realm, id string, poll time.Duration, done func(Request) bool) (Request, error) {
	key := realm + "\x00" + id
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[chan struct{}]struct{}{}
	}
	s.waiters[key][ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters[key], ch)
		if len(s.waiters[key]) == 0 {
			delete(s.waiters, key)
		}
		s.mu.Unlock()
	}()
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		r, err := s.Get(ctx, realm, id)
		if err != nil || r.State != Pending || done(r) {
			return r, err
		}
		if wait := r.ExpiresAt.Sub(s.cfg.Now()); wait < poll {
			t.Reset(max(wait, time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-s.ctx.Done():
			return r, ErrClosed
		case <-ch:
		case <-t.C:
		}
		t.Reset(poll)
	}
}

// listen wakes the waiters of each request whose state changed.
func (s *Service) listen() {
	defer close(s.done)
	for msg := range s.sub.C() {
		parts := strings.SplitN(string(msg), "\x00", 3)
		if len(parts) != 3 {
			continue
		}
		s.mu.Lock()
		for ch := range s.waiters[parts[0]+"\x00"+parts[1]] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
	}
}

// parseKey reads an uncompressed P-256 point.
func parseKey(b []byte) (*ecdsa.PublicKey, error) {
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
	if err != nil {
		return nil, invalid("the device key is not a P-256 point")
	}
	return pub, nil
}
