package apns

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// TokenLifetime is how long one provider token is reused. "Establishing a token-based
// connection to APNs": refresh no more often than every 20 minutes
// (TooManyProviderTokenUpdates) and no less often than every 60 (ExpiredProviderToken);
// 50 leaves room for clock skew.
const TokenLifetime = 50 * time.Minute

// providerToken mints and caches the ES256 JWT that authenticates every request. All
// sends of a Sender share one.
type providerToken struct {
	key    *ecdsa.PrivateKey
	keyID  string
	teamID string
	now    func() time.Time

	mu     sync.Mutex
	jwt    string
	issued time.Time
}

// get returns the current token, minting one when there is none or it is TokenLifetime
// old.
func (p *providerToken) get() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if age := p.now().Sub(p.issued); p.jwt != "" && age >= 0 && age < TokenLifetime {
		return p.jwt, nil
	}
	return p.mint()
}

// refresh replaces stale, which APNs called expired, unless another send already has.
func (p *providerToken) refresh(stale string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jwt != stale && p.jwt != "" {
		return p.jwt, nil
	}
	return p.mint()
}

// mint signs a new token. Called with p.mu held.
func (p *providerToken) mint() (string, error) {
	now := p.now()
	// "Establishing a token-based connection to APNs": header {alg: ES256, kid},
	// claims {iss: team id, iat: seconds since the epoch}.
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"ES256", p.keyID})
	if err != nil {
		return "", fmt.Errorf("apns: provider token header: %w", err)
	}
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
	}{p.teamID, now.Unix()})
	if err != nil {
		return "", fmt.Errorf("apns: provider token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("apns: sign provider token: %w", err)
	}
	// RFC 7518 §3.4: an ES256 signature is R and S, 32 bytes each, big-endian.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	p.jwt = input + "." + enc.EncodeToString(sig)
	p.issued = now
	return p.jwt, nil
}
