package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-auth/signet/internal/store"
)

const realmColumns = `name, display_name, enabled, attributes, created_at, updated_at, version`

// CreateRealm stores a new realm; ErrConflict if the name is taken.
func (s *Store) CreateRealm(ctx context.Context, r store.Realm) (store.Realm, error) {
	r, attrs, err := store.PrepareRealmCreate(r, s.now())
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
	rows, err := s.pool.Query(ctx,
		`SELECT `+realmColumns+` FROM realms WHERE name > $1 ORDER BY name LIMIT $2`, after, limit+1)
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	realms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Realm, error) { return scanRealm(row) })
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	return store.NewPage("realm", realms, limit, func(r store.Realm) string { return r.Name }), nil
}

// UpdateRealm applies fn to the current realm in a transaction that holds the row lock
// (SELECT ... FOR UPDATE), so concurrent updates on any node queue and none is lost.
func (s *Store) UpdateRealm(ctx context.Context, name string, fn func(store.Realm) (store.Realm, error)) (store.Realm, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit

	old, err := scanRealm(tx.QueryRow(ctx, `SELECT `+realmColumns+` FROM realms WHERE name = $1 FOR UPDATE`, name))
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	next, attrs, err := store.PrepareRealmUpdate(old, fn, s.now())
	if err != nil {
		return store.Realm{}, err // fn's error unchanged, or an ErrInvalid that names the realm
	}
	if _, err := tx.Exec(ctx,
		`UPDATE realms SET display_name = $1, enabled = $2, attributes = $3, updated_at = $4, version = $5 WHERE name = $6`,
		next.DisplayName, next.Enabled, string(attrs), next.UpdatedAt, next.Version, name); err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	return next, nil
}

// DeleteRealm removes the realm or returns ErrNotFound.
func (s *Store) DeleteRealm(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM realms WHERE name = $1`, name)
	if err != nil {
		return wrapErr(ctx, err, "delete realm %q", name)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete realm %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// scanRealm reads one row of realmColumns; pgx.ErrNoRows becomes store.ErrNotFound.
func scanRealm(row pgx.Row) (store.Realm, error) {
	var (
		r     store.Realm
		attrs []byte
	)
	err := row.Scan(&r.Name, &r.DisplayName, &r.Enabled, &attrs, &r.CreatedAt, &r.UpdatedAt, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Realm{}, store.ErrNotFound
	}
	if err != nil {
		return store.Realm{}, err
	}
	return store.ScannedRealm(r, attrs)
}
