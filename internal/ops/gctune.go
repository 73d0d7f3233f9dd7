package ops

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// GCTuning sets the Go GC target from the live heap: high (percent) while the live
// heap is at most small bytes, falling in proportion above that, never below 100.
//
// A small node is cheap to collect rarely: nearly everything a protocol request
// allocates dies with it (an ES256 signature alone allocates about 6 KiB), and at Go's
// default of 100 % a small heap is collected every few hundred requests. A node with a
// large live heap, such as one holding many idle device connections, would keep several
// times that heap in garbage at the same percentage; there the default is right.
type GCTuning struct {
	High  int
	Small uint64
}

// Percent is the GC target for a live heap of live bytes.
func (g GCTuning) Percent(live uint64) int {
	if live <= g.Small {
		return g.High
	}
	return max(100, int(uint64(g.High)*g.Small/live))
}

// Trimming: the runtime keeps freed heap up to its collection target for reuse, so after
// a burst (devices reconnecting after a restart, a peak of logins) a node would hold that
// memory for good, whatever its live heap. Once it has gone quiet, allocating less over
// trimQuiet than a quarter of the free heap it holds, and holds at least trimMin, Run
// returns the free heap to the operating system, at most once per trimEvery. trimMin
// grows with the live heap (see quiet).
const (
	trimQuiet = 10 * time.Second
	trimMin   = 16 << 20
	trimEvery = time.Minute
)

// quiet reports whether a node that allocated allocated bytes over the last trimQuiet
// and holds free bytes of free heap, with live bytes of live heap, should return them:
// at least trimMin, and an eighth of the live heap, so that a trim (a full collection)
// is worth its cost on a large heap.
func quiet(allocated, free, live uint64) bool {
	return free >= max(trimMin, live/8) && allocated < free/4
}

// trimmer decides, from one sample a second, when to trim.
type trimmer struct {
	// allocs holds the cumulative allocation sampled over the last trimQuiet seconds,
	// oldest first.
	allocs  []uint64
	trimmed time.Time
}

// observe takes a second's sample (cumulative bytes allocated, free heap, live heap) and
// reports whether to trim now.
func (t *trimmer) observe(now time.Time, allocs, free, live uint64) bool {
	// trimQuiet seconds of allocation lie between trimQuiet+1 samples.
	samples := int(trimQuiet/time.Second) + 1
	if t.allocs = append(t.allocs, allocs); len(t.allocs) < samples {
		return false
	}
	t.allocs = t.allocs[len(t.allocs)-samples:]
	if !quiet(t.allocs[len(t.allocs)-1]-t.allocs[0], free, live) || now.Sub(t.trimmed) < trimEvery {
		return false
	}
	t.trimmed, t.allocs = now, t.allocs[:0]
	return true
}

// Run adjusts the GC target once a second (unless High is 0: the target is left alone),
// and trims a quiet node, until ctx ends.
func (g GCTuning) Run(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	last := -1
	var trim trimmer
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if g.High > 0 && sample[0].Value.Kind() == metrics.KindUint64 {
			if p := g.Percent(sample[0].Value.Uint64()); p != last {
				debug.SetGCPercent(p)
				last = p
			}
		}
		if sample[0].Value.Kind() == metrics.KindUint64 && sample[1].Value.Kind() == metrics.KindUint64 &&
			sample[2].Value.Kind() == metrics.KindUint64 &&
			trim.observe(time.Now(), sample[1].Value.Uint64(), sample[2].Value.Uint64(), sample[0].Value.Uint64()) {
			debug.FreeOSMemory()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
