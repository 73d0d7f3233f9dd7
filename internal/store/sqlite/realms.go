package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

const realmColumns = `name, display_name, enabled, attributes, created_at, updated_at, version`

// CreateRealm stores a new realm; ErrConflict if the name is taken.
func (s *Store) CreateRealm(ctx context.Context, r store.Realm) (store.Realm, error) {
	r, attrs, err := store.PrepareCreate(r, s.now())
	if err != nil {
		return store.Realm{}, err
	}
	_, err = s.writer.ExecContext(ctx,
		`INSERT INTO realms (`+realmColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.DisplayName, r.Enabled, string(attrs), nanos(r.CreatedAt), nanos(r.UpdatedAt), r.Version)
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "create realm %q", r.Name)
	}
	return r, nil
}

// GetRealm returns the realm or ErrNotFound.
func (s *Store) GetRealm(ctx context.Context, name string) (store.Realm, error) {
	row := s.reader.QueryRowContext(ctx, `SELECT `+realmColumns+` FROM realms WHERE name = ?`, name)
	r, err := scanRealm(row)
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "get realm %q", name)
	}
	return r, nil
}

// ListRealms returns realms ordered by name.
func (s *Store) ListRealms(ctx context.Context, opts store.ListOptions) (store.Page[store.Realm], error) {
	after, limit, err := store.PageRequest("realm", opts)
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	realms, err := queryAll(ctx, s.reader, scanRealm,
		`SELECT `+realmColumns+` FROM realms WHERE name > ? ORDER BY name LIMIT ?`, after, limit+1)
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	return store.NewPage("realm", realms, limit, func(r store.Realm) string { return r.Name }), nil
}

// UpdateRealm applies fn to the current realm inside one write transaction. fn runs while
// the single writer connection is held, so it must not write through this store.
func (s *Store) UpdateRealm(ctx context.Context, name string, fn func(store.Realm) (store.Realm, error)) (store.Realm, error) {
	return update(ctx, s, fmt.Sprintf("update realm %q", name),
		func(tx *sql.Tx) (store.Realm, error) {
			return scanRealm(tx.QueryRowContext(ctx, `SELECT `+realmColumns+` FROM realms WHERE name = ?`, name))
		},
		func(old store.Realm) (store.Realm, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx *sql.Tx, r store.Realm, attrs []byte) error {
			_, err := tx.ExecContext(ctx,
				`UPDATE realms SET display_name = ?, enabled = ?, attributes = ?, updated_at = ?, version = ? WHERE name = ?`,
				r.DisplayName, r.Enabled, string(attrs), nanos(r.UpdatedAt), r.Version, name)
			return err
		})
}

// DeleteRealm removes the realm, and everything in it, or returns ErrNotFound.
func (s *Store) DeleteRealm(ctx context.Context, name string) error {
	return s.deleteOne(ctx, fmt.Sprintf("delete realm %q", name), `DELETE FROM realms WHERE name = ?`, name)
}

// scanRealm reads one row of realmColumns.
func scanRealm(src row) (store.Realm, error) {
	var (
		r     store.Realm
		attrs []byte
	)
	err := src.Scan(&r.Name, &r.DisplayName, &r.Enabled, &attrs, nanoTime{&r.CreatedAt}, nanoTime{&r.UpdatedAt}, &r.Version)
	if err != nil {
		return store.Realm{}, err
	}
	return store.Scanned(r, attrs)
}
