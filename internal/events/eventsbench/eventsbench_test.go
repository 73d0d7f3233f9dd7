package eventsbench

import (
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store/testdb"
)

// TestDeliverAndCommitToDelivery runs both measurements briefly on every back end, in
// one store and against one receiver, as `signet bench webhooks` does across processes.
func TestDeliverAndCommitToDelivery(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := testdb.Open(t, backend)
			r := StartReceiver()
			defer r.Close()
			to := r.Target()

			var reads time.Duration // a CPU clock that moves a second a read
			cpu := func() time.Duration { reads += time.Second; return reads }
			d, err := Deliver(ctx, st, DeliverOptions{Events: 50, Subscriptions: 3, Receiver: &to, CPU: cpu})
			if err != nil {
				t.Fatal(err)
			}
			if d.Deliveries != 150 || d.Posts != 150 || d.Concurrency != 3 || d.Failed != 0 {
				t.Errorf("deliveries %d, posts %d, %d at a time, %d failed; want 150, 150, 3, 0", d.Deliveries, d.Posts, d.Concurrency, d.Failed)
			}
			if d.Rate() <= 0 || d.Ceiling() <= 0 || d.CPU != time.Second || d.PostCPU != time.Second {
				t.Errorf("rate %f, ceiling %f, CPU %s and %s, want 1s each", d.Rate(), d.Ceiling(), d.CPU, d.PostCPU)
			}

			l, err := CommitToDelivery(ctx, st, LatencyOptions{Events: 30, Receiver: &to})
			if err != nil {
				t.Fatal(err)
			}
			if l.Events != 30 || l.Failed != 0 || l.P50 <= 0 || l.P99 < l.P50 || l.PostP99 <= 0 {
				t.Errorf("%+v", l)
			}
		})
	}
}

func TestSentAt(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]int64{
		`{"data":{"n":1,"sent":1700000000123456789}}`: 1700000000123456789,
		`{"sent":5}`:                    5,
		`{"sent":}`:                     -1,
		`{"n":1}`:                       -1,
		`{"sent":"12"}`:                 -1,
		`{"sent":99999999999999999999}`: -1,
	} {
		got, ok := sentAt([]byte(body))
		switch {
		case want < 0 && ok:
			t.Errorf("%s: %v, want none", body, got)
		case want >= 0 && (!ok || got.UnixNano() != want):
			t.Errorf("%s: %v %v, want %d", body, got.UnixNano(), ok, want)
		}
	}
}
