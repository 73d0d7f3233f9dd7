package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

const (
	deviceColumns = `realm, id, user_id, public_key, state, data, created_at, updated_at, last_seen_at, version`
	deviceSelect  = `SELECT ` + deviceColumns + ` FROM devices`
)

// GetDevice returns the device or ErrNotFound.
func (s *Store) GetDevice(ctx context.Context, realm, id string) (store.Device, error) {
	d, err := s.scanDevice(s.reader.QueryRow(ctx, deviceSelect+` WHERE realm = $1 AND id = $2`, realm, id))
	if err != nil {
		return store.Device{}, s.wrapErr(ctx, err, "get device %q in realm %q", id, realm)
	}
	return d, nil
}

// FindDevice returns the device with this id in any realm.
func (s *Store) FindDevice(ctx context.Context, id string) (store.Device, store.User, error) {
	var ds deviceScan
	var us userScan
	err := s.reader.QueryRow(ctx, findDeviceQuery, id).Scan(append(ds.dests(s), us.dests(s)...)...)
	if err != nil {
		return store.Device{}, store.User{}, s.wrapErr(ctx, err, "find device %q", id)
	}
	d, err := ds.done()
	if err != nil {
		return store.Device{}, store.User{}, s.wrapErr(ctx, err, "find device %q", id)
	}
	u, err := us.done()
	if err != nil {
		return store.Device{}, store.User{}, s.wrapErr(ctx, err, "find device %q", id)
	}
	return d, u, nil
}

// findDeviceQuery reads a device and its user in one query: the handshake's lookup.
var findDeviceQuery = `SELECT ` + qualify("d", deviceColumns) + `, ` + qualify("u", userColumns) +
	` FROM devices d JOIN users u ON u.realm = d.realm AND u.id = d.user_id WHERE d.id = $1`

// qualify prefixes each of a comma-separated list of columns with table.
func qualify(table, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = table + "." + c
	}
	return strings.Join(cols, ", ")
}

// ListDevices returns the realm's devices that match f, ordered by CreatedAt, then ID.
func (s *Store) ListDevices(ctx context.Context, realm string, f store.DeviceFilter, opts store.ListOptions) (store.Page[store.Device], error) {
	op := fmt.Sprintf("list devices in realm %q", realm)
	if err := store.ValidDeviceFilter(f); err != nil {
		return store.Page[store.Device]{}, fmt.Errorf("%s: %w", op, err)
	}
	return listByTime(ctx, s, op, "device", deviceSelect, s.scanDevice,
		func(d store.Device) (time.Time, string) { return d.CreatedAt, d.ID },
		realm, opts, filter{"user_id", f.UserID}, filter{"state", string(f.State)})
}

// UserDevices returns the user's devices, oldest first.
func (s *Store) UserDevices(ctx context.Context, realm, userID string) ([]store.Device, error) {
	ds, err := queryAll(ctx, s.reader, s.scanDevice, deviceSelect+` WHERE realm = $1 AND user_id = $2 ORDER BY created_at, id LIMIT $3`,
		realm, userID, store.MaxUserDevices)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list devices of user %q in realm %q", userID, realm)
	}
	return ds, nil
}

// CountDevices counts the devices of every realm by state.
func (s *Store) CountDevices(ctx context.Context) (map[store.DeviceState]int64, error) {
	type count struct {
		state store.DeviceState
		n     int64
	}
	rows, err := queryAll(ctx, s.reader, func(r Row) (count, error) {
		var c count
		var state string
		err := r.Scan(&state, &c.n)
		c.state = store.DeviceState(state)
		return c, err
	}, `SELECT state, COUNT(*) FROM devices GROUP BY state`)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "count devices")
	}
	counts := make(map[store.DeviceState]int64, len(rows))
	for _, c := range rows {
		counts[c.state] = c.n
	}
	return counts, nil
}

// deviceAudit is what UpdateDevice writes beside the device: its document, the audit
// row, and the type of the event a change of state writes ("" for none).
type deviceAudit struct {
	data      []byte
	event     store.AuditEvent
	eventData []byte
	change    string
}

