package messaging

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/store"
)

// Delivery routes, as Status and the metrics name them.
const (
	RouteInBand         = "in_band"
	RoutePush           = "push"
	RouteReminder       = "reminder"
	RouteNoRegistration = "no_registration"
	RouteNoCredential   = "no_credential"
	RouteFailed         = "failed"
	// RouteQueued: accepted, not delivered yet; RouteAcknowledged: the app confirmed a
	// message.
	RouteQueued       = "queued"
	RouteAcknowledged = "acknowledged"
)

// DefaultTitle is the generic text of a wake-up's notification: it says nothing of the
// request.
const DefaultTitle = "Sign-in request"

// Config is what a Deliverer needs. Store, Ephemeral, Requests and Senders are
// required.
type Config struct {
	Store     store.Store
	Ephemeral ephemeral.Store
	Requests  *authn.Service
	Senders   *Senders
	Metrics   *Metrics
	Log       *slog.Logger
	// Title is the notification text (DefaultTitle when empty).
	Title string
	// ReminderAfter is how long a woken device has to connect before it is woken once
	// more (default 30 s; negative: never).
	ReminderAfter time.Duration
	// MaxConcurrent bounds the wake-ups under way on this node (default 256).
	MaxConcurrent int
	// Online tells whether a device holds a connection to some node (default:
	// device.Online over Ephemeral); a test seam.
	Online func(ctx context.Context, deviceID string) (bool, error)
}

// Deliverer wakes the devices a new request addresses that are not connected: each gets
// one push, from whichever node claims it first, and a reminder if it has not connected
// after ReminderAfter. A connected device gets the request in band from the node that
// holds its connection, and no push.
type Deliverer struct {
	cfg  Config
	log  *slog.Logger
	sem  chan struct{}
	subs []ephemeral.Subscription // new requests, new messages, acknowledgements
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	timers map[*time.Timer]struct{}
	closed bool
}

