package device

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/testutil"
)

// TestWorkersReused: openings one after another run on one kept worker; openings at
// once each get a worker; idle workers exit after their idle time, and all of them when
// the server's context ends.
func TestWorkersReused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	w := newWorkers(ctx, &wg, time.Hour)
	for i := range 5 {
		done := make(chan struct{})
		w.run(func() { close(done) })
		<-done
		// Counted waiting and parked in its select: only then does the next run find it.
		testutil.Eventually(t, 5*time.Second, func() bool { return w.waiting.Load() == 1 && parkedWorkers(t, w) == 1 }, "the worker waits again")
		if n := w.started.Load(); n != 1 {
			t.Fatalf("after opening %d: %d workers started, want the one kept", i+1, n)
		}
	}
	// Three at once: the kept worker takes one, two more start.
	release := make(chan struct{})
	var running sync.WaitGroup
	running.Add(3)
	for range 3 {
		w.run(func() { running.Done(); <-release })
	}
	running.Wait()
	if n := w.started.Load(); n != 3 {
		t.Fatalf("%d workers started for three openings at once, want 3", n)
	}
	close(release)
	testutil.Eventually(t, 5*time.Second, func() bool { return w.waiting.Load() == 3 && parkedWorkers(t, w) == 3 }, "three idle workers")
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("workers still running after the context ended")
	}

	// A short idle time: the worker exits by itself.
	var wg2 sync.WaitGroup
	w2 := newWorkers(t.Context(), &wg2, time.Millisecond)
	w2.run(func() {})
	exited := make(chan struct{})
	go func() { wg2.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("an idle worker did not exit")
	}
}

// parkedWorkers counts w's worker goroutines blocked in their select, waiting for work
// (a goroutine dump prints each worker's receiver, w).
func parkedWorkers(t *testing.T, w *workers) int {
	t.Helper()
	self := fmt.Sprintf("(*workers).worker(%p", w)
	return countGoroutines(t, func(g string) bool { return strings.Contains(g, "[select") && strings.Contains(g, self) })
}
