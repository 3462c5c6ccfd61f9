// Package pgcluster runs a private PostgreSQL server from the machine's
// binaries, for development, tests and single-box installations that have no
// DATABASE_URL.
//
// The server is the postgres binary run directly as a child process of this
// one, not started through pg_ctl. Owning the process is what lets Start and
// Stop be exact: Stop signals it and waits for it to exit (pg_ctl would poll
// a pid file), an early exit during Start is seen at once together with its
// log lines instead of as a timeout, the server's log goes to our
// *slog.Logger through a pipe, and the kernel's parent-death signal
// (Pdeathsig) stops the server when this process dies, even by SIGKILL; pg_ctl
// daemonizes the server, which would then outlive us. The server runs in its
// own process group, so the SIGINT a terminal sends on Ctrl-C reaches only
// this process, which can then finish writing before it stops the database.
//
// The server listens on 127.0.0.1 only, on TCP (no unix socket, so no
// 107-byte socket path limit and no lock file outside the data directory).
// Every connection must authenticate with SCRAM-SHA-256 as the superuser,
// whose random password is made once and kept in Config.DataDir/PasswordFile
// (mode 0600, this process's user); pg_hba.conf accepts nothing else, so
// other users of the machine cannot connect. A cluster made before that,
// with trust authentication, is upgraded at its next Start (see secureAuth).
//
// PostgreSQL refuses to run as root. When this process runs as root, initdb
// and postgres run as the "postgres" system user, the data directory belongs
// to that user, and Start gives each directory above it that the user could
// not pass through the search permission it lacks (see Config.DataDir).
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrInUse means another running server already uses the data directory.
var ErrInUse = errors.New("data directory in use by a running postgres")

const (
	// DefaultDatabase is the database Start creates and DSN names when
	// Config.Database is empty.
	DefaultDatabase = "turnbase"

	// Superuser is the database superuser initdb creates; DSN connects as it.
	Superuser = "postgres"

	// osUser is the system user initdb and postgres run as when this
	// process runs as root.
	osUser = "postgres"

	defaultStartTimeout = time.Minute

	// maxAttempts bounds the server launches in one Start: a launch is
	// retried when the port picked turned out to be taken, or when processes
	// of a killed server on the same data directory are still exiting.
	maxAttempts = 10
)

// Config configures Start. The zero value of each field but DataDir is a
// usable default.
type Config struct {
	// DataDir is the directory for the cluster, which lives in
	// DataDir/pgdata, and for the superuser's password, in
	// DataDir/PasswordFile. It is created if missing. When running as root, each
	// directory from DataDir up to / that the postgres user cannot pass
	// through (such as /root, or a 0700 temporary directory) is given the
	// missing search bit (o+x, or g+x if its group is postgres's), never the
	// read bit, and each change is logged. To avoid that, choose a DataDir
	// the postgres user can already reach, such as /var/lib/turnbase.
	DataDir string

	// Logger receives the server's log lines, at the level matching their
	// severity (LOG, ERROR and below are Info, WARNING and FATAL are Warn,
	// PANIC is Error), and what Start and Stop do. Nil discards them.
	Logger *slog.Logger

	// Port is the TCP port on 127.0.0.1; 0 picks a free one at each start.
	Port int

	// BinDir holds initdb and postgres; empty means Find().
	BinDir string

	// Database is created if missing, and DSN names it; empty means
	// DefaultDatabase.
	Database string

	// StartTimeout bounds Start, initdb included; 0 means one minute.
	StartTimeout time.Duration

	// NoSync trades durability for speed, for throwaway clusters such as
	// tests: initdb --no-sync, and fsync, synchronous_commit and
	// full_page_writes off. A crash of the machine can then corrupt the
	// cluster; a crash of the server or of this process cannot.
	NoSync bool

	// Settings are server parameters passed as `-c name=value`; they
	// override the defaults chosen here (small memory, UTC). "port" is set
	// through Port and refused here.
	Settings map[string]string
}

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("postgres config: DataDir is required")
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("postgres config: port %d out of range", c.Port)
	}
	if _, ok := c.Settings["port"]; ok {
		return c, errors.New(`postgres config: set the port through Port, not Settings["port"]`)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = defaultStartTimeout
	}
	if c.BinDir == "" {
		dir, err := Find()
		if err != nil {
			return c, err
		}
		c.BinDir = dir
	}
	return c, nil
}

