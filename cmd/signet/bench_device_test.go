package main

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// TestBenchDeviceClient: the devices the bench registers in a dev server's store complete
// the real handshake with the bench's client, answer a hello, and a completed handshake
// is told from a refused one by the close code, as the load process counts them.
func TestBenchDeviceClient(t *testing.T) {
	t.Parallel()
	dir, out := devServerWithOutput(t)
	b, err := readDevBanner(bufio.NewScanner(strings.NewReader(out.String())))
	if err != nil {
		t.Fatal(err)
	}
	if b.device == "" || b.ops == "" {
		t.Fatalf("no DEVICE or OPS URL in the banner:\n%s", out.String())
	}
	ctx := context.Background()
	fp, err := registerBenchDevices(ctx, dir, "test", 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newDeviceClient(deviceClientOpts{addr: b.device, caFile: b.ca, fingerprint: fp, seed: "test", first: 1, count: 2})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.holdOne(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.nc.Close()

	w, _, err = c.dial(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.nc.Close()
	if err := w.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	var ce closeError
	if _, err := w.read(); !errors.As(err, &ce) || ce.code != ws.StatusNormalClosure {
		t.Fatalf("after a completed handshake: %v", err)
	}

	// A device the store does not hold is refused with 1008.
	c.ids[0][0] ^= 1
	if _, err := c.holdOne(ctx, 0, true); err == nil || !strings.Contains(err.Error(), "1008") {
		t.Fatalf("an unknown device: %v", err)
	}
	if m := goMemStats(b.ops, b.ca); m["go_memstats_heap_inuse_bytes"] <= 0 || m["go_gc_duration_seconds_count"] < 0 {
		t.Fatalf("runtime figures from /metrics: %v", m)
	}
}

func TestReadRSS(t *testing.T) {
	t.Parallel()
	got, err := readRSS("Name:\tsignet\nVmPeak:\t  100 kB\nVmRSS:\t   23456 kB\nRssAnon:\t 1 kB\n")
	if err != nil || got != 23456<<10 {
		t.Fatalf("%d %v", got, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tmany kB\n"} {
		if _, err := readRSS(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if rss, err := processRSS(1); err != nil && rss != 0 {
		t.Fatal(err)
	}
}

func TestRSSSettled(t *testing.T) {
	t.Parallel()
	if !rssSettled([]int64{1000, 1004, 1002}) {
		t.Error("within 0.5 % is settled")
	}
	if rssSettled([]int64{1000, 1100, 1100}) {
		t.Error("10 % apart is not settled")
	}
}

func TestBenchDeviceKeysAreStable(t *testing.T) {
	t.Parallel()
	k1, id1, err := benchDeviceKey("s", 7)
	if err != nil {
		t.Fatal(err)
	}
	k2, id2, _ := benchDeviceKey("s", 7)
	k3, id3, _ := benchDeviceKey("s", 8)
	if !k1.Equal(k2) || id1 != id2 || k1.Equal(k3) || id1 == id3 {
		t.Fatal("device keys are not a function of seed and index")
	}
}

// TestBenchDeviceFlags: bad sizes are refused before anything starts.
func TestBenchDeviceFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--memory", "--idle", "40000", "--holders", "2"},
		{"--memory", "--idle", "0"},
		{"--handshakes", "--concurrency", "0"},
	} {
		code, _, errOut := runCLI(t, nil, append([]string{"bench", "device"}, args...)...)
		if code == exitOK || errOut == "" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	if code, out, _ := runCLI(t, nil, "bench", "device", "--help"); code != exitOK || !strings.Contains(out, "--handshakes") || !strings.Contains(out, "--memory") {
		t.Fatalf("help: %d %s", code, out)
	}
}
