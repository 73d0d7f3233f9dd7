package events

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
)

// Sealed secrets open only for the subscription they were sealed for.
func TestWebhookSecretsSealing(t *testing.T) {
	t.Parallel()
	ring := testRing(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	secrets := []WebhookSecret{{Secret: NewWebhookSecret(), CreatedAt: now}}
	sealed, err := SealWebhookSecrets(ring, "r", "wh_1", secrets)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), strings.TrimPrefix(secrets[0].Secret, "whsec_")) {
		t.Fatal("the sealed secrets hold the secret in the clear")
	}
	got, err := OpenWebhookSecrets(ring, "r", "wh_1", sealed)
	if err != nil || len(got) != 1 || got[0].Secret != secrets[0].Secret || !got[0].CreatedAt.Equal(now) {
		t.Fatalf("OpenWebhookSecrets = %+v, %v", got, err)
	}
	for _, other := range [][2]string{{"r", "wh_2"}, {"r2", "wh_1"}} {
		if _, err := OpenWebhookSecrets(ring, other[0], other[1], sealed); err == nil {
			t.Errorf("secrets of r/wh_1 opened as %s/%s", other[0], other[1])
		}
	}
	if _, err := SealWebhookSecrets(ring, "r", "wh_1", []WebhookSecret{{Secret: "hunter2"}}); !errors.Is(err, ErrWebhookSecret) {
		t.Errorf("sealing a malformed secret: %v", err)
	}
}

// A rotation puts a new secret first and ends the others after the grace period, which
// never extends an earlier end.
func TestRotateWebhookSecrets(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	first := []WebhookSecret{{Secret: NewWebhookSecret(), CreatedAt: t0}}
	second, s2 := RotateWebhookSecrets(first, t0.Add(time.Hour), 24*time.Hour)
	if len(second) != 2 || second[0].Secret != s2 || !second[0].ExpiresAt.IsZero() || !second[1].ExpiresAt.Equal(t0.Add(25*time.Hour)) {
		t.Fatalf("after one rotation: %+v", second)
	}
	third, s3 := RotateWebhookSecrets(second, t0.Add(2*time.Hour), 24*time.Hour)
	if len(third) != 3 || third[0].Secret != s3 || third[1].Secret != s2 || !third[1].ExpiresAt.Equal(t0.Add(26*time.Hour)) ||
		!third[2].ExpiresAt.Equal(t0.Add(25*time.Hour)) {
		t.Fatalf("after two rotations: %+v", third)
	}
	for at, want := range map[time.Duration]int{2 * time.Hour: 3, 25 * time.Hour: 2, 26 * time.Hour: 1} {
		keys, err := SigningKeys(third, t0.Add(at))
		if err != nil || len(keys) != want {
			t.Errorf("signing keys %s in: %d, %v; want %d", at, len(keys), err, want)
		}
	}
	if _, err := SigningKeys(third[1:], t0.Add(30*time.Hour)); !errors.Is(err, ErrNoSecret) {
		t.Errorf("no valid secret: %v", err)
	}
	now, _ := RotateWebhookSecrets(third, t0.Add(3*time.Hour), 0)
	if len(now) != 1 {
		t.Errorf("a rotation without grace kept %d secrets, want only the new one", len(now))
	}
}

// Create makes the ID and the secret; the store keeps only the sealed secret.
func TestSubscriptionsCreate(t *testing.T) {
	t.Parallel()
	st := testdb.Open(t, "sqlite")
	if _, err := st.CreateRealm(t.Context(), store.Realm{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	subs := Subscriptions{Store: st, Ring: testRing(t)}
	w, secret, err := subs.Create(t.Context(), store.WebhookSubscription{Realm: "r", URL: "https://example.com/hook", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.ID, "wh_") || !strings.HasPrefix(secret, "whsec_") || strings.Contains(string(w.Secrets), secret[6:]) {
		t.Errorf("created %+v with secret %q", w, secret)
	}
	got, err := subs.Secrets(t.Context(), "r", w.ID)
	if err != nil || len(got) != 1 || got[0].Secret != secret {
		t.Errorf("Secrets = %+v, %v", got, err)
	}
	if _, _, err := subs.Create(t.Context(), store.WebhookSubscription{Realm: "r", URL: "ftp://example.com", Enabled: true}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a bad URL: %v", err)
	}
	if _, _, err := subs.RotateSecret(t.Context(), "r", "missing", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rotating a missing subscription: %v", err)
	}
}

// WithOnWrite hears of every committed batch, so a Deliverer is nudged.
func TestOutboxOnWrite(t *testing.T) {
	t.Parallel()
	_, log := realmStore(t, "sqlite")
	var writes atomic.Int64
	o := NewOutbox(log, WithOnWrite(func() { writes.Add(1) }))
	if err := o.Append(t.Context(), event("r", 1)); err != nil {
		t.Fatal(err)
	}
	if err := o.Post(event("r", 2)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Second, func() bool { return writes.Load() >= 1 && writes.Load() == log.calls.Load() }, "one call per batch")
}
