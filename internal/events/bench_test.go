package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
)

// BenchmarkDeliver times webhook deliveries to a TLS (HTTP/2) receiver on loopback:
// events are appended first, then a Deliverer claims, signs, posts and records them
// until the receiver has them all. Beside it, the same run times plain POSTs of the same
// body through the same outbound client, as many at once as the Deliverer posts
// (one per subscription): the ceiling the network path allows. ratio is one over the
// other. subs=1 is one ordered stream; subs=8 fans every event out to eight
// subscriptions, posted in parallel.
//
//	go test ./internal/events -run '^$' -bench Deliver -cpu 1 -benchtime 20000x
func BenchmarkDeliver(b *testing.B) {
	for _, backend := range testdb.Backends {
		for _, subs := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/subs=%d", backend, subs), func(b *testing.B) { benchmarkDeliver(b, backend, subs) })
		}
	}
}

// countingReceiver answers 204 and closes done once it has had want requests.
type countingReceiver struct {
	n    atomic.Int64
	want int64
	done chan struct{}
	once sync.Once
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf [4096]byte
	for {
		if _, err := r.Body.Read(buf[:]); err != nil {
			break
		}
	}
	w.WriteHeader(http.StatusNoContent)
	if c.n.Add(1) == c.want {
		c.once.Do(func() { close(c.done) })
	}
}

func (c *countingReceiver) expect(n int) {
	c.n.Store(0)
	c.want, c.done, c.once = int64(n), make(chan struct{}), sync.Once{}
}