// UpdateDevice applies fn to the stored device in one locking transaction (see update),
// which also writes a's audit row.
func (s *Store) UpdateDevice(ctx context.Context, realm, id string, a store.Audit, fn func(store.Device) (store.Device, error)) (store.Device, error) {
	return s.updateDevice(ctx, realm, id, a, fn, false)
}

// UpdateDeviceKeepingOne is UpdateDevice that keeps the user one active device.
func (s *Store) UpdateDeviceKeepingOne(ctx context.Context, realm, id string, a store.Audit, fn func(store.Device) (store.Device, error)) (store.Device, error) {
	return s.updateDevice(ctx, realm, id, a, fn, true)
}

func (s *Store) updateDevice(ctx context.Context, realm, id string, a store.Audit, fn func(store.Device) (store.Device, error), keepOne bool) (store.Device, error) {
	op := fmt.Sprintf("update device %q in realm %q", id, realm)
	if err := a.Validate(); err != nil {
		return store.Device{}, fmt.Errorf("%s: %w", op, err)
	}
	var wasActive bool
	return update(ctx, s, op,
		func(tx Tx) (store.Device, error) {
			if keepOne {
				if err := s.lockDeviceUser(ctx, tx, realm, id); err != nil {
					return store.Device{}, err
				}
			}
			d, err := s.scanDevice(tx.QueryRow(ctx, deviceSelect+` WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, id))
			wasActive = d.State == store.DeviceActive
			return d, err
		},
		func(old store.Device) (store.Device, deviceAudit, error) {
			now := s.now()
			d, data, err := store.PrepareUpdate(old, fn, now)
			if err != nil {
				return store.Device{}, deviceAudit{}, err
			}
			event, eventData, err := store.PrepareAudit(a, realm, d.UserID, id, "", now)
			return d, deviceAudit{data, event, eventData, store.DeviceStateEvent(old.State, d.State)}, err
		},
		func(tx Tx, d store.Device, w deviceAudit) error {
			_, err := tx.Exec(ctx, `UPDATE devices SET public_key = $1, state = $2, data = $3, updated_at = $4,
				last_seen_at = $5, version = $6 WHERE realm = $7 AND id = $8`,
				d.PublicKey, string(d.State), string(w.data), s.timeValue(d.UpdatedAt), s.timeValue(d.LastSeenAt), d.Version, realm, id)
			if err != nil {
				return err
			}
			if keepOne && wasActive && d.State != store.DeviceActive {
				if err := s.checkOneActive(ctx, tx, realm, d.UserID); err != nil {
					return err
				}
			}
			if err := s.insertAudit(ctx, tx, w.event, w.eventData); err != nil {
				return err
			}
			if w.change == "" {
				return nil
			}
			return s.writeChange(ctx, tx, store.ChangeEvent{Type: w.change, Realm: realm, UserID: d.UserID, DeviceID: id,
				State: string(d.State), At: d.UpdatedAt})
		})
}

// DeleteDevice removes the device and writes a's audit row.
func (s *Store) DeleteDevice(ctx context.Context, realm, id string, a store.Audit) error {
	return s.deleteAudited(ctx, fmt.Sprintf("delete device %q in realm %q", id, realm), a, realm, id, "",
		`DELETE FROM devices WHERE realm = $1 AND id = $2 RETURNING user_id`, realm, id)
}

// DeleteDeviceKeepingOne is DeleteDevice that keeps the user one active device.
func (s *Store) DeleteDeviceKeepingOne(ctx context.Context, realm, id string, a store.Audit) error {
	op := fmt.Sprintf("delete device %q in realm %q", id, realm)
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.transact(ctx, op, func(tx Tx) error {
		if err := s.lockDeviceUser(ctx, tx, realm, id); err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		var userID, state string
		if err := tx.QueryRow(ctx, `DELETE FROM devices WHERE realm = $1 AND id = $2 RETURNING user_id, state`, realm, id).Scan(&userID, &state); err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		if state == string(store.DeviceActive) {
			if err := s.checkOneActive(ctx, tx, realm, userID); err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
		}
		event, data, err := store.PrepareAudit(a, realm, userID, id, "", s.now())
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		err = s.insertAudit(ctx, tx, event, data)
		if err == nil {
			err = s.writeDeviceRemoved(ctx, tx, realm, userID, id, event.At)
		}
		return s.wrapErr(ctx, err, "%s", op)
	})
}

// lockDeviceUser locks the row of the device's user, so changes of one user's devices
// that must keep one active queue.
func (s *Store) lockDeviceUser(ctx context.Context, tx Tx, realm, id string) error {
	var userID string
	if err := tx.QueryRow(ctx, `SELECT user_id FROM devices WHERE realm = $1 AND id = $2`, realm, id).Scan(&userID); err != nil {
		return err
	}
	var locked string
	return tx.QueryRow(ctx, `SELECT id FROM users WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, userID).Scan(&locked)
}

// checkOneActive is ErrLastDevice unless the user has an active device left.
func (s *Store) checkOneActive(ctx context.Context, tx Tx, realm, userID string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM devices WHERE realm = $1 AND user_id = $2 AND state = $3`,
		realm, userID, string(store.DeviceActive)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrLastDevice
	}
	return nil
}

// TouchDevice moves LastSeenAt forward to seen; a later LastSeenAt stays.
func (s *Store) TouchDevice(ctx context.Context, realm, id string, seen time.Time) error {
	op := fmt.Sprintf("touch device %q in realm %q", id, realm)
	if err := store.ValidLastSeen(seen); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// Every matching row counts as changed, kept value or not, so a missing device is
	// the only way to change nothing.
	return s.execOne(ctx, op, touchDeviceSQL, s.timeValue(seen), realm, id)
}

const touchDeviceSQL = `UPDATE devices SET last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $1
	THEN $1 ELSE last_seen_at END WHERE realm = $2 AND id = $3`

// TouchDevices moves many devices' LastSeenAt forward in one transaction.
func (s *Store) TouchDevices(ctx context.Context, seen []store.DeviceSeen) error {
	op := fmt.Sprintf("touch %d devices", len(seen))
	for _, d := range seen {
		if err := store.ValidLastSeen(d.Seen); err != nil {
			return fmt.Errorf("%s: device %q in realm %q: %w", op, d.ID, d.Realm, err)
		}
	}
	if len(seen) == 0 {
		return nil
	}
	return s.transact(ctx, op, func(tx Tx) error {
		for _, d := range seen {
			if _, err := tx.Exec(ctx, touchDeviceSQL, s.timeValue(d.Seen), d.Realm, d.ID); err != nil {
				return s.wrapErr(ctx, err, "%s", op)
			}
		}
		return nil
	})
}

// scanDevice reads one row of deviceColumns.
func (s *Store) scanDevice(src Row) (store.Device, error) {
	var ds deviceScan
	if err := src.Scan(ds.dests(s)...); err != nil {
		return store.Device{}, err
	}
	return ds.done()
}

// deviceScan is a device being read from deviceColumns: dests are the Scan
// destinations, done completes the record once they are filled.
type deviceScan struct {
	d     store.Device
	state string
	data  []byte
}

func (ds *deviceScan) dests(s *Store) []any {
	d := &ds.d
	return []any{&d.Realm, &d.ID, &d.UserID, &d.PublicKey, &ds.state, &ds.data,
		s.timeDest(&d.CreatedAt), s.timeDest(&d.UpdatedAt), s.timeDest(&d.LastSeenAt), &d.Version}
}

func (ds *deviceScan) done() (store.Device, error) {
	ds.d.State = store.DeviceState(ds.state)
	return store.Scanned(ds.d, ds.data)
}

func (s *Store) insertDevice(ctx context.Context, tx Tx, d store.Device, data []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO devices (`+deviceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.Realm, d.ID, d.UserID, d.PublicKey, string(d.State), string(data),
		s.timeValue(d.CreatedAt), s.timeValue(d.UpdatedAt), s.timeValue(d.LastSeenAt), d.Version)
	return err
}
