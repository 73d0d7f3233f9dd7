package messaging

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/push"
)

// BenchmarkRequestToPush times a wake-up from the moment a sign-in request is created
// (device.Ask: the request stored and announced) to the fake APNs receiving its push,
// for a device that is not connected: the delivery policy hears of the request, claims
// it, builds the notification and sends it over its HTTP/2 connection. Beside it, in the
// same run, the same sender's plain Send of a wake-up to the same fake: the ceiling.
// Requests are made one at a time, so the figures are latencies, not a queue's.
//
//	go test ./internal/messaging -run '^$' -bench RequestToPush -cpu 1 -benchtime 2000x
func BenchmarkRequestToPush(b *testing.B) {
	w := newWorld(b)
	w.node(prometheus.NewRegistry(), nil)
	ctx := context.Background()
	wait := func(n int) {
		deadline := time.Now().Add(waitFor)
		for len(w.fake.Notifications()) < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d wake-ups of %d", len(w.fake.Notifications()), n)
			}
			runtime.Gosched()
		}
	}
	// One request first: the sender's connection and provider token are made once.
	r := w.ask()
	wait(1)
	if _, err := w.reqs.Cancel(ctx, "demo", r.ID, []byte("test")); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		r := w.ask()
		wait(i + 2)
		lat = append(lat, time.Since(start))
		b.StopTimer()
		// Cancelled, so the user never has more than one request waiting.
		if _, err := w.reqs.Cancel(ctx, "demo", r.ID, []byte("test")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()

	senders := NewSenders(w.creds, SenderOptions{Endpoints: Endpoints{APNs: w.fake.URL}, RootCAs: w.fake.CertPool(), Timeout: 5 * time.Second},
		NewMetrics(prometheus.NewRegistry()))
	defer senders.Close()
	sender, err := senders.Get(ctx, "demo", "apns")
	if err != nil {
		b.Fatal(err)
	}
	raw := make([]time.Duration, 0, b.N)
	for i := range b.N + 1 {
		start := time.Now()
		if err := sender.Send(ctx, w.device.PushToken, push.Message{ID: "raw", Title: "Sign-in request", CollapseID: "raw", TTL: time.Minute}); err != nil {
			b.Fatal(err)
		}
		if i > 0 { // the first made the connection
			raw = append(raw, time.Since(start))
		}
	}
	q := func(ds []time.Duration, f float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*f))].Microseconds()) / 1000
	}
	p99, rawP99 := q(lat, 0.99), q(raw, 0.99)
	b.ReportMetric(q(lat, 0.50), "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(rawP99, "send-p99-ms")
	b.ReportMetric(rawP99/p99, "ratio")
}