// NewDeliverer subscribes to new requests and starts delivering; Close stops it.
func NewDeliverer(ctx context.Context, cfg Config) (*Deliverer, error) {
	if cfg.Store == nil || cfg.Ephemeral == nil || cfg.Requests == nil || cfg.Senders == nil {
		return nil, errors.New("messaging: Store, Ephemeral, Requests and Senders are required")
	}
	if cfg.Title == "" {
		cfg.Title = DefaultTitle
	}
	if cfg.ReminderAfter == 0 {
		cfg.ReminderAfter = 30 * time.Second
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 256
	}
	if cfg.Online == nil {
		eph := cfg.Ephemeral
		cfg.Online = func(ctx context.Context, id string) (bool, error) { return device.Online(ctx, eph, id) }
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	d := &Deliverer{cfg: cfg, log: log, sem: make(chan struct{}, cfg.MaxConcurrent), ctx: dctx, stop: stop,
		timers: map[*time.Timer]struct{}{}}
	for _, ch := range []string{authn.RequestsChannel, device.MessagesChannel, device.AcksChannel} {
		sub, err := cfg.Ephemeral.Subscribe(dctx, ch)
		if err != nil {
			for _, s := range d.subs {
				_ = s.Close()
			}
			stop()
			return nil, fmt.Errorf("messaging: subscribe to %s: %w", ch, err)
		}
		d.subs = append(d.subs, sub)
	}
	d.wg.Go(d.run)
	return d, nil
}

// Close stops taking requests, cancels reminders and waits for the sends under way.
func (d *Deliverer) Close() {
	d.mu.Lock()
	d.closed = true
	for t := range d.timers {
		if t.Stop() {
			d.wg.Done() // its function will not run to release it
		}
	}
	clear(d.timers)
	d.mu.Unlock()
	d.stop()
	for _, sub := range d.subs {
		_ = sub.Close()
	}
	d.wg.Wait()
}

func (d *Deliverer) run() {
	requests, messages, acks := d.subs[0].C(), d.subs[1].C(), d.subs[2].C()
	for {
		var msg []byte
		var ok bool
		var kind int
		select {
		case <-d.ctx.Done():
			return
		case msg, ok = <-requests:
			kind = 0
		case msg, ok = <-messages:
			kind = 1
		case msg, ok = <-acks:
			kind = 2
		}
		if !ok {
			return
		}
		parts := strings.Split(string(msg), "\x00")
		if len(parts) != 3 {
			continue
		}
		switch kind {
		case 0:
			d.request(parts[0], parts[2])
		case 1:
			d.message(parts[0], parts[1], parts[2])
		case 2:
			d.acknowledged(parts[0], parts[1], parts[2])
		}
	}
}

// target is what is delivered: a request, or a message, under its id.
type target struct {
	realm, id string
	devices   []string
	expiresAt time.Time
	// waiting reports whether it still waits for the device (a reminder's check).
	waiting func(ctx context.Context, dev string) bool
	// message: a message of the gRPC API, whose deliveries are announced to its
	// sender's event streams; a sign-in request's are kept but announced to no one.
	message bool
}

func (d *Deliverer) requestTarget(r authn.Request) target {
	return target{realm: r.Realm, id: r.ID, devices: r.Devices, expiresAt: r.ExpiresAt,
		waiting: func(ctx context.Context, _ string) bool {
			cur, err := d.cfg.Requests.Get(ctx, r.Realm, r.ID)
			return err == nil && cur.State == authn.Pending
		}}
}

// message starts delivering a new message to its device.
func (d *Deliverer) message(realm, dev, id string) {
	inbox := device.Inbox{Ephemeral: d.cfg.Ephemeral}
	m, err := inbox.Get(d.ctx, realm, dev, id)
	if err != nil {
		return
	}
	d.start(target{realm: realm, id: id, devices: []string{dev}, expiresAt: m.ExpiresAt, message: true,
		waiting: func(ctx context.Context, dev string) bool {
			_, err := inbox.Get(ctx, realm, dev, id)
			return err == nil
		}})
}

// acknowledged records that the device confirmed it has the message.
func (d *Deliverer) acknowledged(realm, dev, id string) {
	ctx, cancel := context.WithTimeout(d.ctx, presenceTimeout)
	defer cancel()
	st, err := DeliveryStatus(ctx, d.cfg.Ephemeral, realm, id, dev)
	if err != nil {
		st = Status{}
	}
	st.Route, st.Error, st.UpdatedAt = RouteAcknowledged, "", time.Now().UTC()
	d.record(ctx, target{realm: realm, id: id, message: true}, dev, st, messageStatusKeep)
}

// messageStatusKeep is how long a message's delivery status stays readable after its
// acknowledgement.
const messageStatusKeep = 24 * time.Hour

// request starts waking the devices of a new request.
func (d *Deliverer) request(realm, id string) {
	r, err := d.cfg.Requests.Get(d.ctx, realm, id)
	if err != nil || r.State != authn.Pending {
		return
	}
	d.start(d.requestTarget(r))
}

// start settles t's connected devices and wakes the others, each on its own goroutine.
func (d *Deliverer) start(t target) {
	for _, dev := range t.devices {
		// A connected device (the common case) is settled here; the others wait on
		// providers.
		if d.inBand(t, dev) {
			continue
		}
		// The receive loop never waits for a provider: each wake-up runs on its own,
		// and only the sends themselves are bounded (MaxConcurrent), not the waits for
		// a Retry-After, so one realm's throttled provider holds up no other realm.
		d.wg.Go(func() { d.wake(t, dev, false) })
	}
}

// inBand reports whether dev is connected, and records that its node delivers in band.
func (d *Deliverer) inBand(r target, dev string) bool {
	ttl := time.Until(r.expiresAt)
	if ttl <= 0 {
		return true // nothing to deliver
	}
	ctx, cancel := context.WithTimeout(d.ctx, presenceTimeout)
	defer cancel()
	online, err := d.cfg.Online(ctx, dev)
	if err != nil || !online {
		return false
	}
	d.record(ctx, r, dev, Status{Route: RouteInBand}, ttl+time.Minute)
	d.cfg.Metrics.delivered(RouteInBand)
	return true
}

// presenceTimeout bounds the presence check and status write of a connected device.
const presenceTimeout = 2 * time.Second

// Status is what became of one request's delivery to one device.
type Status struct {
	Route     string    `json:"route"`
	Provider  string    `json:"provider,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	Reminded  bool      `json:"reminded,omitempty"`
	Error     string    `json:"error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

func claimKey(realm, request, dev, what string) string {
	return "messaging:" + what + ":" + realm + "\x00" + request + "\x00" + dev
}

// DeliveryStatus returns what became of the request's delivery to the device, from any
// node; ephemeral.ErrNotFound when nothing is known (yet, or any more).
func DeliveryStatus(ctx context.Context, eph ephemeral.Store, realm, request, dev string) (Status, error) {
	e, err := eph.Get(ctx, claimKey(realm, request, dev, "status"))
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(e.Value, &st); err != nil {
		return Status{}, fmt.Errorf("messaging: stored status: %w", err)
	}
	return st, nil
}

// wake delivers r to dev: nothing if the device is connected (its node does it in band),
// else a push from the node that claims it. reminder sends the one reminder instead.
func (d *Deliverer) wake(r target, dev string, reminder bool) {
	ttl := time.Until(r.expiresAt)
	if ttl <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, ttl)
	defer cancel()
	keep := ttl + time.Minute
	online, err := d.cfg.Online(ctx, dev)
	if err != nil {
		d.log.Warn("messaging: presence unknown; waking the device anyway", "device", dev, "err", err)
	}
	if online {
		if !reminder {
			d.record(ctx, r, dev, Status{Route: RouteInBand}, keep)
			d.cfg.Metrics.delivered(RouteInBand)
		}
		return
	}
	what := "push"
	if reminder {
		what = "reminder"
	}
	// One node wakes the device: of the nodes that received the notice, the first
	// to claim it.
	won, err := d.cfg.Ephemeral.SetNX(ctx, claimKey(r.realm, r.id, dev, what), []byte("1"), keep)
	if err != nil || !won {
		return
	}
	st := d.send(ctx, r, dev, reminder)
	if reminder {
		if prev, err := DeliveryStatus(ctx, d.cfg.Ephemeral, r.realm, r.id, dev); err == nil {
			prev.Reminded, prev.UpdatedAt = st.Route == RouteReminder, st.UpdatedAt
			prev.Attempts += st.Attempts
			if st.Error != "" {
				prev.Error = st.Error
			}
			st = prev
		}
	}
	d.record(ctx, r, dev, st, keep)
	if st.Route == RoutePush && d.cfg.ReminderAfter > 0 && time.Until(r.expiresAt) > d.cfg.ReminderAfter {
		d.remind(r, dev)
	}
}

// send pushes r to dev, again after each temporary failure while the request lives.
func (d *Deliverer) send(ctx context.Context, r target, dev string, reminder bool) Status {
	now := func() time.Time { return time.Now().UTC() }
	dv, err := d.cfg.Store.GetDevice(ctx, r.realm, dev)
	if err != nil || dv.State != store.DeviceActive {
		return Status{Route: RouteFailed, Error: "device not found or not active", UpdatedAt: now()}
	}
	if dv.PushProvider == "" || dv.PushToken == "" {
		d.cfg.Metrics.delivered(RouteNoRegistration)
		return Status{Route: RouteNoRegistration, UpdatedAt: now()}
	}
	sender, err := d.cfg.Senders.Get(ctx, r.realm, dv.PushProvider)
	if err != nil {
		route := RouteFailed
		if errors.Is(err, ErrNoCredential) {
			route = RouteNoCredential
		}
		d.log.Warn("messaging: no push sender", "realm", r.realm, "provider", dv.PushProvider, "err", err)
		d.cfg.Metrics.delivered(route)
		return Status{Route: route, Provider: dv.PushProvider, Error: err.Error(), UpdatedAt: now()}
	}
	msg := push.Message{ID: r.id, Title: d.cfg.Title, CollapseID: r.id, TTL: time.Until(r.expiresAt).Truncate(time.Second)}
	st := Status{Provider: dv.PushProvider}
	// Retries stop after maxRetryWindow even for a message that lives a day: a phone
	// that cannot be woken for that long will list what waits when it connects.
	ctx, cancel := context.WithTimeout(ctx, maxRetryWindow)
	defer cancel()
	for {
		st.Attempts++
		err := d.sendOne(ctx, sender, dv.PushToken, msg)
		var retry *push.RetryError
		switch {
		case err == nil:
			st.Route, st.Error = RoutePush, ""
			if reminder {
				st.Route = RouteReminder
			}
			d.cfg.Metrics.delivered(st.Route)
			st.UpdatedAt = now()
			return st
		case errors.Is(err, push.ErrInvalidToken):
			d.invalidate(ctx, dv)
			st.Route, st.Error = RouteFailed, "the provider no longer knows the device's push token"
		case errors.As(err, &retry):
			st.Error = err.Error()
			t := time.NewTimer(retry.After)
			select {
			case <-t.C:
				if online, _ := d.cfg.Online(ctx, dev); online {
					// It connected meanwhile: its node has delivered in band.
					st.Route, st.Error, st.UpdatedAt = RouteInBand, "", now()
					return st
				}
				if st.Attempts < 8 && r.waiting(ctx, dev) {
					continue
				}
				st.Route = RouteFailed
			case <-ctx.Done():
				t.Stop()
				st.Route = RouteFailed
			}
		default:
			st.Route, st.Error = RouteFailed, err.Error()
			d.log.Warn("messaging: push refused", "realm", r.realm, "provider", dv.PushProvider, "device", dev, "err", err)
		}
		d.cfg.Metrics.delivered(RouteFailed)
		st.UpdatedAt = now()
		return st
	}
}

// maxRetryWindow bounds how long one wake-up is retried.
const maxRetryWindow = 5 * time.Minute

// sendOne makes one provider call within the node's bound on concurrent sends.
func (d *Deliverer) sendOne(ctx context.Context, sender push.Sender, token string, msg push.Message) error {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return push.Retry(time.Second, ctx.Err())
	}
	defer func() { <-d.sem }()
	return sender.Send(ctx, token, msg)
}

