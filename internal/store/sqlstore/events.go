package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
		exists := s.realmsExist(ctx, tx)
		var written []*store.Event
		for i := range out {
			e := &out[i]
			ok, err := exists(e.Realm)
			if err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
			if ok {
				written = append(written, e)
			} else {
				e.Seq = 0
			}
		}
		return s.wrapErr(ctx, s.writeEvents(ctx, tx, written), "%s", op)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// realmsExist returns a function that tells whether a realm exists, asking tx once per
// realm. An event of a realm deleted meanwhile is dropped; the realm's row is kept until
// the transaction ends (on SQLite the write lock does that).
func (s *Store) realmsExist(ctx context.Context, tx Tx) func(realm string) (bool, error) {
	exists := map[string]bool{}
	return func(realm string) (bool, error) {
		if ok, seen := exists[realm]; seen {
			return ok, nil
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM realms WHERE name = $1`+s.dialect.KeyShareLock, realm).Scan(&one)
		if err != nil && !errors.Is(s.dialect.Sentinel(err), store.ErrNotFound) {
			return false, err
		}
		exists[realm] = err == nil
		return err == nil, nil
	}
}

// WriteOutbox writes entries in one transaction, in order: outcome claims first come
// first kept, the records that go with them, and the events of the entries kept.
func (s *Store) WriteOutbox(ctx context.Context, entries []store.OutboxEntry) ([]store.OutboxResult, error) {
	const op = "write the outbox"
	type prepared struct {
		outcome *store.AuthnOutcome
		record  *store.AuthnRequest
		data    []byte
		events  []store.Event
	}
	preps := make([]prepared, len(entries))
	for i, en := range entries {
		p := &preps[i]
		for _, e := range en.Events {
			if err := e.Validate(); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			e.At = store.Timestamp(e.At)
			p.events = append(p.events, e)
		}
		if en.Outcome == nil && en.Record != nil {
			return nil, fmt.Errorf("%s: %w: a record without its outcome", op, store.ErrInvalid)
		}
		if en.Outcome != nil {
			o := *en.Outcome
			if err := o.Validate(); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			o.CreatedAt = store.Timestamp(o.CreatedAt)
			p.outcome = &o
		}
		if en.Record != nil {
			rec := *en.Record
			rec.Events = nil
			rec, data, err := store.PrepareAuthnRequest(rec, s.now())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			p.record, p.data = &rec, data
		}
	}
	// Claims are made in key order, so that two writers contesting the same requests
	// take their locks in one order (PostgreSQL), not into a deadlock.
	claims := make([]int, 0, len(preps))
	for i, p := range preps {
		if p.outcome != nil {
			claims = append(claims, i)
		}
	}
	slices.SortStableFunc(claims, func(a, b int) int {
		x, y := preps[a].outcome, preps[b].outcome
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.Realm, y.Realm), strings.Compare(x.ID, y.ID))
	})
	results := make([]store.OutboxResult, len(entries))
	err := s.transact(ctx, op, func(tx Tx) error {
		exists := s.realmsExist(ctx, tx)
		gone := make([]bool, len(preps)) // the entry's realm is gone, and all of it
		for _, i := range claims {
			p := &preps[i]
			results[i] = store.OutboxResult{Kept: true}
			ok, err := exists(p.outcome.Realm)
			if err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
			if !ok {
				gone[i] = true
				continue
			}
			existing, err := s.claimOutcome(ctx, tx, p.outcome)
			if err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
			if existing != "" {
				results[i] = store.OutboxResult{Existing: existing}
			}
		}
		var written []*store.Event
		for i := range preps {
			p := &preps[i]
			if p.outcome == nil {
				results[i] = store.OutboxResult{Kept: true}
			} else if gone[i] || !results[i].Kept {
				continue
			}
			if p.record != nil {
				if err := s.keepRecord(ctx, tx, p.record, p.data); err != nil {
					return s.wrapErr(ctx, err, "%s", op)
				}
			}
			for j := range p.events {
				e := &p.events[j]
				ok, err := exists(e.Realm)
				if err != nil {
					return s.wrapErr(ctx, err, "%s", op)
				}
				if ok {
					written = append(written, e)
				}
			}
		}
		return s.wrapErr(ctx, s.writeEvents(ctx, tx, written), "%s", op)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// claimOutcome claims o unless an outcome of its request was claimed before by another
// writer (another token), whose state it then returns. o's realm exists until tx ends.
func (s *Store) claimOutcome(ctx context.Context, tx Tx, o *store.AuthnOutcome) (store.AuthnState, error) {
	created := s.timeValue(o.CreatedAt)
	n, err := tx.Exec(ctx, `INSERT INTO authn_outcomes (created_at, realm, id, state, token) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (created_at, realm, id) DO NOTHING`, created, o.Realm, o.ID, string(o.State), o.Token)
	if err != nil || n == 1 {
		return "", err
	}
	var state, token string
	err = tx.QueryRow(ctx, `SELECT state, token FROM authn_outcomes WHERE created_at = $1 AND realm = $2 AND id = $3`,
		created, o.Realm, o.ID).Scan(&state, &token)
	if err == nil && o.Token != "" && token == o.Token {
		return "", nil // this writer's own claim, from a commit it did not hear of
	}
	return store.AuthnState(state), err
}

// keepRecord inserts a request's record unless it has one, or its user is gone. Where
// other writers run at once (PostgreSQL), the user's row is read first and kept until tx
// ends (FOR KEY SHARE), so the insert cannot fail on its foreign key, which would end
// the transaction; under SQLite's single writer a failed statement ends only itself, and
// the insert's foreign key answers alone.
func (s *Store) keepRecord(ctx context.Context, tx Tx, r *store.AuthnRequest, data []byte) error {
	if s.dialect.KeyShareLock != "" {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE realm = $1 AND id = $2`+s.dialect.KeyShareLock, r.Realm, r.UserID).Scan(&one)
		if errors.Is(s.dialect.Sentinel(err), store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, insertAuthnSQL+` ON CONFLICT (realm, id) DO NOTHING`, s.authnArgs(r, data)...)
	if s.dialect.KeyShareLock == "" && errors.Is(s.dialect.Sentinel(err), store.ErrNotFound) {
		return nil // the user is gone
	}
	return err
}

// PurgeAuthnOutcomes deletes the claims of requests created before before.
func (s *Store) PurgeAuthnOutcomes(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM authn_outcomes WHERE created_at < $1`, s.timeValue(before))
	return n, s.wrapErr(ctx, err, "purge authentication outcomes")
}

// writeEvents inserts events, which are valid and of realms that exist until tx ends,
// sets their Seq, and inserts their deliveries: one for each event's callback, and one
// per enabled subscription of its realm whose types match it. The fan-out is one
// INSERT ... SELECT for all the events, so an append pays one statement more per batch
// however many realms and subscriptions there are.
func (s *Store) writeEvents(ctx context.Context, tx Tx, events []*store.Event) error {
	if len(events) == 0 {
		return nil
	}
	const insert = `INSERT INTO events (realm, type, subject, user_id, at, data) VALUES ($1, $2, $3, $4, $5, $6)`
	for _, e := range events {
		args := []any{e.Realm, e.Type, e.Subject, e.UserID, s.timeValue(e.At), string(e.Data)}
		var err error
		if s.dialect.LastInsertSeq != "" {
			_, err = tx.Exec(ctx, insert, args...)
		} else {
			err = tx.QueryRow(ctx, insert+` RETURNING seq`, args...).Scan(&e.Seq)
		}
		if err != nil {
			return err
		}
	}
	if s.dialect.LastInsertSeq != "" {
		// The inserts ran one after another under the single writer: consecutive seqs.
		var last int64
		if err := tx.QueryRow(ctx, s.dialect.LastInsertSeq).Scan(&last); err != nil {
			return err
		}
		for i, e := range events {
			e.Seq = last - int64(len(events)-1-i)
		}
	}
	now := s.timeValue(s.now())
	seqs := make([]int64, len(events))
	for i, e := range events {
		seqs[i] = e.Seq
		if c := e.Callback; c != nil {
			if _, err := tx.Exec(ctx, insertCallbackSQL, e.Realm, c.URL, c.Headers, e.Seq, now); err != nil {
				return err
			}
		}
	}
	_, err := tx.Exec(ctx, s.fanOutSQL, s.dialect.Int64s(seqs), now)
	return err
}

const insertCallbackSQL = `INSERT INTO webhook_deliveries (realm, url, headers, event_seq, state, attempts,
	next_attempt_at, scheduled_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)`

// fanOutSQL inserts the deliveries to subscriptions of the events whose seqs are the
// list $1, created at $2, in event order. A pattern matches a type exactly, or as a
// prefix of it (the empty prefix matches every type).
func fanOutSQL(d Dialect) string {
	return `INSERT INTO webhook_deliveries (realm, subscription_id, event_seq, state, attempts, next_attempt_at, scheduled_at, created_at)
		SELECT e.realm, w.id, e.seq, 'pending', 0, $2, $2, $2
		FROM events e JOIN webhook_subscriptions w ON w.realm = e.realm
		WHERE ` + d.InInt64s("e.seq", 1) + ` AND w.enabled AND EXISTS (
			SELECT 1 FROM webhook_subscription_types t WHERE t.realm = w.realm AND t.subscription_id = w.id
			AND (t.pattern = e.type OR (t.prefix AND substr(e.type, 1, length(t.pattern)) = t.pattern)))
		ORDER BY e.seq, w.id`
}

// ListEvents returns the realm's events that match f, newest first.
func (s *Store) ListEvents(ctx context.Context, realm string, f store.EventFilter, opts store.ListOptions) (store.Page[store.Event], error) {
	op := fmt.Sprintf("list events in realm %q", realm)
	before, limit, err := store.PageRequestBySeq("event", opts)
	if err != nil {
		return store.Page[store.Event]{}, s.wrapErr(ctx, err, "%s", op)
	}
	args := []any{realm, before}
	exact, conds := f.Type, ""
	if prefix, ok := f.TypePrefix(); ok {
		exact = ""
		args = append(args, utf8.RuneCountInString(prefix), prefix)
		conds += fmt.Sprintf(" AND substr(type, 1, $%d) = $%d", len(args)-1, len(args))
	}
	if !f.Since.IsZero() {
		args = append(args, s.timeValue(f.Since))
		conds += fmt.Sprintf(" AND at >= $%d", len(args))
	}
	if !f.Until.IsZero() {
		args = append(args, s.timeValue(f.Until))
		conds += fmt.Sprintf(" AND at < $%d", len(args))
	}
	query := `SELECT seq, realm, type, subject, user_id, at, data FROM events WHERE realm = $1 AND seq < $2` + conds +
		where(&args, filter{"type", exact}, filter{"subject", f.Subject}, filter{"user_id", f.UserID}) +
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
