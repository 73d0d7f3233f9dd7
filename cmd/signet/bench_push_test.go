package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBenchPush runs `signet bench push` briefly: the fake APNs in its own process, the
// raw HTTP/2 ceiling and Signet's APNs sender, each sending without error.
func TestBenchPush(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	out, err := exec.Command(bin, "bench", "push", "--duration", "300ms", "--concurrency", "8").CombinedOutput()
	if err != nil {
		t.Fatalf("bench push: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`APNs wake-ups \(Signet's sender, one HTTP/2 connection, one core\): (\d+)/s \(p50 [0-9.]+ ms, p99 [0-9.]+ ms\), (\d+) errors`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no wake-up line in:\n%s", out)
	}
	if rate, _ := strconv.Atoi(string(m[1])); rate < 10 || string(m[2]) != "0" {
		t.Errorf("%s wake-ups/s with %s errors:\n%s", m[1], m[2], out)
	}
	for _, want := range []string{"ceiling: Go's HTTP/2 client", "ratio: ", "CPU time: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
