package sqlstore

import (
	"context"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

const signingKeyColumns = `realm, kid, alg, state, sealed, public_jwk, created_at, activated_at, retired_at`

// ListSigningKeys returns the realm's keys ordered by CreatedAt, then KID bytewise.
func (s *Store) ListSigningKeys(ctx context.Context, realm string) ([]store.SigningKey, error) {
	keys, err := s.listSigningKeys(ctx, s.reader, realm)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list signing keys of realm %q", realm)
	}
	return keys, nil
}

func (s *Store) listSigningKeys(ctx context.Context, db Querier, realm string) ([]store.SigningKey, error) {
	return queryAll(ctx, db, s.scanSigningKey,
		`SELECT `+signingKeyColumns+` FROM signing_keys WHERE realm = $1 ORDER BY created_at, kid`, realm)
}

// UpdateSigningKeys replaces the realm's keys with the set fn returns, in one transaction
// that first locks the realm's row (see update), so rotations of one realm queue across
// nodes. On PostgreSQL the lock is FOR NO KEY UPDATE: it excludes other rotations and
// realm updates, but not the KEY SHARE locks that inserting users, sessions and the like
// takes on the realm.
func (s *Store) UpdateSigningKeys(ctx context.Context, realm string, fn func([]store.SigningKey) ([]store.SigningKey, error)) ([]store.SigningKey, error) {
	return update(ctx, s, fmt.Sprintf("update signing keys of realm %q", realm),
		func(tx Tx) ([]store.SigningKey, error) {
			var name string
			if err := tx.QueryRow(ctx, `SELECT name FROM realms WHERE name = $1`+s.dialect.RowLock, realm).Scan(&name); err != nil {
				return nil, err
			}
			return s.listSigningKeys(ctx, tx, realm)
		},
		func(old []store.SigningKey) ([]store.SigningKey, store.SigningKeyChanges, error) {
			return store.PrepareSigningKeys(realm, old, fn, s.now())
		},
		func(tx Tx, _ []store.SigningKey, changes store.SigningKeyChanges) error {
			for _, kid := range changes.Delete {
				if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE realm = $1 AND kid = $2`, realm, kid); err != nil {
					return err
				}
			}
			for _, k := range changes.Update {
				if _, err := tx.Exec(ctx, `UPDATE signing_keys SET alg = $1, state = $2, sealed = $3, public_jwk = $4,
					created_at = $5, activated_at = $6, retired_at = $7 WHERE realm = $8 AND kid = $9`,
					k.Alg, k.State, k.Sealed, k.PublicJWK, s.timeValue(k.CreatedAt), s.timeValue(k.ActivatedAt), s.timeValue(k.RetiredAt),
					realm, k.KID); err != nil {
					return err
				}
			}
			for _, k := range changes.Insert {
				if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
					realm, k.KID, k.Alg, k.State, k.Sealed, k.PublicJWK, s.timeValue(k.CreatedAt), s.timeValue(k.ActivatedAt), s.timeValue(k.RetiredAt)); err != nil {
					return err
				}
			}
			return nil
		})
}

// scanSigningKey reads one row of signingKeyColumns.
func (s *Store) scanSigningKey(src Row) (store.SigningKey, error) {
	var k store.SigningKey
	err := src.Scan(&k.Realm, &k.KID, &k.Alg, &k.State, &k.Sealed, &k.PublicJWK,
		s.timeDest(&k.CreatedAt), s.timeDest(&k.ActivatedAt), s.timeDest(&k.RetiredAt))
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.ScannedSigningKey(k), nil
}
