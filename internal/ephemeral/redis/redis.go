// Package redis is the cluster-wide ephemeral.Store on Redis: one server, Sentinel or
// Cluster. Each key holds a hash {v: value, ver: version}; every operation that reads
// and writes is one Lua script on that single key, so it is atomic and runs on Redis
// Cluster. Counters are the same hashes with the decimal count in v, so Get and Take
// work on them too. Pub/sub uses Redis channels under the same prefix as keys.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/signet-auth/signet/internal/ephemeral"
)

// DefaultPrefix starts every key and channel name unless WithPrefix says otherwise.
const DefaultPrefix = "signet:"

// subscribeTimeout bounds the wait for Redis to confirm a SUBSCRIBE.
const subscribeTimeout = 5 * time.Second

// Option adjusts a Store opened by Open.
type Option func(*config)

type config struct {
	prefix      string
	dialTimeout time.Duration
}

// WithPrefix sets the string put before every key and channel (default "signet:"), so
// several deployments or test runs can share one Redis.
func WithPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithDialTimeout bounds each connection attempt (the go-redis default is 5s). It
// overrides a dial_timeout given in a redis:// URL.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) { c.dialTimeout = d }
}

// Store is an ephemeral.Store on Redis.
type Store struct {
	client  goredis.UniversalClient
	prefix  string
	scripts scripts
	closed  atomic.Bool

	mu   sync.Mutex // guards subs against Close
	subs map[*ephemeral.Mailbox]struct{}
}

var _ ephemeral.Store = (*Store)(nil)

// Open returns a store for the Redis named by url (see ParseURL). It does not contact
// Redis: a node may start while Redis is down and become ready when Ping succeeds, so
// readiness, not a crash loop, reports the outage. Only a malformed url is an error here.
// The context is unused today; it is in the signature so that setup which does need the
// network can honour it without an API change.
func Open(_ context.Context, url string, opts ...Option) (*Store, error) {
	cfg := config{prefix: DefaultPrefix}
	for _, opt := range opts {
		opt(&cfg)
	}
	uo, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if cfg.dialTimeout > 0 {
		uo.DialTimeout = cfg.dialTimeout
	}
	if uo.DialerRetries == 0 {
		// go-redis already retries each command (MaxRetries); its default of five dial
		// attempts per try on top turns a refused connection into a two-second stall.
		uo.DialerRetries = 1
	}
	return &Store{
		client:  goredis.NewUniversalClient(uo),
		prefix:  cfg.prefix,
		scripts: newScripts(),
		subs:    make(map[*ephemeral.Mailbox]struct{}),
	}, nil
}

// SetNX implements ephemeral.Store.
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ephemeral.ValidateWrite(key, ttl); err != nil {
		return false, err
	}
	n, err := s.run(ctx, s.scripts.setNX, key, value, millis(ttl)).Int64()
	if err != nil {
		return false, s.fail("setnx", err)
	}
	return n == 1, nil
}

// Set implements ephemeral.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := ephemeral.ValidateWrite(key, ttl); err != nil {
		return 0, err
	}
	v, err := s.run(ctx, s.scripts.set, key, value, millis(ttl)).Uint64()
	if err != nil {
		return 0, s.fail("set", err)
	}
	return v, nil
}

// Get implements ephemeral.Store.
func (s *Store) Get(ctx context.Context, key string) (ephemeral.Entry, error) {
	if err := ephemeral.ValidateKey(key); err != nil {
		return ephemeral.Entry{}, err
	}
	res, err := s.run(ctx, s.scripts.get, key).Slice()
	if err != nil {
		return ephemeral.Entry{}, s.fail("get", err)
	}
	return entryFrom(res, time.Now())
}

// entryFrom decodes the get script's reply {value, version, pttl}.
func entryFrom(res []any, now time.Time) (ephemeral.Entry, error) {
	if len(res) != 3 {
		return ephemeral.Entry{}, fmt.Errorf("redis get: unexpected reply of %d elements", len(res))
	}
	value, _ := res[0].(string)
	version, _ := res[1].(string)
	pttl, _ := res[2].(int64)
	ver, err := strconv.ParseUint(version, 10, 64)
	if err != nil {
		return ephemeral.Entry{}, fmt.Errorf("redis get: bad version %q", version)
	}
	e := ephemeral.Entry{Value: []byte(value), Version: ver}
	if pttl >= 0 { // -1: no TTL, which only a key written outside this store can lack
		e.ExpiresAt = now.Add(time.Duration(pttl) * time.Millisecond)
	}
	return e, nil
}

// Take implements ephemeral.Store.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	if err := ephemeral.ValidateKey(key); err != nil {
		return nil, err
	}
	v, err := s.run(ctx, s.scripts.take, key).Text()
	if err != nil {
		return nil, s.fail("take", err)
	}
	return []byte(v), nil
}

// CompareAndSwap implements ephemeral.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (uint64, error) {
	if err := ephemeral.ValidateSwap(key, ttl); err != nil {
		return 0, err
	}
	var ms int64 // 0 tells the script to keep the expiry
	if ttl > 0 {
		ms = millis(ttl)
	}
	v, err := s.run(ctx, s.scripts.cas, key, strconv.FormatUint(version, 10), value, ms).Int64()
	switch {
	case err != nil:
		return 0, s.fail("compare-and-swap", err)
	case v < 0:
		return 0, ephemeral.ErrConflict
	}
	return uint64(v), nil
}

