package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

const (
	activationColumns = `realm, id, code_hash, user_id, data, created_at, expires_at, redeemed_at, version`
	activationSelect  = `SELECT ` + activationColumns + ` FROM activation_codes`
)

// CreateActivationCode stores a new code and a's audit row in one transaction.
func (s *Store) CreateActivationCode(ctx context.Context, c store.ActivationCode, a store.Audit) (store.ActivationCode, error) {
	op := fmt.Sprintf("create activation code %q in realm %q", c.ID, c.Realm)
	now := s.now()
	c, data, err := store.PrepareActivationCode(c, now)
	if err != nil {
		return store.ActivationCode{}, err
	}
	event, eventData, err := store.PrepareAudit(a, c.Realm, c.UserID, "", c.ID, now)
	if err != nil {
		return store.ActivationCode{}, fmt.Errorf("%s: %w", op, err)
	}
	err = s.transact(ctx, op, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO activation_codes (`+activationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.Realm, c.ID, c.CodeHash, c.UserID, string(data),
			s.timeValue(c.CreatedAt), s.timeValue(c.ExpiresAt), s.timeValue(c.RedeemedAt), c.Version)
		if err == nil {
			err = s.insertAudit(ctx, tx, event, eventData)
		}
		return s.wrapErr(ctx, err, "%s", op)
	})
	if err != nil {
		return store.ActivationCode{}, err
	}
	return c, nil
}

// ListActivationCodes returns the realm's codes, only userID's unless it is empty,
// ordered by CreatedAt, then ID.
func (s *Store) ListActivationCodes(ctx context.Context, realm, userID string, opts store.ListOptions) (store.Page[store.ActivationCode], error) {
	return listByTime(ctx, s, fmt.Sprintf("list activation codes in realm %q", realm), "activation_code", activationSelect, s.scanActivationCode,
		func(c store.ActivationCode) (time.Time, string) { return c.CreatedAt, c.ID },
		realm, opts, filter{"user_id", userID})
}

// DeleteActivationCode removes the code and writes a's audit row.
func (s *Store) DeleteActivationCode(ctx context.Context, realm, id string, a store.Audit) error {
	return s.deleteAudited(ctx, fmt.Sprintf("delete activation code %q in realm %q", id, realm), a, realm, "", id,
		`DELETE FROM activation_codes WHERE realm = $1 AND id = $2 RETURNING user_id`, realm, id)
}

// EnrollDevice redeems the code and creates the device in one transaction. It locks the
// code's row first, so concurrent redemptions of one code queue and all but the first
// find it redeemed; with a device limit it then locks the user's row, so concurrent
// enrollments of one user with different codes count each other's devices.
func (s *Store) EnrollDevice(ctx context.Context, realm string, codeHash []byte, now time.Time, maxDevices int, d store.Device, a store.Audit) (store.Device, error) {
	op := fmt.Sprintf("enroll device %q in realm %q", d.ID, realm)
	if err := a.Validate(); err != nil {
		return store.Device{}, fmt.Errorf("%s: %w", op, err)
	}
	var e store.Enrollment
	err := s.transact(ctx, op, func(tx Tx) error {
		code, err := s.scanActivationCode(tx.QueryRow(ctx, activationSelect+` WHERE code_hash = $1`+s.dialect.RowLock, codeHash))
		if err != nil {
			return s.wrapErr(ctx, err, "%s: activation code", op)
		}
		if err := store.CheckRedeemable(code, realm, now); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		// The user's row is locked, so a user disabled or locked meanwhile enrolls
		// nothing, and concurrent enrollments count each other's devices.
		u, err := s.scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE realm = $1 AND id = $2`+s.dialect.RowLock, code.Realm, code.UserID))
		if err != nil {
			return s.wrapErr(ctx, err, "%s: user", op)
		}
		if !u.Enabled || now.Before(u.LockedUntil) {
			return fmt.Errorf("%s: %w", op, store.ErrUserInactive)
		}
		devices := 0
		if maxDevices > 0 {
			if devices, err = s.countDevices(ctx, tx, code.Realm, code.UserID); err != nil {
				return s.wrapErr(ctx, err, "%s: count devices", op)
			}
		}
		if e, err = store.PrepareEnrollment(code, d, a, devices, maxDevices, now, s.now()); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return s.wrapErr(ctx, s.writeEnrollment(ctx, tx, e), "%s", op)
	})
	if err != nil {
		return store.Device{}, err
	}
	return e.Device, nil
}

// countDevices counts the user's devices that are not revoked.
func (s *Store) countDevices(ctx context.Context, tx Tx, realm, userID string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM devices WHERE realm = $1 AND user_id = $2 AND state <> $3`,
		realm, userID, string(store.DeviceRevoked)).Scan(&n)
	return n, err
}

// writeEnrollment inserts the device, marks the code redeemed and writes the audit row
// and the "device.enrolled" event.
func (s *Store) writeEnrollment(ctx context.Context, tx Tx, e store.Enrollment) error {
	if err := s.insertDevice(ctx, tx, e.Device, e.DeviceDocument); err != nil {
		return err
	}
	c := e.Code
	_, err := tx.Exec(ctx, `UPDATE activation_codes SET redeemed_at = $1, data = $2, version = $3 WHERE realm = $4 AND id = $5`,
		s.timeValue(c.RedeemedAt), string(e.CodeDocument), c.Version, c.Realm, c.ID)
	if err != nil {
		return err
	}
	if err := s.insertAudit(ctx, tx, e.Event, e.EventDocument); err != nil {
		return err
	}
	d := e.Device
	return s.writeChange(ctx, tx, store.ChangeEvent{Type: store.EventDeviceEnrolled, Realm: d.Realm, UserID: d.UserID,
		DeviceID: d.ID, State: string(d.State), At: d.CreatedAt})
}

// PurgeActivationCodes deletes the codes that expired or were redeemed before before.
func (s *Store) PurgeActivationCodes(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM activation_codes WHERE expires_at < $1 OR redeemed_at < $1`, s.timeValue(before))
	return n, s.wrapErr(ctx, err, "purge activation codes")
}

// scanActivationCode reads one row of activationColumns.
func (s *Store) scanActivationCode(src Row) (store.ActivationCode, error) {
	var (
		c    store.ActivationCode
		data []byte
	)
	err := src.Scan(&c.Realm, &c.ID, &c.CodeHash, &c.UserID, &data,
		s.timeDest(&c.CreatedAt), s.timeDest(&c.ExpiresAt), s.timeDest(&c.RedeemedAt), &c.Version)
	if err != nil {
		return store.ActivationCode{}, err
	}
	return store.Scanned(c, data)
}
