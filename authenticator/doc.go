// Package authenticator is the Go SDK an authenticator app embeds to act as a Signet
// device: enroll from an activation QR payload, keep the device key in a key store,
// connect over the SIGMA-I secured channel (package sigma), list and fetch pending
// requests, approve or deny them with a signature, receive and acknowledge messages
// from business applications, and keep the push token current.
//
// The surface uses only types gomobile can bind (strings, byte slices, integers,
// booleans, pointers to this package's structs and its interfaces), so iOS and Android
// apps call it directly. For the same reason no method takes a context.Context: every
// call is bounded by Session.Timeout, and Close ends whatever is in flight.
package authenticator
