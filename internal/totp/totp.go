// Package totp is the time-based one-time password second factor (RFC 6238) on top of
// github.com/pquerna/otp: key generation for enrollment (otpauth:// URL for a QR code) and
// verification with ±1 step of clock skew and single use of each code, enforced through
// the ephemeral store so it holds across nodes and concurrent requests.
//
// Parameters are fixed to what authenticator apps support: HMAC-SHA1, 6 digits, 30 s.
package totp

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-auth/signet/internal/ephemeral"
)

// ErrInvalidCode: the code is wrong, malformed or already used. One error for all three,
// so a caller cannot reveal which.
var ErrInvalidCode = errors.New("totp: invalid code")

const (
	period = 30 // seconds; RFC 6238 §5.2 default, the only one most apps honour
	digits = 6
	skew   = 1 // steps accepted either side of now (RFC 6238 §5.2 recommends at most one)
	// secretSize is 160 bits, the HMAC-SHA1 output size (RFC 4226 §4 R6 recommends it).
	secretSize = 20
	// minSecretSize: RFC 4226 §4 R6 requires at least 128 bits.
	minSecretSize = 16
	// replayTTL covers the 2·skew+1 steps a code stays acceptable, plus one step for clock
	// differences between nodes.
	replayTTL = (2*skew + 2) * period * time.Second
)

// Key is a newly generated TOTP key.
type Key struct {
	// Secret is base32 without padding; store it encrypted.
	Secret string
	// URL is the otpauth://totp/... URI to show as a QR code.
	URL string
}

// Generate creates a random key for account at issuer. Neither may contain a colon, which
// separates them in the otpauth label.
func Generate(issuer, account string) (Key, error) {
	if strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return Key{}, errors.New("totp: issuer and account must not contain ':'")
	}
	k, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      period,
		SecretSize:  secretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return Key{}, fmt.Errorf("totp: generate key: %w", err)
	}
	return Key{Secret: k.Secret(), URL: k.URL()}, nil
}

// Verifier checks codes and remembers used ones. It is safe for concurrent use.
type Verifier struct {
	replay ephemeral.Store
	now    func() time.Time
}

// Option adjusts a Verifier built by NewVerifier.
type Option func(*Verifier)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) { v.now = now }
}

// NewVerifier returns a Verifier that records used codes in replay.
func NewVerifier(replay ephemeral.Store, opts ...Option) *Verifier {
	v := &Verifier{replay: replay, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Verify checks code against secret (base32, as in Key.Secret) for the user identified by
// userKey. It accepts the codes of the current step and one step either side, each at
// most once per user. A wrong, malformed or reused code gives ErrInvalidCode; other errors
// mean the secret is unusable or the replay store failed, and the code was not accepted.
func (v *Verifier) Verify(ctx context.Context, userKey, secret, code string) error {
	if !wellFormed(code) {
		return ErrInvalidCode
	}
	secret, err := canonicalSecret(secret)
	if err != nil {
		return err
	}
	now := v.now().Unix() / period
	matched := int64(-1)
	// Compute every candidate, without stopping at a match, so the time taken does not
	// tell which step matched.
	for step := now - skew; step <= now+skew; step++ {
		if step < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
			Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return fmt.Errorf("totp: compute code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = step
		}
	}
	if matched < 0 {
		return ErrInvalidCode
	}
	// RFC 6238 §5.2: a verifier must not accept the same OTP twice. SetNX makes the check
	// and the record one atomic step, so concurrent requests redeem a code at most once.
	// The step is the last, all-digit field, so keys of different users cannot collide.
	stored, err := v.replay.SetNX(ctx, "totp-used:"+userKey+":"+strconv.FormatInt(matched, 10), []byte{1}, replayTTL)
	if err != nil {
		return fmt.Errorf("totp: record used code: %w", err)
	}
	if !stored {
		return ErrInvalidCode
	}
	return nil
}

// wellFormed reports whether code is exactly six ASCII digits.
func wellFormed(code string) bool {
	if len(code) != digits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// canonicalSecret accepts the spellings authenticator apps and the otp library produce
// (lower case, with or without padding) and refuses a secret too short to be one.
func canonicalSecret(secret string) (string, error) {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "="))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("totp: decode secret: %w", err)
	}
	if len(raw) < minSecretSize {
		return "", fmt.Errorf("totp: secret is %d bytes, at least %d required", len(raw), minSecretSize)
	}
	return s, nil
}
