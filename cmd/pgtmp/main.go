// Command pgtmp runs a throwaway PostgreSQL server for scripts and browser
// tests that start several turnbase nodes on one database: it starts the
// machine's PostgreSQL through internal/pgcluster (as the postgres user
// when run as root, on 127.0.0.1, SCRAM authentication with a random
// password), prints the database's URL as one line on stdout, and runs
// until it is told to stop. Then it stops the server and removes the data
// folder it made.
//
//	pgtmp                      # a temporary data folder, removed at the end
//	pgtmp -stdin               # also stop when stdin closes (the parent died)
//	pgtmp -set max_connections=300 -set shared_buffers=256MB
//
// It stops on SIGINT or SIGTERM, and with -stdin when its standard input
// reaches end of file: a parent that holds the other end of a pipe (a
// Node test) cannot leave the server behind, even when it is killed. The
// server itself dies with pgtmp (the kernel's parent-death signal), so a
// SIGKILL of pgtmp leaves no server running, only the folder.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/turnbase/turnbase/internal/pgcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pgtmp:", err)
		os.Exit(1)
	}
}

// settings is a repeated -set name=value flag.
type settings map[string]string

func (s settings) String() string { return fmt.Sprint(map[string]string(s)) }

func (s settings) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	s[k] = val
	return nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pgtmp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "data folder (kept); empty: a temporary one, removed at the end")
	port := fs.Int("port", 0, "TCP port on 127.0.0.1 (0: a free one)")
	noSync := fs.Bool("nosync", false, "fsync and synchronous_commit off (faster, not crash-safe)")
	untilEOF := fs.Bool("stdin", false, "stop when standard input closes")
	verbose := fs.Bool("v", false, "log the server's lines at info level on stderr")
	set := settings{"max_connections": "200"}
	fs.Var(set, "set", "server parameter name=value (repeatable; default max_connections=200)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "turnbase-pgtmp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	srv, err := pgcluster.Start(ctx, pgcluster.Config{
		DataDir:      dir,
		Port:         *port,
		NoSync:       *noSync,
		Settings:     set,
		Logger:       logger,
		StartTimeout: 2 * time.Minute,
	})
	if err != nil {
		return err
	}
	stopServer := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Stop(sctx)
	}
	if _, err := fmt.Fprintln(stdout, srv.DSN()); err != nil {
		return errors.Join(err, stopServer())
	}

	closed := make(chan struct{})
	if *untilEOF {
		go func() {
			io.Copy(io.Discard, stdin)
			close(closed)
		}()
	}
	select {
	case <-ctx.Done():
	case <-closed:
	case <-srv.Done():
		return errors.Join(errors.New("postgres exited by itself"), stopServer())
	}
	return stopServer()
}
