package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published vector.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestWebhookSignatureVector(t *testing.T) {
	t.Parallel()
	key, err := ParseWebhookSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := SignWebhook(vectorID, vectorTimestamp, []byte(vectorBody), key); got != vectorSignature {
		t.Errorf("signature %q, want the specification's %q", got, vectorSignature)
	}
	// The secret without its prefix is the same key.
	bare, err := ParseWebhookSecret(strings.TrimPrefix(vectorSecret, "whsec_"))
	if err != nil || string(bare) != string(key) {
		t.Errorf("the bare secret reads as another key: %v", err)
	}
	now := time.Unix(vectorTimestamp+10, 0)
	if err := VerifyWebhook(vectorID, "1614265330", vectorSignature, []byte(vectorBody), now, 5*time.Minute, key); err != nil {
		t.Errorf("the vector does not verify: %v", err)
	}
}

// During a rotation a delivery carries a signature per secret, and a receiver holding
// either one accepts it; any change of id, timestamp or body, a stale timestamp, or a
// wrong key is refused.
func TestWebhookSignatureRotationAndRefusals(t *testing.T) {
	t.Parallel()
	oldKey, err := ParseWebhookSecret(NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := ParseWebhookSecret(NewWebhookSecret())
	other, _ := ParseWebhookSecret(NewWebhookSecret())
	now := time.Unix(1_800_000_000, 0)
	ts := "1800000000"
	body := []byte(`{"type":"authn.approved"}`)
	sig := SignWebhook("evt_1", 1_800_000_000, body, newKey, oldKey)
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("a rotation's header %q holds %d signatures, want 2", sig, n)
	}
	for _, k := range [][]byte{oldKey, newKey} {
		if err := VerifyWebhook("evt_1", ts, sig, body, now, time.Minute, k); err != nil {
			t.Errorf("a receiver with one of the secrets refuses: %v", err)
		}
	}
	for name, tc := range map[string]struct {
		id, ts, sig string
		body        []byte
		key         []byte
		want        error
	}{
		"other key":       {"evt_1", ts, sig, body, other, ErrWebhookSignature},
		"other id":        {"evt_2", ts, sig, body, newKey, ErrWebhookSignature},
		"other timestamp": {"evt_1", "1800000001", sig, body, newKey, ErrWebhookSignature},
		"body changed":    {"evt_1", ts, sig, []byte(`{"type":"authn.denied"}`), newKey, ErrWebhookSignature},
		"stale":           {"evt_1", "1799990000", SignWebhook("evt_1", 1_799_990_000, body, newKey), body, newKey, ErrWebhookTimestamp},
		"no timestamp":    {"evt_1", "", sig, body, newKey, ErrWebhookTimestamp},
		"other version":   {"evt_1", ts, strings.ReplaceAll(sig, "v1,", "v2,"), body, newKey, ErrWebhookSignature},
		"truncated":       {"evt_1", ts, sig[:20], body, newKey, ErrWebhookSignature},
	} {
		if err := VerifyWebhook(tc.id, tc.ts, tc.sig, tc.body, now, time.Minute, tc.key); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	for _, bad := range []string{"whsec_short", "whsec_not base64!", ""} {
		if _, err := ParseWebhookSecret(bad); !errors.Is(err, ErrWebhookSecret) {
			t.Errorf("ParseWebhookSecret(%q) = %v", bad, err)
		}
	}
}
