package server

import (
	"context"
	"fmt"
	"net/url"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	redisstore "github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/postgres"
	"github.com/signet-auth/signet/internal/store/sqlite"
)

// OpenStore opens the durable store the configuration names. It does not migrate.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	raw := cfg.DatabaseURL()
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("database.url is malformed")
	}
	switch u.Scheme {
	case "sqlite":
		path, err := config.SQLitePath(raw)
		if err != nil {
			return nil, fmt.Errorf("database.url: %w", err)
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		return st, nil
	case "postgres", "postgresql":
		st, err := postgres.Open(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("open postgres database %s: %w", u.Redacted(), err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("database.url: unsupported scheme %q", u.Scheme)
}

// OpenEphemeral opens the in-process store, or Redis when a URL is configured.
func OpenEphemeral(ctx context.Context, cfg config.Config) (ephemeral.Store, error) {
	if cfg.Redis.URL == "" {
		return memory.New(), nil
	}
	st, err := redisstore.Open(ctx, cfg.Redis.URL, redisstore.WithPrefix(cfg.Redis.KeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("open redis: %w", err)
	}
	return st, nil
}
