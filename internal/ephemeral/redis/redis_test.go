package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/ephemeraltest"
	"github.com/signet-auth/signet/internal/testutil"
)

func openT(t *testing.T, url string, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return s
}

// miniredis runs TTLs only when told to, so the suite advances its clock instead of waiting.
func TestConformanceMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	var n atomic.Int64
	ephemeraltest.RunWithOptions(t, func(t *testing.T) ephemeral.Store {
		return openT(t, "redis://"+mr.Addr(), WithPrefix(fmt.Sprintf("t%d:", n.Add(1))))
	}, ephemeraltest.Options{Advance: mr.FastForward})
}

func TestConformanceRedis(t *testing.T) {
	url := testutil.RedisURL(t)
	run := "signet-test:" + rand.Text()[:10]
	var n atomic.Int64
	ephemeraltest.Run(t, func(t *testing.T) ephemeral.Store {
		prefix := fmt.Sprintf("%s:%d:", run, n.Add(1))
		s := openT(t, url, WithPrefix(prefix))
		t.Cleanup(func() { deleteKeys(t, url, prefix) })
		return s
	})
}

// deleteKeys removes what a test left behind on a shared Redis.
func deleteKeys(t *testing.T, url, prefix string) {
	t.Helper()
	opts, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewUniversalClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		if err := c.Del(ctx, iter.Val()).Err(); err != nil {
			t.Errorf("clean up %s: %v", iter.Val(), err)
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("clean up %s*: %v", prefix, err)
	}
}

func TestKeysAreHashesUnderPrefix(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	s := openT(t, "redis://"+mr.Addr(), WithPrefix("p:"))
	ctx := t.Context()
	if _, err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := mr.HGet("p:k", "v"); got != "v" {
		t.Fatalf("hash field v = %q", got)
	}
	if got := mr.HGet("p:k", "ver"); got != "1" {
		t.Fatalf("hash field ver = %q", got)
	}
	if ttl := mr.TTL("p:k"); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL = %s", ttl)
	}
	s2 := openT(t, "redis://"+mr.Addr())
	if _, err := s2.Incr(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if !mr.Exists(DefaultPrefix + "k") {
		t.Fatalf("default prefix %q not used", DefaultPrefix)
	}
}

func TestMillisRoundsUp(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int64{
		time.Nanosecond:                    1,
		time.Millisecond:                   1,
		time.Millisecond + time.Nanosecond: 2,
		time.Second:                        1000,
	} {
		if got := millis(d); got != want {
			t.Errorf("millis(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), "redis://127.0.0.1:1/0", WithDialTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatalf("Open must not dial: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for name, call := range ephemeraltest.Calls(ctx, s) {
		start := time.Now()
		err := call()
		if !errors.Is(err, ephemeral.ErrUnavailable) {
			t.Errorf("%s on a closed port: %v, want ErrUnavailable", name, err)
		}
		// Well under the context deadline: the failure comes from the refused dial.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %s to fail", name, d)
		}
	}
}

func TestPingAfterServerStops(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	s := openT(t, "redis://"+mr.Addr(), WithDialTimeout(200*time.Millisecond))
	mr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Ping(ctx); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Ping after the server stopped: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Ping took %s to fail", d)
	}
}

