package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook signatures follow the Standard Webhooks specification (standardwebhooks.com),
// so receivers can check Signet's deliveries with any of its libraries: the headers
// webhook-id, webhook-timestamp (Unix seconds) and webhook-signature, the last one
// "v1,<base64 of HMAC-SHA256(key, id.timestamp.body)>" per signing key, space-separated
// (two while a secret is rotated).

// webhookSecretPrefix marks a Standard Webhooks secret; the rest is the key in base64.
const webhookSecretPrefix = "whsec_"

// Errors of webhook signing and verification.
var (
	ErrWebhookSecret    = errors.New("events: not a webhook secret (whsec_ and 24 to 64 bytes in base64)")
	ErrWebhookSignature = errors.New("events: no webhook signature matches")
	ErrWebhookTimestamp = errors.New("events: the webhook timestamp is missing or too far from now")
)

// NewWebhookSecret returns a new signing secret: "whsec_" and 32 random bytes in base64.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return webhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ParseWebhookSecret returns the key of a secret, with or without its "whsec_" prefix.
func ParseWebhookSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, webhookSecretPrefix))
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrWebhookSecret
	}
	return key, nil
}

// SignWebhook returns the webhook-signature header of a delivery: one "v1," signature
// per key, in key order.
func SignWebhook(id string, timestamp int64, body []byte, keys ...[]byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(webhookMAC(k, id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}

func webhookMAC(key []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, timestamp)
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a delivery as a receiver does: its timestamp within tolerance of
// now (replays of old deliveries fail), and one of the header's v1 signatures made with
// one of keys (compared in constant time).
func VerifyWebhook(id, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration, keys ...[]byte) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrWebhookTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookTimestamp
	}
	for _, part := range strings.Fields(signature) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, k := range keys {
			if hmac.Equal(got, webhookMAC(k, id, ts, body)) {
				return nil
			}
		}
	}
	return ErrWebhookSignature
}
