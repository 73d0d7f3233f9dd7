package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/totp"
)

// Credentials checks what users type (passwords, codes) against the realm's lockout:
// the one limiter every page that asks for a credential shares, the login pages and the
// account console alike (CONFORMANCE §3: throttle guessing everywhere with one limiter).
type Credentials struct {
	Store     store.Store
	Passwords *password.Hasher
	Now       func() time.Time
}

// errNoAttempt ends a reservation without writing.
var errNoAttempt = errors.New("login: no attempt allowed")

// Refusal tells why a password or code was refused: the pages give every refusal the
// same answer, the event log and the metrics tell them apart.
type Refusal string

// The refusals.
const (
	// RefusedInvalid: a wrong password or code, or a user without a password.
	RefusedInvalid Refusal = "invalid_credentials"
	// RefusedLocked: the user is locked out, before this attempt or by it.
	RefusedLocked Refusal = "locked"
	// RefusedDisabled: the user is disabled.
	RefusedDisabled Refusal = "disabled"
)

// VerifyPassword checks pw against u's password after counting the attempt
// (ReserveAttempt): false for a wrong password, a user without one, and a user who is
// locked or disabled, each after the same Argon2id work. A right password hashed with
// older parameters is hashed again.
func (c Credentials) VerifyPassword(ctx context.Context, realm store.Realm, u store.User, pw string) (bool, error) {
	refused, err := c.CheckPassword(ctx, realm, u, pw)
	return err == nil && refused == "", err
}

// CheckPassword is VerifyPassword that says why a password was refused: "" when it is
// right.
func (c Credentials) CheckPassword(ctx context.Context, realm store.Realm, u store.User, pw string) (Refusal, error) {
	if u.PasswordHash == "" {
		c.Passwords.VerifyDummy(ctx, pw)
		return RefusedInvalid, nil
	}
	refused, err := c.Reserve(ctx, realm, u.ID)
	if err != nil {
		return "", err
	}
	if refused != "" {
		c.Passwords.VerifyDummy(ctx, pw)
		return refused, nil
	}
	match, rehash, err := c.Passwords.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return "", err
	}
	if !match {
		return RefusedInvalid, nil
	}
	if rehash {
		if err := c.rehash(ctx, realm.Name, u.ID, pw); err != nil {
			return "", err
		}
	}
	return "", nil
}

// ReserveAttempt counts a password or code attempt before it is checked, atomically, so
// that concurrent guesses cannot slip past the threshold (CONFORMANCE §4.11): a user with
// threshold failures since the last success is locked by the next attempt, which is
// refused, as is every attempt while locked or disabled. Success resets the count
// (ResetFailures).
func (c Credentials) ReserveAttempt(ctx context.Context, realm store.Realm, userID string) (bool, error) {
	refused, err := c.Reserve(ctx, realm, userID)
	return err == nil && refused == "", err
}

// Reserve is ReserveAttempt that says why an attempt was refused: "" when it may go
// ahead.
func (c Credentials) Reserve(ctx context.Context, realm store.Realm, userID string) (Refusal, error) {
	threshold, lock := LockoutPolicy(realm)
	now := c.Now()
	var refused Refusal
	_, err := c.Store.UpdateUser(ctx, realm.Name, userID, func(u store.User) (store.User, error) {
		refused = ""
		switch {
		case !u.Enabled:
			refused = RefusedDisabled
			return u, errNoAttempt
		case now.Before(u.LockedUntil):
			refused = RefusedLocked
			return u, errNoAttempt
		case u.FailedLogins >= threshold:
			refused = RefusedLocked
			u.LockedUntil, u.FailedLogins = now.Add(lock), 0
			return u, nil
		}
		u.FailedLogins++
		return u, nil
	})
	switch {
	case errors.Is(err, errNoAttempt):
		return refused, nil
	case errors.Is(err, store.ErrNotFound):
		return RefusedInvalid, nil
	case err != nil:
		return "", fmt.Errorf("count login attempt: %w", err)
	}
	return refused, nil
}

// ResetFailures clears the failure count after a complete login.
func (c Credentials) ResetFailures(ctx context.Context, realm, userID string) error {
	_, err := c.Store.UpdateUser(ctx, realm, userID, func(u store.User) (store.User, error) {
		if u.FailedLogins == 0 {
			return u, errNoAttempt
		}
		u.FailedLogins = 0
		return u, nil
	})
	if errors.Is(err, errNoAttempt) {
		return nil
	}
	return err
}

// rehash stores a fresh hash of a password that matched an older hash's parameters.
func (c Credentials) rehash(ctx context.Context, realm, userID, pw string) error {
	h, err := c.Passwords.Hash(ctx, pw)
	if err != nil {
		return err
	}
	_, err = c.Store.UpdateUser(ctx, realm, userID, func(u store.User) (store.User, error) {
		u.PasswordHash = h
		return u, nil
	})
	return err
}

// NewTOTPKey makes a TOTP key for u in realm, named after the realm (its display name)
// and the username as authenticator apps show it, and returns it with the secret sealed
// for User.TOTPSecret.
func NewTOTPKey(ring *keys.Keyring, realm store.Realm, u store.User) (totp.Key, []byte, error) {
	issuer := realm.DisplayName
	if issuer == "" {
		issuer = realm.Name
	}
	// The otpauth label separates issuer and account with ':'.
	noColon := strings.NewReplacer(":", "_")
	key, err := totp.Generate(noColon.Replace(issuer), noColon.Replace(u.Username))
	if err != nil {
		return totp.Key{}, nil, err
	}
	sealed, err := SealTOTPSecret(ring, u.Realm, u.ID, key.Secret)
	if err != nil {
		return totp.Key{}, nil, err
	}
	return key, sealed, nil
}
