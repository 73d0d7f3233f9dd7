package events_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/signet-auth/signet/internal/events/eventsbench"
	"github.com/signet-auth/signet/internal/store/testdb"
)

// BenchmarkDeliver times webhook deliveries to a TLS (HTTP/2) receiver on loopback:
// events are appended first, then a Deliverer claims, signs, posts and records them
// until the receiver has them all. Beside it, the same run times plain POSTs of the same
// body through the same outbound client, as many at once as the Deliverer posts
// (one per subscription): the ceiling the network path allows. ratio is one over the
// other. subs=1 is one ordered stream; subs=8 fans every event out to eight
// subscriptions, posted in parallel. The receiver shares the benchmark's process;
// `signet bench webhooks` runs the same measurement with it on another core.
//
//	go test ./internal/events -run '^$' -bench Deliver -cpu 1 -benchtime 20000x
func BenchmarkDeliver(b *testing.B) {
	for _, backend := range testdb.Backends {
		for _, subs := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/subs=%d", backend, subs), func(b *testing.B) {
				st := testdb.Open(b, backend)
				r, err := eventsbench.Deliver(context.Background(), st, eventsbench.DeliverOptions{Events: (b.N + subs - 1) / subs, Subscriptions: subs})
				if err != nil {
					b.Fatal(err)
				}
				if r.Failed > 0 {
					b.Errorf("%d failed attempts", r.Failed)
				}
				b.ReportMetric(float64(r.Elapsed.Nanoseconds())/float64(r.Deliveries), "ns/op")
				b.ReportMetric(r.Rate(), "deliveries/s")
				b.ReportMetric(r.Ceiling(), "posts/s")
				b.ReportMetric(r.Ratio(), "ratio")
			})
		}
	}
}

// BenchmarkCommitToDelivery times how long an event takes from the outbox to the
// receiver while events keep coming: b.N events are appended through an Outbox that
// nudges the Deliverer after each commit, one a millisecond (offered well below the
// drain rate BenchmarkDeliver measures), and the receiver notes when each arrives. p50
// and p99 are from the Append call to the arrival; beside them, the p99 of a plain
// POST of the same body through the same client in the same run, the ceiling.
//
//	go test ./internal/events -run '^$' -bench CommitToDelivery -cpu 1 -benchtime 2000x
func BenchmarkCommitToDelivery(b *testing.B) {
	for _, backend := range testdb.Backends {
		b.Run(backend, func(b *testing.B) {
			st := testdb.Open(b, backend)
			r, err := eventsbench.CommitToDelivery(context.Background(), st, eventsbench.LatencyOptions{Events: b.N})
			if err != nil {
				b.Fatal(err)
			}
			if r.Failed > 0 {
				b.Errorf("%d failed attempts", r.Failed)
			}
			b.ReportMetric(0, "ns/op") // the figures are latencies, not a time per event
			b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(r.PostP99.Microseconds())/1000, "post-p99-ms")
		})
	}
}
