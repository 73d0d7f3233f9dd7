package receipt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/sigma"
)

const details = `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"120.00"},"creditorName":"Smith & Co <AG>"}]`

type fixture struct {
	is     Issuer
	device *ecdsa.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := testdb.Open(t, "sqlite")
	for _, realm := range []string{"demo", "other"} {
		if _, err := st.CreateRealm(ctx, store.Realm{Name: realm, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateUser(ctx, store.User{Realm: "demo", ID: "u1", Username: "alice", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	km, err := keys.NewManager(st, ring, keys.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	dk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{is: Issuer{Store: st, Keys: km, IssuerURL: func(realm string) string { return "https://id.example/realms/" + realm }}, device: dk}
}

// answered is a transaction request as authn leaves it once the device approved it.
func (f *fixture) answered(t *testing.T, id, number string) authn.Request {
	t.Helper()
	r := authn.Request{ID: id, Realm: "demo", Kind: authn.KindTransaction, ClientID: "bank", UserID: "u1",
		Devices: []string{"d1"}, Text: "Pay 120.00 EUR to Smith & Co", AuthorizationDetails: []byte(details),
		MatchNumber: "42", State: authn.Approved, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute), ChangedAt: time.Now()}
	now := time.Now().Unix()
	sig, err := sigma.SignApproval(f.device, sigma.Approval{RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID, Text: r.Text,
		AuthorizationDetails: r.AuthorizationDetails, Number: number, Decision: sigma.Approve, Time: now})
	if err != nil {
		t.Fatal(err)
	}
	point, _ := f.device.PublicKey.Bytes()
	r.Answer = &authn.Answer{DeviceID: "d1", Decision: "approve", Number: number, SignedAt: now, Signature: sig, DeviceKey: point}
	if number != r.MatchNumber {
		r.State, r.Answer.WrongNumber = authn.Denied, true
	}
	return r
}

func (f *fixture) realmKeys(t *testing.T, realm string) jose.JSONWebKeySet {
	t.Helper()
	set, err := f.is.Keys.PublicKeys(context.Background(), realm)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestIssueAndVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r := f.answered(t, "req-1", "42")
	jws, err := f.is.Issue(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(jws, f.realmKeys(t, "demo"))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.ID != "req-1" || c.Outcome != "approved" || c.Decision != "approve" || c.Subject != "u1" || c.Number != "42" ||
		string(c.AuthorizationDetails) != details || c.Issuer != "https://id.example/realms/demo" || c.DeviceID != "d1" {
		t.Fatalf("claims %+v", c)
	}
	// Kept, and the same receipt however often it is asked for.
	again, err := f.is.Issue(ctx, r)
	if err != nil || again != jws {
		t.Fatalf("second Issue: %v (same: %v)", err, again == jws)
	}
	if got, err := f.is.Get(ctx, "demo", "req-1"); err != nil || got != jws {
		t.Fatalf("Get: %v", err)
	}
	if _, err := f.is.Get(ctx, "demo", "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of no receipt: %v", err)
	}
	// Another realm's keys do not verify it.
	if _, err := Verify(jws, f.realmKeys(t, "other")); !errors.Is(err, ErrRealmSignature) {
		t.Errorf("verified with another realm's keys: %v", err)
	}
}

// One changed byte of the amount breaks the realm's signature.
func TestTamperedAmountFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	jws, err := f.is.Issue(context.Background(), f.answered(t, "req-2", "42"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jws, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	changed := strings.Replace(string(payload), `"amount":"120.00"`, `"amount":"920.00"`, 1)
	if changed == string(payload) {
		t.Fatal("the amount is not in the payload")
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	if _, err := Verify(strings.Join(parts, "."), f.realmKeys(t, "demo")); !errors.Is(err, ErrRealmSignature) {
		t.Fatalf("a changed amount: %v, want ErrRealmSignature", err)
	}
}

// A receipt the realm signed whose readable fields or device signature do not match the
// statement is refused: the checks do not trust the realm's signature alone.
func TestInconsistentReceipts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	jws, err := f.is.Issue(ctx, f.answered(t, "req-3", "42"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jws, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	resign := func(c Claims) string {
		b, _ := marshal(c)
		tok, err := f.is.Keys.Sign(ctx, "demo", keys.ES256, Type, b)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		change func(*Claims)
		want   error
	}{
		"text":        {func(c *Claims) { c.Text = "Pay 1 EUR" }, ErrInconsistent},
		"details":     {func(c *Claims) { c.AuthorizationDetails = json.RawMessage(`[{"type":"x"}]`) }, ErrInconsistent},
		"decision":    {func(c *Claims) { c.Decision = "deny" }, ErrInconsistent},
		"device key":  {func(c *Claims) { c.DeviceKey = jose.JSONWebKey{Key: &other.PublicKey} }, ErrDeviceSignature},
		"signature":   {func(c *Claims) { c.DeviceSignature = base64.RawURLEncoding.EncodeToString([]byte{0x30, 0}) }, ErrDeviceSignature},
		"statement":   {func(c *Claims) { c.Statement = "AAAA" }, ErrInconsistent},
		"not a point": {func(c *Claims) { c.DeviceKey = jose.JSONWebKey{} }, ErrInconsistent},
	} {
		changed := c
		tc.change(&changed)
		if _, err := Verify(resign(changed), f.realmKeys(t, "demo")); !errors.Is(err, tc.want) {
			t.Errorf("%s changed: %v, want %v", name, err, tc.want)
		}
	}
	// A token of another type is no receipt.
	b, _ := marshal(c)
	tok, _ := f.is.Keys.Sign(ctx, "demo", keys.ES256, "JWT", b)
	if _, err := Verify(tok, f.realmKeys(t, "demo")); !errors.Is(err, ErrRealmSignature) {
		t.Errorf("a JWT of another type: %v", err)
	}
}

func TestWrongNumberReceiptSaysDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	jws, err := f.is.Issue(context.Background(), f.answered(t, "req-4", "17"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(jws, f.realmKeys(t, "demo"))
	if err != nil || c.Outcome != "denied" || c.Decision != "approve" || c.Number != "17" {
		t.Fatalf("claims %+v, %v; want the signed approval with outcome denied", c, err)
	}
	if _, err := f.is.Issue(context.Background(), authn.Request{ID: "x", Realm: "demo", State: authn.Pending}); !errors.Is(err, ErrNotAnswered) {
		t.Errorf("a pending request: %v, want ErrNotAnswered", err)
	}
}

// TestRecord: Record keeps an outcome with its events in one transaction (a
// transaction's with its receipt), refuses a second outcome of the same request with the
// first (ErrRecorded), and writes the events of a request whose user is gone.
func TestRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	keep := func(ctx context.Context, entry store.OutboxEntry) (store.OutboxResult, error) {
		res, err := f.is.Store.WriteOutbox(ctx, []store.OutboxEntry{entry})
		if err != nil {
			return store.OutboxResult{}, err
		}
		return res[0], nil
	}
	events := func(id string) []string {
		t.Helper()
		page, err := f.is.Store.ListEvents(ctx, "demo", store.EventFilter{Subject: id}, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range slices.Backward(page.Items) {
			out = append(out, e.Type)
		}
		return out
	}
	eventsOf := func(r authn.Request, types ...string) []authn.Event {
		var out []authn.Event
		for _, typ := range types {
			out = append(out, authn.Event{Type: typ, Realm: r.Realm, RequestID: r.ID, Kind: r.Kind, ClientID: r.ClientID, UserID: r.UserID, At: time.Now()})
		}
		return out
	}

	// A sign-in denied "this wasn't me": its record and both events.
	login := f.answered(t, "login1", "42")
	login.Kind, login.State, login.AuthorizationDetails, login.Answer.Decision, login.Answer.NotMe = authn.KindPushLogin, authn.Denied, nil, "deny", true
	if s, err := f.is.Record(ctx, login, eventsOf(login, "authn.denied", "authn.reported"), keep); err != nil || s != authn.Denied {
		t.Fatalf("Record = %q, %v", s, err)
	}
	// A sign-in's outcome is claimed, not kept as a record.
	if _, err := f.is.Store.GetAuthnRequest(ctx, "demo", "login1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a sign-in's record: %v, want none", err)
	}
	if got := events("login1"); !slices.Equal(got, []string{"authn.denied", "authn.reported"}) {
		t.Fatalf("events %v", got)
	}
	// A second outcome of the same request: refused with the first, nothing written.
	expired := login
	expired.State, expired.Answer = authn.Expired, nil
	if s, err := f.is.Record(ctx, expired, eventsOf(expired, "authn.expired"), keep); !errors.Is(err, authn.ErrRecorded) || s != authn.Denied {
		t.Fatalf("a second outcome: %q, %v; want denied and ErrRecorded", s, err)
	}
	if got := events("login1"); len(got) != 2 {
		t.Errorf("a refused outcome wrote events: %v", got)
	}

	// An answered transaction: kept with its receipt, which verifies; a second keeper
	// gets ErrRecorded, and Issue finds the receipt kept.
	tx := f.answered(t, "tx9", "42")
	if s, err := f.is.Record(ctx, tx, eventsOf(tx, "authn.approved"), keep); err != nil || s != authn.Approved {
		t.Fatalf("Record of a transaction = %q, %v", s, err)
	}
	jws, err := f.is.Get(ctx, "demo", "tx9")
	if err != nil {
		t.Fatalf("no receipt kept: %v", err)
	}
	if c, err := Verify(jws, f.realmKeys(t, "demo")); err != nil || c.Outcome != "approved" {
		t.Fatalf("the kept receipt: %+v, %v", c, err)
	}
	if again, err := f.is.Issue(ctx, tx); err != nil || again != jws {
		t.Errorf("Issue after Record: another receipt (%v)", err)
	}
	if s, err := f.is.Record(ctx, tx, eventsOf(tx, "authn.approved"), keep); !errors.Is(err, authn.ErrRecorded) || s != authn.Approved {
		t.Fatalf("a transaction recorded twice: %q, %v", s, err)
	}
	if got := events("tx9"); !slices.Equal(got, []string{"authn.approved"}) {
		t.Errorf("events of the transaction %v", got)
	}

	stored, err := f.is.Store.GetAuthnRequest(ctx, "demo", "tx9")
	if err != nil || stored.State != store.AuthnApproved || stored.DeviceID != "d1" || stored.SignedDecision != "approve" {
		t.Fatalf("the transaction's record %+v, %v", stored, err)
	}

	// A transaction that expired: its record, without an answer or receipt.
	late := f.answered(t, "tx10", "42")
	late.State, late.Answer = authn.Expired, nil
	if s, err := f.is.Record(ctx, late, eventsOf(late, "authn.expired"), keep); err != nil || s != authn.Expired {
		t.Fatalf("Record of an expired transaction = %q, %v", s, err)
	}
	if stored, err := f.is.Store.GetAuthnRequest(ctx, "demo", "tx10"); err != nil || stored.State != store.AuthnExpired || stored.Receipt != "" {
		t.Errorf("the expired transaction's record %+v, %v", stored, err)
	}

	// A user deleted meanwhile: nothing to keep the record with; the outcome and its
	// events stand.
	gone := f.answered(t, "tx11", "42")
	gone.UserID = "deleted-user"
	if s, err := f.is.Record(ctx, gone, eventsOf(gone, "authn.approved"), keep); err != nil || s != authn.Approved {
		t.Fatalf("Record for a deleted user = %q, %v", s, err)
	}
	if got := events("tx11"); !slices.Equal(got, []string{"authn.approved"}) {
		t.Errorf("events of a deleted user's request %v", got)
	}
}