// Delete implements ephemeral.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ephemeral.ValidateKey(key); err != nil {
		return err
	}
	if s.closed.Load() {
		return ephemeral.ErrClosed
	}
	if err := s.client.Del(ctx, s.prefix+key).Err(); err != nil {
		return s.fail("delete", err)
	}
	return nil
}

// Incr implements ephemeral.Store.
func (s *Store) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if err := ephemeral.ValidateWrite(key, window); err != nil {
		return 0, err
	}
	n, err := s.run(ctx, s.scripts.incr, key, millis(window)).Int64()
	switch {
	case goredis.HasErrorPrefix(err, notCounterReply):
		return 0, ephemeral.NotCounter(key)
	case err != nil:
		return 0, s.fail("incr", err)
	}
	return n, nil
}

// Publish implements ephemeral.Store.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := ephemeral.ValidateChannel(channel); err != nil {
		return err
	}
	if s.closed.Load() {
		return ephemeral.ErrClosed
	}
	if err := s.client.Publish(ctx, s.prefix+channel, msg).Err(); err != nil {
		return s.fail("publish", err)
	}
	return nil
}

// Subscribe implements ephemeral.Store. It returns once Redis has confirmed the
// subscription. The subscription is an *ephemeral.Mailbox, whose Dropped method counts
// messages lost to a slow reader.
func (s *Store) Subscribe(ctx context.Context, channel string) (ephemeral.Subscription, error) {
	if err := ephemeral.ValidateChannel(channel); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ephemeral.ErrClosed
	}
	ps := s.client.Subscribe(ctx, s.prefix+channel)
	reply, err := ps.ReceiveTimeout(ctx, subscribeTimeout)
	if err == nil {
		if _, ok := reply.(*goredis.Subscription); !ok {
			err = fmt.Errorf("unexpected reply %T", reply)
		}
	}
	if err != nil {
		_ = ps.Close()
		return nil, s.fail("subscribe", err)
	}
	// go-redis keeps the connection healthy and resubscribes after a reconnect; its
	// channel closes when ps is closed, which ends the forwarder below.
	in := ps.Channel(goredis.WithChannelSize(ephemeral.SubscriptionBuffer))
	forwarded := make(chan struct{})

	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = ps.Close()
		return nil, ephemeral.ErrClosed
	}
	mb := ephemeral.NewMailbox(ctx, ephemeral.SubscriptionBuffer, func(mb *ephemeral.Mailbox) {
		_ = ps.Close()
		<-forwarded
		s.forget(mb)
	})
	s.subs[mb] = struct{}{}
	s.mu.Unlock()

	go func() {
		defer close(forwarded)
		for m := range in {
			mb.Deliver([]byte(m.Payload))
		}
	}()
	return mb, nil
}

func (s *Store) forget(mb *ephemeral.Mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, mb)
}

// Ping implements ephemeral.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ephemeral.ErrClosed
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Backend implements ephemeral.Store.
func (s *Store) Backend() string { return "redis" }

// Close ends every subscription and closes the connections. Later calls return
// ErrClosed; closing twice is not an error.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.mu.Lock()
	open := s.subs
	s.subs = nil
	s.mu.Unlock()
	for mb := range open {
		_ = mb.Close()
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close redis: %w", err)
	}
	return nil
}

// run executes script on the prefixed key. go-redis sends EVALSHA and falls back to EVAL
// when the server does not have the script cached yet.
func (s *Store) run(ctx context.Context, script *goredis.Script, key string, args ...any) *goredis.Cmd {
	if s.closed.Load() {
		cmd := goredis.NewCmd(ctx)
		cmd.SetErr(goredis.ErrClosed)
		return cmd
	}
	return script.Run(ctx, s.client, []string{s.prefix + key}, args...)
}

// fail maps a go-redis error onto the ephemeral sentinels: redis.Nil is ErrNotFound, a
// closed client is ErrClosed, and anything that is not a definite answer from a healthy
// server wraps ErrUnavailable.
func (s *Store) fail(op string, err error) error {
	switch {
	case errors.Is(err, goredis.Nil):
		return ephemeral.ErrNotFound
	case errors.Is(err, goredis.ErrClosed) && s.closed.Load():
		return ephemeral.ErrClosed
	case errors.Is(err, context.Canceled):
		// The caller gave up; that says nothing about Redis.
		return fmt.Errorf("redis %s: %w", op, err)
	case isServerReply(err) && !isUnavailableReply(err):
		return fmt.Errorf("redis %s: %w", op, err)
	default:
		return fmt.Errorf("redis %s: %w: %w", op, ephemeral.ErrUnavailable, err)
	}
}

func isServerReply(err error) bool {
	var re goredis.Error
	return errors.As(err, &re)
}

// isUnavailableReply recognises the replies of a server that is loading, failing over or
// partitioned: the same call can succeed later.
func isUnavailableReply(err error) bool {
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "ERR max number of clients"} {
		if goredis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// millis rounds a TTL up to whole milliseconds, the unit of PEXPIRE, so that a positive
// ttl never becomes 0.
func millis(d time.Duration) int64 {
	ms := d.Milliseconds()
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// slogPrinter adapts go-redis's process-wide logger to slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.log.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// RouteClientLogs sends go-redis's own messages (connection failures) to log instead of
// standard error. go-redis keeps one logger per process, so only main calls this.
func RouteClientLogs(log *slog.Logger) { goredis.SetLogger(slogPrinter{log}) }
