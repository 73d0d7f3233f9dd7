package store

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MigrationFile is one embedded schema change, read by LoadMigrations.
type MigrationFile struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads the schema migrations in the root of fsys, one file each, named
// NNNN_name.sql with a four-digit version and a name of [a-z0-9_]. It returns them in
// version order and fails unless the versions run 1, 2, 3... without gap or duplicate,
// so a misnamed file is caught by the first test rather than on a production database.
func LoadMigrations(fsys fs.FS) ([]MigrationFile, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	// ReadDir sorts by file name, and four-digit versions sort as numbers.
	files := make([]MigrationFile, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			return nil, fmt.Errorf("migration %s: is a directory", e.Name())
		}
		version, name, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, err
		}
		if want := len(files) + 1; version != want {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions run from 1 without gap or duplicate)", e.Name(), version, want)
		}
		sql, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		if strings.TrimSpace(string(sql)) == "" {
			return nil, fmt.Errorf("migration %s: empty", e.Name())
		}
		files = append(files, MigrationFile{Version: version, Name: name, SQL: string(sql)})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read migrations: no migration files")
	}
	return files, nil
}

func parseMigrationName(file string) (version int, name string, err error) {
	base, isSQL := strings.CutSuffix(file, ".sql")
	digits, name, hasName := strings.Cut(base, "_")
	if !isSQL || !hasName || len(digits) != 4 || name == "" {
		return 0, "", fmt.Errorf("migration %s: want a name like 0001_create_things.sql", file)
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, "", fmt.Errorf("migration %s: version %q is not four digits", file, digits)
		}
	}
	for _, c := range []byte(name) {
		if !isLowerAlnum(c) && c != '_' {
			return 0, "", fmt.Errorf("migration %s: name %q may only hold a-z, 0-9 and '_'", file, name)
		}
	}
	version, err = strconv.Atoi(digits)
	if err != nil {
		return 0, "", fmt.Errorf("migration %s: %w", file, err)
	}
	return version, name, nil
}

// ApplyMigrations runs apply for each of files in order and returns the migrations this
// call applied. apply runs one migration in its own transaction under the back end's
// migration lock; it reports applied false, without error, when the migration was
// already recorded, for instance by another node that took the lock first.
func ApplyMigrations(ctx context.Context, files []MigrationFile, apply func(context.Context, MigrationFile) (appliedAt time.Time, applied bool, err error)) ([]Migration, error) {
	var done []Migration
	for _, f := range files {
		at, applied, err := apply(ctx, f)
		if err != nil {
			return done, fmt.Errorf("apply migration %04d_%s: %w", f.Version, f.Name, err)
		}
		if applied {
			done = append(done, Migration{Version: f.Version, Name: f.Name, Applied: true, AppliedAt: at})
		}
	}
	return done, nil
}

// UnknownMigrationName is the Name of a recorded migration this build does not contain.
const UnknownMigrationName = "(unknown to this build)"

// MigrationStatusOf lists every one of files with its applied time from applied, which
// maps a recorded version to the time it was applied, followed in version order by every
// recorded version that files lack, flagged Unknown.
func MigrationStatusOf(files []MigrationFile, applied map[int]time.Time) []Migration {
	out := make([]Migration, len(files), max(len(files), len(applied)))
	known := make(map[int]bool, len(files))
	for i, f := range files {
		at, ok := applied[f.Version]
		out[i] = Migration{Version: f.Version, Name: f.Name, Applied: ok, AppliedAt: at}
		known[f.Version] = true
	}
	unknown := len(out)
	for version, at := range applied {
		if !known[version] {
			out = append(out, Migration{Version: version, Name: UnknownMigrationName, Applied: true, AppliedAt: at, Unknown: true})
		}
	}
	slices.SortFunc(out[unknown:], func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// CheckSchemaNotNewer returns an error wrapping ErrSchemaNewer when status, as
// MigrationStatus returns it, holds a migration this build does not contain. A node
// checks it before it migrates or serves, so an older build never runs on a schema it
// does not know.
func CheckSchemaNotNewer(status []Migration) error {
	var newestKnown, newest int
	unknown := false
	for _, m := range status {
		if m.Unknown {
			newest = max(newest, m.Version)
			unknown = true
		} else {
			newestKnown = max(newestKnown, m.Version)
		}
	}
	if !unknown {
		return nil
	}
	return fmt.Errorf("%w: the database records migration %04d, this build knows migrations up to %04d; run a build at least as new as the one that migrated it",
		ErrSchemaNewer, newest, newestKnown)
}
