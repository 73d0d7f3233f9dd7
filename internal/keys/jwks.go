package keys

import jose "github.com/go-jose/go-jose/v4"

// PublicJWK returns the public half of k as a JWK with "use":"sig", "alg" and "kid"
// (RFC 7517 §4). It never carries private members.
func PublicJWK(k *Key) jose.JSONWebKey {
	return jose.JSONWebKey{
		Key:       k.Private.Public(),
		KeyID:     k.KID,
		Algorithm: string(k.Alg),
		Use:       "sig",
	}
}

// JWKS returns the public JWK set of keys, in the given order (the certs endpoint
// serves Published, which puts the active keys first).
func JWKS(keys []*Key) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, PublicJWK(k))
	}
	return set
}
