package device

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
)

// Sealer seals and opens secrets at rest (keys.Keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// LoadChannelKeys opens the channel keys the store holds, making the first one when
// there is none (nodes starting together agree: the store keeps the first one made).
// The current key, the newest that is not retired, comes first.
func LoadChannelKeys(ctx context.Context, st store.Store, ring Sealer) ([]crypto.Signer, error) {
	stored, err := st.ListChannelKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		if err := createChannelKey(ctx, st, ring); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		if stored, err = st.ListChannelKeys(ctx); err != nil {
			return nil, err
		}
	}
	var current, retired []crypto.Signer
	for i := len(stored) - 1; i >= 0; i-- {
		k := stored[i]
		scalar, err := ring.Open(k.Sealed, channelKeyAAD(k.ID))
		if err != nil {
			return nil, fmt.Errorf("open channel key %s: %w", k.ID, err)
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
		if err != nil {
			return nil, fmt.Errorf("channel key %s: %w", k.ID, err)
		}
		if k.RetiredAt.IsZero() {
			current = append(current, priv)
		} else {
			retired = append(retired, priv)
		}
	}
	if len(current) == 0 {
		return nil, errors.New("every channel key is retired")
	}
	return append(current, retired...), nil
}

func createChannelKey(ctx context.Context, st store.Store, ring Sealer) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	scalar, err := priv.Bytes()
	if err != nil {
		return err
	}
	id := FingerprintID(&priv.PublicKey)
	sealed, err := ring.Seal(scalar, channelKeyAAD(id))
	if err != nil {
		return err
	}
	_, err = st.CreateChannelKey(ctx, store.ChannelKey{ID: id, Sealed: sealed})
	return err
}

// channelKeyAAD binds a sealed channel key to its id.
func channelKeyAAD(id string) []byte { return []byte("signet device channel key " + id) }

// FingerprintID is a channel key's fingerprint in base64url, as the QR payload and the
// store name it.
func FingerprintID(pub *ecdsa.PublicKey) string {
	fp := sigma.Fingerprint(pub)
	return base64.RawURLEncoding.EncodeToString(fp[:])
}
