// Package cached keeps realms, clients, users and devices in memory in front of a
// store.Store, so the hot paths (token endpoint, discovery, the device channel, push
// requests) do not query the database for them. Every write
// through the decorator that can change a cached record drops it locally and publishes
// an invalidation on the ephemeral store's pub/sub; every node drops what the messages
// it receives name. Delivery is at most once, so entries also expire (TTL), and the
// whole cache is cleared whenever messages may have been lost: when the subscription had
// to be re-established, and when a gap shows in the sequence numbers every node puts on
// its messages (a node also publishes a heartbeat carrying its sequence number, so a
// loss shows within one heartbeat interval even if that node writes nothing more).
package cached

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/store"
)

// Defaults of the options.
const (
	// DefaultTTL bounds how long an entry is served without a fresh read; it is the
	// safety net for an invalidation message that was lost.
	DefaultTTL = 30 * time.Second
	// DefaultNegativeTTL bounds how long a not-found answer is served, so that a record
	// created on another node appears quickly even if its message is lost.
	DefaultNegativeTTL = 2 * time.Second
	// DefaultMaxEntries bounds the realms, and separately the clients, held in memory.
	DefaultMaxEntries = 10_000
	// DefaultChannel is the pub/sub channel invalidations travel on.
	DefaultChannel = "signet:cache:invalidate"
	// DefaultHeartbeat is how often a node publishes its sequence number.
	DefaultHeartbeat = 5 * time.Second
)

// publishTimeout bounds publishing one invalidation after a write has already happened.
const publishTimeout = 2 * time.Second

// Option adjusts a Store built by New.
type Option func(*config)

type config struct {
	ttl, negativeTTL       time.Duration
	heartbeat              time.Duration
	maxEntries             int
	channel                string
	now                    func() time.Time
	log                    *slog.Logger
	backoffMin, backoffMax time.Duration
}

// WithTTL sets how long a realm or client is served from memory (default 30s); it must
// be positive.
func WithTTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// WithNegativeTTL sets how long a not-found answer is served from memory (default 2s);
// 0 turns negative caching off. It must not be negative nor exceed the TTL.
func WithNegativeTTL(d time.Duration) Option { return func(c *config) { c.negativeTTL = d } }

// WithMaxEntries bounds the realms, and separately the clients, held in memory (default
// 10,000 each); beyond it the oldest inserted entry is evicted.
func WithMaxEntries(n int) Option { return func(c *config) { c.maxEntries = n } }

// WithChannel sets the pub/sub channel of invalidations (default DefaultChannel). Every
// node of a cluster must use the same one.
func WithChannel(name string) Option { return func(c *config) { c.channel = name } }

// WithHeartbeat sets how often the node publishes its sequence number (default 5s), so
// that other nodes notice within that time that they lost one of its messages.
func WithHeartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// WithClock replaces time.Now for expiring entries, so tests need not wait.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sets where lost subscriptions and failed publishes are reported (default:
// nowhere).
func WithLogger(log *slog.Logger) Option { return func(c *config) { c.log = log } }

// backend names the embedded inner store; the alias keeps the field unexported, so
// callers cannot write around the invalidation, while its methods are still promoted.
type backend = store.Store

// Store is a store.Store that serves GetRealm, GetClient, GetUser, FindDevice and
// UserDevices from memory (see users.go) and forwards every other method to the inner
// store. It is safe for concurrent use.
//
// Until Start has subscribed, and while a lost subscription is being re-established,
// reads go to the inner store, because invalidations could be missed meanwhile. A change
// made to the database other than through a Store of this package (another tool, SQL by
// hand) is seen when the entry expires.
//
// A method added to store.Store that can change a realm, client, user or device must be
// overridden here to invalidate; the embedding would otherwise forward it silently.
type Store struct {
	backend
	bus ephemeral.Store
	cfg config
	// node names this Store in its messages; restarts get a new name.
	node string

	// pubMu orders this node's messages: sequence numbers are assigned and published in
	// one order, so a receiver reads a gap only as a loss.
	pubMu sync.Mutex
	seq   uint64

	realms  *table[string, store.Realm]
	clients *table[clientKey, store.Client]
	users   *table[userKey, store.User]
	devices *table[string, store.Device]    // by device id: FindDevice names no realm
	owned   *table[userKey, []store.Device] // UserDevices

	// live is true while the subscription is up and reads may use the cache.
	live atomic.Bool

	hits, misses, invalidations, resets atomic.Uint64

	lifeMu   sync.Mutex
	started  bool
	stopped  bool
	closed   bool
	stop     context.CancelFunc // ends the receive loop
	done     chan struct{}      // closed when the receive loop has returned
	closeErr error
}

