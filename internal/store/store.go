// Package store holds Signet's durable state behind narrow interfaces, one per area,
// with sentinel errors checked by errors.Is. sqlstore/ implements them once in SQL;
// the back ends in sqlite/ and postgres/ open the database and supply its dialect;
// storetest/ is the one conformance suite both must pass.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every back end.
var (
	// ErrNotFound: the addressed record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique key is already taken, or a concurrent change won.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalidCursor: a pagination cursor is malformed or belongs to another listing.
	ErrInvalidCursor = errors.New("store: invalid cursor")
	// ErrUnavailable: the database could not be reached or did not answer in time. The
	// error also wraps the driver's cause; callers answer it with 503 and may retry.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrSchemaNewer: the database holds migrations this build does not contain, applied
	// by a newer build; this one must not migrate or serve it.
	ErrSchemaNewer = errors.New("store: database schema is newer than this build")
)

// Realm is a tenant: its own users, clients, keys and settings.
type Realm struct {
	// Name is the URL-safe, unique identifier used in paths (/realms/{name}).
	Name        string
	DisplayName string
	Enabled     bool
	// Attributes carries realm settings that later areas add without a migration.
	Attributes map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Version increases by one on every successful update; it backs ETags.
	Version int64
}

// ListOptions selects one page of a listing.
type ListOptions struct {
	// Limit is the page size; 0 means DefaultPageSize, values above MaxPageSize are clamped.
	Limit int
	// Cursor is the opaque Next value of the previous page, empty for the first page.
	Cursor string
}

// Page sizes for listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is one page of a listing. Next is empty on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// Realms stores tenants.
type Realms interface {
	// CreateRealm stores a new realm; ErrConflict if the name is taken.
	// CreatedAt, UpdatedAt and Version are set by the store.
	CreateRealm(ctx context.Context, r Realm) (Realm, error)
	// GetRealm returns the realm or ErrNotFound.
	GetRealm(ctx context.Context, name string) (Realm, error)
	// ListRealms returns realms ordered by name.
	ListRealms(ctx context.Context, opts ListOptions) (Page[Realm], error)
	// UpdateRealm applies fn to the current realm atomically: no concurrent update is lost.
	// An error from fn aborts the update and is returned unchanged. The name cannot change.
	UpdateRealm(ctx context.Context, name string, fn func(Realm) (Realm, error)) (Realm, error)
	// DeleteRealm removes the realm or returns ErrNotFound.
	DeleteRealm(ctx context.Context, name string) error
}

// Migration is one schema change and whether it has been applied.
type Migration struct {
	Version   int
	Name      string
	Applied   bool
	AppliedAt time.Time
	// Unknown marks a migration recorded in the database that this build does not
	// contain (Name is UnknownMigrationName); see ErrSchemaNewer.
	Unknown bool
}

// Migrator applies the embedded schema migrations.
type Migrator interface {
	// MigrateUp applies every pending migration in order, each in its own transaction,
	// and returns the ones it applied. Safe to call from several nodes at once. It applies
	// nothing and returns an error wrapping ErrSchemaNewer when the database records a
	// migration this build does not contain.
	MigrateUp(ctx context.Context) ([]Migration, error)
	// MigrationStatus lists every embedded migration and whether it is applied, then, in
	// version order and flagged Unknown, every recorded migration this build lacks.
	MigrationStatus(ctx context.Context) ([]Migration, error)
}

// Store is the whole durable store a node opens once. Every method that reaches the
// database returns an error wrapping ErrUnavailable, beside the driver's cause, when
// the database cannot be reached; a cancelled ctx comes back as context.Canceled.
type Store interface {
	Realms
	Users
	Clients
	SigningKeys
	Sessions
	Grants
	Consents
	Devices
	ActivationCodes
	AuditLog
	EventLog
	AuthnRequests
	ChannelKeys
	PushCredentials
	Webhooks
	Migrator
	// Ping checks that the database answers; it wraps ErrUnavailable when it does not.
	Ping(ctx context.Context) error
	// Backend names the back end ("sqlite" or "postgres").
	Backend() string
	Close() error
}