func TestCanceledIsNotUnavailable(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	s := openT(t, "redis://"+mr.Addr())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Ping(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Ping with a canceled context: %v, want context.Canceled only", err)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	mr := miniredis.RunT(t)
	ephemeraltest.CheckCloseStopsGoroutines(t, func(t *testing.T) ephemeral.Store {
		return openT(t, "redis://"+mr.Addr())
	})
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want goredis.UniversalOptions
		tls  bool
	}{
		{url: "redis://localhost:6379/2", want: goredis.UniversalOptions{Addrs: []string{"localhost:6379"}, DB: 2}},
		{url: "redis://h", want: goredis.UniversalOptions{Addrs: []string{"h:6379"}}},
		{url: "redis://user:p%40ss@h:7000/0?dial_timeout=2s", want: goredis.UniversalOptions{
			Addrs: []string{"h:7000"}, Username: "user", Password: "p@ss", DialTimeout: 2 * time.Second,
		}},
		{url: "rediss://:secret@cache.example:6380", tls: true, want: goredis.UniversalOptions{
			Addrs: []string{"cache.example:6380"}, Password: "secret",
		}},
		{url: "redis+sentinel://u:p@s1:26379,s2:26380,[::1]:26381/mymaster?db=3", want: goredis.UniversalOptions{
			Addrs: []string{"s1:26379", "s2:26380", "[::1]:26381"}, MasterName: "mymaster", DB: 3, Username: "u", Password: "p",
		}},
		{url: "redis+sentinel://s1,s2/m?sentinel_password=sp", want: goredis.UniversalOptions{
			Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m", SentinelPassword: "sp",
		}},
		{url: "rediss+sentinel://s1/m", tls: true, want: goredis.UniversalOptions{
			Addrs: []string{"s1:26379"}, MasterName: "m",
		}},
		{url: "redis+cluster://n1:7000,n2:7001,n3", want: goredis.UniversalOptions{
			Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, IsClusterMode: true,
		}},
		{url: "rediss+cluster://u:p@n1:7000/", tls: true, want: goredis.UniversalOptions{
			Addrs: []string{"n1:7000"}, IsClusterMode: true, Username: "u", Password: "p",
		}},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if (got.TLSConfig != nil) != tc.tls {
			t.Errorf("ParseURL(%q): TLS = %v, want %v", tc.url, got.TLSConfig != nil, tc.tls)
		}
		if got.TLSConfig != nil && got.TLSConfig.MinVersion != tls.VersionTLS13 {
			t.Errorf("ParseURL(%q): outbound TLS allows versions below 1.3", tc.url)
		}
		got.TLSConfig = nil
		if fmt.Sprint(*got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseURL(%q) =\n %+v\nwant\n %+v", tc.url, *got, tc.want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"",
		"localhost:6379",
		"http://h",
		"unix:///tmp/redis.sock",
		"redis://h/notanumber",
		"redis://h?bogus=1",
		"redis+sentinel://s1,s2",
		"redis+sentinel://s1/",
		"redis+sentinel://s1/a/b",
		"redis+sentinel://s1/m?db=x",
		"redis+sentinel://s1/m?bogus=1",
		"redis+sentinel://s1,,s2/m",
		"redis+sentinel://s1:notaport/m",
		"redis+cluster://n1:7000/1",
		"redis+cluster://n1:7000?db=1",
		"redis+cluster://n1:99999",
		"redis+cluster://a:b:c",
		"redis+cluster://",
	} {
		if o, err := ParseURL(url); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", url, o)
		}
	}
}

func TestParseURLErrorsHidePassword(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"redis://user:hunter2@h:bad/0",
		"redis://user:hunter2@h/x",
		"redis+sentinel://user:hunter2@s1/",
		"redis+cluster://user:hunter2@n1:bad",
		"redis+cluster://user:hunter2@n1?bogus=1",
	} {
		_, err := ParseURL(url)
		if err == nil {
			t.Errorf("ParseURL(%q): no error", url)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL error repeats the password: %v", err)
		}
	}
}

// Each scheme must reach the client kind that speaks its protocol. Building a client does
// not dial.
func TestURLSelectsClient(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis://h:6379":               "*redis.Client",
		"redis+sentinel://s1,s2/m":     "*redis.Client", // a failover client
		"redis+cluster://n1:7000,n2":   "*redis.ClusterClient",
		"redis+cluster://only-one:700": "*redis.ClusterClient",
	} {
		opts, err := ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := goredis.NewUniversalClient(opts)
		if got := fmt.Sprintf("%T", c); got != want {
			t.Errorf("%s: client %s, want %s", url, got, want)
		}
		_ = c.Close()
	}
}