// invalidate clears the device's push registration: the provider said it is gone.
func (d *Deliverer) invalidate(ctx context.Context, dv store.Device) {
	_, err := d.cfg.Store.UpdateDevice(ctx, dv.Realm, dv.ID, store.Audit{Actor: "messaging", Action: "device_push_token_invalid"},
		func(cur store.Device) (store.Device, error) {
			if cur.PushToken != dv.PushToken || cur.PushProvider != dv.PushProvider {
				return cur, nil // the app registered a new one meanwhile
			}
			cur.PushToken = ""
			return cur, nil
		})
	if err != nil {
		d.log.Warn("messaging: invalid push token not cleared", "device", dv.ID, "err", err)
		return
	}
	d.cfg.Metrics.invalidated(dv.PushProvider)
}

func (d *Deliverer) record(ctx context.Context, r target, dev string, st Status, keep time.Duration) {
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = time.Now().UTC()
	}
	if err := recordStatus(ctx, d.cfg.Ephemeral, r.realm, r.id, dev, st, keep, r.message); err != nil {
		d.log.Warn("messaging: delivery status not kept", "id", r.id, "err", err)
	}
}

// DeliveriesChannel carries every delivery status as it is recorded (an Event, JSON),
// for the delivery event streams on every node.
const DeliveriesChannel = "messaging.deliveries"

