package sqlstore

import (
	"context"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

const consentColumns = `realm, user_id, client_id, data, granted_at`

// GetConsent returns the consent or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, realm, userID, clientID string) (store.Consent, error) {
	c, err := s.scanConsent(s.reader.QueryRow(ctx,
		`SELECT `+consentColumns+` FROM consents WHERE realm = $1 AND user_id = $2 AND client_id = $3`, realm, userID, clientID))
	if err != nil {
		return store.Consent{}, s.wrapErr(ctx, err, "get consent of user %q to client %q in realm %q", userID, clientID, realm)
	}
	return c, nil
}

// PutConsent creates or replaces the consent.
func (s *Store) PutConsent(ctx context.Context, c store.Consent) error {
	c, data, err := store.PrepareCreate(c, s.now())
	if err != nil {
		return err
	}
	_, err = s.writer.Exec(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (realm, user_id, client_id) DO UPDATE SET data = excluded.data, granted_at = excluded.granted_at`,
		c.Realm, c.UserID, c.ClientID, string(data), s.timeValue(c.GrantedAt))
	return s.wrapErr(ctx, err, "put consent of user %q to client %q in realm %q", c.UserID, c.ClientID, c.Realm)
}

// DeleteConsent removes the consent or returns ErrNotFound.
func (s *Store) DeleteConsent(ctx context.Context, realm, userID, clientID string) error {
	return s.execOne(ctx, fmt.Sprintf("delete consent of user %q to client %q in realm %q", userID, clientID, realm),
		`DELETE FROM consents WHERE realm = $1 AND user_id = $2 AND client_id = $3`, realm, userID, clientID)
}

// ListUserConsents returns a user's consents ordered by client ID, bytewise.
func (s *Store) ListUserConsents(ctx context.Context, realm, userID string) ([]store.Consent, error) {
	consents, err := queryAll(ctx, s.reader, s.scanConsent,
		`SELECT `+consentColumns+` FROM consents WHERE realm = $1 AND user_id = $2 ORDER BY client_id`, realm, userID)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list consents of user %q in realm %q", userID, realm)
	}
	return consents, nil
}

// scanConsent reads one row of consentColumns.
func (s *Store) scanConsent(src Row) (store.Consent, error) {
	var (
		c    store.Consent
		data []byte
	)
	if err := src.Scan(&c.Realm, &c.UserID, &c.ClientID, &data, s.timeDest(&c.GrantedAt)); err != nil {
		return store.Consent{}, err
	}
	return store.Scanned(c, data)
}
