package fcm_test

import "testing"

// BenchmarkSend sends wake-ups to the fake FCM from parallel goroutines through one
// Sender: one cached access token, one HTTP/2 connection.
func BenchmarkSend(b *testing.B) {
	f := newFixture(b)
	s := f.sender(b)
	ctx := b.Context()
	if err := s.Send(ctx, regToken, wake("warm-up")); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8) // wake-ups in flight together, multiplexed on the one connection
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Send(ctx, regToken, wake("bench")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
	if n := f.srv.Connections(); n != 1 {
		b.Errorf("the sends used %d connections, want 1", n)
	}
	if n := f.srv.TokensIssued(); n != 1 {
		b.Errorf("%d access tokens issued, want 1", n)
	}
}
