package pgcluster

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// withPassword returns dsn with its password replaced by pw, or removed if
// pw is empty.
func withPassword(t *testing.T, dsn, pw string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if pw == "" {
		u.User = url.User(u.User.Username())
	} else {
		u.User = url.UserPassword(u.User.Username(), pw)
	}
	return u.String()
}

func dsnPassword(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok || len(pw) < 16 {
		t.Fatalf("DSN has no password of 16 characters or more")
	}
	return pw
}

// checkRefused expects connecting with dsn to fail authentication.
func checkRefused(t *testing.T, what, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err == nil {
		conn.Close(context.Background())
		t.Errorf("%s: connected; want the password refused", what)
		return
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); !ok || pe.Code != "28P01" {
		t.Errorf("%s: %v; want invalid_password (28P01)", what, err)
	}
}

// checkSecured checks the password file and pg_hba.conf of dataDir, and
// that s refuses a missing or wrong password and takes its DSN's.
func checkSecured(t *testing.T, s *Server, dataDir string) {
	t.Helper()
	pw := dsnPassword(t, s.DSN())
	path := filepath.Join(dataDir, PasswordFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != pw {
		t.Errorf("%s does not hold the DSN's password", PasswordFile)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
		t.Errorf("%s: mode %v, uid %d; want 0600, ours", PasswordFile, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pending password file left after Start: %v", err)
	}
	hba, err := os.ReadFile(filepath.Join(dataDir, "pgdata", "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(hba)) {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[len(f)-1] != "scram-sha-256" {
			t.Errorf("pg_hba.conf line %q: want only scram-sha-256", strings.TrimSpace(line))
		}
	}
	checkRefused(t, "no password", withPassword(t, s.DSN(), ""))
	checkRefused(t, "wrong password", withPassword(t, s.DSN(), strings.Repeat("0", len(pw))))
	if got := queryString(t, s.DSN(), "SELECT current_user"); got != Superuser {
		t.Errorf("current_user = %q", got)
	}
	if got := queryString(t, s.DSN(), "SELECT rolpassword FROM pg_authid WHERE rolname = current_user"); !strings.HasPrefix(got, "SCRAM-SHA-256$") {
		t.Errorf("stored password is no SCRAM verifier")
	}
}

// TestPasswordRequired: a new cluster refuses connections without the
// superuser's password or with a wrong one, and keeps its password across
// restarts.
func TestPasswordRequired(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	s := start(t, Config{DataDir: dataDir, NoSync: true})
	checkSecured(t, s, dataDir)
	pw := dsnPassword(t, s.DSN())
	stop(t, s)

	s2 := start(t, Config{DataDir: dataDir, NoSync: true})
	if dsnPassword(t, s2.DSN()) != pw {
		t.Error("password changed across a restart")
	}
	checkSecured(t, s2, dataDir)
	stop(t, s2)
}

// TestOtherOSUserCannotConnect runs psql as the nobody user, as another
// account on the machine would, without the password.
func TestOtherOSUserCannotConnect(t *testing.T) {
	needBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run commands as another user")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip(err)
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip(err)
	}
	t.Parallel()
	dataDir := t.TempDir()
	s := start(t, Config{DataDir: dataDir, NoSync: true})

	cmd := exec.Command(runuser, "-u", "nobody", "--", psql, "-w", "-X",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port()), "-U", Superuser, "-d", "postgres", "-c", "SELECT 1")
	cmd.Dir = "/"
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("psql as nobody connected as %s:\n%s", Superuser, out)
	}
	if !strings.Contains(string(out), "password") {
		t.Errorf("psql as nobody failed, but not for want of a password:\n%s", out)
	}

	for _, u := range []string{"nobody", osUser} {
		cat := exec.Command(runuser, "-u", u, "--", "cat", filepath.Join(dataDir, PasswordFile))
		cat.Dir = "/"
		if out, err := cat.CombinedOutput(); err == nil {
			t.Errorf("user %s can read the password file:\n%s", u, out)
		}
	}
}

