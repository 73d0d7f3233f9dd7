package cached_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/store/sqlite"
	"github.com/signet-auth/signet/internal/store/storetest"
)

// waitTimeout bounds every wait for another goroutine or node.
const waitTimeout = 5 * time.Second

// counting is the inner store of a node under test: SQLite, counting the reads that
// reach it, optionally failing them or pausing after one.
type counting struct {
	store.Store
	realmGets, clientGets atomic.Int64
	// userReads counts GetUser, FindDevice and UserDevices calls.
	userReads atomic.Int64

	mu   sync.Mutex
	fail error
	// afterClientGet runs once, after the next GetClient has read the database and
	// before it returns; afterFindDevice likewise for FindDevice.
	afterClientGet  func()
	afterFindDevice func()
}

func (c *counting) setFail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *counting) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fail
}

func (c *counting) pauseNextClientGet(hook func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.afterClientGet = hook
}

func (c *counting) GetRealm(ctx context.Context, name string) (store.Realm, error) {
	c.realmGets.Add(1)
	if err := c.failure(); err != nil {
		return store.Realm{}, err
	}
	return c.Store.GetRealm(ctx, name)
}

func (c *counting) GetClient(ctx context.Context, realm, id string) (store.Client, error) {
	c.clientGets.Add(1)
	if err := c.failure(); err != nil {
		return store.Client{}, err
	}
	got, err := c.Store.GetClient(ctx, realm, id)
	c.mu.Lock()
	hook := c.afterClientGet
	c.afterClientGet = nil
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return got, err
}

func (c *counting) GetUser(ctx context.Context, realm, id string) (store.User, error) {
	c.userReads.Add(1)
	return c.Store.GetUser(ctx, realm, id)
}

func (c *counting) FindDevice(ctx context.Context, id string) (store.Device, store.User, error) {
	c.userReads.Add(1)
	d, u, err := c.Store.FindDevice(ctx, id)
	c.mu.Lock()
	hook := c.afterFindDevice
	c.afterFindDevice = nil
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return d, u, err
}

func (c *counting) UserDevices(ctx context.Context, realm, userID string) ([]store.Device, error) {
	c.userReads.Add(1)
	return c.Store.UserDevices(ctx, realm, userID)
}

// openSQLite opens and migrates the SQLite database at path, as one node would.
func openSQLite(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	if _, err := s.MigrateUp(context.Background()); err != nil {
		s.Close()
		t.Fatalf("MigrateUp: %v", err)
	}
	return s
}

// newBus returns a memory bus closed when the test ends, after the nodes using it.
func newBus(t testing.TB) *memory.Store {
	bus := memory.New()
	t.Cleanup(func() { bus.Close() })
	return bus
}

// newNode starts a decorator over its own connection to the SQLite file at path,
// closed when the test ends.
func newNode(t testing.TB, path string, bus ephemeral.Store, opts ...cached.Option) (*cached.Store, *counting) {
	t.Helper()
	inner := &counting{Store: openSQLite(t, path)}
	s, err := cached.New(inner, bus, opts...)
	if err != nil {
		inner.Close()
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		s.Close()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, inner
}

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "signet.db") }

// seed creates realm acme with clients c1 and c2 directly in the database, so no
// invalidation message is in flight when the test starts counting.
func seed(t testing.TB, s store.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateRealm(ctx, store.Realm{Name: "acme", Enabled: true, Attributes: map[string]string{"theme": "dark"}}); err != nil {
		t.Fatalf("CreateRealm: %v", err)
	}
	for _, id := range []string{"c1", "c2"} {
		if _, err := s.CreateClient(ctx, newClient("acme", id)); err != nil {
			t.Fatalf("CreateClient(%s): %v", id, err)
		}
	}
}

func newClient(realm, id string) store.Client {
	return store.Client{
		Realm: realm, ID: id, Name: "App " + id, Enabled: true,
		SecretHash:   []byte{1, 2, 3},
		AuthMethod:   "client_secret_basic",
		RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes:   []string{"client_credentials"},
		Scopes:       []string{"openid", "api"},
		JWKS:         []byte(`{"keys":[]}`),
		Contacts:     []string{"ops@example.com"},
		Attributes:   map[string]string{"tier": "gold"},
	}
}

func mustClient(t testing.TB, s store.Store, realm, id string) store.Client {
	t.Helper()
	c, err := s.GetClient(context.Background(), realm, id)
	if err != nil {
		t.Fatalf("GetClient(%s/%s): %v", realm, id, err)
	}
	return c
}

func disable(c store.Client) (store.Client, error) {
	c.Enabled = false
	return c, nil
}

// wait receives from ch or fails the test after waitTimeout.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// flakyBus is the memory bus with a hand on its subscriptions, for the failure tests
// only: the test can end a subscription, fail or hold a Subscribe, and fake lost
// messages.
type flakyBus struct {
	*memory.Store

	mu   sync.Mutex
	subs []*flakySub
	// before, when set, runs at the start of each Subscribe; its error fails it.
	before func() error
	// lose, when set, swallows the next published message it matches, as a Redis
	// restart would, and is then cleared.
	lose func(msg []byte) bool
}

var _ ephemeral.Store = (*flakyBus)(nil)

// flakySub lets the test raise the count of messages lost to a slow reader.
type flakySub struct {
	ephemeral.Subscription
	dropped atomic.Uint64
}

func (s *flakySub) Dropped() uint64 { return s.dropped.Load() }

func newFlakyBus(t testing.TB) *flakyBus {
	b := &flakyBus{Store: memory.New()}
	t.Cleanup(func() { b.Close() })
	return b
}

func (b *flakyBus) Subscribe(ctx context.Context, channel string) (ephemeral.Subscription, error) {
	b.mu.Lock()
	before := b.before
	b.mu.Unlock()
	if before != nil {
		if err := before(); err != nil {
			return nil, err
		}
	}
	sub, err := b.Store.Subscribe(ctx, channel)
	if err != nil {
		return nil, err
	}
	fs := &flakySub{Subscription: sub}
	b.mu.Lock()
	b.subs = append(b.subs, fs)
	b.mu.Unlock()
	return fs, nil
}

func (b *flakyBus) Publish(ctx context.Context, channel string, msg []byte) error {
	b.mu.Lock()
	if b.lose != nil && b.lose(msg) {
		b.lose = nil
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	return b.Store.Publish(ctx, channel, msg)
}

// loseNext swallows the next published message whose JSON holds fragment.
func (b *flakyBus) loseNext(fragment string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lose = func(msg []byte) bool { return strings.Contains(string(msg), fragment) }
}

func (b *flakyBus) setBefore(fn func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.before = fn
}

// sub returns the i-th subscription made.
func (b *flakyBus) sub(i int) *flakySub {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[i]
}

// conformanceOpener wraps a fresh SQLite store per call, started on its own memory bus,
// and remembers each database's path for recordMigration.
func conformanceOpener(paths *sync.Map) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		path := dbPath(t)
		bus := newBus(t)
		inner, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		s, err := cached.New(inner, bus)
		if err != nil {
			inner.Close()
			t.Fatalf("New: %v", err)
		}
		if err := s.Start(t.Context()); err != nil {
			s.Close()
			t.Fatalf("Start: %v", err)
		}
		paths.Store(s, path)
		return storetest.Migrated(t, s)
	}
}
