package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-auth/signet/internal/store"
)

const signingKeyColumns = `realm, kid, alg, state, sealed, public_jwk, created_at, activated_at, retired_at`

// ListSigningKeys returns the realm's keys ordered by CreatedAt, then KID bytewise.
func (s *Store) ListSigningKeys(ctx context.Context, realm string) ([]store.SigningKey, error) {
	keys, err := listSigningKeys(ctx, s.pool, realm)
	if err != nil {
		return nil, wrapErr(ctx, err, "list signing keys of realm %q", realm)
	}
	return keys, nil
}

func listSigningKeys(ctx context.Context, db querier, realm string) ([]store.SigningKey, error) {
	return queryAll(ctx, db, scanSigningKey,
		`SELECT `+signingKeyColumns+` FROM signing_keys WHERE realm = $1 ORDER BY created_at, kid`, realm)
}

// UpdateSigningKeys replaces the realm's keys with the set fn returns, in one transaction
// that first locks the realm's row, so rotations of one realm queue across nodes. The
// lock is FOR NO KEY UPDATE: it excludes other rotations and realm updates, but not the
// KEY SHARE locks that inserting users, sessions and the like takes on the realm.
func (s *Store) UpdateSigningKeys(ctx context.Context, realm string, fn func([]store.SigningKey) ([]store.SigningKey, error)) ([]store.SigningKey, error) {
	return update(ctx, s, fmt.Sprintf("update signing keys of realm %q", realm),
		func(tx pgx.Tx) ([]store.SigningKey, error) {
			var name string
			if err := tx.QueryRow(ctx, `SELECT name FROM realms WHERE name = $1 FOR NO KEY UPDATE`, realm).Scan(&name); err != nil {
				return nil, err
			}
			return listSigningKeys(ctx, tx, realm)
		},
		func(old []store.SigningKey) ([]store.SigningKey, store.SigningKeyChanges, error) {
			return store.PrepareSigningKeys(realm, old, fn, s.now())
		},
		func(tx pgx.Tx, _ []store.SigningKey, changes store.SigningKeyChanges) error {
			for _, kid := range changes.Delete {
				if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE realm = $1 AND kid = $2`, realm, kid); err != nil {
					return err
				}
			}
			for _, k := range changes.Update {
				if _, err := tx.Exec(ctx, `UPDATE signing_keys SET alg = $1, state = $2, sealed = $3, public_jwk = $4,
					created_at = $5, activated_at = $6, retired_at = $7 WHERE realm = $8 AND kid = $9`,
					k.Alg, k.State, k.Sealed, k.PublicJWK, k.CreatedAt, tstz(k.ActivatedAt), tstz(k.RetiredAt),
					realm, k.KID); err != nil {
					return err
				}
			}
			for _, k := range changes.Insert {
				if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
					realm, k.KID, k.Alg, k.State, k.Sealed, k.PublicJWK, k.CreatedAt, tstz(k.ActivatedAt), tstz(k.RetiredAt)); err != nil {
					return err
				}
			}
			return nil
		})
}

// scanSigningKey reads one row of signingKeyColumns.
func scanSigningKey(row pgx.Row) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.Realm, &k.KID, &k.Alg, &k.State, &k.Sealed, &k.PublicJWK,
		pgTime{&k.CreatedAt}, pgTime{&k.ActivatedAt}, pgTime{&k.RetiredAt})
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.ScannedSigningKey(k), nil
}
