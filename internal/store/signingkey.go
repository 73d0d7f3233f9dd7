package store

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"time"
)

// signingKeyStates are the values of SigningKey.State.
var signingKeyStates = []string{"next", "active", "retired"}

// Validate reports whether k may be stored: it has a KID, a known State and times every
// back end can store. The error wraps ErrInvalid.
func (k SigningKey) Validate() error {
	key := recordKey("signing key", k.Realm, k.KID)
	if k.KID == "" {
		return invalid(key, "KID is empty")
	}
	if !slices.Contains(signingKeyStates, k.State) {
		return invalid(key, "state %q is not one of %s", k.State, strings.Join(signingKeyStates, ", "))
	}
	return checkTimes(key, k.CreatedAt, k.ActivatedAt, k.RetiredAt)
}

func (k *SigningKey) normalize() {
	k.Sealed = cloneBytes(k.Sealed)
	k.PublicJWK = cloneBytes(k.PublicJWK)
	timestamps(&k.CreatedAt, &k.ActivatedAt, &k.RetiredAt)
}

func (k SigningKey) equal(o SigningKey) bool {
	return k.Realm == o.Realm && k.KID == o.KID && k.Alg == o.Alg && k.State == o.State &&
		bytes.Equal(k.Sealed, o.Sealed) && bytes.Equal(k.PublicJWK, o.PublicJWK) &&
		k.CreatedAt.Equal(o.CreatedAt) && k.ActivatedAt.Equal(o.ActivatedAt) && k.RetiredAt.Equal(o.RetiredAt)
}

// compareSigningKeys is the order of ListSigningKeys: CreatedAt, then KID bytewise.
func compareSigningKeys(a, b SigningKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.KID, b.KID))
}

// SigningKeyChanges are the writes that take a realm's stored signing keys to a new set.
type SigningKeyChanges struct {
	Insert []SigningKey
	Update []SigningKey
	Delete []string // KIDs
}

// PrepareSigningKeys applies fn to old, the realm's stored keys, and returns the set to
// store, ordered as ListSigningKeys orders it, and the changes that take old to it by
// KID. fn gets its own copy of old, so it may change the keys in place. A key fn returns
// with an empty Realm is given realm; a zero CreatedAt becomes the stored one for a kept
// key and now for a new one. An error from fn comes back unchanged; a key of another
// realm, an invalid key or a KID held by two keys is ErrInvalid.
func PrepareSigningKeys(realm string, old []SigningKey, fn func([]SigningKey) ([]SigningKey, error), now time.Time) ([]SigningKey, SigningKeyChanges, error) {
	arg := make([]SigningKey, len(old))
	stored := make(map[string]SigningKey, len(old))
	for i, k := range old {
		k.normalize() // a deep copy: fn's changes must not reach the keys it is diffed against
		arg[i], stored[k.KID] = k, k
	}
	returned, err := fn(arg)
	if err != nil {
		return nil, SigningKeyChanges{}, err
	}
	now = Timestamp(now)
	keys := make([]SigningKey, 0, len(returned))
	kept := make(map[string]bool, len(returned))
	var changes SigningKeyChanges
	for _, k := range returned {
		if k.Realm == "" {
			k.Realm = realm
		}
		key := recordKey("signing key", k.Realm, k.KID)
		if k.Realm != realm {
			return nil, SigningKeyChanges{}, invalid(key, "returned by an update of realm %q", realm)
		}
		if kept[k.KID] {
			return nil, SigningKeyChanges{}, invalid(key, "KID appears twice in the set")
		}
		kept[k.KID] = true
		k.normalize()
		prev, exists := stored[k.KID]
		if k.CreatedAt.IsZero() {
			k.CreatedAt = now
			if exists {
				k.CreatedAt = prev.CreatedAt
			}
		}
		if err := k.Validate(); err != nil {
			return nil, SigningKeyChanges{}, err
		}
		switch {
		case !exists:
			changes.Insert = append(changes.Insert, k)
		case !k.equal(prev):
			changes.Update = append(changes.Update, k)
		}
		keys = append(keys, k)
	}
	for _, k := range old {
		if !kept[k.KID] {
			changes.Delete = append(changes.Delete, k.KID)
		}
	}
	slices.SortFunc(keys, compareSigningKeys)
	return keys, changes, nil
}

// ScannedSigningKey completes a key a back end has read from a row: byte slices nil when
// empty, times in UTC.
func ScannedSigningKey(k SigningKey) SigningKey {
	k.normalize()
	return k
}
