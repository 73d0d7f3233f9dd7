package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

const signingKeyColumns = `realm, kid, alg, state, sealed, public_jwk, created_at, activated_at, retired_at`

// ListSigningKeys returns the realm's keys ordered by CreatedAt, then KID.
func (s *Store) ListSigningKeys(ctx context.Context, realm string) ([]store.SigningKey, error) {
	keys, err := listSigningKeys(ctx, s.reader, realm)
	if err != nil {
		return nil, wrapErr(ctx, err, "list signing keys of realm %q", realm)
	}
	return keys, nil
}

func listSigningKeys(ctx context.Context, db querier, realm string) ([]store.SigningKey, error) {
	return queryAll(ctx, db, scanSigningKey,
		`SELECT `+signingKeyColumns+` FROM signing_keys WHERE realm = ? ORDER BY created_at, kid`, realm)
}

// UpdateSigningKeys replaces the realm's keys with the set fn returns, in one write
// transaction; the single writer serializes it with every other write to the file.
func (s *Store) UpdateSigningKeys(ctx context.Context, realm string, fn func([]store.SigningKey) ([]store.SigningKey, error)) ([]store.SigningKey, error) {
	return update(ctx, s, fmt.Sprintf("update signing keys of realm %q", realm),
		func(tx *sql.Tx) ([]store.SigningKey, error) {
			var name string
			if err := tx.QueryRowContext(ctx, `SELECT name FROM realms WHERE name = ?`, realm).Scan(&name); err != nil {
				return nil, err
			}
			return listSigningKeys(ctx, tx, realm)
		},
		func(old []store.SigningKey) ([]store.SigningKey, store.SigningKeyChanges, error) {
			return store.PrepareSigningKeys(realm, old, fn, s.now())
		},
		func(tx *sql.Tx, _ []store.SigningKey, changes store.SigningKeyChanges) error {
			for _, kid := range changes.Delete {
				if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE realm = ? AND kid = ?`, realm, kid); err != nil {
					return err
				}
			}
			for _, k := range changes.Update {
				if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET alg = ?, state = ?, sealed = ?, public_jwk = ?,
					created_at = ?, activated_at = ?, retired_at = ? WHERE realm = ? AND kid = ?`,
					k.Alg, k.State, k.Sealed, k.PublicJWK, nanos(k.CreatedAt), nanos(k.ActivatedAt), nanos(k.RetiredAt),
					realm, k.KID); err != nil {
					return err
				}
			}
			for _, k := range changes.Insert {
				if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					realm, k.KID, k.Alg, k.State, k.Sealed, k.PublicJWK, nanos(k.CreatedAt), nanos(k.ActivatedAt), nanos(k.RetiredAt)); err != nil {
					return err
				}
			}
			return nil
		})
}

// scanSigningKey reads one row of signingKeyColumns.
func scanSigningKey(src row) (store.SigningKey, error) {
	var k store.SigningKey
	err := src.Scan(&k.Realm, &k.KID, &k.Alg, &k.State, &k.Sealed, &k.PublicJWK,
		nanoTime{&k.CreatedAt}, nanoTime{&k.ActivatedAt}, nanoTime{&k.RetiredAt})
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.ScannedSigningKey(k), nil
}
