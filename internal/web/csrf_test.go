package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestCSRF(t *testing.T, clock *fakeClock) *CSRF {
	t.Helper()
	c, err := NewCSRF([]byte("0123456789abcdef0123456789abcdef"), WithCSRFClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewCSRFKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31} {
		if _, err := NewCSRF(make([]byte, n)); err == nil {
			t.Errorf("%d-byte key accepted", n)
		}
	}
	if _, err := NewCSRF(make([]byte, 32)); err != nil {
		t.Error(err)
	}
}

func TestCSRFRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	c := newTestCSRF(t, clock)
	tok := c.Token("pending-A")
	if err := c.Verify(tok, "pending-A", 10*time.Minute); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	if tok2 := c.Token("pending-A"); tok2 == tok {
		t.Error("two tokens are equal; the nonce is missing")
	}
	for _, other := range []string{"pending-B", "pending-A ", "pending-", ""} {
		if err := c.Verify(tok, other, 10*time.Minute); !errors.Is(err, ErrCSRF) {
			t.Errorf("token for pending-A accepted for %q: %v", other, err)
		}
	}
	other, _ := NewCSRF([]byte("fedcba9876543210fedcba9876543210"), WithCSRFClock(clock.now))
	if err := other.Verify(tok, "pending-A", 10*time.Minute); !errors.Is(err, ErrCSRF) {
		t.Errorf("token accepted under another key: %v", err)
	}
	if err := c.Verify(c.Token(""), "", time.Minute); !errors.Is(err, ErrCSRF) {
		t.Errorf("unbound token accepted: %v", err)
	}
	if err := c.Verify(tok, "pending-A", 0); !errors.Is(err, ErrCSRF) {
		t.Errorf("zero max age accepted: %v", err)
	}
}

func TestCSRFExpiry(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{start}
	c := newTestCSRF(t, clock)
	tok := c.Token("b")
	tests := []struct {
		after time.Duration
		ok    bool
	}{
		{0, true},
		{10 * time.Minute, true},
		{10*time.Minute + time.Second, false},
		{24 * time.Hour, false},
		{-20 * time.Second, true}, // the verifying node's clock is a little behind
		{-time.Minute, false},     // issued far in the future
	}
	for _, tt := range tests {
		clock.t = start.Add(tt.after)
		err := c.Verify(tok, "b", 10*time.Minute)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrCSRF) {
			t.Errorf("after %v: err = %v, want ok=%v", tt.after, err, tt.ok)
		}
	}
}

func TestCSRFTampering(t *testing.T) {
	t.Parallel()
	c := newTestCSRF(t, &fakeClock{time.Unix(1_700_000_000, 0)})
	tok := c.Token("bind")
	flip := func(i int) string {
		b := []byte(tok)
		// Swap for another alphabet character, so the change reaches the decoded bytes.
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := map[string]string{
		"empty":           "",
		"truncated by 1":  tok[:len(tok)-1],
		"truncated half":  tok[:len(tok)/2],
		"extended":        tok + "A",
		"newline":         tok[:10] + "\n" + tok[11:],
		"padding":         tok[:len(tok)-1] + "=",
		"standard base64": strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+/",
		"not base64":      strings.Repeat("*", len(tok)),
		"version":         flip(0),
		"time":            flip(5),
		"nonce":           flip(20),
		"mac first":       flip(40),
		"mac last":        flip(len(tok) - 1),
		"other token":     c.Token("other"),
	}
	for name, bad := range tests {
		if err := c.Verify(bad, "bind", time.Hour); !errors.Is(err, ErrCSRF) {
			t.Errorf("%s: %q accepted: %v", name, bad, err)
		}
	}
	// Every single-bit flip anywhere in the decoded token is refused.
	raw, err := csrfEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := range 8 {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			if err := c.Verify(csrfEncoding.EncodeToString(b), "bind", time.Hour); !errors.Is(err, ErrCSRF) {
				t.Fatalf("bit %d of byte %d flipped and accepted", bit, i)
			}
		}
	}
	if err := c.Verify(tok, "bind", time.Hour); err != nil {
		t.Errorf("original refused: %v", err)
	}
}

func TestCSRFVerifyFormIgnoresQuery(t *testing.T) {
	t.Parallel()
	c := newTestCSRF(t, &fakeClock{time.Unix(1_700_000_000, 0)})
	tok := c.Token("bind")
	req := httptest.NewRequest(http.MethodPost, "/x?"+CSRFFieldName+"="+tok, nil)
	if err := c.VerifyForm(req, "bind", time.Hour); !errors.Is(err, ErrCSRF) {
		t.Errorf("token in query accepted: %v", err)
	}
}
