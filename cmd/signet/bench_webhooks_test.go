package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/testutil"
)

// TestBenchWebhooks runs `signet bench webhooks` briefly on SQLite and on PostgreSQL:
// the receiver in its own process, a backlog drained and its ceiling, and the latency
// run, each without a failed attempt.
func TestBenchWebhooks(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, tc := range []struct {
		backend, name string
		subs          int
	}{
		{"sqlite", "SQLite", 2},
		{"postgres", "PostgreSQL", 1},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			t.Parallel()
			args := []string{"bench", "webhooks", "--events", "300", "--subscriptions", strconv.Itoa(tc.subs), "--latency-events", "100"}
			if tc.backend == "postgres" {
				args = append(args, "--database", testutil.PostgresURL(t))
			}
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("bench webhooks: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`webhook deliveries \(one core, ` + tc.name + `, \d+ subscriptions?\): (\d+)/s \((\d+) deliveries in [0-9.]+ s, (\d+) failed attempts\)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no deliveries line in:\n%s", out)
			}
			if rate, _ := strconv.Atoi(string(m[1])); rate < 1 || string(m[2]) != strconv.Itoa(300*tc.subs) || string(m[3]) != "0" {
				t.Errorf("%s deliveries/s, %s deliveries, %s failed attempts:\n%s", m[1], m[2], m[3], out)
			}
			if m := regexp.MustCompile(`ceiling: plain POSTs of the same body, same client, same core: (\d+)/s`).FindSubmatch(out); m == nil || string(m[1]) == "0" {
				t.Errorf("no ceiling in:\n%s", out)
			}
			if m := regexp.MustCompile(`ratio: (\d+\.\d+)`).FindSubmatch(out); m == nil {
				t.Errorf("no ratio in:\n%s", out)
			} else if r, _ := strconv.ParseFloat(string(m[1]), 64); r <= 0 {
				t.Errorf("ratio %s:\n%s", m[1], out)
			}
			m = regexp.MustCompile(`commit to delivery: p50 ([0-9.]+) ms, p99 ([0-9.]+) ms \(plain POST p99 ([0-9.]+) ms; (\d+) events, one every 1ms, (\d+) failed attempts\)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no commit-to-delivery line in:\n%s", out)
			}
			p50, _ := strconv.ParseFloat(string(m[1]), 64)
			p99, _ := strconv.ParseFloat(string(m[2]), 64)
			if p50 <= 0 || p99 < p50 || string(m[4]) != "100" || string(m[5]) != "0" {
				t.Errorf("p50 %s ms, p99 %s ms, %s events, %s failed attempts:\n%s", m[1], m[2], m[4], m[5], out)
			}
			for _, want := range []string{"where: ", "CPU time: "} {
				if !strings.Contains(string(out), want) {
					t.Errorf("no %q in:\n%s", want, out)
				}
			}
		})
	}
}
