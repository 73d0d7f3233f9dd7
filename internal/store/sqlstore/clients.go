package sqlstore

import (
	"context"
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
	_, err = s.writer.Exec(ctx,
		`INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.Realm, c.ID, c.SecretHash, c.RegistrationTokenHash, c.JWKS, string(data), s.timeValue(c.CreatedAt), s.timeValue(c.UpdatedAt), c.Version)
	if err != nil {
		return store.Client{}, s.wrapErr(ctx, err, "create client %q in realm %q", c.ID, c.Realm)
	}
	return c, nil
}

// GetClient returns the client or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, realm, id string) (store.Client, error) {
	c, err := s.scanClient(s.reader.QueryRow(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE realm = $1 AND client_id = $2`, realm, id))
	if err != nil {
		return store.Client{}, s.wrapErr(ctx, err, "get client %q in realm %q", id, realm)
	}
	return c, nil
}

// ListClients returns clients ordered by client_id, bytewise.
func (s *Store) ListClients(ctx context.Context, realm string, opts store.ListOptions) (store.Page[store.Client], error) {
	after, limit, err := store.PageRequest("client", opts)
	if err != nil {
		return store.Page[store.Client]{}, s.wrapErr(ctx, err, "list clients in realm %q", realm)
	}
	clients, err := queryAll(ctx, s.reader, s.scanClient,
		`SELECT `+clientColumns+` FROM clients WHERE realm = $1 AND client_id > $2 ORDER BY client_id LIMIT $3`, realm, after, limit+1)
	if err != nil {
		return store.Page[store.Client]{}, s.wrapErr(ctx, err, "list clients in realm %q", realm)
	}
	return store.NewPage("client", clients, limit, func(c store.Client) string { return c.ID }), nil
}

// UpdateClient applies fn to the stored client in one locking transaction (see update).
func (s *Store) UpdateClient(ctx context.Context, realm, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	return update(ctx, s, fmt.Sprintf("update client %q in realm %q", id, realm),
		func(tx Tx) (store.Client, error) {
			return s.scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE realm = $1 AND client_id = $2`+s.dialect.RowLock, realm, id))
		},
		func(old store.Client) (store.Client, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx Tx, c store.Client, data []byte) error {
			_, err := tx.Exec(ctx, `UPDATE clients SET secret_hash = $1, registration_token_hash = $2, jwks = $3,
				data = $4, updated_at = $5, version = $6 WHERE realm = $7 AND client_id = $8`,
				c.SecretHash, c.RegistrationTokenHash, c.JWKS, string(data), s.timeValue(c.UpdatedAt), c.Version, realm, id)
			return err
		})
}

// DeleteClient removes the client with its grants and consents.
func (s *Store) DeleteClient(ctx context.Context, realm, id string) error {
	return s.execOne(ctx, fmt.Sprintf("delete client %q in realm %q", id, realm),
		`DELETE FROM clients WHERE realm = $1 AND client_id = $2`, realm, id)
}

// scanClient reads one row of clientColumns.
func (s *Store) scanClient(src Row) (store.Client, error) {
	var (
		c    store.Client
		data []byte
	)
	err := src.Scan(&c.Realm, &c.ID, &c.SecretHash, &c.RegistrationTokenHash, &c.JWKS, &data,
		s.timeDest(&c.CreatedAt), s.timeDest(&c.UpdatedAt), &c.Version)
	if err != nil {
		return store.Client{}, err
	}
	return store.Scanned(c, data)
}
