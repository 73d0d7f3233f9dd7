package sqlstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

const (
	webhookSubscriptionColumns = `realm, id, url, enabled, secrets, data, created_at, updated_at, version`
	webhookSubscriptionSelect  = `SELECT ` + webhookSubscriptionColumns + ` FROM webhook_subscriptions`
)

// CreateWebhookSubscription stores w and the patterns its deliveries are matched with.
func (s *Store) CreateWebhookSubscription(ctx context.Context, w store.WebhookSubscription) (store.WebhookSubscription, error) {
	op := fmt.Sprintf("create webhook subscription %q in realm %q", w.ID, w.Realm)
	w, data, err := store.PrepareCreate(w, s.now())
	if err != nil {
		return store.WebhookSubscription{}, err
	}
	err = s.transact(ctx, op, func(tx Tx) error {
		// A missing realm fails the foreign key, which Classify reads as ErrNotFound.
		_, err := tx.Exec(ctx, `INSERT INTO webhook_subscriptions (`+webhookSubscriptionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			w.Realm, w.ID, w.URL, w.Enabled, w.Secrets, string(data), s.timeValue(w.CreatedAt), s.timeValue(w.UpdatedAt), w.Version)
		if err == nil {
			err = s.insertWebhookPatterns(ctx, tx, w)
		}
		return s.wrapErr(ctx, err, "%s", op)
	})
	if err != nil {
		return store.WebhookSubscription{}, err
	}
	return w, nil
}

