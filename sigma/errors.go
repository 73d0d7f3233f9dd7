package sigma

import "errors"

// Sentinel errors. Every error caused by a peer's bytes or by a misused handshake or
// session wraps exactly one of them, so callers branch with errors.Is; configuration and
// randomness failures do not. The peer should only ever learn that the channel closed.
var (
	// ErrVersion: the first byte of a message names a protocol version this code does
	// not speak.
	ErrVersion = errors.New("sigma: unsupported protocol version")
	// ErrMalformed: a message has the wrong type, length or field encoding, or a public
	// key is not a valid P-256 point.
	ErrMalformed = errors.New("sigma: malformed message")
	// ErrServerKey: the server key does not match the pinned fingerprint (on the server:
	// no configured key has the fingerprint the device pinned).
	ErrServerKey = errors.New("sigma: server key does not match the pinned fingerprint")
	// ErrSignature: a handshake or approval signature does not verify.
	ErrSignature = errors.New("sigma: signature verification failed")
	// ErrMAC: an identity MAC or an AES-GCM authentication tag does not verify, which
	// includes any tampering with encrypted bytes and disagreeing key schedules.
	ErrMAC = errors.New("sigma: message authentication failed")
	// ErrUnknownDevice: the server's LookupDevice refused the device id; the error it
	// returned is wrapped as well.
	ErrUnknownDevice = errors.New("sigma: device refused")
	// ErrReplay: a frame carries a sequence number that was already received.
	ErrReplay = errors.New("sigma: replayed frame")
	// ErrSequence: a frame carries a sequence number beyond the next expected one (a
	// frame was dropped or reordered), or the sequence space is exhausted.
	ErrSequence = errors.New("sigma: frame out of sequence")
	// ErrClosed: the session failed earlier and refuses all further frames.
	ErrClosed = errors.New("sigma: session closed")
	// ErrTooLarge: a plaintext or frame exceeds the session's maximum plaintext size.
	ErrTooLarge = errors.New("sigma: frame too large")
	// ErrState: a handshake step was called out of order, twice, or after a failure.
	ErrState = errors.New("sigma: handshake step out of order")
)
