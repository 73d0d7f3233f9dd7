package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

const (
	authnColumns = `realm, id, user_id, state, authorization_details, signature, data, created_at, expires_at, answered_at, version`
	authnSelect  = `SELECT ` + authnColumns + ` FROM authn_requests`
)

const insertAuthnSQL = `INSERT INTO authn_requests (` + authnColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// authnArgs are the values of authnColumns for r, whose document is data.
func (s *Store) authnArgs(r *store.AuthnRequest, data []byte) []any {
	return []any{r.Realm, r.ID, r.UserID, string(r.State), r.AuthorizationDetails, r.Signature, string(data),
		s.timeValue(r.CreatedAt), s.timeValue(r.ExpiresAt), s.timeValue(r.AnsweredAt), r.Version}
}

// CreateAuthnRequest stores a new request; ErrConflict if the ID exists, ErrNotFound if
// the realm or user is missing.
func (s *Store) CreateAuthnRequest(ctx context.Context, r store.AuthnRequest) (store.AuthnRequest, error) {
	op := fmt.Sprintf("create authentication request %q in realm %q", r.ID, r.Realm)
	events := make([]*store.Event, 0, len(r.Events))
	for _, e := range r.Events {
		if e.Realm != r.Realm {
			return store.AuthnRequest{}, fmt.Errorf("%s: %w: an event is of realm %q", op, store.ErrInvalid, e.Realm)
		}
		if err := e.Validate(); err != nil {
			return store.AuthnRequest{}, fmt.Errorf("%s: %w", op, err)
		}
		e.At = store.Timestamp(e.At)
		events = append(events, &e)
	}
	r.Events = nil
	r, data, err := store.PrepareAuthnRequest(r, s.now())
	if err != nil {
		return store.AuthnRequest{}, err
	}
	insert := func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, insertAuthnSQL, s.authnArgs(&r, data)...)
		return err
	}
	if len(events) == 0 {
		if err := insert(ctx, s.writer); err != nil {
			return store.AuthnRequest{}, s.wrapErr(ctx, err, "%s", op)
		}
		return r, nil
	}
	// The request's row references its realm, which therefore exists until the
	// transaction ends: what writeEvents needs.
	err = s.transact(ctx, op, func(tx Tx) error {
		if err := insert(ctx, tx); err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		return s.wrapErr(ctx, s.writeEvents(ctx, tx, events), "%s", op)
	})
	if err != nil {
		return store.AuthnRequest{}, err
	}
	return r, nil
}

// GetAuthnRequest returns the request or ErrNotFound.
func (s *Store) GetAuthnRequest(ctx context.Context, realm, id string) (store.AuthnRequest, error) {
	r, err := s.scanAuthnRequest(s.reader.QueryRow(ctx, authnSelect+` WHERE realm = $1 AND id = $2`, realm, id))
	if err != nil {
		return store.AuthnRequest{}, s.wrapErr(ctx, err, "get authentication request %q in realm %q", id, realm)
	}
	return r, nil
}

// ListPendingAuthnRequests returns the user's pending requests that have not expired at
// now, oldest first, at most limit.
func (s *Store) ListPendingAuthnRequests(ctx context.Context, realm, userID string, now time.Time, limit int) ([]store.AuthnRequest, error) {
	requests, err := queryAll(ctx, s.reader, s.scanAuthnRequest,
		authnSelect+` WHERE realm = $1 AND user_id = $2 AND state = $3 AND expires_at > $4 ORDER BY created_at, id LIMIT $5`,
		realm, userID, string(store.AuthnPending), s.timeValue(now), store.ClampLimit(limit))
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list pending authentication requests of user %q in realm %q", userID, realm)
	}
	return requests, nil
}

// UpdateAuthnRequest applies fn to the stored request in one locking transaction (see
// update).
func (s *Store) UpdateAuthnRequest(ctx context.Context, realm, id string, fn func(store.AuthnRequest) (store.AuthnRequest, error)) (store.AuthnRequest, error) {
	return update(ctx, s, fmt.Sprintf("update authentication request %q in realm %q", id, realm),
		func(tx Tx) (store.AuthnRequest, error) {
			return s.scanAuthnRequest(tx.QueryRow(ctx, authnSelect+` WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, id))
		},
		func(old store.AuthnRequest) (store.AuthnRequest, []byte, error) {
			return store.PrepareUpdate(old, fn, s.now())
		},
		func(tx Tx, r store.AuthnRequest, data []byte) error {
			_, err := tx.Exec(ctx, `UPDATE authn_requests SET state = $1, authorization_details = $2, signature = $3, data = $4,
				expires_at = $5, answered_at = $6, version = $7 WHERE realm = $8 AND id = $9`,
				string(r.State), r.AuthorizationDetails, r.Signature, string(data),
				s.timeValue(r.ExpiresAt), s.timeValue(r.AnsweredAt), r.Version, realm, id)
			return err
		})
}

// PurgeAuthnRequests deletes the requests that expired, or were answered, before before.
func (s *Store) PurgeAuthnRequests(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM authn_requests WHERE expires_at < $1 OR (state <> $2 AND answered_at < $1)`,
		s.timeValue(before), string(store.AuthnPending))
	return n, s.wrapErr(ctx, err, "purge authentication requests")
}

// scanAuthnRequest reads one row of authnColumns.
func (s *Store) scanAuthnRequest(src Row) (store.AuthnRequest, error) {
	var (
		r     store.AuthnRequest
		state string
		data  []byte
	)
	err := src.Scan(&r.Realm, &r.ID, &r.UserID, &state, &r.AuthorizationDetails, &r.Signature, &data,
		s.timeDest(&r.CreatedAt), s.timeDest(&r.ExpiresAt), s.timeDest(&r.AnsweredAt), &r.Version)
	if err != nil {
		return store.AuthnRequest{}, err
	}
	r.State = store.AuthnState(state)
	return store.Scanned(r, data)
}