// insertWebhookPatterns writes the rows the fan-out matches w's event types with.
func (s *Store) insertWebhookPatterns(ctx context.Context, tx Tx, w store.WebhookSubscription) error {
	for _, p := range store.WebhookPatterns(w.EventTypes) {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_subscription_types (realm, subscription_id, pattern, prefix) VALUES ($1, $2, $3, $4)`,
			w.Realm, w.ID, p.Pattern, p.Prefix); err != nil {
			return err
		}
	}
	return nil
}

// GetWebhookSubscription returns the subscription or ErrNotFound.
func (s *Store) GetWebhookSubscription(ctx context.Context, realm, id string) (store.WebhookSubscription, error) {
	w, err := s.scanWebhookSubscription(s.reader.QueryRow(ctx, webhookSubscriptionSelect+` WHERE realm = $1 AND id = $2`, realm, id))
	if err != nil {
		return store.WebhookSubscription{}, s.wrapErr(ctx, err, "get webhook subscription %q in realm %q", id, realm)
	}
	return w, nil
}

// ListWebhookSubscriptions returns the realm's subscriptions ordered by CreatedAt, then ID.
func (s *Store) ListWebhookSubscriptions(ctx context.Context, realm string, opts store.ListOptions) (store.Page[store.WebhookSubscription], error) {
	return listByTime(ctx, s, fmt.Sprintf("list webhook subscriptions in realm %q", realm), "webhook_subscription",
		webhookSubscriptionSelect, s.scanWebhookSubscription,
		func(w store.WebhookSubscription) (time.Time, string) { return w.CreatedAt, w.ID }, realm, opts)
}

// subscriptionChange is what UpdateWebhookSubscription writes beside the subscription.
type subscriptionChange struct {
	data            []byte
	patternsChanged bool
	disabled        bool
}

// UpdateWebhookSubscription applies fn in one locking transaction (see update); new
// event types replace the patterns, and disabling fails the pending deliveries.
func (s *Store) UpdateWebhookSubscription(ctx context.Context, realm, id string, fn func(store.WebhookSubscription) (store.WebhookSubscription, error)) (store.WebhookSubscription, error) {
	now := s.now()
	return update(ctx, s, fmt.Sprintf("update webhook subscription %q in realm %q", id, realm),
		func(tx Tx) (store.WebhookSubscription, error) {
			return s.scanWebhookSubscription(tx.QueryRow(ctx, webhookSubscriptionSelect+` WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, id))
		},
		func(old store.WebhookSubscription) (store.WebhookSubscription, subscriptionChange, error) {
			w, data, err := store.PrepareUpdate(old, fn, now)
			if err != nil {
				return w, subscriptionChange{}, err
			}
			return w, subscriptionChange{
				data:            data,
				patternsChanged: !slices.Equal(store.WebhookPatterns(old.EventTypes), store.WebhookPatterns(w.EventTypes)),
				disabled:        old.Enabled && !w.Enabled,
			}, nil
		},
		func(tx Tx, w store.WebhookSubscription, c subscriptionChange) error {
			_, err := tx.Exec(ctx, `UPDATE webhook_subscriptions SET url = $1, enabled = $2, secrets = $3, data = $4, updated_at = $5, version = $6
				WHERE realm = $7 AND id = $8`,
				w.URL, w.Enabled, w.Secrets, string(c.data), s.timeValue(w.UpdatedAt), w.Version, realm, id)
			if err != nil {
				return err
			}
			if c.patternsChanged {
				if _, err := tx.Exec(ctx, `DELETE FROM webhook_subscription_types WHERE realm = $1 AND subscription_id = $2`, realm, id); err != nil {
					return err
				}
				if err := s.insertWebhookPatterns(ctx, tx, w); err != nil {
					return err
				}
			}
			if c.disabled {
				// Rows are locked in id order, the order outcomes are recorded in, so
				// this and a recorder never wait for each other (a deadlock).
				if s.dialect.RowLock != "" {
					if _, err := tx.Exec(ctx, `SELECT id FROM webhook_deliveries WHERE realm = $1 AND subscription_id = $2
						AND state = 'pending' ORDER BY id`+s.dialect.RowLock, realm, id); err != nil {
						return err
					}
				}
				// A claim of one of them that is being attempted records nothing: its
				// token is gone.
				_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET state = 'failed', last_error = $1, next_attempt_at = $2,
					lease_until = NULL, lease_token = NULL WHERE realm = $3 AND subscription_id = $4 AND state = 'pending'`,
					"the subscription was disabled", s.timeValue(now), realm, id)
			}
			return err
		})
}

// DeleteWebhookSubscription removes the subscription; its deliveries go with it.
func (s *Store) DeleteWebhookSubscription(ctx context.Context, realm, id string) error {
	return s.execOne(ctx, fmt.Sprintf("delete webhook subscription %q in realm %q", id, realm),
		`DELETE FROM webhook_subscriptions WHERE realm = $1 AND id = $2`, realm, id)
}

func (s *Store) scanWebhookSubscription(src Row) (store.WebhookSubscription, error) {
	var (
		w    store.WebhookSubscription
		data []byte
	)
	err := src.Scan(&w.Realm, &w.ID, &w.URL, &w.Enabled, &w.Secrets, &data, s.timeDest(&w.CreatedAt), s.timeDest(&w.UpdatedAt), &w.Version)
	if err != nil {
		return store.WebhookSubscription{}, err
	}
	return store.Scanned(w, data)
}

// deliveryColumns are what scanDelivery reads, from webhook_deliveries d joined with
// events e.
const deliveryColumns = `d.id, d.realm, COALESCE(d.subscription_id, ''), COALESCE(d.url, ''), d.event_seq, e.type, d.state,
	d.attempts, d.next_attempt_at, d.scheduled_at, d.lease_until, d.last_status, d.last_error, d.created_at, d.delivered_at`

const deliverySelect = `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq`

// GetWebhookDelivery returns the realm's delivery or ErrNotFound.
func (s *Store) GetWebhookDelivery(ctx context.Context, realm string, id int64) (store.WebhookDelivery, error) {
	d, err := s.scanDelivery(s.reader.QueryRow(ctx, deliverySelect+` WHERE d.realm = $1 AND d.id = $2`, realm, id))
	if err != nil {
		return store.WebhookDelivery{}, s.wrapErr(ctx, err, "get webhook delivery %d in realm %q", id, realm)
	}
	return d, nil
}

// ListWebhookDeliveries returns the realm's deliveries that match f, newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, realm string, f store.WebhookDeliveryFilter, opts store.ListOptions) (store.Page[store.WebhookDelivery], error) {
	op := fmt.Sprintf("list webhook deliveries in realm %q", realm)
	if err := store.ValidWebhookDeliveryFilter(f); err != nil {
		return store.Page[store.WebhookDelivery]{}, fmt.Errorf("%s: %w", op, err)
	}
	before, limit, err := store.PageRequestBySeq("webhook_delivery", opts)
	if err != nil {
		return store.Page[store.WebhookDelivery]{}, s.wrapErr(ctx, err, "%s", op)
	}
	args := []any{realm, before}
	query := deliverySelect + ` WHERE d.realm = $1 AND d.id < $2` +
		where(&args, filter{"d.subscription_id", f.SubscriptionID}, filter{"d.state", string(f.State)})
	if f.EventSeq != 0 {
		args = append(args, f.EventSeq)
		query += fmt.Sprintf(` AND d.event_seq = $%d`, len(args))
	}
	query += ` ORDER BY d.id DESC` + limitClause(&args, limit+1)
	items, err := queryAll(ctx, s.reader, s.scanDelivery, query, args...)
	if err != nil {
		return store.Page[store.WebhookDelivery]{}, s.wrapErr(ctx, err, "%s", op)
	}
	return store.NewPageBySeq("webhook_delivery", items, limit, func(d store.WebhookDelivery) int64 { return d.ID }), nil
}

// RedeliverWebhook puts a failed delivery back to pending in one locking transaction.
func (s *Store) RedeliverWebhook(ctx context.Context, realm string, id int64) (store.WebhookDelivery, error) {
	op := fmt.Sprintf("redeliver webhook delivery %d in realm %q", id, realm)
	var out store.WebhookDelivery
	err := s.transact(ctx, op, func(tx Tx) error {
		var state, subscription string
		err := tx.QueryRow(ctx, `SELECT state, COALESCE(subscription_id, '') FROM webhook_deliveries WHERE realm = $1 AND id = $2`+s.dialect.RowLock,
			realm, id).Scan(&state, &subscription)
		if err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		if state != string(store.WebhookFailed) {
			return fmt.Errorf("%s: it is %s, not failed: %w", op, state, store.ErrConflict)
		}
		if subscription != "" {
			// A disable that commits meanwhile may leave this delivery pending; claims
			// pass over the deliveries of disabled subscriptions.
			var enabled bool
			if err := tx.QueryRow(ctx, `SELECT enabled FROM webhook_subscriptions WHERE realm = $1 AND id = $2`, realm, subscription).Scan(&enabled); err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
			if !enabled {
				return fmt.Errorf("%s: its subscription is disabled: %w", op, store.ErrConflict)
			}
		}
		now := s.timeValue(s.now())
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, scheduled_at = $1,
			lease_until = NULL, lease_token = NULL, delivered_at = NULL WHERE id = $2`, now, id)
		if err == nil {
			out, err = s.scanDelivery(tx.QueryRow(ctx, deliverySelect+` WHERE d.id = $1`, id))
		}
		return s.wrapErr(ctx, err, "%s", op)
	})
	return out, err
}