// Event is one recorded delivery status.
type Event struct {
	Realm  string `json:"realm"`
	ID     string `json:"id"`
	Device string `json:"device"`
	Status Status `json:"status"`
}

// recordStatus keeps st as the delivery of id to dev and, when announce is set (a
// message's), announces it on DeliveriesChannel. An acknowledged
// delivery stays acknowledged: the app may confirm a message before the node that woke
// it has recorded the push (what the push did is kept beside it).
func recordStatus(ctx context.Context, eph ephemeral.Store, realm, id, dev string, st Status, keep time.Duration, announce bool) error {
	key := claimKey(realm, id, dev, "status")
	for attempt := 0; ; attempt++ {
		e, err := eph.Get(ctx, key)
		var version uint64
		switch {
		case errors.Is(err, ephemeral.ErrNotFound):
		case err != nil:
			return err
		default:
			version = e.Version
			var prev Status
			if json.Unmarshal(e.Value, &prev) == nil && prev.Route == RouteAcknowledged && st.Route != RouteAcknowledged {
				st.Route, st.Error = RouteAcknowledged, ""
			}
		}
		b, _ := json.Marshal(st)
		if version == 0 {
			var ok bool
			if ok, err = eph.SetNX(ctx, key, b, keep); err == nil && !ok {
				err = ephemeral.ErrConflict
			}
		} else {
			_, err = eph.CompareAndSwap(ctx, key, version, b, keep)
		}
		if errors.Is(err, ephemeral.ErrConflict) && attempt < 16 {
			continue
		}
		if err != nil || !announce {
			return err
		}
		ev, _ := json.Marshal(Event{Realm: realm, ID: id, Device: dev, Status: st})
		return eph.Publish(ctx, DeliveriesChannel, ev)
	}
}

