// Package keys manages realm signing keys without touching storage: it generates keys,
// names them by their RFC 7638 thumbprint, seals them for storage under a key-encryption
// key (KEK), publishes their public halves as a JWKS, decides when to rotate them, and
// signs and verifies compact JWS with them.
//
// The package is pure: no I/O, no clock of its own in decisions (callers pass now), no
// package-level state. The store layer persists what [Keyring.SealKey] returns together
// with the [Stored] bookkeeping and applies what [Plan] decides.
//
// Key lifecycle, per realm and algorithm: a key is generated as "next" and published in
// the JWKS at once, so relying parties that cache the JWKS already know it; after the
// active key has signed for Policy.RotationPeriod and the next key has been published for
// Policy.PrepublishFor, the next key becomes active and the old active key is retired;
// a retired key no longer signs but stays published for Policy.RetainFor, so every token
// it signed can still be verified, and is then deleted.
package keys