// claimSQL leases the due deliveries: $1 the lease's end, $2 its token, $3 now, $4 the
// most to take. A leased delivery's next attempt is the end of its lease, so it is due
// again only if that passes without an outcome. Of a subscription, only the earliest
// due delivery is taken, and none while an earlier one is leased: the earlier due ones
// are seen as due even by a claim whose snapshot predates another's lease of them, so
// concurrent claims (SKIP LOCKED) never take two of a subscription's deliveries at
// once. Deliveries of a disabled subscription are passed over: disabling fails the
// pending ones, but an append or a redelivery that raced with it may have left one.
func claimSQL(d Dialect) string {
	return `UPDATE webhook_deliveries SET lease_until = $1, next_attempt_at = $1, lease_token = $2
		WHERE id IN (SELECT d.id FROM webhook_deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= $3` + fmt.Sprintf(claimable, "") + `
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.realm = d.realm AND p.subscription_id = d.subscription_id
				AND p.state = 'pending' AND p.next_attempt_at <= $3 AND p.id < d.id)
			ORDER BY d.next_attempt_at, d.id LIMIT $4` + d.SkipLocked + `)
		RETURNING id`
}

// continueSQL leases one subscription's ($5, $6) due deliveries in order, where the
// deliveries leased under token $7 hold nothing back. It does not skip a delivery
// another claim holds (NoWait fails the statement instead), so it never takes later
// deliveries than one being claimed elsewhere.
func continueSQL(d Dialect) string {
	return `UPDATE webhook_deliveries SET lease_until = $1, next_attempt_at = $1, lease_token = $2
		WHERE id IN (SELECT d.id FROM webhook_deliveries d WHERE d.realm = $5 AND d.subscription_id = $6
			AND d.state = 'pending' AND d.next_attempt_at <= $3` + fmt.Sprintf(claimable, "AND p.lease_token <> $7") + `
			ORDER BY d.next_attempt_at, d.id LIMIT $4` + d.NoWait + `)
		RETURNING id`
}

