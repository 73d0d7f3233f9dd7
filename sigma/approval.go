package sigma

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// Decision is what the user chose.
type Decision byte

// The decisions; any other value is refused by Encode and DecodeApproval.
const (
	Approve Decision = 0x01
	Deny    Decision = 0x02
)

// Approval is the statement a device signs when the user decides on a request. Its
// canonical encoding (Encode, specified byte by byte in docs/device-protocol.md) is what
// the signature covers, so a business application can verify a stored receipt later
// with nothing but the device's public key.
type Approval struct {
	RequestID            string
	Realm                string
	ClientID             string
	Text                 string // what the device showed the user
	AuthorizationDetails []byte // RFC 9396 authorization_details JSON as shown, or empty
	Number               string // the number-matching value shown, or empty
	Decision             Decision
	Time                 int64 // when the user decided, in seconds since the Unix epoch
}

// approvalLabel separates approval signatures from every other use of a device key.
const approvalLabel = "signet approval\x00"

const approvalVersion byte = 1

// Encode returns the canonical encoding: label, version, the six variable fields each
// as a 4-byte big-endian length and its bytes, the decision byte, and the time as a
// big-endian two's-complement int64.
func (a Approval) Encode() ([]byte, error) {
	if a.Decision != Approve && a.Decision != Deny {
		return nil, fmt.Errorf("approval decision %#x: %w", byte(a.Decision), ErrMalformed)
	}
	fields := [...][]byte{[]byte(a.RequestID), []byte(a.Realm), []byte(a.ClientID), []byte(a.Text), a.AuthorizationDetails, []byte(a.Number)}
	size := len(approvalLabel) + 1 + 1 + 8
	for _, f := range fields {
		if uint64(len(f)) > math.MaxUint32 {
			return nil, fmt.Errorf("approval field of %d bytes: %w", len(f), ErrTooLarge)
		}
		size += 4 + len(f)
	}
	b := make([]byte, 0, size)
	b = append(b, approvalLabel...)
	b = append(b, approvalVersion)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	b = append(b, byte(a.Decision))
	return binary.BigEndian.AppendUint64(b, uint64(a.Time)), nil
}

// DecodeApproval parses a canonical encoding strictly: wrong label or version, a length
// past the end, an unknown decision or trailing bytes is ErrMalformed.
func DecodeApproval(b []byte) (Approval, error) {
	var a Approval
	if len(b) < len(approvalLabel)+1 || string(b[:len(approvalLabel)]) != approvalLabel {
		return a, fmt.Errorf("approval label: %w", ErrMalformed)
	}
	if v := b[len(approvalLabel)]; v != approvalVersion {
		return a, fmt.Errorf("approval encoding version %d: %w", v, ErrVersion)
	}
	rest := b[len(approvalLabel)+1:]
	field := func() []byte {
		if len(rest) < 4 || uint64(len(rest)-4) < uint64(binary.BigEndian.Uint32(rest)) {
			rest = nil
			return nil
		}
		n := 4 + int(binary.BigEndian.Uint32(rest))
		f := rest[4:n]
		rest = rest[n:]
		return f
	}
	a.RequestID = string(field())
	a.Realm = string(field())
	a.ClientID = string(field())
	a.Text = string(field())
	if d := field(); len(d) > 0 {
		a.AuthorizationDetails = append([]byte(nil), d...)
	}
	a.Number = string(field())
	if len(rest) != 1+8 {
		return Approval{}, fmt.Errorf("approval fields: %w", ErrMalformed)
	}
	a.Decision = Decision(rest[0])
	if a.Decision != Approve && a.Decision != Deny {
		return Approval{}, fmt.Errorf("approval decision %#x: %w", rest[0], ErrMalformed)
	}
	a.Time = int64(binary.BigEndian.Uint64(rest[1:]))
	return a, nil
}

// SignApproval signs a's canonical encoding with the device key: ECDSA P-256 over
// SHA-256, an ASN.1 DER signature.
func SignApproval(signer crypto.Signer, a Approval) ([]byte, error) {
	if signer == nil {
		return nil, fmt.Errorf("sigma: sign approval: nil signer")
	}
	if _, _, err := p256Key(signer.Public()); err != nil {
		return nil, fmt.Errorf("sigma: sign approval: %w", err)
	}
	enc, err := a.Encode()
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(enc)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sigma: sign approval: %w", err)
	}
	return sig, nil
}

// VerifyApproval checks sig over a's canonical encoding under the device key pub; a
// signature that does not verify is ErrSignature.
func VerifyApproval(pub *ecdsa.PublicKey, a Approval, sig []byte) error {
	if !verifiable(pub) {
		return fmt.Errorf("verify approval: not an ECDSA P-256 key: %w", ErrSignature)
	}
	enc, err := a.Encode()
	if err != nil {
		return err
	}
	digest := sha256.Sum256(enc)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return fmt.Errorf("verify approval: %w", ErrSignature)
	}
	return nil
}