type clientKey struct{ realm, id string }

var _ store.Store = (*Store)(nil)

// New wraps inner. Call Start to subscribe to invalidations on bus before serving;
// Close stops the subscription and closes inner (not bus, which the caller shares).
func New(inner store.Store, bus ephemeral.Store, opts ...Option) (*Store, error) {
	cfg := config{
		ttl:         DefaultTTL,
		negativeTTL: DefaultNegativeTTL,
		heartbeat:   DefaultHeartbeat,
		maxEntries:  DefaultMaxEntries,
		channel:     DefaultChannel,
		now:         time.Now,
		log:         slog.New(slog.DiscardHandler),
		backoffMin:  100 * time.Millisecond,
		backoffMax:  5 * time.Second,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	var problems []error
	if inner == nil {
		problems = append(problems, errors.New("no inner store"))
	}
	if bus == nil {
		problems = append(problems, errors.New("no ephemeral store for invalidations"))
	}
	if cfg.ttl <= 0 {
		problems = append(problems, fmt.Errorf("TTL %s is not positive", cfg.ttl))
	}
	if cfg.negativeTTL < 0 || cfg.negativeTTL > cfg.ttl {
		problems = append(problems, fmt.Errorf("negative TTL %s is not between 0 and the TTL %s", cfg.negativeTTL, cfg.ttl))
	}
	if cfg.heartbeat <= 0 {
		problems = append(problems, fmt.Errorf("heartbeat interval %s is not positive", cfg.heartbeat))
	}
	if cfg.maxEntries <= 0 {
		problems = append(problems, fmt.Errorf("max entries %d is not positive", cfg.maxEntries))
	}
	if err := ephemeral.ValidateChannel(cfg.channel); err != nil {
		problems = append(problems, err)
	}
	if cfg.now == nil {
		problems = append(problems, errors.New("nil clock"))
	}
	if cfg.log == nil {
		problems = append(problems, errors.New("nil logger"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("cached store: %w", err)
	}
	return &Store{
		backend: inner,
		bus:     bus,
		cfg:     cfg,
		node:    rand.Text(),
		realms:  newTable[string, store.Realm](cfg.maxEntries),
		clients: newTable[clientKey, store.Client](cfg.maxEntries),
		users:   newTable[userKey, store.User](cfg.maxEntries),
		devices: newTable[string, store.Device](cfg.maxEntries),
		owned:   newTable[userKey, []store.Device](cfg.maxEntries),
	}, nil
}

// Stats counts what the cache did since New.
type Stats struct {
	// Hits are reads answered from memory, negative answers included.
	Hits uint64
	// Misses are reads passed to the inner store.
	Misses uint64
	// Invalidations are changes applied: local writes and messages received.
	Invalidations uint64
	// Resets are whole-cache clears: after a resubscription, lost or unreadable
	// messages, or a migration.
	Resets uint64
	// Evictions are entries dropped to stay within the maximum.
	Evictions uint64
	// Realms and Clients are the entries held now, expired ones included.
	Realms, Clients int
	// Users and Devices are the user and device entries held now (a user's device list
	// counts as one device entry).
	Users, Devices int
}

// Stats returns the counters; they are read one at a time, not as one snapshot.
func (s *Store) Stats() Stats {
	realms, realmEvictions := s.realms.counts()
	clients, clientEvictions := s.clients.counts()
	users, userEvictions := s.users.counts()
	devices, deviceEvictions := s.devices.counts()
	owned, ownedEvictions := s.owned.counts()
	return Stats{
		Hits:          s.hits.Load(),
		Misses:        s.misses.Load(),
		Invalidations: s.invalidations.Load(),
		Resets:        s.resets.Load(),
		Evictions:     realmEvictions + clientEvictions + userEvictions + deviceEvictions + ownedEvictions,
		Realms:        realms,
		Clients:       clients,
		Users:         users,
		Devices:       devices + owned,
	}
}

// GetRealm implements store.Realms from memory when it can.
func (s *Store) GetRealm(ctx context.Context, name string) (store.Realm, error) {
	return read(s, s.realms, name, cloneRealm, func() (store.Realm, error) {
		return s.backend.GetRealm(ctx, name)
	})
}

// GetClient implements store.Clients from memory when it can.
func (s *Store) GetClient(ctx context.Context, realm, id string) (store.Client, error) {
	return read(s, s.clients, clientKey{realm, id}, cloneClient, func() (store.Client, error) {
		return s.backend.GetClient(ctx, realm, id)
	})
}

// read serves key from t, or loads it and caches the result: a value for the TTL,
// ErrNotFound for the negative TTL, any other error not at all.
func read[K comparable, V any](s *Store, t *table[K, V], key K, clone func(V) V, load func() (V, error)) (V, error) {
	if !s.live.Load() {
		s.misses.Add(1)
		return load()
	}
	now := s.cfg.now()
	if v, err, ok := t.get(key, now); ok {
		s.hits.Add(1)
		if err != nil {
			var zero V
			return zero, err
		}
		return clone(v), nil
	}
	s.misses.Add(1)
	slot, gen := t.begin(key)
	v, err := load()
	// Expiry counts from before the load: the value is at least that fresh.
	switch {
	case err == nil:
		t.finish(slot, gen, v, nil, now.Add(s.cfg.ttl))
		return clone(v), nil
	case errors.Is(err, store.ErrNotFound) && s.cfg.negativeTTL > 0:
		var zero V
		t.finish(slot, gen, zero, err, now.Add(s.cfg.negativeTTL))
	default:
		t.abandon(slot)
	}
	return v, err
}

// The writes below invalidate whatever their outcome: an error such as ErrUnavailable
// at commit does not prove that nothing changed, and ErrConflict on a create proves that
// a cached not-found answer is wrong.

// CreateRealm implements store.Realms and invalidates the realm.
func (s *Store) CreateRealm(ctx context.Context, r store.Realm) (store.Realm, error) {
	created, err := s.backend.CreateRealm(ctx, r)
	s.changed(ctx, message{Kind: kindRealm, Realm: r.Name})
	return created, err
}

// UpdateRealm implements store.Realms and invalidates the realm.
func (s *Store) UpdateRealm(ctx context.Context, name string, fn func(store.Realm) (store.Realm, error)) (store.Realm, error) {
	updated, err := s.backend.UpdateRealm(ctx, name, fn)
	s.changed(ctx, message{Kind: kindRealm, Realm: name})
	return updated, err
}

// DeleteRealm implements store.Realms and invalidates the realm and all its clients,
// which the inner store deletes with it.
func (s *Store) DeleteRealm(ctx context.Context, name string) error {
	err := s.backend.DeleteRealm(ctx, name)
	s.changed(ctx, message{Kind: kindRealmTree, Realm: name})
	return err
}

// CreateClient implements store.Clients and invalidates the client.
func (s *Store) CreateClient(ctx context.Context, c store.Client) (store.Client, error) {
	created, err := s.backend.CreateClient(ctx, c)
	s.changed(ctx, message{Kind: kindClient, Realm: c.Realm, Client: c.ID})
	return created, err
}

// UpdateClient implements store.Clients and invalidates the client.
func (s *Store) UpdateClient(ctx context.Context, realm, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	updated, err := s.backend.UpdateClient(ctx, realm, id, fn)
	s.changed(ctx, message{Kind: kindClient, Realm: realm, Client: id})
	return updated, err
}

// DeleteClient implements store.Clients and invalidates the client.
func (s *Store) DeleteClient(ctx context.Context, realm, id string) error {
	err := s.backend.DeleteClient(ctx, realm, id)
	s.changed(ctx, message{Kind: kindClient, Realm: realm, Client: id})
	return err
}

// MigrateUp implements store.Migrator. A migration may change how stored realms and
// clients read back, so applying any clears every node's cache.
func (s *Store) MigrateUp(ctx context.Context) ([]store.Migration, error) {
	applied, err := s.backend.MigrateUp(ctx)
	if len(applied) > 0 {
		s.changed(ctx, message{Kind: kindAll})
	}
	return applied, err
}

// changed applies m locally, so this node reads its own write at once, then tells the
// other nodes. A failed publish is logged, not returned: the write itself happened, and
// the other nodes' entries expire within the TTL.
func (s *Store) changed(ctx context.Context, m message) {
	s.apply(m)
	if err := s.publish(context.WithoutCancel(ctx), m); err != nil {
		s.cfg.log.Warn("publish cache invalidation; other nodes see the change when their entry expires",
			"kind", m.Kind, "realm", m.Realm, "client", m.Client, "ttl", s.cfg.ttl.String(), "error", err)
	}
}

// publish stamps m with this node's name and next sequence number and publishes it. The
// number is used up even if publishing fails, so that receivers see the gap.
func (s *Store) publish(ctx context.Context, m message) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.seq++
	m.Node, m.Seq = s.node, s.seq
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return s.bus.Publish(ctx, s.cfg.channel, m.encode())
}

// apply drops what m names, from this node's cache only.
func (s *Store) apply(m message) {
	switch m.Kind {
	case kindHeartbeat, kindHello:
		return
	case kindRealm:
		s.realms.invalidate(m.Realm)
	case kindClient:
		s.clients.invalidate(clientKey{m.Realm, m.Client})
	case kindRealmTree:
		s.realms.invalidate(m.Realm)
		s.clients.invalidateWhere(func(k clientKey) bool { return k.realm == m.Realm })
		s.users.invalidateWhere(func(k userKey) bool { return k.realm == m.Realm })
		s.owned.invalidateWhere(func(k userKey) bool { return k.realm == m.Realm })
		s.devices.clear() // keyed by id alone; realm deletions are rare
	case kindUser:
		s.users.invalidate(userKey{m.Realm, m.User})
		s.owned.invalidate(userKey{m.Realm, m.User})
	case kindUserTree:
		s.users.invalidate(userKey{m.Realm, m.User})
		s.owned.invalidate(userKey{m.Realm, m.User})
		s.devices.clear() // keyed by id alone; user deletions are rare
	case kindDevice:
		s.devices.invalidate(m.Device)
		if m.User != "" {
			s.owned.invalidate(userKey{m.Realm, m.User})
		} else {
			s.owned.invalidateWhere(func(k userKey) bool { return k.realm == m.Realm })
		}
	default:
		s.reset()
		return
	}
	s.invalidations.Add(1)
}

// reset clears the whole cache and fences off every load in flight.
func (s *Store) reset() {
	s.realms.clear()
	s.clients.clear()
	s.users.clear()
	s.devices.clear()
	s.owned.clear()
	s.resets.Add(1)
}

// cloneRealm copies r so that no caller shares the cached map.
func cloneRealm(r store.Realm) store.Realm {
	r.Attributes = maps.Clone(r.Attributes)
	return r
}

// cloneClient copies c so that no caller shares the cached slices and map. Clone keeps
// nil and empty apart, so callers see exactly what the inner store returned. The string
// slices share one new array, and the byte slices another, each copy capped so that an
// append reallocates instead of running into the next: the token endpoint reads a
// client on every request.
func cloneClient(c store.Client) store.Client {
	strs := make([]string, 0, len(c.RedirectURIs)+len(c.PostLogoutRedirectURIs)+len(c.GrantTypes)+
		len(c.ResponseTypes)+len(c.Scopes)+len(c.Contacts)+len(c.TLSClientCertificates))
	c.RedirectURIs = carve(&strs, c.RedirectURIs)
	c.PostLogoutRedirectURIs = carve(&strs, c.PostLogoutRedirectURIs)
	c.GrantTypes = carve(&strs, c.GrantTypes)
	c.ResponseTypes = carve(&strs, c.ResponseTypes)
	c.Scopes = carve(&strs, c.Scopes)
	c.Contacts = carve(&strs, c.Contacts)
	c.TLSClientCertificates = carve(&strs, c.TLSClientCertificates)
	bs := make([]byte, 0, len(c.SecretHash)+len(c.JWKS)+len(c.RegistrationTokenHash))
	c.SecretHash = carve(&bs, c.SecretHash)
	c.JWKS = carve(&bs, c.JWKS)
	c.RegistrationTokenHash = carve(&bs, c.RegistrationTokenHash)
	c.Attributes = maps.Clone(c.Attributes)
	return c
}

// carve appends a copy of s to *backing, which has room for it, and returns the copy
// with its capacity capped at its length; nil stays nil.
func carve[T any](backing *[]T, s []T) []T {
	if s == nil {
		return nil
	}
	start := len(*backing)
	*backing = append(*backing, s...)
	return (*backing)[start:len(*backing):len(*backing)]
}