// remind wakes dev once more after ReminderAfter if the request still waits and the
// device has not connected.
func (d *Deliverer) remind(r target, dev string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	var t *time.Timer
	d.wg.Add(1) // released when the timer fires or Close stops it
	t = time.AfterFunc(d.cfg.ReminderAfter, func() {
		defer d.wg.Done()
		d.mu.Lock()
		_, pending := d.timers[t]
		delete(d.timers, t)
		d.mu.Unlock()
		if !pending {
			return
		}
		if !r.waiting(d.ctx, dev) {
			return
		}
		d.wake(r, dev, true)
	})
	d.timers[t] = struct{}{}
}

// TestPush sends one wake-up to a device now, whether or not it is connected, so an
// administrator can check the realm's credential and the device's registration. The
// phone finds no request under its id and shows nothing.
func (d *Deliverer) TestPush(ctx context.Context, realm, deviceID string) (Status, error) {
	dv, err := d.cfg.Store.GetDevice(ctx, realm, deviceID)
	if err != nil {
		return Status{}, err
	}
	if dv.PushProvider == "" || dv.PushToken == "" {
		return Status{Route: RouteNoRegistration, UpdatedAt: time.Now().UTC()}, nil
	}
	sender, err := d.cfg.Senders.Get(ctx, realm, dv.PushProvider)
	switch {
	case errors.Is(err, ErrNoCredential):
		return Status{Route: RouteNoCredential, Provider: dv.PushProvider, Error: err.Error(), UpdatedAt: time.Now().UTC()}, nil
	case errors.Is(err, ErrUnusableCredential):
		return Status{Route: RouteFailed, Provider: dv.PushProvider, Error: err.Error(), UpdatedAt: time.Now().UTC()}, nil
	case err != nil:
		return Status{}, err
	}
	st := Status{Route: RoutePush, Provider: dv.PushProvider, Attempts: 1}
	err = sender.Send(ctx, dv.PushToken, push.Message{ID: "test-" + rand.Text(), Title: d.cfg.Title, TTL: time.Minute})
	if errors.Is(err, push.ErrInvalidToken) {
		d.invalidate(ctx, dv)
	}
	if err != nil {
		st.Route, st.Error = RouteFailed, err.Error()
	}
	st.UpdatedAt = time.Now().UTC()
	return st, nil
}
