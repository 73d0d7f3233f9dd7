package sigma

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

func sampleApproval() Approval {
	return Approval{
		RequestID:            "req-7f3a",
		Realm:                "demo",
		ClientID:             "bank-portal",
		Text:                 "Pay 120.00 EUR to ACME GmbH?",
		AuthorizationDetails: []byte(`[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"120.00"}}]`),
		Number:               "42",
		Decision:             Approve,
		Time:                 1767225600,
	}
}

func TestApprovalRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]Approval{
		"full":             sampleApproval(),
		"deny, no details": {RequestID: "r", Realm: "demo", ClientID: "c", Text: "Sign in?", Decision: Deny, Time: 1},
		"all empty":        {Decision: Approve},
		"negative time":    {RequestID: "r", Decision: Deny, Time: math.MinInt64},
		"non-UTF-8 bytes":  {RequestID: "\xff\x00", Text: "\xc3", Decision: Approve, Time: math.MaxInt64},
	}
	for name, a := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enc, err := a.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeApproval(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, a) {
				t.Fatalf("decoded %+v, want %+v", got, a)
			}
		})
	}
}

// The encoding's layout, byte for byte, as docs/device-protocol.md specifies it.
func TestApprovalLayout(t *testing.T) {
	t.Parallel()
	a := Approval{RequestID: "r1", Realm: "demo", ClientID: "c", Text: "ok?", Number: "07", Decision: Deny, Time: 0x0102030405060708}
	enc, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("signet approval\x00\x01")
	for _, f := range []string{"r1", "demo", "c", "ok?", "", "07"} {
		want = binary.BigEndian.AppendUint32(want, uint32(len(f)))
		want = append(want, f...)
	}
	want = append(want, 0x02, 1, 2, 3, 4, 5, 6, 7, 8)
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding\n%x\nwant\n%x", enc, want)
	}
}

func TestApprovalDecodeStrict(t *testing.T) {
	t.Parallel()
	enc, err := sampleApproval().Encode()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(enc)) }
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"trailing byte":  {append(bytes.Clone(enc), 0), ErrMalformed},
		"label":          {edit(func(b []byte) []byte { b[0] = 'S'; return b }), ErrMalformed},
		"version":        {edit(func(b []byte) []byte { b[16] = 2; return b }), ErrVersion},
		"decision zero":  {edit(func(b []byte) []byte { b[len(b)-9] = 0; return b }), ErrMalformed},
		"decision three": {edit(func(b []byte) []byte { b[len(b)-9] = 3; return b }), ErrMalformed},
		"length past the end": {edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[17:], math.MaxUint32)
			return b
		}), ErrMalformed},
		"length one too long":  {edit(func(b []byte) []byte { b[20]++; return b }), ErrMalformed},
		"length one too short": {edit(func(b []byte) []byte { b[20]--; return b }), ErrMalformed},
	}
	for n := range len(enc) {
		tests[fmt.Sprintf("truncated to %d bytes", n)] = struct {
			in   []byte
			want error
		}{enc[:n], nil}
	}
	for name, tt := range tests {
		_, err := DecodeApproval(tt.in)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", name, err, tt.want)
		}
	}
	if _, err := (Approval{Decision: 9}).Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("encode of an unknown decision: %v", err)
	}
}

func TestApprovalSignature(t *testing.T) {
	t.Parallel()
	device, other := newKey(t), newKey(t)
	a := sampleApproval()
	sig, err := SignApproval(device, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyApproval(&device.PublicKey, a, sig); err != nil {
		t.Fatalf("valid receipt: %v", err)
	}
	changed := map[string]func(*Approval){
		"request id":            func(a *Approval) { a.RequestID += "x" },
		"realm":                 func(a *Approval) { a.Realm = "master" },
		"client id":             func(a *Approval) { a.ClientID = "other" },
		"text":                  func(a *Approval) { a.Text = "Pay 1200.00 EUR to ACME GmbH?" },
		"authorization details": func(a *Approval) { a.AuthorizationDetails = a.AuthorizationDetails[1:] },
		"number":                func(a *Approval) { a.Number = "24" },
		"decision":              func(a *Approval) { a.Decision = Deny },
		"time":                  func(a *Approval) { a.Time++ },
		// Moving a byte between adjacent fields keeps the concatenation the same; the
		// length prefixes must tell them apart.
		"field boundary": func(a *Approval) { a.RequestID, a.Realm = a.RequestID+"d", "emo" },
	}
	for name, change := range changed {
		b := sampleApproval()
		change(&b)
		if err := VerifyApproval(&device.PublicKey, b, sig); !errors.Is(err, ErrSignature) {
			t.Errorf("changed %s: %v", name, err)
		}
	}
	if err := VerifyApproval(&other.PublicKey, a, sig); !errors.Is(err, ErrSignature) {
		t.Errorf("other device's key: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), newStream("p384"))
	if err := VerifyApproval(&p384.PublicKey, a, sig); !errors.Is(err, ErrSignature) {
		t.Errorf("P-384 key: %v", err)
	}
	for name, k := range map[string]*ecdsa.PublicKey{"nil key": nil, "empty key": {Curve: elliptic.P256()}} {
		if err := VerifyApproval(k, a, sig); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := SignApproval(p384, a); err == nil {
		t.Error("signed with a P-384 key")
	}
	for i := range sig {
		s := bytes.Clone(sig)
		s[i] ^= 0x10
		if VerifyApproval(&device.PublicKey, a, s) == nil {
			t.Fatalf("signature with byte %d changed verifies", i)
		}
	}
}
