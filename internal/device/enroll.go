package device

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma/message"
)

// codeEncoding writes activation codes: 16 random bytes as 26 base32 characters, which
// survive being read aloud or typed (no padding, case-insensitive on input).
var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Activation is a created activation code: the code itself is only ever here, shown
// once; the store keeps its keyed hash.
type Activation struct {
	store.ActivationCode
	Code string
	// URL is the QR payload: the DEVICE public URL, realm, code and the fingerprint of
	// the channel key the app pins.
	URL string
}

// ActivationRequest is what an administrator or the API asks for.
type ActivationRequest struct {
	Realm, UserID string
	TTL           time.Duration // 0: DefaultActivationTTL
	Actor         string
}

// CreateActivation makes a one-time activation code for a user of realm.
func (s *Server) CreateActivation(ctx context.Context, publicURL string, req ActivationRequest) (Activation, error) {
	return CreateActivation(ctx, s.cfg.Store, s.cfg.Pepper, s.Fingerprint(), publicURL, s.cfg.Now(), req)
}

// CreateActivation makes a one-time activation code; nodes without the device role use
// it with the channel key's fingerprint read from the store.
func CreateActivation(ctx context.Context, st store.Store, pepper []byte, fp [32]byte, publicURL string, now time.Time, req ActivationRequest) (Activation, error) {
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultActivationTTL
	}
	if ttl < MinActivationTTL || ttl > MaxActivationTTL {
		return Activation{}, fmt.Errorf("%w: the lifetime must be between 1 minute and 24 hours", store.ErrInvalid)
	}
	u, err := st.GetUser(ctx, req.Realm, req.UserID)
	if err != nil {
		return Activation{}, err
	}
	if !u.Enabled || now.Before(u.LockedUntil) {
		return Activation{}, fmt.Errorf("%w: the user is disabled or locked", store.ErrInvalid)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	code := codeEncoding.EncodeToString(raw[:])
	ac, err := st.CreateActivationCode(ctx, store.ActivationCode{
		Realm: req.Realm, ID: newID(), CodeHash: codeHash(pepper, code), UserID: u.ID, CreatedBy: req.Actor,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}, store.Audit{Actor: req.Actor, Action: "activation_created"})
	if err != nil {
		return Activation{}, err
	}
	return Activation{ActivationCode: ac, Code: code, URL: ActivationURL(publicURL, req.Realm, code, fp)}, nil
}

// ActivationURL is the QR payload. Realm, code and fingerprint travel in the fragment,
// which no browser sends to a server, so a scanned code opened by a browser reaches no log.
func ActivationURL(publicURL, realm, code string, fp [32]byte) string {
	v := url.Values{}
	v.Set("realm", realm)
	v.Set("code", code)
	v.Set("fp", base64.RawURLEncoding.EncodeToString(fp[:]))
	return strings.TrimSuffix(publicURL, "/") + "/enroll#" + v.Encode()
}

// codeHash is the keyed hash under which a code is stored: HMAC-SHA256 under the
// pepper of the code in upper case, so a code typed in lower case redeems too.
func codeHash(pepper []byte, code string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(strings.ToUpper(strings.TrimSpace(code))))
	return m.Sum(nil)
}

