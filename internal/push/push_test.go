package push

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"", 30 * time.Second},
		{"7", 7 * time.Second},
		{"0", 0},
		{now.Add(42 * time.Second).Format(http.TimeFormat), 42 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"86400", MaxRetryAfter},
		{"-3", 30 * time.Second},
		{"soon", 30 * time.Second},
	} {
		if got := RetryAfter(tc.value, now, 30*time.Second); got != tc.want {
			t.Errorf("RetryAfter(%q) = %s, want %s", tc.value, got, tc.want)
		}
	}
}

func TestRetryError(t *testing.T) {
	t.Parallel()
	cause := errors.New("503 from the provider")
	err := Retry(5*time.Second, cause)
	var re *RetryError
	if !errors.As(err, &re) || re.After != 5*time.Second || !errors.Is(err, cause) || errors.Is(err, ErrInvalidToken) {
		t.Errorf("Retry = %v: want a RetryError after 5s wrapping its cause", err)
	}
}
