// Package receipt makes and checks the receipts of answered transactions: a JWS signed by
// the realm's key that embeds the device's own signature over what the user was shown,
// and the device's public key, so a business application can check both offline, with
// the realm's JWKS and nothing else.
package receipt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
)

// Type is the JWS "typ" of a receipt.
const Type = "signet-receipt+jwt"

// Claims is what a receipt states. Statement is the canonical encoding the device signed
// (sigma.Approval); the readable fields repeat it, and Verify holds them to it.
type Claims struct {
	Issuer   string `json:"iss"`
	ID       string `json:"jti"` // the request's id
	IssuedAt int64  `json:"iat"`
	Realm    string `json:"realm"`
	Subject  string `json:"sub"` // the user's id
	ClientID string `json:"client_id"`
	Kind     string `json:"kind"`
	Text     string `json:"text,omitempty"`
	// AuthorizationDetails are the RFC 9396 details exactly as the device signed them.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
	Number               string          `json:"number,omitempty"`
	// Decision is what the device signed ("approve", "deny"); Outcome is the request's
	// result, "denied" also for an approval with the wrong number.
	Decision        string          `json:"decision"`
	Outcome         string          `json:"outcome"`
	SignedAt        int64           `json:"signed_at"`
	DeviceID        string          `json:"device_id"`
	DeviceKey       jose.JSONWebKey `json:"device_jwk"`
	DeviceSignature string          `json:"device_signature"` // base64url, ASN.1 DER ECDSA
	Statement       string          `json:"statement"`        // base64url of the signed encoding
}

// Issuer makes and keeps receipts.
type Issuer struct {
	Store store.Store
	Keys  *keys.Manager
	// IssuerURL is a realm's issuer (the "iss" of its tokens).
	IssuerURL func(realm string) string
	Now       func() time.Time
}

// ErrNotAnswered: the request has no signed answer to make a receipt of.
var ErrNotAnswered = errors.New("receipt: the request has no signed answer")

// Issue makes the receipt of an answered request, keeps it with the request's record
// and returns it. It is idempotent: a request with a receipt already gets that one, so
// the device server (at the answer) and whoever reads the outcome later may both call it.
func (is Issuer) Issue(ctx context.Context, r authn.Request) (string, error) {
	if stored, err := is.Store.GetAuthnRequest(ctx, r.Realm, r.ID); err == nil && stored.Receipt != "" {
		return stored.Receipt, nil
	}
	rec, err := is.make(ctx, r)
	if err != nil {
		return "", err
	}
	_, err = is.Store.CreateAuthnRequest(ctx, rec)
	if errors.Is(err, store.ErrConflict) {
		// Another node kept one first: that one is the receipt.
		stored, err := is.Store.GetAuthnRequest(ctx, r.Realm, r.ID)
		if err != nil {
			return "", err
		}
		return stored.Receipt, nil
	}
	if err != nil {
		return "", fmt.Errorf("receipt: keep: %w", err)
	}
	return rec.Receipt, nil
}

// make signs the receipt of an answered request and returns the request's record with it.
func (is Issuer) make(ctx context.Context, r authn.Request) (store.AuthnRequest, error) {
	a := r.Answer
	if a == nil || len(a.Signature) == 0 || len(a.DeviceKey) == 0 || !r.State.Outcome() && r.State != authn.Consumed {
		return store.AuthnRequest{}, ErrNotAnswered
	}
	decision := sigma.Deny
	if a.Decision == "approve" {
		decision = sigma.Approve
	}
	statement, err := sigma.Approval{RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID, Text: r.Text,
		AuthorizationDetails: r.AuthorizationDetails, Number: a.Number, Decision: decision, Time: a.SignedAt}.Encode()
	if err != nil {
		return store.AuthnRequest{}, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), a.DeviceKey)
	if err != nil {
		return store.AuthnRequest{}, fmt.Errorf("receipt: the device key: %w", err)
	}
	outcome := authn.Denied
	if decision == sigma.Approve && !a.WrongNumber {
		outcome = authn.Approved
	}
	now := time.Now
	if is.Now != nil {
		now = is.Now
	}
	c := Claims{
		Issuer: is.IssuerURL(r.Realm), ID: r.ID, IssuedAt: now().Unix(), Realm: r.Realm, Subject: r.UserID,
		ClientID: r.ClientID, Kind: string(r.Kind), Text: r.Text, AuthorizationDetails: r.AuthorizationDetails,
		Number: a.Number, Decision: a.Decision, Outcome: string(outcome), SignedAt: a.SignedAt, DeviceID: a.DeviceID,
		DeviceKey:       jose.JSONWebKey{Key: pub, Algorithm: "ES256", Use: "sig"},
		DeviceSignature: base64.RawURLEncoding.EncodeToString(a.Signature),
		Statement:       base64.RawURLEncoding.EncodeToString(statement),
	}
	payload, err := marshal(c)
	if err != nil {
		return store.AuthnRequest{}, err
	}
	jws, err := is.Keys.Sign(ctx, r.Realm, keys.ES256, Type, payload)
	if err != nil {
		return store.AuthnRequest{}, fmt.Errorf("receipt: sign: %w", err)
	}
	answered := r
	answered.State = outcome // a consumed request's record keeps its outcome
	rec := answered.Record()
	rec.Receipt = jws
	return rec, nil
}

