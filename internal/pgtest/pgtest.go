// Package pgtest gives tests a real PostgreSQL database: each test its own,
// fresh and migrated, dropped when the test ends.
//
// A package whose tests use it calls Main from TestMain, which starts one
// throwaway cluster for the test binary (in a temporary directory, through
// internal/pgcluster, its superuser's password in the DSN) and removes it
// after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// or, to check for leaked goroutines too:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
//
// With TURNBASE_TEST_DATABASE_URL set, no cluster is started and the tests'
// databases are made on that server instead; its role must be allowed to
// create databases. Without PostgreSQL binaries, tests that call NewDB are
// skipped, unless the environment variable CI is set: then the run fails.
//
// Each test's database is a copy of a template database that was migrated
// once (CREATE DATABASE ... TEMPLATE), which takes milliseconds. Templates
// are named after a hash of the migrations, so a changed migration makes a
// new one; on a shared server, old templates stay until dropped by hand
// (ALTER DATABASE name IS_TEMPLATE false; DROP DATABASE name).
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/internal/pgcluster"
	"github.com/turnbase/turnbase/migrations"
)

const (
	// EnvURL names a server for the tests' databases, as a URL or DSN whose
	// database is not one the tests make (e.g. .../postgres). Main sets it
	// for the test binary when it starts its own cluster.
	EnvURL = "TURNBASE_TEST_DATABASE_URL"

	templatePrefix = "turnbase_template_"
	testDBPrefix   = "turnbase_test_"
	tempDirPrefix  = "turnbase-pgtest-"

	// templateLockKey is the advisory lock (in the server's admin database)
	// under which one process at a time builds a template.
	templateLockKey = int64(0x7475726e62617365) // "turnbase"

	stopTimeout = 30 * time.Second
)

// Main runs the test binary's tests with a PostgreSQL server and exits.
// Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Wrap(m).Run())
}

// M runs tests with a PostgreSQL server, through Run.
type M struct {
	m *testing.M
}

// Wrap returns an M whose Run starts a cluster, runs m's tests and removes
// the cluster, as Main does. Its Run method is what
// goleak.VerifyTestMain wants.
func Wrap(m *testing.M) M { return M{m: m} }

// Run starts the cluster unless EnvURL is set or the run selects no tests
// (go test -run='^$' -fuzz=...), runs the tests and stops the cluster. It
// returns the exit code.
func (w M) Run() int {
	if os.Getenv(EnvURL) != "" || !selectsTests() {
		return w.m.Run()
	}
	binDir, err := pgcluster.Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "pgtest: tests need PostgreSQL and CI is set: %v\n", err)
			return 1
		}
		return w.m.Run() // NewDB skips
	}
	removeStaleDirs()
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Others may pass through (the postgres user, if we are root) but not
	// list it; the pid file tells later runs whether this one still runs.
	if err := errors.Join(
		os.Chmod(dir, 0o711),
		os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644),
	); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "pgtest")
	srv, err := pgcluster.Start(context.Background(), pgcluster.Config{
		DataDir:  dir,
		Logger:   logger,
		BinDir:   binDir,
		Database: "postgres", // the admin database; the tests make their own
		NoSync:   true,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: start PostgreSQL: %v\n", err)
		return 1
	}
	os.Setenv(EnvURL, srv.DSN())
	defer os.Unsetenv(EnvURL)

	code := w.m.Run()

	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop PostgreSQL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// selectsTests is false when the command line selects no tests nor
// benchmarks, as `go test -run='^$' -fuzz=X` does: no cluster is needed.
func selectsTests() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	lookup := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return lookup("test.run") != "^$" || lookup("test.bench") != ""
}

// removeStaleDirs removes the clusters of test binaries that died without
// cleaning up (killed at a timeout, say). Their servers have stopped
// already: they stop when their parent dies.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue // being created, or not ours
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // still running
		}
		_ = os.RemoveAll(dir)
	}
}

// NewDB returns a pool on a new database with the schema migrated to the
// latest version, and its connection string. The database is dropped when
// the test ends, after the pool is closed.
func NewDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	admin := adminURL(t)
	tmpl, err := ensureTemplate(t.Context(), admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return newDB(t, admin, tmpl)
}

// NewEmptyDB is NewDB without the migrations: the database is as
// PostgreSQL creates it, for tests of the migrations themselves.
func NewEmptyDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return newDB(t, adminURL(t), "template0")
}

func newDB(t testing.TB, admin, template string) (*pgxpool.Pool, string) {
	t.Helper()
	name := testDBPrefix + randomHex(8)
	if err := execAdmin(t.Context(), admin, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		t.Fatalf("pgtest: create test database: %v", err)
	}
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		// t.Context is done by now. FORCE ends connections the test
		// leaked, which the server logs.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop test database: %v", err)
		}
	})
	return pool, dsn
}

// adminURL returns the server to make databases on, or ends the test.
func adminURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	if _, err := pgcluster.Find(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: CI is set and %v", err)
		}
		t.Skipf("pgtest: %v", err)
	}
	t.Fatalf("pgtest: no database: call pgtest.Main(m) from TestMain, or set %s", EnvURL)
	return ""
}

// ensureTemplate returns the name of a template database holding the
// current migrations, building it first if no process has.
func ensureTemplate(ctx context.Context, admin string) (string, error) {
	name := templatePrefix + migrationsHash()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if ok, err := dbExists(ctx, conn, name); err != nil || ok {
		return name, err
	}

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	// Closing conn, deferred above, releases the lock.
	if ok, err := dbExists(ctx, conn, name); err != nil || ok {
		return name, err // built meanwhile
	}

	// Build under another name and rename when done, so that no one ever
	// copies a half-migrated template.
	building := name + "_building"
	for _, sql := range []string{
		"DROP DATABASE IF EXISTS " + ident(building) + " WITH (FORCE)", // left by a killed run
		"CREATE DATABASE " + ident(building) + " TEMPLATE template0",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("create template: %w", err)
		}
	}
	if err := migrate(ctx, admin, building); err != nil {
		return "", err
	}
	for _, sql := range []string{
		// No one can connect to it, so CREATE DATABASE ... TEMPLATE never
		// finds it "being accessed by other users".
		"ALTER DATABASE " + ident(building) + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
		"ALTER DATABASE " + ident(building) + " RENAME TO " + ident(name),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("finish template: %w", err)
		}
	}
	return name, nil
}

func migrate(ctx context.Context, admin, db string) error {
	dsn, err := withDatabase(admin, db)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to template: %w", err)
	}
	defer conn.Close(context.Background())
	if err := migrations.Apply(ctx, conn); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

func dbExists(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return ok, nil
}

func execAdmin(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// migrationsHash identifies the migrations' names and contents (and how
// templates are built, through the "v1" prefix).
func migrationsHash() string {
	h := sha256.New()
	h.Write([]byte("v1\n"))
	fsys := migrations.FS()
	_ = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// withDatabase returns dsn (a URL or keyword/value string) with its
// database replaced by db.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvURL, err)
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form, a later keyword overrides an earlier one.
	return dsn + " dbname=" + db, nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
