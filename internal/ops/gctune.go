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

// Run adjusts the GC target once a second until ctx ends.
func (g GCTuning) Run(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if p := g.Percent(sample[0].Value.Uint64()); p != last {
				debug.SetGCPercent(p)
				last = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
