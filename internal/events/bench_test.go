package events

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
