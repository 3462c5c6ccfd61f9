package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/internal/pgcluster"
	"github.com/turnbase/turnbase/migrations"
)

// database is the PostgreSQL the server uses: DATABASE_URL's, or an
// embedded one started from the machine's binaries in the data folder.
type database struct {
	pool     *pgxpool.Pool
	dsn      string
	embedded *pgcluster.Server // nil with DATABASE_URL
}

// openDatabase connects (starting the embedded server when no URL is
// given) and brings the schema up to date.
func openDatabase(ctx context.Context, cfg config, logger *slog.Logger) (*database, error) {
	db := &database{dsn: cfg.DatabaseURL}
	if db.dsn == "" {
		// A folder of its own: as root, the postgres user is given the
		// search bit on the way to it, and the data folder itself holds
		// secrets.
		dir := filepath.Join(cfg.DataDir, "postgres")
		srv, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: dir, Logger: logger.With("component", "postgres")})
		if err != nil {
			if errors.Is(err, pgcluster.ErrNotFound) {
				return nil, fmt.Errorf("no DATABASE_URL, so an embedded PostgreSQL is needed: %w", err)
			}
			return nil, fmt.Errorf("start embedded PostgreSQL: %w", err)
		}
		db.embedded = srv
		db.dsn = srv.DSN()
		logger.Info("embedded PostgreSQL started", "data", filepath.Join(dir, "pgdata"), "port", srv.Port())
	}
	pcfg, err := parseDatabaseURL(db.dsn)
	if err != nil {
		db.close(logger)
		return nil, err
	}
	if err := migrate(ctx, pcfg.ConnConfig.Copy()); err != nil {
		db.close(logger)
		return nil, err
	}
	// A new connection gets 5 s unless the URL says (connect_timeout):
	// pgx makes a pool's connections in the background, and one that a
	// busy host could not finish within the old 2 s left the pool short
	// while a burst of sign-ups timed out behind it. The pool holds at
	// least 8 connections; pool_max_conns in the URL sets more (each node
	// of a cluster also holds 3-4 of its own: the journal's, the
	// listeners', the lobby lock's, so mind PostgreSQL's max_connections).
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if pcfg.MaxConns < 8 {
		pcfg.MaxConns = 8
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		db.close(logger)
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}

// parseDatabaseURL parses a connection string. Its error never holds a
// password: pgx's message quotes the string, redacting on a best-effort
// basis only, so the passwords found here are scrubbed from it too, and it
// is left out when the string is too malformed to find them.
func parseDatabaseURL(dsn string) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err == nil {
		return pcfg, nil
	}
	if msg, ok := scrubSecrets(err.Error(), dsn); ok {
		return nil, fmt.Errorf("database URL %s: %s", redactDSN(dsn), msg)
	}
	return nil, fmt.Errorf("database URL does not parse (not shown, as it may hold a password)")
}

// migrate applies the embedded migrations on a connection of its own.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to database for migrations: %w", err)
	}
	defer conn.Close(context.Background())
	return migrations.Apply(ctx, conn)
}

func (db *database) close(logger *slog.Logger) {
	if db.pool != nil {
		db.pool.Close()
	}
	if db.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.embedded.Stop(ctx); err != nil {
			logger.Error("stop embedded PostgreSQL", "err", err)
		}
	}
}

// lockDataDir creates the data folder if need be and makes sure one
// server at a time uses it. The lock goes with the process, however it
// ends.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "turnbase.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data folder %s is in use by another turnbase: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// nodeID names this server in the database (the owner of its matches):
// random once, then kept in the data folder so a restart takes its own
// matches back.
func nodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	var raw [8]byte
	rand.Read(raw[:])
	id := "node-" + hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep node id: %w", err)
	}
	return id, nil
}