// Keep writes an entry that claims a request's outcome unless an outcome of the request
// was claimed before (events.Outbox.Keep).
type Keep func(ctx context.Context, entry store.OutboxEntry) (store.OutboxResult, error)

// Record keeps the outcome of a request with its events in one transaction, as
// authn.Recorder: the outcome's claim, and for a transaction its durable record (with
// the receipt, when it was answered). An outcome recorded before is ErrRecorded with
// that outcome.
func (is Issuer) Record(ctx context.Context, r authn.Request, events []authn.Event, keep Keep) (authn.State, error) {
	entry := store.OutboxEntry{
		Outcome: &store.AuthnOutcome{Realm: r.Realm, ID: r.ID, CreatedAt: r.CreatedAt, State: r.State.Stored(), Token: rand.Text()},
		Events:  authn.Records(events),
	}
	switch {
	case r.Kind == authn.KindTransaction && r.Answer != nil:
		rec, err := is.make(ctx, r)
		if err != nil {
			return "", err
		}
		entry.Record = &rec
	case r.Kind == authn.KindTransaction:
		rec := r.Record()
		entry.Record = &rec
	}
	res, err := keep(ctx, entry)
	if err != nil {
		return "", err
	}
	if !res.Kept {
		return authn.StateOf(res.Existing), authn.ErrRecorded
	}
	return r.State, nil
}

// Get returns a kept receipt; store.ErrNotFound when the request has none.
func (is Issuer) Get(ctx context.Context, realm, id string) (string, error) {
	r, err := is.Store.GetAuthnRequest(ctx, realm, id)
	if err != nil {
		return "", err
	}
	if r.Receipt == "" {
		return "", fmt.Errorf("receipt of %q: %w", id, store.ErrNotFound)
	}
	return r.Receipt, nil
}

// marshal encodes c without escaping HTML, so the authorization details stay the bytes
// the device signed.
func marshal(c Claims) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Errors of Verify.
var (
	ErrRealmSignature  = errors.New("receipt: the realm's signature does not verify")
	ErrDeviceSignature = errors.New("receipt: the device's signature does not verify")
	ErrInconsistent    = errors.New("receipt: the receipt's fields differ from what the device signed")
)

// Verify checks a receipt against the realm's keys (its JWKS): the realm's signature,
// the device's signature over the statement under the embedded device key, and that the
// readable fields say what the statement says. It returns the claims.
func Verify(token string, realmKeys jose.JSONWebKeySet) (Claims, error) {
	payload, h, err := keys.Verify(token, realmKeys, []keys.Alg{keys.ES256, keys.RS256, keys.PS256, keys.EdDSA})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrRealmSignature, err)
	}
	if !keys.TypeIs(h, Type) {
		return Claims{}, fmt.Errorf("%w: typ %q is not %q", ErrRealmSignature, h.ExtraHeaders["typ"], Type)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInconsistent, err)
	}
	pub, ok := c.DeviceKey.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return c, fmt.Errorf("%w: the device key is not a P-256 key", ErrInconsistent)
	}
	statement, err := base64.RawURLEncoding.DecodeString(c.Statement)
	if err != nil {
		return c, fmt.Errorf("%w: statement: %v", ErrInconsistent, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(c.DeviceSignature)
	if err != nil {
		return c, fmt.Errorf("%w: device signature: %v", ErrInconsistent, err)
	}
	a, err := sigma.DecodeApproval(statement)
	if err != nil {
		return c, fmt.Errorf("%w: statement: %v", ErrInconsistent, err)
	}
	if err := sigma.VerifyApproval(pub, a, sig); err != nil {
		return c, ErrDeviceSignature
	}
	decision := "deny"
	if a.Decision == sigma.Approve {
		decision = "approve"
	}
	if a.RequestID != c.ID || a.Realm != c.Realm || a.ClientID != c.ClientID || a.Text != c.Text ||
		!bytes.Equal(a.AuthorizationDetails, c.AuthorizationDetails) || a.Number != c.Number ||
		decision != c.Decision || a.Time != c.SignedAt || c.Outcome == string(authn.Approved) && decision != "approve" {
		return c, ErrInconsistent
	}
	return c, nil
}
