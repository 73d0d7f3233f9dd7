// Package testutil holds helpers shared by tests: waiting on a condition with a deadline
// instead of sleeping, and the environment switches for the external-service suites.
package testutil

import (
	"os"
	"testing"
	"time"
)

// Eventually polls cond until it returns true or the timeout passes, then fails the test
// with msg. It never sleeps longer than the poll interval between checks.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(interval)
		if interval < 100*time.Millisecond {
			interval *= 2
		}
	}
}

// PostgresURL returns SIGNET_TEST_POSTGRES_URL or skips the test. CI sets it and fails
// the run if any test was skipped.
func PostgresURL(t testing.TB) string { return serviceURL(t, "SIGNET_TEST_POSTGRES_URL") }

// RedisURL returns SIGNET_TEST_REDIS_URL or skips the test. CI sets it and fails the run
// if any test was skipped.
func RedisURL(t testing.TB) string { return serviceURL(t, "SIGNET_TEST_REDIS_URL") }

func serviceURL(t testing.TB, name string) string {
	t.Helper()
	u := os.Getenv(name)
	if u == "" {
		t.Skip(name + " not set")
	}
	return u
}

// Chromium returns SIGNET_TEST_CHROMIUM, the path of a Chromium binary for browser tests,
// or skips the test. CI sets it and fails the run if any test was skipped.
func Chromium(t testing.TB) string { return serviceURL(t, "SIGNET_TEST_CHROMIUM") }

// Firefox returns SIGNET_TEST_FIREFOX, the path of a Firefox binary for browser tests,
// or skips the test. CI sets it and fails the run if any test was skipped.
func Firefox(t testing.TB) string { return serviceURL(t, "SIGNET_TEST_FIREFOX") }
