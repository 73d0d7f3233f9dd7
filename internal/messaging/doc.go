// Package messaging is the messaging role: the realms' push credentials (sealed at
// rest), the senders built from them, and the delivery policy that wakes a phone which is
// not connected (one push per request and device across nodes, a reminder once, tokens
// the provider no longer knows cleared), with metrics per provider and outcome.
package messaging
