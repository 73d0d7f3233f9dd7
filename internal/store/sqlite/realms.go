package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

const realmColumns = `name, display_name, enabled, attributes, created_at, updated_at, version`

// CreateRealm stores a new realm; ErrConflict if the name is taken.
func (s *Store) CreateRealm(ctx context.Context, r store.Realm) (store.Realm, error) {
	r, attrs, err := store.PrepareRealmCreate(r, s.now())
	if err != nil {
		return store.Realm{}, err
	}
	_, err = s.writer.ExecContext(ctx,
		`INSERT INTO realms (`+realmColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.DisplayName, r.Enabled, string(attrs), r.CreatedAt.UnixNano(), r.UpdatedAt.UnixNano(), r.Version)
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
	rows, err := s.reader.QueryContext(ctx,
		`SELECT `+realmColumns+` FROM realms WHERE name > ? ORDER BY name LIMIT ?`, after, limit+1)
	if err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	defer rows.Close()
	var realms []store.Realm
	for rows.Next() {
		r, err := scanRealm(rows)
		if err != nil {
			return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
		}
		realms = append(realms, r)
	}
	if err := rows.Err(); err != nil {
		return store.Page[store.Realm]{}, wrapErr(ctx, err, "list realms")
	}
	return store.NewPage("realm", realms, limit, func(r store.Realm) string { return r.Name }), nil
}

// UpdateRealm applies fn to the current realm inside one write transaction. fn runs while
// the single writer connection is held, so it must not write through this store.
func (s *Store) UpdateRealm(ctx context.Context, name string, fn func(store.Realm) (store.Realm, error)) (store.Realm, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	defer tx.Rollback() // a no-op after Commit

	old, err := scanRealm(tx.QueryRowContext(ctx, `SELECT `+realmColumns+` FROM realms WHERE name = ?`, name))
	if err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	next, attrs, err := store.PrepareRealmUpdate(old, fn, s.now())
	if err != nil {
		return store.Realm{}, err // fn's error unchanged, or an ErrInvalid that names the realm
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE realms SET display_name = ?, enabled = ?, attributes = ?, updated_at = ?, version = ? WHERE name = ?`,
		next.DisplayName, next.Enabled, string(attrs), next.UpdatedAt.UnixNano(), next.Version, name); err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	if err := tx.Commit(); err != nil {
		return store.Realm{}, wrapErr(ctx, err, "update realm %q", name)
	}
	return next, nil
}

// DeleteRealm removes the realm or returns ErrNotFound.
func (s *Store) DeleteRealm(ctx context.Context, name string) error {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM realms WHERE name = ?`, name)
	if err != nil {
		return wrapErr(ctx, err, "delete realm %q", name)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrapErr(ctx, err, "delete realm %q", name)
	}
	if n == 0 {
		return fmt.Errorf("delete realm %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// scanRealm reads one row of realmColumns; sql.ErrNoRows becomes store.ErrNotFound.
func scanRealm(row interface{ Scan(...any) error }) (store.Realm, error) {
	var (
		r                store.Realm
		attrs            []byte
		created, updated int64
	)
	err := row.Scan(&r.Name, &r.DisplayName, &r.Enabled, &attrs, &created, &updated, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Realm{}, store.ErrNotFound
	}
	if err != nil {
		return store.Realm{}, err
	}
	r.CreatedAt, r.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
	return store.ScannedRealm(r, attrs)
}
