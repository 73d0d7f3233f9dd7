package sqlstore

import (
	"context"
	"fmt"

	"github.com/signet-auth/signet/internal/store"
)

// CreateChannelKey stores a device channel key.
func (s *Store) CreateChannelKey(ctx context.Context, k store.ChannelKey) (store.ChannelKey, error) {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	k = store.ScannedChannelKey(k)
	if err := k.Validate(); err != nil {
		return store.ChannelKey{}, fmt.Errorf("create channel key: %w", err)
	}
	_, err := s.exec(ctx, `INSERT INTO channel_keys (id, sealed, created_at, retired_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Sealed, s.timeValue(k.CreatedAt), s.timeValue(k.RetiredAt))
	if err != nil {
		return store.ChannelKey{}, s.wrapErr(ctx, err, "create channel key %q", k.ID)
	}
	return k, nil
}

// ListChannelKeys returns every channel key, oldest first.
func (s *Store) ListChannelKeys(ctx context.Context) ([]store.ChannelKey, error) {
	keys, err := queryAll(ctx, s.reader, func(src Row) (store.ChannelKey, error) {
		var k store.ChannelKey
		err := src.Scan(&k.ID, &k.Sealed, s.timeDest(&k.CreatedAt), s.timeDest(&k.RetiredAt))
		return store.ScannedChannelKey(k), err
	}, `SELECT id, sealed, created_at, retired_at FROM channel_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list channel keys")
	}
	return keys, nil
}