// claimable holds back a due delivery d while an earlier one of its subscription is
// leased at $3 (under a token other than $7, when there is a $7), and passes over the
// deliveries of disabled subscriptions.
const claimable = `
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.realm = d.realm AND p.subscription_id = d.subscription_id
				AND p.state = 'pending' AND p.lease_until > $3 AND p.id < d.id %s)
			AND (d.subscription_id IS NULL OR EXISTS (SELECT 1 FROM webhook_subscriptions w
				WHERE w.realm = d.realm AND w.id = d.subscription_id AND w.enabled))`

// ClaimWebhookDeliveries leases due deliveries in a short write transaction: on
// PostgreSQL concurrent claims skip each other's rows (SKIP LOCKED); on SQLite the write
// transaction holds the only writer.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.WebhookClaim, error) {
	return s.claim(ctx, "claim webhook deliveries", s.claimSQL, now, lease, limit)
}

// ContinueWebhookDeliveries leases one subscription's next due deliveries; none when
// another claim holds one of them (on PostgreSQL the NOWAIT lock fails).
func (s *Store) ContinueWebhookDeliveries(ctx context.Context, realm, subscriptionID, token string, now time.Time, lease time.Duration, limit int) ([]store.WebhookClaim, error) {
	claims, err := s.claim(ctx, fmt.Sprintf("continue the deliveries of webhook subscription %q in realm %q", subscriptionID, realm),
		s.continueSQL, now, lease, limit, realm, subscriptionID, token)
	if errors.Is(err, store.ErrConflict) {
		return []store.WebhookClaim{}, nil
	}
	return claims, err
}