// serverArgs returns the postgres command line: defaults suited to a small
// machine, then NoSync's, then c.Settings, as -c name=value in name order.
func (c Config) serverArgs(pgdata string, port int) []string {
	set := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": "",
		"max_connections":         "50",
		"shared_buffers":          "32MB",
		"max_wal_size":            "256MB",
		// The server's tables grow from empty; PostgreSQL's cached generic
		// plans for them stay as they were made (sequential scans of a
		// nearly empty table) until autovacuum's next ANALYZE, and the
		// launcher looks only once a minute by default.
		"autovacuum_naptime": "10s",
		"TimeZone":           "UTC",
		"log_timezone":       "UTC",
		"log_line_prefix":    "", // slog adds the time; the severity is parsed
	}
	if c.NoSync {
		set["fsync"] = "off"
		set["synchronous_commit"] = "off"
		set["full_page_writes"] = "off"
	}
	for k, v := range c.Settings {
		set[k] = v
	}
	args := []string{"-D", pgdata}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		args = append(args, "-c", k+"="+set[k])
	}
	return args
}

// Server is a running PostgreSQL server owned by this process.
type Server struct {
	// Immutable after Start.
	dsn      string
	adminDSN string // the same server, database "postgres"
	port     int
	pgdata   string
	logger   *slog.Logger
	cmd      *exec.Cmd
	logs     *logWriter

	stopping atomic.Bool   // set by Stop before it signals
	exited   chan struct{} // closed by run once postgres has exited
	waitErr  error         // written by run before it closes exited
}

// Start starts a PostgreSQL server on cfg.DataDir, creating the cluster
// first if there is none, and returns once it accepts connections and
// cfg.Database exists. A postmaster.pid left by a server that was killed is
// removed; a server still running on the data directory is an error wrapping
// ErrInUse. The error wraps ErrNotFound when no binaries were found.
//
// ctx bounds only Start: the server runs until Stop, or until this process
// exits, whichever comes first.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	pgdata, err := prepareDataDir(cfg.DataDir, as, cfg.Logger)
	if err != nil {
		return nil, err
	}
	password, pending, err := superuserPassword(filepath.Dir(pgdata), cfg.Logger)
	if err != nil {
		return nil, err
	}
	made, err := initdb(ctx, cfg, as, pgdata, password)
	if err != nil {
		return nil, err
	}
	if err := clearStalePID(ctx, pgdata, cfg.Logger); err != nil {
		return nil, err
	}
	if !made {
		if err := secureAuth(ctx, cfg, as, pgdata, password, pending); err != nil {
			return nil, err
		}
	}
	if pending {
		if err := commitPassword(filepath.Dir(pgdata)); err != nil {
			return nil, err
		}
	}

	var s *Server
	for attempt := 1; ; attempt++ {
		s, err = launch(ctx, cfg, as, pgdata, password)
		if err == nil {
			break
		}
		se, ok := errors.AsType[*startError](err)
		if !ok || attempt == maxAttempts {
			return nil, err
		}
		switch {
		case se.portTaken() && cfg.Port == 0:
			cfg.Logger.Info("port taken meanwhile, trying another", "port", se.port)
		case se.shmemInUse():
			// Backends of a server that was killed exit when they notice
			// their postmaster is gone; that takes a moment.
			cfg.Logger.Info("old server processes still exiting, retrying")
			if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
				return nil, errors.Join(se, err)
			}
		default:
			return nil, err
		}
	}

	if err := ensureDatabase(ctx, s.adminDSN, cfg.Database); err != nil {
		return nil, errors.Join(err, s.Stop(context.Background()))
	}
	cfg.Logger.Info("postgres ready", "port", s.port, "data_dir", pgdata)
	return s, nil
}

// DSN returns the connection string of the database, as the superuser,
// over TCP to 127.0.0.1, for example
// "postgres://postgres:PASSWORD@127.0.0.1:5432/turnbase?sslmode=disable".
// It holds the superuser's password (see PasswordFile): do not log it.
func (s *Server) DSN() string { return s.dsn }

// Port returns the TCP port the server listens on, on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Done is closed when the server process has exited, after Stop or not.
func (s *Server) Done() <-chan struct{} { return s.exited }