// TestTrustClusterUpgraded starts on a cluster made the way it was before
// passwords (initdb --auth=trust, no password file): Start sets a password
// and rewrites pg_hba.conf; the next Start keeps both. A lost password
// file is replaced by a new password.
func TestTrustClusterUpgraded(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	binDir, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	as, err := serverUser()
	if err != nil {
		t.Fatal(err)
	}
	pgdata, err := prepareDataDir(dataDir, as, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(pgdata, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := fixOwner(pgdata, as); err != nil {
		t.Fatal(err)
	}
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "--pgdata="+pgdata, "--username="+Superuser,
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions", "--no-sync")
	initdb.Dir = "/"
	initdb.Env = childEnv()
	initdb.SysProcAttr = initdbProcAttr(as)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if hba, _ := os.ReadFile(filepath.Join(pgdata, "pg_hba.conf")); !strings.Contains(string(hba), "trust") {
		t.Fatal("the old-style cluster does not trust")
	}

	rec := &recorder{}
	s := start(t, Config{DataDir: dataDir, NoSync: true, Logger: slog.New(rec)})
	checkSecured(t, s, dataDir)
	if !slices.ContainsFunc(rec.records(), func(r string) bool { return strings.Contains(r, "rewriting pg_hba.conf") }) {
		t.Errorf("upgrade not logged: %q", rec.records())
	}
	for _, r := range rec.records() {
		if strings.Contains(r, dsnPassword(t, s.DSN())) {
			t.Errorf("password logged: %q", r)
		}
	}
	pw := dsnPassword(t, s.DSN())
	stop(t, s)

	rec2 := &recorder{}
	s = start(t, Config{DataDir: dataDir, NoSync: true, Logger: slog.New(rec2)})
	if dsnPassword(t, s.DSN()) != pw {
		t.Error("password changed on the start after the upgrade")
	}
	if slices.ContainsFunc(rec2.records(), func(r string) bool { return strings.Contains(r, "password") }) {
		t.Errorf("second start changed the password again: %q", rec2.records())
	}
	checkSecured(t, s, dataDir)
	stop(t, s)

	if err := os.Remove(filepath.Join(dataDir, PasswordFile)); err != nil {
		t.Fatal(err)
	}
	s = start(t, Config{DataDir: dataDir, NoSync: true})
	if dsnPassword(t, s.DSN()) == pw {
		t.Error("a lost password file got the same password back")
	}
	checkSecured(t, s, dataDir)
	stop(t, s)
}

// TestLostPasswordWhileRunning: a Start refused because the server still
// runs, on a folder whose password file was lost, does not strand the
// password it made: the next Start sets it.
func TestLostPasswordWhileRunning(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	s := start(t, Config{DataDir: dataDir, NoSync: true})
	if err := os.Remove(filepath.Join(dataDir, PasswordFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), Config{DataDir: dataDir, NoSync: true, Logger: testLogger(t)}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start: %v, want ErrInUse", err)
	}
	stop(t, s)
	s = start(t, Config{DataDir: dataDir, NoSync: true})
	checkSecured(t, s, dataDir)
	stop(t, s)
}

func (r *recorder) records() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

func TestScramVerifier(t *testing.T) {
	v, err := scramVerifier("pencil")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.FieldsFunc(v, func(r rune) bool { return r == '$' || r == ':' })
	if len(parts) != 5 || parts[0] != "SCRAM-SHA-256" || parts[1] != "4096" {
		t.Fatalf("verifier %q", v)
	}
	if w, _ := scramVerifier("pencil"); w == v {
		t.Error("two verifiers share a salt")
	}
}

// TestWrongPasswordFileFailsFast: a password file the cluster does not
// know (copied from elsewhere, say) fails Start at once, naming the file,
// rather than after the start timeout.
func TestWrongPasswordFileFailsFast(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	dataDir := t.TempDir()
	s := start(t, Config{DataDir: dataDir, NoSync: true})
	stop(t, s)
	if err := os.WriteFile(filepath.Join(dataDir, PasswordFile), []byte(strings.Repeat("ab", 24)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_, err := Start(t.Context(), Config{DataDir: dataDir, NoSync: true, Logger: testLogger(t), StartTimeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), PasswordFile) {
		t.Fatalf("Start: %v; want an error naming %s", err, PasswordFile)
	}
	t.Logf("Start gave up after %v: %v", time.Since(begin).Round(time.Millisecond), err)
	if d := time.Since(begin); d > 15*time.Second {
		t.Errorf("Start took %v to give up", d)
	}
}