func benchmarkDeliver(b *testing.B, backend string, subs int) {
	ctx := context.Background()
	st := testdb.Open(b, backend)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "r", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	ring := testRing(&testing.T{})
	rc := &countingReceiver{}
	srv := httptest.NewUnstartedServer(rc)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	client := outbound.New(loopback(), outbound.WithRootCAs(roots))
	defer client.CloseIdleConnections()
	registry := Subscriptions{Store: st, Ring: ring}
	for range subs {
		if _, _, err := registry.Create(ctx, store.WebhookSubscription{Realm: "r", URL: srv.URL + "/hooks", Enabled: true}); err != nil {
			b.Fatal(err)
		}
	}

	events := (b.N + subs - 1) / subs
	total := events * subs
	batch := make([]store.Event, 0, MaxBatch)
	for i := range events {
		batch = append(batch, store.Event{Realm: "r", Type: "authn.approved", Subject: fmt.Sprintf("q%d", i), UserID: "u1", At: time.Now(),
			Data: []byte(fmt.Sprintf(`{"type":"authn.approved","realm":"r","request_id":"q%d","kind":"login","client_id":"app","user_id":"u1"}`, i))})
		if len(batch) == cap(batch) || i == events-1 {
			if _, err := st.AppendEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	rc.expect(total)
	b.ResetTimer()
	start := time.Now()
	d, err := NewDeliverer(st, ring, client, slog.New(slog.DiscardHandler), WithPollInterval(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	d.Start()
	<-rc.done
	elapsed := time.Since(start)
	b.StopTimer()
	if err := d.Close(ctx); err != nil {
		b.Fatal(err)
	}

	// The ceiling: the same number of POSTs of a body like the Deliverer's, subs at once.
	body, err := WebhookBody(batchEvent())
	if err != nil {
		b.Fatal(err)
	}
	rc.expect(total)
	var wg sync.WaitGroup
	posts := make(chan struct{}, total)
	for range total {
		posts <- struct{}{}
	}
	close(posts)
	raw := time.Now()
	for range min(subs, DefaultWorkers) {
		wg.Go(func() {
			for range posts {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/raw", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Webhook-Id", "msg_1")
				req.Header.Set("Webhook-Timestamp", "1700000000")
				req.Header.Set("Webhook-Signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
				if resp, err := client.Do(ctx, req); err != nil || resp.Status != http.StatusNoContent {
					b.Errorf("raw POST: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	ceiling := float64(total) / time.Since(raw).Seconds()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(ceiling, "posts/s")
	b.ReportMetric(rate/ceiling, "ratio")
}

func batchEvent() store.Event {
	return store.Event{Type: "authn.approved", At: time.Now(),
		Data: []byte(`{"type":"authn.approved","realm":"r","request_id":"q1","kind":"login","client_id":"app","user_id":"u1"}`)}
}

// BenchmarkCommitToDelivery times how long an event takes from the outbox to the
// receiver while events keep coming: b.N events are appended through an Outbox that
// nudges the Deliverer after each commit, one every interval (offered well below the
// drain rate BenchmarkDeliver measures), and the receiver notes when each arrives. p50
// and p99 are from the Append call to the arrival; beside them, the p99 of a plain
// POST of the same body through the same client in the same run, the ceiling.
//
//	go test ./internal/events -run '^$' -bench CommitToDelivery -cpu 1 -benchtime 2000x
func BenchmarkCommitToDelivery(b *testing.B) {
	for _, backend := range testdb.Backends {
		b.Run(backend, func(b *testing.B) { benchmarkCommitToDelivery(b, backend) })
	}
}

func benchmarkCommitToDelivery(b *testing.B, backend string) {
	const interval = time.Millisecond
	ctx := context.Background()
	st := testdb.Open(b, backend)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "r", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	ring := testRing(&testing.T{})
	var (
		mu      sync.Mutex
		sent    = make([]time.Time, b.N)
		arrived = make([]time.Duration, 0, b.N)
		all     = make(chan struct{})
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct {
				Seq int `json:"n"`
			} `json:"data"`
		}
		err := json.NewDecoder(r.Body).Decode(&ev)
		w.WriteHeader(http.StatusNoContent)
		if err != nil || r.URL.Path != "/hooks" {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		arrived = append(arrived, now.Sub(sent[ev.Data.Seq]))
		if len(arrived) == b.N {
			close(all)
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	client := outbound.New(loopback(), outbound.WithRootCAs(roots))
	defer client.CloseIdleConnections()
	if _, _, err := (Subscriptions{Store: st, Ring: ring}).Create(ctx, store.WebhookSubscription{Realm: "r", URL: srv.URL + "/hooks", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	// The poll is a fallback a second away: what is measured is the nudge after commit.
	d, err := NewDeliverer(st, ring, client, slog.New(slog.DiscardHandler), WithPollInterval(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	d.Start()
	defer d.Close(ctx)
	out := NewOutbox(st, WithOnWrite(d.Nudge))
	defer out.Close(ctx)

	b.ResetTimer()
	tick := time.NewTicker(interval)
	var wg sync.WaitGroup
	for i := range b.N {
		<-tick.C
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		wg.Go(func() {
			e := store.Event{Realm: "r", Type: "authn.approved", Subject: fmt.Sprintf("q%d", i), At: time.Now(),
				Data: []byte(fmt.Sprintf(`{"type":"authn.approved","realm":"r","n":%d}`, i))}
			if err := out.Append(ctx, e); err != nil {
				b.Errorf("append: %v", err)
			}
		})
	}
	tick.Stop()
	wg.Wait()
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d events delivered within a minute", len(arrived), b.N)
	}
	b.StopTimer()

	// The ceiling: plain POSTs of the same body, one at a time, timed one by one.
	body := []byte(`{"type":"authn.approved","timestamp":"2026-11-23T00:00:00Z","data":{"type":"authn.approved","realm":"r","n":0}}`)
	raw := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/raw", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := client.Do(ctx, req); err != nil || resp.Status != http.StatusNoContent {
			b.Fatalf("raw POST: %v", err)
		}
		raw = append(raw, time.Since(start))
	}
	mu.Lock()
	defer mu.Unlock()
	p50, p99 := percentile(arrived, 0.50), percentile(arrived, 0.99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(percentile(raw, 0.99).Microseconds())/1000, "post-p99-ms")
}

// percentile returns the q-quantile of ds (sorted in place).
func percentile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*q))]
}
