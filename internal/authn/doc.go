// Package authn holds authentication requests, the one state machine behind push login,
// QR login, CIBA and transaction signing.
//
// A request lives in the ephemeral store under its realm and id:
//
//	pending ──► approved | denied | expired | cancelled ──► consumed
//
// Every transition is one compare-and-swap on the request's key, so it happens at most
// once however many nodes and devices race for it. A device answers with a signature over
// the canonical encoding of what it showed (sigma.Approval); the statement is rebuilt from
// the stored request, so a device cannot sign something other than what it was asked.
// Whoever started the request (a browser's pending login, a CIBA client) reads the outcome
// once, by consuming it with the binding it was created with.
//
// Each user's pending requests are listed in an index key of their own, which also bounds
// how many may wait at once; denials start a cooldown. Both are the push-bombing defence
// (CONFORMANCE §3), with the limits of the user's realm (Policy, which the caller passes
// with the request) or else the node's (Config). Every state change is handed to an
// Events sink.
package authn
