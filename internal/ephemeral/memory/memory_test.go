package memory

import (
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/ephemeraltest"
	"github.com/signet-auth/signet/internal/testutil"
)

func TestConformance(t *testing.T) {
	ephemeraltest.Run(t, func(t *testing.T) ephemeral.Store {
		return New(WithSweepInterval(10 * time.Millisecond))
	})
}

// The suite once more on a clock that jumps, so TTLs are tested without real time passing.
func TestConformanceFakeClock(t *testing.T) {
	// Start at the real time: the suite checks ExpiresAt against time.Now.
	clock := testutil.NewClock(time.Now())
	ephemeraltest.RunWithOptions(t, func(t *testing.T) ephemeral.Store {
		return New(WithClock(clock.Now))
	}, ephemeraltest.Options{Advance: clock.Advance})
}

func TestExpiredKeyInvisibleBeforeSweep(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(0, 0))
	s := New(WithClock(clock.Now), WithSweepInterval(time.Hour))
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Set(ctx, "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := s.Get(ctx, "k"); err != ephemeral.ErrNotFound {
		t.Fatalf("Get at expiry: %v, want ErrNotFound", err)
	}
}

func TestSweeperPurges(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(0, 0))
	s := New(WithClock(clock.Now), WithSweepInterval(time.Millisecond))
	defer s.Close()
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.Set(ctx, k, []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Set(ctx, "kept", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	testutil.Eventually(t, 2*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.items) == 1
	}, "expired keys not purged")
}

func TestCloseStopsGoroutines(t *testing.T) {
	ephemeraltest.CheckCloseStopsGoroutines(t, func(*testing.T) ephemeral.Store {
		return New(WithSweepInterval(time.Millisecond))
	})
}