// Stop shuts the server down the fast way (open transactions are rolled
// back, clients disconnected, a checkpoint written) and waits for it to exit.
// If ctx ends first, Stop shuts it down the immediate way (the next start
// recovers from the WAL), or kills it, waits for it and returns ctx's error.
// It returns an error too when the server had exited on its own before Stop.
// Calling Stop again waits the same way.
func (s *Server) Stop(ctx context.Context) error {
	if !s.stopping.Swap(true) {
		s.logger.Info("stopping postgres", "port", s.port)
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // os.ErrProcessDone if exited
	select {
	case <-s.exited:
		return s.exitErr()
	case <-ctx.Done():
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return fmt.Errorf("stop postgres: %w", ctx.Err())
}

func (s *Server) exitErr() error {
	if s.waitErr != nil {
		return fmt.Errorf("postgres exited: %w", s.waitErr)
	}
	return nil
}

// launch starts postgres on a port and waits until it accepts connections.
// If it exits before that, the error is a *startError.
func launch(ctx context.Context, cfg Config, as *osIdentity, pgdata, password string) (*Server, error) {
	port := cfg.Port
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	logs := newLogWriter(cfg.Logger)
	cmd := exec.Command(filepath.Join(cfg.BinDir, "postgres"), cfg.serverArgs(pgdata, port)...)
	cmd.Dir = "/" // the postgres user may not be able to enter ours
	cmd.Env = childEnv()
	cmd.Stdout = logs
	cmd.Stderr = logs
	// Backends inherit the pipe: if the postmaster is killed, stop waiting
	// for them to close it after a while.
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = serverProcAttr(as)

	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + cfg.Database,
		RawQuery: "sslmode=disable",
	}
	s := &Server{
		dsn:    u.String(),
		port:   port,
		pgdata: pgdata,
		logger: cfg.Logger,
		cmd:    cmd,
		logs:   logs,
		exited: make(chan struct{}),
	}
	u.Path = "/postgres"
	s.adminDSN = u.String()

	started := make(chan error, 1)
	go s.run(started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	if err := s.waitReady(ctx); err != nil {
		if _, ok := errors.AsType[*startError](err); ok {
			return nil, err // it has exited
		}
		return nil, errors.Join(err, s.Stop(context.Background()))
	}
	return s, nil
}

// run starts the server process and waits for it to exit.
func (s *Server) run(started chan<- error) {
	// The kernel sends the parent-death signal when the thread that forked
	// the child exits, not only when the process does. Holding this
	// goroutine on its thread for the server's whole life means no other
	// goroutine can run there and end the thread (as one that exits while
	// locked to its thread does) under a live server.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(s.exited)
	if err := s.cmd.Start(); err != nil {
		started <- err
		return
	}
	started <- nil
	s.waitErr = s.cmd.Wait()
	s.logs.flush()
}

// waitReady returns when the server accepts connections, or with a
// *startError if it exits first.
func (s *Server) waitReady(ctx context.Context) error {
	const poll = 50 * time.Millisecond
	begin := time.Now()
	var lastErr error
	for {
		// The postmaster writes "ready" into postmaster.pid when it accepts
		// connections; waiting for that spares the log one "the database
		// system is starting up" per early attempt. After a few seconds,
		// try anyway.
		if pidFileStatus(s.pgdata) == "ready" || time.Since(begin) > 5*time.Second {
			if lastErr = ping(ctx, s.adminDSN); lastErr == nil {
				return nil
			}
			if pe, ok := errors.AsType[*pgconn.PgError](lastErr); ok && pe.Code == "28P01" {
				// Waiting will not help.
				return fmt.Errorf("postgres refuses the password in %s (remove that file to have a new password set at the next start): %w",
					filepath.Join(filepath.Dir(s.pgdata), PasswordFile), lastErr)
			}
		}
		select {
		case <-s.exited:
			return &startError{port: s.port, exit: s.waitErr, tail: s.logs.tail()}
		case <-ctx.Done():
			return fmt.Errorf("wait for postgres on port %d to accept connections: %w (last error: %v)", s.port, ctx.Err(), lastErr)
		case <-time.After(poll):
		}
	}
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// ensureDatabase creates the database name unless it exists.
func ensureDatabase(ctx context.Context, adminDSN, name string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P04" {
		return nil // duplicate_database: created meanwhile
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// startError is a server that exited before accepting connections.
type startError struct {
	port int
	exit error
	tail []string // its last log lines
}

func (e *startError) Error() string {
	return fmt.Sprintf("postgres exited during startup (%v); its last log lines:\n\t%s",
		e.exit, strings.Join(e.tail, "\n\t"))
}

func (e *startError) logContains(substrs ...string) bool {
	for _, line := range e.tail {
		for _, s := range substrs {
			if strings.Contains(line, s) {
				return true
			}
		}
	}
	return false
}

func (e *startError) portTaken() bool {
	return e.logContains("could not bind", "could not create any TCP/IP sockets")
}

// shmemInUse reports the interlock by which a new postmaster refuses to
// start while processes of an old one still use the data directory.
func (e *startError) shmemInUse() bool {
	return e.logContains("pre-existing shared memory block")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is our environment without what would change how initdb and
// postgres behave (PG*, locale), and with the C locale, so that their
// messages are in English and parse.
func childEnv() []string {
	env := []string{"LC_ALL=C"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
