// Package sqlite is the single-node store back end: one SQLite file in WAL mode. Every
// write goes through one connection, so concurrent writers queue in Go instead of
// failing with SQLITE_BUSY; plain reads use a pool of read-only connections. The
// queries are sqlstore's; this package opens the file and supplies the dialect.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeout bounds the wait for a lock held by another process on the same file, such
// as `signet migrate` run beside a live node; within one process the writer never waits
// on SQLite because it is the only writing connection.
const busyTimeout = 5 * time.Second

// Store is the SQLite back end. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	// writer has one connection and runs every write and read-modify-write transaction,
	// each a BEGIN IMMEDIATE transaction (_txlock=immediate).
	writer *sql.DB
	// reader runs plain reads on read-only connections; WAL lets them run beside the writer.
	reader *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating the file (0600) and its parent
// directories (0700) when missing. It does not migrate; call MigrateUp.
func Open(ctx context.Context, path string, opts ...store.Option) (*Store, error) {
	migrations, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	path = abs
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Create the file here so that it gets 0600; SQLite gives its -wal and -shm files the
	// same permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	writer, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// The writer connects first: its journal_mode pragma turns a new file to WAL before a
	// read-only connection could try to.
	if err := writer.PingContext(ctx); err != nil {
		return nil, errors.Join(dialect().WrapError(ctx, err, "open sqlite %s", path), writer.Close())
	}

	reader, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite %s: %w", path, err), writer.Close())
	}
	readers := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)

	s := &Store{
		Store: sqlstore.New(sqlstore.Config{
			Dialect:    dialect(),
			Writer:     newDB(writer),
			Reader:     newDB(reader),
			Migrations: migrations,
		}, opts...),
		writer: writer,
		reader: reader,
	}
	if err := s.Ping(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// dsn is the modernc.org/sqlite data source name for path. The driver runs the _pragma
// values on every new connection, so no pooled connection misses one.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

func loadMigrations() ([]store.MigrationFile, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite migrations: %w", err)
	}
	files, err := store.LoadMigrations(sub)
	if err != nil {
		return nil, fmt.Errorf("sqlite migrations: %w", err)
	}
	return files, nil
}
