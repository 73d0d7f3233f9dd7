package main

import (
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestBenchApprove runs `signet bench approve` briefly, end to end: devices registered in
// the dev server's database, connected with the authenticator SDK from another process,
// requests made, delivered, approved, verified and consumed on the server, the ceiling
// measured. It checks the round trips completed without error and the report is whole.
func TestBenchApprove(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("bench approve needs two cores")
	}
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin, "bench", "approve", "--devices", "6", "--in-flight", "3", "--warmup", "200ms", "--duration", "1s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench approve: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`push-approve round trips: (\d+)/s \(p50 [0-9.]+ ms, p99 [0-9.]+ ms, server-side\), (\d+) errors`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no round-trip line in:\n%s", out)
	}
	if rate, _ := strconv.Atoi(string(m[1])); rate < 10 {
		t.Errorf("%d round trips/s: the devices did not approve", rate)
	}
	if string(m[2]) != "0" {
		t.Errorf("%s errors:\n%s", m[2], out)
	}
	for _, want := range []string{"ceiling: ECDSA P-256 verifications", "ratio: ", "CPU time: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
