// Package password hashes and verifies user passwords with Argon2id (RFC 9106) in the PHC
// string format, bounds how many hashes run at once so a burst of logins cannot exhaust
// memory, and checks new passwords against the NIST SP 800-63B / OWASP ASVS 5.0 policy.
//
// Every password is normalised to Unicode NFKC before it is validated or hashed, so the
// same password typed on different keyboards or input methods verifies (NIST SP 800-63B
// §3.1.1.2).
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// ErrMalformedHash: a stored hash is not an Argon2id PHC string this package can verify.
var ErrMalformedHash = errors.New("password: malformed hash")

// Params are the Argon2id cost parameters. They are recorded in every hash, so changing
// them affects new hashes only; Verify reports old ones as needing a rehash.
type Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes over memory.
	Time uint32
	// Threads is the parallelism degree (lanes).
	Threads uint8
	// SaltLen and KeyLen are in bytes.
	SaltLen, KeyLen uint32
}

// DefaultParams returns the parameters for new hashes: the first Argon2id configuration
// of the OWASP Password Storage Cheat Sheet (m=19 MiB, t=2, p=1), 16-byte salt and
// 32-byte key. RFC 9106 §4's options (2 GiB, or 64 MiB with p=4) assume one hash at a time;
// a login server runs one hash per core at once, and p=1 keeps each hash on one core so
// the GOMAXPROCS bound on concurrent hashes matches the CPU, with peak memory at
// 19 MiB × cores. Salt length follows RFC 9106 §3.1 (128 bits).
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds that reject nonsense in configuration and in stored hashes. They are not tuning
// advice: the lower ones keep a hash meaningful (a short key would compare equal by
// chance, an empty one always), the upper ones keep a corrupt row from allocating
// terabytes.
const (
	minSaltLen = 8  // PHC string format minimum
	maxSaltLen = 64 // PHC string format maximum
	minKeyLen  = 16
	maxKeyLen  = 64
	maxMemory  = 4 * 1024 * 1024 // KiB: 4 GiB
	maxTime    = 1024
)

// Validate reports whether p can be used for hashing.
func (p Params) Validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("argon2id threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time must be between 1 and %d", maxTime)
	// RFC 9106 §3.1: memory is at least 8 KiB per lane.
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2id memory must be between 8×threads and %d KiB", maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2id salt length must be between %d and %d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2id key length must be between %d and %d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords with at most a fixed number of hashes running at
// once. It is safe for concurrent use.
type Hasher struct {
	params      Params
	concurrency int
	// sem holds one token per running hash.
	sem chan struct{}

	// Test hooks: onWait runs when a call must wait for a slot, onSlot while it holds one.
	onWait func()
	onSlot func()
}

// Option adjusts a Hasher built by New.
type Option func(*Hasher)

// WithConcurrency sets how many hashes may run at once (default runtime.GOMAXPROCS(0)).
// Values <= 0 keep the default.
func WithConcurrency(n int) Option {
	return func(h *Hasher) {
		if n > 0 {
			h.concurrency = n
		}
	}
}

// New returns a Hasher that hashes new passwords with p, or an error if p is not valid.
func New(p Params, opts ...Option) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("password hasher: %w", err)
	}
	h := &Hasher{params: p, concurrency: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(h)
	}
	h.sem = make(chan struct{}, h.concurrency)
	return h, nil
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>, base64 without padding.
// It does not apply the policy: a rehash at login must not fail on an older password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded. The parameters are read from encoded,
// so hashes made before a parameter change keep verifying; needsRehash is true when the
// password matched and encoded was made with parameters other than the current ones, so
// the caller should store a fresh Hash. A malformed encoded gives an error wrapping
// ErrMalformedHash.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// VerifyDummy spends the time of one Verify against a hash with the current parameters
// and discards the result. Call it when the user does not exist, so that unknown and known
// users answer alike (OWASP ASVS: no account enumeration by timing).
func (h *Hasher) VerifyDummy(ctx context.Context, password string) {
	salt := make([]byte, h.params.SaltLen)
	got, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return // ctx ended while waiting; the caller's request is gone anyway.
	}
	subtle.ConstantTimeCompare(got, make([]byte, h.params.KeyLen))
}

// derive runs Argon2id on the normalised password once a slot is free.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.sem }()
	if h.onSlot != nil {
		h.onSlot()
	}
	return argon2.IDKey([]byte(normalize(password)), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: wait for hashing slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.onWait != nil {
		h.onWait()
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: wait for hashing slot: %w", ctx.Err())
	}
}

// normalize applies NFKC (NIST SP 800-63B §3.1.1.2) so that equivalent Unicode spellings
// of one password hash alike.
func normalize(pw string) string { return norm.NFKC.String(pw) }

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// decode parses a PHC string as written by encode. It is strict: anything else, including
// other Argon2 variants and versions, is malformed.
func decode(encoded string) (Params, []byte, []byte, error) {
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return Params{}, nil, nil, fmt.Errorf("%w: want 5 $-separated fields", ErrMalformedHash)
	}
	if fields[1] != "argon2id" {
		return Params{}, nil, nil, fmt.Errorf("%w: algorithm is not argon2id", ErrMalformedHash)
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: unsupported version", ErrMalformedHash)
	}
	var p Params
	var err error
	if p.Memory, p.Time, p.Threads, err = parseCost(fields[3]); err != nil {
		return Params{}, nil, nil, err
	}
	salt, err := base64.RawStdEncoding.DecodeString(fields[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt: %v", ErrMalformedHash, err)
	}
	key, err := base64.RawStdEncoding.DecodeString(fields[5])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: key: %v", ErrMalformedHash, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.Validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseCost parses "m=<uint32>,t=<uint32>,p=<uint8>" in that order.
func parseCost(s string) (memory, time uint32, threads uint8, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("%w: want m=,t=,p= parameters", ErrMalformedHash)
	}
	var v [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(parts[i], name)
		if !found {
			return 0, 0, 0, fmt.Errorf("%w: want m=,t=,p= parameters", ErrMalformedHash)
		}
		bits := 32
		if i == 2 {
			bits = 8
		}
		if v[i], err = strconv.ParseUint(digits, 10, bits); err != nil {
			return 0, 0, 0, fmt.Errorf("%w: parameter %s: %v", ErrMalformedHash, name, err)
		}
	}
	return uint32(v[0]), uint32(v[1]), uint8(v[2]), nil
}
