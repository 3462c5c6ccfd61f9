package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

// helperEnv makes the test binary a parent process that starts a server
// on the directory it names and waits to be killed.
const helperEnv = "TURNBASE_POSTGRES_TEST_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperMain(dir))
	}
	goleak.VerifyTestMain(m)
}

func helperMain(dir string) int {
	s, err := Start(context.Background(), Config{DataDir: dir, NoSync: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("pid %d\n", s.cmd.Process.Pid)
	time.Sleep(time.Hour) // until the test kills us
	return 0
}

// needBinaries skips the test without PostgreSQL, or fails it in CI.
func needBinaries(t *testing.T) {
	t.Helper()
	if _, err := Find(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil && !s.stopping.Load() {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func stop(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func exec1(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryString(t *testing.T, dsn, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartStopRestartKeepsData(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	// Below t.TempDir, whose own directory is 0700: as root, Start must
	// make it passable for the postgres user.
	dataDir := filepath.Join(t.TempDir(), "nested", "data")

	s := start(t, Config{DataDir: dataDir})
	if !strings.HasPrefix(s.DSN(), "postgres://postgres:") || !strings.Contains(s.DSN(), "@127.0.0.1:") || !strings.HasSuffix(s.DSN(), "/turnbase?sslmode=disable") {
		t.Errorf("DSN = %q", s.DSN())
	}
	exec1(t, s.DSN(), "CREATE TABLE kept (v text)")
	exec1(t, s.DSN(), "INSERT INTO kept VALUES ($1)", "hello")
	if got := queryString(t, s.DSN(), "SHOW server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %s", got)
	}
	if got := queryString(t, s.DSN(), "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %s", got)
	}
	stop(t, s)
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pgdata", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v", err)
	}

	s2 := start(t, Config{DataDir: dataDir})
	if got := queryString(t, s2.DSN(), "SELECT v FROM kept"); got != "hello" {
		t.Errorf("after restart: %q", got)
	}

	if os.Geteuid() == 0 {
		u, err := user.Lookup(osUser)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dataDir, "pgdata"))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != u.Uid {
			t.Errorf("pgdata owned by uid %d, want %s", uid, u.Uid)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("pgdata mode %v", fi.Mode())
		}
	}
	stop(t, s2)
}

func TestRestartAfterServerKilled(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	s := start(t, Config{DataDir: dataDir}) // durable: the row must survive
	exec1(t, s.DSN(), "CREATE TABLE kept AS SELECT 'survives' AS v")

	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	pidFile := filepath.Join(dataDir, "pgdata", "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("a killed server should leave its pid file: %v", err)
	}

	s2 := start(t, Config{DataDir: dataDir})
	if got := queryString(t, s2.DSN(), "SELECT v FROM kept"); got != "survives" {
		t.Errorf("after crash: %q", got)
	}
	stop(t, s2)

	// A stale pid file whose pid now belongs to a live process that is no
	// server, as happens after a reboot. PostgreSQL alone would refuse to
	// start if that process ran as its user.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	stale := fmt.Sprintf("%d\n%s\n1700000000\n5432\n\n127.0.0.1\n  1234  5678\nready   \n", other.Process.Pid, filepath.Join(dataDir, "pgdata"))
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := start(t, Config{DataDir: dataDir})
	if got := queryString(t, s3.DSN(), "SELECT v FROM kept"); got != "survives" {
		t.Errorf("after stale pid file: %q", got)
	}
	stop(t, s3)
}

func TestSecondServerOnSameDataDir(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Config{DataDir: dataDir, NoSync: true, Port: port, Database: "other"})
	if want := fmt.Sprintf("@127.0.0.1:%d/other?", port); s.Port() != port || !strings.Contains(s.DSN(), want) {
		t.Errorf("Port() = %d, DSN() = %q; want port %d", s.Port(), s.DSN(), port)
	}
	exec1(t, s.DSN(), "SELECT 1")
	_, err = Start(t.Context(), Config{DataDir: dataDir, NoSync: true, Logger: testLogger(t)})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start: %v, want ErrInUse", err)
	}
}

// TestServerStopsWhenParentKilled kills a parent process with SIGKILL and
// expects its server to go away on its own.
func TestServerStopsWhenParentKilled(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dataDir)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("server %d not running", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	begin := time.Now()
	for alive(pid) {
		if time.Since(begin) > 15*time.Second {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server %d still runs 15s after its parent was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("server exited %v after its parent was killed", time.Since(begin).Round(time.Millisecond))

	s := start(t, Config{DataDir: dataDir, NoSync: true})
	exec1(t, s.DSN(), "SELECT 1")
	stop(t, s)
}

// alive reports whether pid runs and is not a zombie (whoever adopted an
// orphan may be slow to reap it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestStartCanceled(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := Start(ctx, Config{DataDir: t.TempDir(), NoSync: true, Logger: testLogger(t)}); err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("Start with a canceled context succeeded")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := map[string]Config{
		"no data dir":       {},
		"port out of range": {DataDir: "x", Port: 70000},
		"port in settings":  {DataDir: "x", Settings: map[string]string{"port": "5432"}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Start(t.Context(), cfg); err == nil {
				t.Fatal("Start succeeded")
			}
		})
	}
}

func TestServerArgs(t *testing.T) {
	cfg := Config{NoSync: true, Settings: map[string]string{"shared_buffers": "16MB", "work_mem": "8MB"}}
	args := strings.Join(cfg.serverArgs("/d", 5555), " ")
	for _, want := range []string{
		"-D /d", "-c port=5555", "-c listen_addresses=127.0.0.1", "-c unix_socket_directories= ",
		"-c fsync=off", "-c shared_buffers=16MB", "-c work_mem=8MB", "-c autovacuum_naptime=10s",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "shared_buffers=32MB") {
		t.Errorf("Settings did not override the default: %q", args)
	}
}
