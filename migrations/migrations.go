// Package migrations holds turnbase's database schema as numbered SQL files
// (0001_init.sql, 0002_...) and applies them with tern.
//
// A file is applied once, in its own transaction, and the database records
// the version reached in VersionTable. tern holds a PostgreSQL advisory lock
// for the whole run, so processes starting together migrate one after the
// other: the first applies what is missing, the others find nothing to do.
// Files are text/template templates to tern: write no "{{" in them.
// Never edit a file that has been released; add the next one.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// VersionTable is where tern records the schema version (one row).
const VersionTable = "public.schema_version"

// files are the migrations. A package variable only because go:embed needs
// one; never written.
//
//go:embed *.sql
var files embed.FS

// FS returns the migration files.
func FS() fs.FS { return files }

// Apply brings the database conn is connected to up to the latest version.
// Several processes may call it at once, on the same database.
//
// It takes one connection, not a pool, because tern's lock and transactions
// belong to a session: use a connection of its own, opened for the purpose
// (a pool's would go back with the schema changed under its statement
// cache). If Apply fails, close conn: it may still hold the lock, or be in
// a failed transaction. A database migrated by a newer release (a version
// beyond the files here) is an error, so an old binary does not run on a
// schema it does not know.
func Apply(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
