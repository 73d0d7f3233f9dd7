package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

// AppendEvents writes events in one transaction; an event of a realm that is gone is
// dropped (Seq 0) rather than failing the others.
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) ([]store.Event, error) {
	const op = "append events"
	out := make([]store.Event, len(events))
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		e.At = store.Timestamp(e.At)
		out[i] = e
	}
	if len(out) == 0 {
		return out, nil
	}
	err := s.transact(ctx, op, func(tx Tx) error {
		// An event of a realm deleted meanwhile is dropped; the realm's row is kept
		// until the transaction ends (on SQLite the write lock does that).
		exists := map[string]bool{}
		for _, e := range out {
			if _, seen := exists[e.Realm]; seen {
				continue
			}
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM realms WHERE name = $1`+s.dialect.KeyShareLock, e.Realm).Scan(&one)
			if err != nil && !errors.Is(s.dialect.Sentinel(err), store.ErrNotFound) {
				return s.wrapErr(ctx, err, "%s", op)
			}
			exists[e.Realm] = err == nil
		}
		const insert = `INSERT INTO events (realm, type, subject, user_id, at, data) VALUES ($1, $2, $3, $4, $5, $6)`
		var written []*store.Event
		for i := range out {
			e := &out[i]
			if !exists[e.Realm] {
				e.Seq = 0
				continue
			}
			args := []any{e.Realm, e.Type, e.Subject, e.UserID, s.timeValue(e.At), string(e.Data)}
			var err error
			if s.dialect.LastInsertSeq != "" {
				_, err = tx.Exec(ctx, insert, args...)
			} else {
				err = tx.QueryRow(ctx, insert+` RETURNING seq`, args...).Scan(&e.Seq)
			}
			if err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
			written = append(written, e)
		}
		if s.dialect.LastInsertSeq == "" || len(written) == 0 {
			return nil
		}
		var last int64
		if err := tx.QueryRow(ctx, s.dialect.LastInsertSeq).Scan(&last); err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		for i, e := range written {
			e.Seq = last - int64(len(written)-1-i)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListEvents returns the realm's events that match f, newest first.
func (s *Store) ListEvents(ctx context.Context, realm string, f store.EventFilter, opts store.ListOptions) (store.Page[store.Event], error) {
	op := fmt.Sprintf("list events in realm %q", realm)
	before, limit, err := store.PageRequestBySeq("event", opts)
	if err != nil {
		return store.Page[store.Event]{}, s.wrapErr(ctx, err, "%s", op)
	}
	args := []any{realm, before}
	query := `SELECT seq, realm, type, subject, user_id, at, data FROM events WHERE realm = $1 AND seq < $2` +
		where(&args, filter{"type", f.Type}, filter{"subject", f.Subject}, filter{"user_id", f.UserID}) +
		` ORDER BY seq DESC` + limitClause(&args, limit+1)
	events, err := queryAll(ctx, s.reader, s.scanEvent, query, args...)
	if err != nil {
		return store.Page[store.Event]{}, s.wrapErr(ctx, err, "%s", op)
	}
	return store.NewPageBySeq("event", events, limit, func(e store.Event) int64 { return e.Seq }), nil
}

func (s *Store) scanEvent(src Row) (store.Event, error) {
	var (
		e    store.Event
		data []byte
	)
	if err := src.Scan(&e.Seq, &e.Realm, &e.Type, &e.Subject, &e.UserID, s.timeDest(&e.At), &data); err != nil {
		return store.Event{}, err
	}
	e.Data = data
	return e, nil
}
