// Package sigma is the device-channel protocol: a SIGMA-I authenticated key exchange
// between a phone (the initiator, holding a device-bound P-256 key) and the server (the
// responder, holding a static P-256 key the phone has pinned), followed by an AES-256-GCM
// record layer with strict sequence numbers, and the canonical encoding of signed
// approvals.
//
// The package is a pure state machine over byte messages: it knows nothing of the
// transport (the server carries one protocol message per WebSocket binary message), of
// storage or of the network, so the same code runs in the server, in the authenticator
// SDK and in test tools. docs/device-protocol.md specifies every byte, with test vectors
// in testdata/vectors.json.
package sigma