// enroll redeems an activation code over an enrollment session.
func (c *conn) enroll(ctx context.Context, in *message.Envelope) (*message.Envelope, string, string) {
	s := c.srv
	if ok, err := s.allow(ctx, "enroll", c.ip, s.cfg.EnrollmentsPerIP); !ok {
		if err != nil {
			return nil, message.ErrCodeUnavailable, "try again later"
		}
		return nil, message.ErrCodeRateLimited, "too many enrollment attempts; try again later"
	}
	if in.Realm == "" || len(in.Code) != 26 {
		return nil, message.ErrCodeCodeInvalid, "the activation code is malformed"
	}
	if _, err := codeEncoding.DecodeString(strings.ToUpper(in.Code)); err != nil {
		return nil, message.ErrCodeCodeInvalid, "the activation code is malformed"
	}
	if utf8.RuneCountInString(in.DisplayName) > 100 || len(in.PushToken) > 4096 || len(in.Platform) > 64 || len(in.AppVersion) > 64 || len(in.PushProvider) > 32 {
		return nil, message.ErrCodeBadRequest, "a field is too long"
	}
	for _, f := range []string{in.DisplayName, in.Platform, in.AppVersion, in.PushProvider, in.PushToken} {
		if !printable(f) {
			return nil, message.ErrCodeBadRequest, "a field holds control characters or is not UTF-8"
		}
	}
	name := in.DisplayName
	if name == "" {
		name = orKeep(in.Platform, "device")
	}
	realm, err := s.cfg.Store.GetRealm(ctx, in.Realm)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		return nil, message.ErrCodeCodeRealm, "the activation code does not belong to this realm"
	case err != nil:
		return nil, message.ErrCodeUnavailable, "try again later"
	}
	point := pointBytes(c.enrollKey)
	d, err := s.cfg.Store.EnrollDevice(ctx, in.Realm, codeHash(s.cfg.Pepper, in.Code), s.cfg.Now(), MaxDevices(realm),
		store.Device{
			ID: newID(), PublicKey: point, DisplayName: name, Platform: in.Platform, AppVersion: in.AppVersion,
			PushProvider: in.PushProvider, PushToken: in.PushToken, State: store.DeviceActive,
			CreatedAt: s.cfg.Now(), LastSeenAt: s.cfg.Now(),
		}, store.Audit{Actor: "device", Action: "enrolled"})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, message.ErrCodeCodeInvalid, "the activation code is not valid"
	case errors.Is(err, store.ErrActivationRedeemed):
		return nil, message.ErrCodeCodeUsed, "the activation code was used already"
	case errors.Is(err, store.ErrActivationExpired):
		return nil, message.ErrCodeCodeExpired, "the activation code has expired"
	case errors.Is(err, store.ErrActivationRealm):
		return nil, message.ErrCodeCodeRealm, "the activation code does not belong to this realm"
	case errors.Is(err, store.ErrUserInactive):
		return nil, message.ErrCodeUserDisabled, "the user is disabled or locked"
	case errors.Is(err, store.ErrDeviceLimit):
		return nil, message.ErrCodeDeviceLimit, "the user has the most devices this realm allows"
	case errors.Is(err, store.ErrConflict):
		return nil, message.ErrCodeNotAllowed, "this device key is enrolled already"
	case err != nil:
		return nil, message.ErrCodeUnavailable, "the device could not be enrolled"
	}
	u, err := s.activeUser(ctx, d.Realm, d.UserID)
	if err != nil {
		return nil, message.ErrCodeUserDisabled, "the user is disabled or locked"
	}
	c.enrollKey, c.enrollUntil = nil, time.Time{}
	if !c.adopt(d, u) {
		return nil, message.ErrCodeUnavailable, "the session has ended"
	}
	return &message.Envelope{Device: c.info()}, "", ""
}

// printable reports whether s is UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return true
}

// MaxDevices is the realm's limit of devices per user that are not revoked.
func MaxDevices(r store.Realm) int {
	if v, err := strconv.Atoi(r.Attributes[AttrMaxDevices]); err == nil && v > 0 {
		return v
	}
	return DefaultMaxDevices
}

// AttrMaxDevices is the reserved realm attribute the realm setting
// device_max_per_user is kept in.
const AttrMaxDevices = "signet.device_max_per_user"

// newID is a random 128-bit id in lower-case hex (32 characters): ids are typed on
// command lines, where base64url's leading '-' would read as a flag.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return encodeID(b)
}

func encodeID(id [16]byte) string { return hex.EncodeToString(id[:]) }

// decodeIDOrZero reads an id made by encodeID; anything else is the zero id, which no
// device has.
func decodeIDOrZero(s string) [16]byte {
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err == nil && len(b) == 16 {
		copy(id[:], b)
	}
	return id
}

// parsePoint reads an uncompressed P-256 point into an ECDSA public key.
func parsePoint(b []byte) (*ecdsa.PublicKey, error) {
	if _, err := ecdh.P256().NewPublicKey(b); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
}

func pointBytes(pub *ecdsa.PublicKey) []byte {
	b, _ := pub.Bytes()
	return b
}

func publicP256(signer crypto.Signer) (*ecdsa.PublicKey, bool) {
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	return pub, ok
}
