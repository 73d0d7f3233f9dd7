package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

const pushCredentialColumns = `realm, provider, settings, sealed, created_at, updated_at, version`

// PutPushCredential creates or replaces the realm's credential for c.Provider.
func (s *Store) PutPushCredential(ctx context.Context, c store.PushCredential) (store.PushCredential, error) {
	op := fmt.Sprintf("put %s push credential in realm %q", c.Provider, c.Realm)
	now := s.now()
	c.CreatedAt, c.UpdatedAt, c.Version = now, now, 1
	c = store.ScannedPushCredential(c)
	if err := c.Validate(); err != nil {
		return store.PushCredential{}, fmt.Errorf("%s: %w", op, err)
	}
	err := s.transact(ctx, op, func(tx Tx) error {
		old, err := s.scanPushCredential(tx.QueryRow(ctx, `SELECT `+pushCredentialColumns+
			` FROM push_credentials WHERE realm = $1 AND provider = $2`+s.dialect.RowLock, c.Realm, c.Provider))
		switch {
		case err == nil:
			c.CreatedAt, c.Version = old.CreatedAt, old.Version+1
			_, err = tx.Exec(ctx, `UPDATE push_credentials SET settings = $1, sealed = $2, updated_at = $3, version = $4
				WHERE realm = $5 AND provider = $6`,
				string(c.Settings), c.Sealed, s.timeValue(c.UpdatedAt), c.Version, c.Realm, c.Provider)
		case errors.Is(s.dialect.Sentinel(err), store.ErrNotFound):
			// A missing realm fails the insert's foreign key, which Classify reads as
			// ErrNotFound.
			_, err = tx.Exec(ctx, `INSERT INTO push_credentials (`+pushCredentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				c.Realm, c.Provider, string(c.Settings), c.Sealed, s.timeValue(c.CreatedAt), s.timeValue(c.UpdatedAt), c.Version)
		}
		return s.wrapErr(ctx, err, "%s", op)
	})
	if err != nil {
		return store.PushCredential{}, err
	}
	return c, nil
}

// GetPushCredential returns the realm's credential for provider.
func (s *Store) GetPushCredential(ctx context.Context, realm, provider string) (store.PushCredential, error) {
	c, err := s.scanPushCredential(s.reader.QueryRow(ctx, `SELECT `+pushCredentialColumns+
		` FROM push_credentials WHERE realm = $1 AND provider = $2`, realm, provider))
	if err != nil {
		return store.PushCredential{}, s.wrapErr(ctx, err, "get %s push credential in realm %q", provider, realm)
	}
	return c, nil
}

// ListPushCredentials returns the realm's credentials by provider.
func (s *Store) ListPushCredentials(ctx context.Context, realm string) ([]store.PushCredential, error) {
	cs, err := queryAll(ctx, s.reader, s.scanPushCredential, `SELECT `+pushCredentialColumns+
		` FROM push_credentials WHERE realm = $1 ORDER BY provider`, realm)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list push credentials in realm %q", realm)
	}
	return cs, nil
}

// DeletePushCredential removes the realm's credential for provider.
func (s *Store) DeletePushCredential(ctx context.Context, realm, provider string) error {
	return s.execOne(ctx, fmt.Sprintf("delete %s push credential in realm %q", provider, realm),
		`DELETE FROM push_credentials WHERE realm = $1 AND provider = $2`, realm, provider)
}

func (s *Store) scanPushCredential(src Row) (store.PushCredential, error) {
	var c store.PushCredential
	var settings string
	if err := src.Scan(&c.Realm, &c.Provider, &settings, &c.Sealed, s.timeDest(&c.CreatedAt), s.timeDest(&c.UpdatedAt), &c.Version); err != nil {
		return store.PushCredential{}, err
	}
	c.Settings = []byte(settings)
	return store.ScannedPushCredential(c), nil
}
