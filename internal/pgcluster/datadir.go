package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// osIdentity is the system user initdb and postgres run as when this
// process runs as root. A nil *osIdentity means this process's own user.
type osIdentity struct {
	uid, gid int
}

func (id *osIdentity) credential() *syscall.Credential {
	if id == nil {
		return nil
	}
	// No supplementary groups: the server gets exactly uid and gid, which
	// is also what canSearch assumes.
	return &syscall.Credential{Uid: uint32(id.uid), Gid: uint32(id.gid)}
}

// serverUser returns who the server must run as: nil (ourselves) unless we
// are root, since PostgreSQL refuses to run as root.
func serverUser() (*osIdentity, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, so it runs as the %q system user, which is missing (Debian's postgresql package creates it; or run as another user): %w", osUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("parse uid of user %s: %w", osUser, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("parse gid of user %s: %w", osUser, err)
	}
	return &osIdentity{uid: uid, gid: gid}, nil
}

// prepareDataDir creates dataDir, makes it reachable by the server's user,
// and returns the cluster's directory inside it, with symlinks resolved.
func prepareDataDir(dataDir string, as *osIdentity, logger *slog.Logger) (pgdata string, err error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("resolve data dir: %w", err)
	}
	perm := fs.FileMode(0o700)
	if as != nil {
		perm = 0o711 // passable, not listable, for the postgres user
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	// The server chdirs into the real path; its search permissions are the
	// ones that count, and the /proc check in clearStalePID compares it.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return "", fmt.Errorf("resolve data dir: %w", err)
	}
	if as != nil {
		for d := dir; ; d = filepath.Dir(d) {
			if err := grantSearch(d, as, logger); err != nil {
				return "", err
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return filepath.Join(dir, "pgdata"), nil
}

// grantSearch gives dir the search (x) permission that as lacks to pass
// through it: to its group if as's group owns it, else to others.
func grantSearch(dir string, as *osIdentity, logger *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check data dir parent: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	var bit fs.FileMode
	switch {
	case int(st.Uid) == as.uid:
		bit = 0o100
	case int(st.Gid) == as.gid:
		bit = 0o010
	default:
		bit = 0o001
	}
	mode := fi.Mode().Perm()
	if mode&bit != 0 {
		return nil
	}
	if err := os.Chmod(dir, fi.Mode()|bit); err != nil { // keeps setgid and sticky bits
		return fmt.Errorf("let user %s reach the data dir: %w", osUser, err)
	}
	logger.Warn("granted search permission so the postgres user can reach the data dir",
		"path", dir, "mode_before", fmt.Sprintf("%04o", mode), "mode_after", fmt.Sprintf("%04o", mode|bit))
	return nil
}

// initdb creates the cluster in pgdata unless it has a PG_VERSION. It runs
// initdb in pgdata.initdb and renames that to pgdata when done, so an
// interrupted initdb never leaves a half-made cluster behind.
//
// The superuser gets password as its password (the server is given only
// its SCRAM verifier) and pg_hba.conf is hbaConf. made reports that the
// cluster was created now.
func initdb(ctx context.Context, cfg Config, as *osIdentity, pgdata, password string) (made bool, err error) {
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err == nil {
		return false, fixOwner(pgdata, as)
	}
	switch entries, err := os.ReadDir(pgdata); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("check data dir: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("%s has no PG_VERSION but is not empty: it is no PostgreSQL data directory; move it away", pgdata)
	default:
		if err := os.Remove(pgdata); err != nil {
			return false, fmt.Errorf("remove empty %s: %w", pgdata, err)
		}
	}

	tmp := pgdata + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return false, fmt.Errorf("remove interrupted initdb: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return false, fmt.Errorf("create data dir: %w", err)
	}
	if err := fixOwner(tmp, as); err != nil {
		return false, err
	}
	// initdb reads the password from a file, which must not be in the
	// (empty) new data directory; the one beside it is passable for the
	// postgres user. It holds only the verifier and goes away at once.
	verifier, err := scramVerifier(password)
	if err != nil {
		return false, fmt.Errorf("make password verifier: %w", err)
	}
	pwfile := filepath.Join(filepath.Dir(pgdata), ".initdb-pwfile")
	_ = os.Remove(pwfile)
	if err := os.WriteFile(pwfile, []byte(verifier+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write initdb password file: %w", err)
	}
	defer os.Remove(pwfile)
	if as != nil {
		if err := os.Lchown(pwfile, as.uid, as.gid); err != nil {
			return false, fmt.Errorf("give initdb password file to user %s: %w", osUser, err)
		}
	}
	args := []string{
		"--pgdata=" + tmp,
		"--username=" + Superuser,
		"--auth=scram-sha-256", // pg_hba.conf is replaced by hbaConf below anyway
		"--pwfile=" + pwfile,
		"--encoding=UTF8",
		"--no-locale", // C collation: byte order, stable across machines
		"--no-instructions",
	}
	if cfg.NoSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "initdb"), args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.SysProcAttr = initdbProcAttr(as)
	cmd.Cancel = func() error { // initdb and the postgres it runs
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cfg.Logger.Info("creating PostgreSQL cluster", "data_dir", pgdata)
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("initdb: %w\n%s", err, strings.TrimSpace(string(out)))
	}
	if err := writeHBA(tmp, as); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, pgdata); err != nil {
		return false, fmt.Errorf("move new cluster into place: %w", err)
	}
	return true, nil
}

// fixOwner makes pgdata belong to as, with mode 0700, as postgres demands.
// It walks the tree only when the top is wrong, e.g. a cluster that was
// created without root.
func fixOwner(pgdata string, as *osIdentity) error {
	if as == nil {
		return nil
	}
	fi, err := os.Stat(pgdata)
	if err != nil {
		return fmt.Errorf("check data dir owner: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == as.uid && int(st.Gid) == as.gid && fi.Mode().Perm()&0o027 == 0 {
		return nil
	}
	err = filepath.WalkDir(pgdata, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, as.uid, as.gid)
	})
	if err != nil {
		return fmt.Errorf("give data dir to user %s: %w", osUser, err)
	}
	if err := os.Chmod(pgdata, 0o700); err != nil {
		return fmt.Errorf("restrict data dir: %w", err)
	}
	return nil
}

// clearStalePID removes the postmaster.pid of a server that no longer
// runs, such as one killed with its parent. A server that still runs on
// pgdata is waited for while it shuts down, and is ErrInUse otherwise.
//
// PostgreSQL itself takes a pid file as stale only if no process has that
// pid, which after a reboot or in a container is often untrue; here the
// process must also have pgdata as its working directory, as a postmaster
// has.
func clearStalePID(ctx context.Context, pgdata string, logger *slog.Logger) error {
	path := filepath.Join(pgdata, "postmaster.pid")
	for {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read pid file: %w", err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, _ := strconv.Atoi(strings.TrimSpace(first))
		if pid <= 0 || !runningOn(pid, pgdata) {
			logger.Info("removing stale postmaster.pid", "pid", pid)
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale pid file: %w", err)
			}
			return nil
		}
		if pidFileStatus(pgdata) != "stopping" {
			return fmt.Errorf("%w: postgres PID %d runs on %s", ErrInUse, pid, pgdata)
		}
		// It is shutting down, maybe because its parent just died.
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("wait for postgres PID %d to stop: %w", pid, err)
		}
	}
}

// pidFileStatus returns the state the postmaster last wrote in its pid
// file ("starting", "stopping", "ready", "standby"), or "".
func pidFileStatus(pgdata string) string {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 {
		return ""
	}
	return strings.TrimSpace(lines[7])
}
