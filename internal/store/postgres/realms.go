package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-auth/signet/internal/store"
)

const realmColumns = `name, display_name, enabled, attributes, created_at, updated_at, version`

// CreateRealm stores a new realm; ErrConflict if the name is taken.
func (s *Store) CreateRealm(ctx context.Context, r store.Realm) (store.Realm, error) {
	r, attrs, err := store.PrepareCreate(r, s.now())
	if err != nil {
		return store.Realm{}, err
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO realms (`+realmColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.Name, r.DisplayName, r.Enabled, string(attrs), r.CreatedAt, r.UpdatedAt, r.Version)
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "create realm %q", r.Name)
	}
	return r, nil
}

// GetRealm returns the realm or ErrNotFound.
func (s *Store) GetRealm(ctx context.Context, name string) (store.Realm, error) {
	r, err := scanRealm(s.pool.QueryRow(ctx, `SELECT `+realmColumns+` FROM realms WHERE name = $1`, name))
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "get realm %q", name)
	}
	return r, nil
}

// ListRealms returns realms ordered by name, bytewise.
func (s *Store) ListRealms(ctx context.Context, opts store.ListOptions) (store.Page[store.Realm], error) {
	after, limit, err := store.PageRequest("realm", opts)
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	realms, err := queryAll(ctx, s.pool, scanRealm,
		`SELECT `+realmColumns+` FROM realms WHERE name > $1 ORDER BY name LIMIT $2`, after, limit+1)
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	return store.NewPage("realm", realms, limit, func(r store.Realm) string { return r.Name }), nil
}

// UpdateRealm applies fn to the current realm in a transaction that holds the row lock.
func (s *Store) UpdateRealm(ctx context.Context, name string, fn func(store.Realm) (store.Realm, error)) (store.Realm, error) {
	return update(ctx, s, fmt.Sprintf("update realm %q", name),
		func(tx pgx.Tx) (store.Realm, error) {
			return scanRealm(tx.QueryRow(ctx, `SELECT `+realmColumns+` FROM realms WHERE name = $1 FOR NO KEY UPDATE`, name))
		},
		func(old store.Realm) (store.Realm, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx pgx.Tx, r store.Realm, attrs []byte) error {
			_, err := tx.Exec(ctx,
				`UPDATE realms SET display_name = $1, enabled = $2, attributes = $3, updated_at = $4, version = $5 WHERE name = $6`,
				r.DisplayName, r.Enabled, string(attrs), r.UpdatedAt, r.Version, name)
			return err
		})
}

// DeleteRealm removes the realm, and everything in it, or returns ErrNotFound.
func (s *Store) DeleteRealm(ctx context.Context, name string) error {
	return s.deleteOne(ctx, fmt.Sprintf("delete realm %q", name), `DELETE FROM realms WHERE name = $1`, name)
}

// scanRealm reads one row of realmColumns.
func scanRealm(row pgx.Row) (store.Realm, error) {
	var (
		r     store.Realm
		attrs []byte
	)
	err := row.Scan(&r.Name, &r.DisplayName, &r.Enabled, &attrs, &r.CreatedAt, &r.UpdatedAt, &r.Version)
	if err != nil {
		return store.Realm{}, err
	}
	return store.Scanned(r, attrs)
}
