package events

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
)

// A realm's callback secret is created by its first rotation, kept sealed in the realm
// beside its other attributes, and signs callbacks; a rotation adds a new current
// secret and keeps the previous one signing for the grace period only.
func TestCallbackSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testdb.Open(t, "sqlite")
	ring := testRing(t)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "r", Attributes: map[string]string{"color": "blue"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	if _, err := CallbackSigningKeys(ctx, st, ring, "r", t0); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("keys of a realm without a callback secret: %v", err)
	}
	first, err := RotateCallbackSecret(ctx, st, ring, "r", t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	firstKey, err := ParseWebhookSecret(first)
	if err != nil || !strings.HasPrefix(first, "whsec_") {
		t.Fatalf("new secret %q: %v", first, err)
	}
	r, err := st.GetRealm(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if !HasCallbackSecret(r) || r.Attributes["color"] != "blue" {
		t.Fatalf("attributes after the first rotation: %v", r.Attributes)
	}
	sealed, _ := base64.StdEncoding.DecodeString(r.Attributes[CallbackSecretsAttribute])
	if len(sealed) == 0 || strings.Contains(string(sealed), first[6:]) || strings.Contains(r.Attributes[CallbackSecretsAttribute], first[6:]) {
		t.Fatalf("the attribute %q is not the sealed secret", r.Attributes[CallbackSecretsAttribute])
	}
	keys, err := CallbackSigningKeys(ctx, st, ring, "r", t0.Add(365*24*time.Hour))
	if err != nil || len(keys) != 1 || string(keys[0]) != string(firstKey) {
		t.Fatalf("keys after the first rotation: %d, %v", len(keys), err)
	}

	second, err := RotateCallbackSecret(ctx, st, ring, "r", t0.Add(time.Hour), 2*time.Hour)
	if err != nil || second == first {
		t.Fatalf("second rotation: %q, %v", second, err)
	}
	secondKey, _ := ParseWebhookSecret(second)
	keys, err = CallbackSigningKeys(ctx, st, ring, "r", t0.Add(2*time.Hour))
	if err != nil || len(keys) != 2 || string(keys[0]) != string(secondKey) || string(keys[1]) != string(firstKey) {
		t.Fatalf("keys during the grace period: %d, %v", len(keys), err)
	}
	// A receiver holding either secret verifies a callback signed with the keys.
	body := []byte(`{"type":"authn.approved"}`)
	ts := t0.Add(2 * time.Hour).Unix()
	sig := SignWebhook("msg_1", ts, body, keys...)
	for _, s := range []string{first, second} {
		k, _ := ParseWebhookSecret(s)
		if err := VerifyWebhook("msg_1", strconv.FormatInt(ts, 10), sig, body, t0.Add(2*time.Hour), 5*time.Minute, k); err != nil {
			t.Errorf("a receiver holding %s…: %v", s[:10], err)
		}
	}
	keys, err = CallbackSigningKeys(ctx, st, ring, "r", t0.Add(3*time.Hour))
	if err != nil || len(keys) != 1 || string(keys[0]) != string(secondKey) {
		t.Fatalf("keys after the grace period: %d, %v", len(keys), err)
	}

	// A negative grace ends the previous secrets at once (a leaked secret).
	third, err := RotateCallbackSecret(ctx, st, ring, "r", t0.Add(4*time.Hour), -1)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = st.GetRealm(ctx, "r")
	secrets, err := OpenCallbackSecrets(ring, r)
	if err != nil || len(secrets) != 1 || secrets[0].Secret != third || !secrets[0].CreatedAt.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("secrets after an immediate rotation: %+v, %v", secrets, err)
	}

	if _, err := RotateCallbackSecret(ctx, st, ring, "missing", t0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rotating in a missing realm: %v", err)
	}
	if _, err := CallbackSigningKeys(ctx, st, ring, "missing", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("keys of a missing realm: %v", err)
	}
}

// Sealed callback secrets open only for their realm, and a subscription's sealed
// secrets never open as a realm's callback secrets.
func TestCallbackSecretsBoundToRealm(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testdb.Open(t, "sqlite")
	ring := testRing(t)
	for _, name := range []string{"a", "b"} {
		if _, err := st.CreateRealm(ctx, store.Realm{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := RotateCallbackSecret(ctx, st, ring, "a", time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	a, _ := st.GetRealm(ctx, "a")
	moved := store.Realm{Name: "b", Attributes: map[string]string{CallbackSecretsAttribute: a.Attributes[CallbackSecretsAttribute]}}
	if _, err := OpenCallbackSecrets(ring, moved); err == nil || errors.Is(err, ErrNoSecret) {
		t.Errorf("realm a's callback secrets opened as realm b's: %v", err)
	}
	subSealed, err := SealWebhookSecrets(ring, "a", "", []WebhookSecret{{Secret: NewWebhookSecret()}})
	if err != nil {
		t.Fatal(err)
	}
	fake := store.Realm{Name: "a", Attributes: map[string]string{CallbackSecretsAttribute: base64.StdEncoding.EncodeToString(subSealed)}}
	if _, err := OpenCallbackSecrets(ring, fake); err == nil {
		t.Error("a subscription's sealed secrets opened as the realm's callback secrets")
	}
	// Another key-encryption key does not open them.
	if _, err := OpenCallbackSecrets(testRing(t), a); err == nil {
		t.Error("callback secrets opened under another keyring")
	}
	if _, err := RotateCallbackSecret(ctx, st, testRing(t), "a", time.Now(), 0); err == nil {
		t.Error("rotated callback secrets that the keyring cannot open")
	}
}

// Concurrent rotations lose no secret: each new one is in the stored set.
func TestCallbackSecretConcurrentRotations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testdb.Open(t, "sqlite")
	ring := testRing(t)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const n = 4
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := RotateCallbackSecret(ctx, st, ring, "r", now, time.Hour)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	r, _ := st.GetRealm(ctx, "r")
	secrets, err := OpenCallbackSecrets(ring, r)
	if err != nil || len(secrets) != n {
		t.Fatalf("%d secrets after %d rotations: %v", len(secrets), n, err)
	}
	for _, s := range got {
		found := false
		for _, kept := range secrets {
			found = found || kept.Secret == s
		}
		if !found {
			t.Errorf("rotation's secret %s… was lost", s[:10])
		}
	}
}