// claim runs query, claimSQL or continueSQL with its extra arguments, and reads what it
// leased.
func (s *Store) claim(ctx context.Context, op, query string, now time.Time, lease time.Duration, limit int, extra ...any) ([]store.WebhookClaim, error) {
	switch {
	case now.IsZero():
		return nil, fmt.Errorf("%s: %w: the time is zero", op, store.ErrInvalid)
	case lease <= 0:
		return nil, fmt.Errorf("%s: %w: lease %s is not positive", op, store.ErrInvalid, lease)
	case limit < 1 || limit > store.MaxWebhookClaim:
		return nil, fmt.Errorf("%s: %w: limit %d is not between 1 and %d", op, store.ErrInvalid, limit, store.MaxWebhookClaim)
	}
	if query == s.claimSQL {
		// Nothing due is the common case: the deliverer is nudged after every batch of
		// events, most of which (a realm without webhooks) make no delivery. A read
		// tells so without the write lock that a claim takes, which on SQLite the
		// event log's own writes wait for.
		var one int
		err := s.reader.QueryRow(ctx, `SELECT 1 FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 LIMIT 1`,
			s.timeValue(now)).Scan(&one)
		if errors.Is(s.dialect.Sentinel(err), store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, s.wrapErr(ctx, err, "%s", op)
		}
	}
	token := rand.Text()
	var claims []store.WebhookClaim
	err := s.transact(ctx, op, func(tx Tx) error {
		args := append([]any{s.timeValue(now.Add(lease)), token, s.timeValue(now), limit}, extra...)
		ids, err := queryAll(ctx, tx, scanInt64, query, args...)
		if err != nil || len(ids) == 0 {
			return s.wrapErr(ctx, err, "%s", op)
		}
		claims, err = queryAll(ctx, tx, s.scanClaim, `SELECT `+deliveryColumns+`, COALESCE(d.url, w.url, ''), d.headers, w.secrets,
			e.subject, e.user_id, e.at, e.data, d.lease_token
			FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
			LEFT JOIN webhook_subscriptions w ON w.realm = d.realm AND w.id = d.subscription_id
			WHERE `+s.dialect.InInt64s("d.id", 1)+` ORDER BY d.id`, s.dialect.Int64s(ids))
		return s.wrapErr(ctx, err, "%s", op)
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// RecordWebhookOutcomes records each outcome whose claim is still current.
func (s *Store) RecordWebhookOutcomes(ctx context.Context, outcomes []store.WebhookOutcome) (int, error) {
	op := fmt.Sprintf("record %d webhook outcomes", len(outcomes))
	for _, o := range outcomes {
		if err := o.Validate(); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
	}
	if len(outcomes) == 0 {
		return 0, nil
	}
	// In id order: two recorders, or a recorder and a subscription being disabled, lock
	// the same rows in the same order.
	outcomes = slices.SortedFunc(slices.Values(outcomes), func(a, b store.WebhookOutcome) int { return cmp.Compare(a.ID, b.ID) })
	recorded := 0
	err := s.transact(ctx, op, func(tx Tx) error {
		for _, o := range outcomes {
			state, next, delivered := store.WebhookPending, o.NextAttemptAt, time.Time{}
			switch {
			case o.Delivered:
				state, next, delivered = store.WebhookDelivered, o.At, o.At
			case o.NextAttemptAt.IsZero():
				state, next = store.WebhookFailed, o.At
			}
			attempted := 0
			if o.Attempted {
				attempted = 1
			}
			n, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = $1, attempts = attempts + $2, next_attempt_at = $3,
				last_status = CASE WHEN $2 = 1 THEN $4 ELSE last_status END,
				last_error = CASE WHEN $2 = 1 THEN $5 ELSE last_error END,
				delivered_at = $6, lease_until = NULL, lease_token = NULL
				WHERE id = $7 AND lease_token = $8 AND state = 'pending'`,
				string(state), attempted, s.timeValue(next), o.Status, o.Error, s.timeValue(delivered), o.ID, o.Token)
			if err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
			recorded += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return recorded, nil
}

// PurgeWebhookDeliveries deletes the settled deliveries created before before.
func (s *Store) PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1`, s.timeValue(before))
	return n, s.wrapErr(ctx, err, "purge webhook deliveries")
}

func scanInt64(src Row) (int64, error) {
	var v int64
	err := src.Scan(&v)
	return v, err
}

// deliveryScan is a delivery being read from deliveryColumns.
type deliveryScan struct {
	d     store.WebhookDelivery
	state string
}

func (ds *deliveryScan) dests(s *Store) []any {
	d := &ds.d
	return []any{&d.ID, &d.Realm, &d.SubscriptionID, &d.URL, &d.EventSeq, &d.EventType, &ds.state,
		&d.Attempts, s.timeDest(&d.NextAttemptAt), s.timeDest(&d.ScheduledAt), s.timeDest(&d.LeaseUntil),
		&d.LastStatus, &d.LastError, s.timeDest(&d.CreatedAt), s.timeDest(&d.DeliveredAt)}
}

func (ds *deliveryScan) done() store.WebhookDelivery {
	ds.d.State = store.WebhookState(ds.state)
	return ds.d
}

func (s *Store) scanDelivery(src Row) (store.WebhookDelivery, error) {
	var ds deliveryScan
	if err := src.Scan(ds.dests(s)...); err != nil {
		return store.WebhookDelivery{}, err
	}
	return ds.done(), nil
}

// scanClaim reads deliveryColumns, then the URL to post to, the sealed headers and
// secrets, the rest of the event and the claim's token.
func (s *Store) scanClaim(src Row) (store.WebhookClaim, error) {
	var (
		ds       deliveryScan
		c        store.WebhookClaim
		url      string
		data     []byte
		headers  []byte
		secrets  []byte
		eventDst = &c.Event
	)
	dests := append(ds.dests(s), &url, &headers, &secrets, &eventDst.Subject, &eventDst.UserID, s.timeDest(&eventDst.At), &data, &c.Token)
	if err := src.Scan(dests...); err != nil {
		return store.WebhookClaim{}, err
	}
	c.Delivery = ds.done()
	c.Delivery.URL = url
	c.Headers, c.Secrets = cloneNonEmpty(headers), cloneNonEmpty(secrets)
	c.Event.Seq, c.Event.Realm, c.Event.Type = c.Delivery.EventSeq, c.Delivery.Realm, c.Delivery.EventType
	c.Event.Data = data
	return c, nil
}

// cloneNonEmpty copies b, nil when it is empty: database/sql's byte slices may be the
// driver's buffers.
func cloneNonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}
