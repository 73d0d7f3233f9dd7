package ops

import "testing"

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
