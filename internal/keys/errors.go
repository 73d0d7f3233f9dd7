package keys

import "errors"

// Sentinel errors. Functions wrap them once with context; check them with errors.Is.
var (
	// ErrUnsupportedAlg means the algorithm is not one Signet signs or verifies with
	// ("none", HMAC and anything outside ES256, RS256, PS256 and EdDSA).
	ErrUnsupportedAlg = errors.New("keys: unsupported algorithm")
	// ErrInvalidKey means key material does not fit its algorithm (wrong type or curve,
	// RSA below 2048 bits) or does not match its key id.
	ErrInvalidKey = errors.New("keys: invalid key")
	// ErrNoActiveKey means the key list holds no active key for the algorithm.
	ErrNoActiveKey = errors.New("keys: no active key")
	// ErrInvalidPolicy means a rotation policy is inconsistent.
	ErrInvalidPolicy = errors.New("keys: invalid rotation policy")

	// ErrInvalidKEK means a key-encryption key is not 32 bytes of base64.
	ErrInvalidKEK = errors.New("keys: invalid key-encryption key")
	// ErrWrongKEK means a sealed value names a key-encryption key that is not configured
	// (typically: the KEK was changed without keeping the old one for opening).
	ErrWrongKEK = errors.New("keys: sealed with a different key-encryption key")
	// ErrDecrypt means a sealed value is malformed, was tampered with, or is opened with
	// other associated data (another realm or key id) than it was sealed with.
	ErrDecrypt = errors.New("keys: cannot decrypt sealed value")

	// ErrMalformedToken means the input is not a compact JWS Signet accepts.
	ErrMalformedToken = errors.New("keys: malformed token")
	// ErrAlgNotAllowed means the token's "alg" is outside the caller's allow-list; "none"
	// and HMAC algorithms are never allowed.
	ErrAlgNotAllowed = errors.New("keys: token algorithm not allowed")
	// ErrUnknownKID means no key in the set carries the token's "kid" (or the token has no
	// kid and the set does not hold exactly one candidate). Callers that verify against a
	// client's cached JWKS re-fetch it once (rate-limited) on this error.
	ErrUnknownKID = errors.New("keys: unknown key id")
	// ErrKeyMismatch means the key named by "kid" cannot verify the token's algorithm
	// (for example an RSA key pinned to RS256 and a token claiming PS256 or ES256).
	ErrKeyMismatch = errors.New("keys: key does not fit token algorithm")
	// ErrBadSignature means the signature does not verify.
	ErrBadSignature = errors.New("keys: bad signature")
)

// ErrPlanMismatch means a rotation plan names a key that is not in the key list it is
// applied to (the list changed since the plan was made).
var ErrPlanMismatch = errors.New("keys: rotation plan does not match key list")
