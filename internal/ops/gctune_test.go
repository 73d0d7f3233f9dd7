package ops

import (
	"testing"
	"time"
)

func TestGCTuningPercent(t *testing.T) {
	t.Parallel()
	g := GCTuning{High: 400, Small: 32 << 20}
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 400}, {10 << 20, 400}, {32 << 20, 400}, {64 << 20, 200}, {128 << 20, 100}, {1 << 30, 100},
	} {
		if got := g.Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

func TestTrimOnlyWhenQuiet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		allocated, free, live uint64
		want                  bool
	}{
		{0, 100 << 20, 50 << 20, true},         // idle, much free heap: trim
		{20 << 20, 100 << 20, 50 << 20, true},  // a little traffic
		{30 << 20, 100 << 20, 50 << 20, false}, // busy: the free heap is being reused
		{0, 8 << 20, 50 << 20, false},          // too little to be worth a collection
		{0, 100 << 20, 1 << 30, false},         // under an eighth of a large live heap
		{0, 200 << 20, 1 << 30, true},          // over it
	} {
		if got := quiet(tc.allocated, tc.free, tc.live); got != tc.want {
			t.Errorf("quiet(%d MiB allocated, %d MiB free, %d MiB live) = %v, want %v",
				tc.allocated>>20, tc.free>>20, tc.live>>20, got, tc.want)
		}
	}
}

// A burst, then quiet: one trim once the quiet has lasted trimQuiet, none while the node
// stays busy, and none again within trimEvery.
func TestTrimmerAfterABurst(t *testing.T) {
	t.Parallel()
	var tr trimmer
	now := time.Unix(1_000_000, 0)
	var allocs uint64
	second := func(allocated, free uint64) bool {
		now = now.Add(time.Second)
		allocs += allocated
		return tr.observe(now, allocs, free, 50<<20)
	}
	for i := range 30 { // busy: 50 MiB a second, 100 MiB free
		if second(50<<20, 100<<20) {
			t.Fatalf("trimmed while busy, second %d", i)
		}
	}
	trims := 0
	first := -1
	for i := range 120 { // quiet, 100 MiB free until trimmed, then 1 MiB
		free := uint64(100 << 20)
		if trims > 0 {
			free = 1 << 20
		}
		if second(0, free) {
			trims++
			if first < 0 {
				first = i
			}
		}
	}
	if trims != 1 || first < int(trimQuiet/time.Second)-1 || first > int(trimQuiet/time.Second)+1 {
		t.Fatalf("%d trims, the first after %d quiet seconds", trims, first)
	}
	// Another burst and quiet within trimEvery of the last trim: no second trim yet.
	tr2 := trimmer{trimmed: now}
	for range 20 {
		now = now.Add(time.Second)
		if tr2.observe(now, allocs, 100<<20, 50<<20) {
			t.Fatal("trimmed again within trimEvery")
		}
	}
}
