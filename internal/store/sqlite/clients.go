package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

const clientColumns = `realm, client_id, secret_hash, registration_token_hash, jwks, data, created_at, updated_at, version`

// CreateClient stores a new client; ErrConflict if the client_id is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) (store.Client, error) {
	c, data, err := store.PrepareCreate(c, s.now())
	if err != nil {
		return store.Client{}, err
	}
	_, err = s.writer.ExecContext(ctx,
		`INSERT INTO clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Realm, c.ID, c.SecretHash, c.RegistrationTokenHash, c.JWKS, string(data), nanos(c.CreatedAt), nanos(c.UpdatedAt), c.Version)
	if err != nil {
		return store.Client{}, wrapErr(ctx, err, "create client %q in realm %q", c.ID, c.Realm)
	}
	return c, nil
}

// GetClient returns the client or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, realm, id string) (store.Client, error) {
	c, err := scanClient(s.reader.QueryRowContext(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE realm = ? AND client_id = ?`, realm, id))
	if err != nil {
		return store.Client{}, wrapErr(ctx, err, "get client %q in realm %q", id, realm)
	}
	return c, nil
}

// ListClients returns clients ordered by client_id.
func (s *Store) ListClients(ctx context.Context, realm string, opts store.ListOptions) (store.Page[store.Client], error) {
	after, limit, err := store.PageRequest("client", opts)
	if err != nil {
		return store.Page[store.Client]{}, wrapErr(ctx, err, "list clients in realm %q", realm)
	}
	clients, err := queryAll(ctx, s.reader, scanClient,
		`SELECT `+clientColumns+` FROM clients WHERE realm = ? AND client_id > ? ORDER BY client_id LIMIT ?`, realm, after, limit+1)
	if err != nil {
		return store.Page[store.Client]{}, wrapErr(ctx, err, "list clients in realm %q", realm)
	}
	return store.NewPage("client", clients, limit, func(c store.Client) string { return c.ID }), nil
}

// UpdateClient applies fn to the stored client inside one write transaction.
func (s *Store) UpdateClient(ctx context.Context, realm, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	return update(ctx, s, fmt.Sprintf("update client %q in realm %q", id, realm),
		func(tx *sql.Tx) (store.Client, error) {
			return scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE realm = ? AND client_id = ?`, realm, id))
		},
		func(old store.Client) (store.Client, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx *sql.Tx, c store.Client, data []byte) error {
			_, err := tx.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, registration_token_hash = ?, jwks = ?,
				data = ?, updated_at = ?, version = ? WHERE realm = ? AND client_id = ?`,
				c.SecretHash, c.RegistrationTokenHash, c.JWKS, string(data), nanos(c.UpdatedAt), c.Version, realm, id)
			return err
		})
}

// DeleteClient removes the client with its grants and consents.
func (s *Store) DeleteClient(ctx context.Context, realm, id string) error {
	return s.deleteOne(ctx, fmt.Sprintf("delete client %q in realm %q", id, realm),
		`DELETE FROM clients WHERE realm = ? AND client_id = ?`, realm, id)
}

// scanClient reads one row of clientColumns.
func scanClient(src row) (store.Client, error) {
	var (
		c    store.Client
		data []byte
	)
	err := src.Scan(&c.Realm, &c.ID, &c.SecretHash, &c.RegistrationTokenHash, &c.JWKS, &data,
		nanoTime{&c.CreatedAt}, nanoTime{&c.UpdatedAt}, &c.Version)
	if err != nil {
		return store.Client{}, err
	}
	return store.Scanned(c, data)
}
