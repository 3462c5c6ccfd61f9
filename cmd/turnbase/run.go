package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// run is the program: main only calls it, tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout)
	case "migrate":
		return migrateCmd(ctx, args, getenv, stdout)
	case "operator":
		return operatorCmd(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		_, _, _, err := parseConfig("turnbase serve", []string{"-h"}, getenv, stdout)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, operator or help)", cmd)
	}
}

// migrateCmd brings the database (DATABASE_URL's, or the embedded one in
// the data folder) up to the latest schema and exits. serve does the same
// at every start; this is for deploying a schema ahead of the servers.
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, logger, help, err := loadConfig("turnbase migrate", args, getenv, stdout)
	if help || err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		release, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer release()
	}
	db, err := openDatabase(ctx, cfg, logger) // applies the migrations
	if err != nil {
		return err
	}
	db.close(logger)
	logger.Info("database schema is up to date")
	return nil
}

// loadConfig parses the settings, prints them (secrets masked) and makes
// the logger. help reports that -h was asked for and answered.
func loadConfig(name string, args []string, getenv func(string) string, stdout io.Writer) (cfg config, logger *slog.Logger, help bool, err error) {
	cfg, settings, fs, err := parseConfig(name, args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, nil, true, nil
	}
	if err != nil {
		return cfg, nil, false, err
	}
	if logger, err = newLogger(stdout, cfg.LogFormat, cfg.LogLevel); err != nil {
		return cfg, nil, false, err
	}
	printConfig(stdout, fs, settings)
	return cfg, logger, false, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// jwtSecret returns the configured secret, or the one kept in the data
// folder, generating it on first use.
func jwtSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, errors.New("TURNBASE_JWT_SECRET must be at least 32 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "jwt-secret")
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) >= 32 {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%s holds a secret shorter than 32 characters", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read jwt secret: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate jwt secret: %w", err)
	}
	secret := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keep jwt secret: %w", err)
	}
	return []byte(secret), nil
}
