package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// ListAuditEvents returns the realm's events that match f, newest first.
func (s *Store) ListAuditEvents(ctx context.Context, realm string, f store.AuditFilter, opts store.ListOptions) (store.Page[store.AuditEvent], error) {
	op := fmt.Sprintf("list audit events in realm %q", realm)
	before, limit, err := store.PageRequestBySeq("audit_event", opts)
	if err != nil {
		return store.Page[store.AuditEvent]{}, s.wrapErr(ctx, err, "%s", op)
	}
	args := []any{realm, before}
	query := `SELECT seq, realm, at, user_id, device_id, data FROM audit_events WHERE realm = $1 AND seq < $2` +
		where(&args, filter{"user_id", f.UserID}, filter{"device_id", f.DeviceID}) +
		` ORDER BY seq DESC` + limitClause(&args, limit+1)
	events, err := queryAll(ctx, s.reader, s.scanAuditEvent, query, args...)
	if err != nil {
		return store.Page[store.AuditEvent]{}, s.wrapErr(ctx, err, "%s", op)
	}
	return store.NewPageBySeq("audit_event", events, limit, func(e store.AuditEvent) int64 { return e.Seq }), nil
}

// insertAudit writes e, as store.PrepareAudit made it with its document data; the
// database assigns its Seq.
func (s *Store) insertAudit(ctx context.Context, tx Tx, e store.AuditEvent, data []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_events (realm, at, user_id, device_id, data) VALUES ($1, $2, $3, $4, $5)`,
		e.Realm, s.timeValue(e.At), e.UserID, e.DeviceID, string(data))
	return err
}

// deleteAudited runs query, a DELETE of one record in realm that returns the user_id of
// the row it deleted, and writes a's audit row about that user, and about device deviceID
// or activation code activationID, in the same transaction, with the "device.removed"
// event for a device; ErrNotFound, and no audit row, when there was nothing to delete.
func (s *Store) deleteAudited(ctx context.Context, op string, a store.Audit, realm, deviceID, activationID, query string, args ...any) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.transact(ctx, op, func(tx Tx) error {
		var userID string
		if err := tx.QueryRow(ctx, query, args...).Scan(&userID); err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		event, data, err := store.PrepareAudit(a, realm, userID, deviceID, activationID, s.now())
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		err = s.insertAudit(ctx, tx, event, data)
		if err == nil && deviceID != "" {
			err = s.writeDeviceRemoved(ctx, tx, realm, userID, deviceID, event.At)
		}
		return s.wrapErr(ctx, err, "%s", op)
	})
}

// writeChange appends c, an event the store writes itself, in tx.
func (s *Store) writeChange(ctx context.Context, tx Tx, c store.ChangeEvent) error {
	e := c.Record()
	return s.writeEvents(ctx, tx, []*store.Event{&e})
}

// writeDeviceRemoved appends the "device.removed" event of a device deleted at at.
func (s *Store) writeDeviceRemoved(ctx context.Context, tx Tx, realm, userID, deviceID string, at time.Time) error {
	return s.writeChange(ctx, tx, store.ChangeEvent{Type: store.EventDeviceRemoved, Realm: realm, UserID: userID, DeviceID: deviceID, At: at})
}

// scanAuditEvent reads one row of seq, realm, at, user_id, device_id, data.
func (s *Store) scanAuditEvent(src Row) (store.AuditEvent, error) {
	var (
		e    store.AuditEvent
		data []byte
	)
	if err := src.Scan(&e.Seq, &e.Realm, s.timeDest(&e.At), &e.UserID, &e.DeviceID, &data); err != nil {
		return store.AuditEvent{}, err
	}
	return store.Scanned(e, data)
}
