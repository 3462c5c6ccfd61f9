package pgcluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	// PasswordFile is the file, in Config.DataDir beside pgdata, holding
	// the superuser's password. It is made once, mode 0600, and belongs to
	// this process's user: when running as root, the postgres system user
	// cannot read it (it needs no plain password: the cluster keeps only a
	// SCRAM verifier).
	PasswordFile = "superuser-password"

	// hbaConf is the whole pg_hba.conf of a cluster made here: password
	// (SCRAM) authentication for every connection, none other accepted.
	// The server listens on 127.0.0.1 only and has no unix socket; the
	// "local" line is for a socket someone adds through Settings.
	hbaConf = `# Written by turnbase (internal/pgcluster), and rewritten at each start:
# every connection must give the superuser's password, kept in the
# superuser-password file beside this data directory.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
`

	scramIterations = 4096 // PostgreSQL's default scram_iterations
)

// superuserPassword returns the password kept in dir/PasswordFile. Without
// one, it returns the password in dir/PasswordFile+".new", made now if
// missing, with pending true: the cluster may not know it yet, and
// commitPassword makes it the kept one once it does. So a start that fails
// before the password is set (a server still running, a crash) leaves the
// new one pending, and the next start sets it. A file readable by others
// is restricted.
func superuserPassword(dir string, logger *slog.Logger) (pw string, pending bool, err error) {
	path := filepath.Join(dir, PasswordFile)
	pw, err = readPassword(path, logger)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return pw, false, err
	}
	pw, err = readPassword(path+".new", logger)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return pw, true, err
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("generate password: %w", err)
	}
	pw = hex.EncodeToString(raw[:]) // no character needs escaping in a URL
	if err := writeFileSync(path+".new", []byte(pw+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("keep password: %w", err)
	}
	return pw, true, nil
}

// commitPassword makes the pending password (see superuserPassword), now
// set in the cluster, the kept one.
func commitPassword(dir string) error {
	path := filepath.Join(dir, PasswordFile)
	if err := os.Rename(path+".new", path); err != nil {
		return fmt.Errorf("keep password: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// readPassword reads a password file; its error wraps fs.ErrNotExist when
// there is none.
func readPassword(path string, logger *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read password file: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if len(pw) < 16 {
		return "", fmt.Errorf("%s holds no password of at least 16 characters; remove it to have a new one made", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("check password file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("restrict password file: %w", err)
		}
		logger.Warn("password file was readable by others; made it 0600", "path", path,
			"mode_before", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return pw, nil
}

// writeFileSync writes a file through a temporary one, fsynced, renamed
// into place: after a crash the file is whole or absent.
func writeFileSync(path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (as pg_authid.rolpassword), with a random salt. Setting a role's
// password to it gives the server no plain password to see or log.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	// The password is hex, which SASLprep leaves as it is.
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored[:]), b64(server)), nil
}

// writeHBA makes pgdata/pg_hba.conf hbaConf, owned by as.
func writeHBA(pgdata string, as *osIdentity) error {
	path := filepath.Join(pgdata, "pg_hba.conf")
	if err := writeFileSync(path+".new", []byte(hbaConf), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	if as != nil {
		if err := os.Lchown(path+".new", as.uid, as.gid); err != nil {
			return fmt.Errorf("give pg_hba.conf to user %s: %w", osUser, err)
		}
	}
	if err := os.Rename(path+".new", path); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	return nil
}

// secureAuth makes an existing cluster require the superuser's password:
// unless pg_hba.conf is already hbaConf and the password is not pending,
// it sets the password and then rewrites pg_hba.conf. This upgrades
// clusters made before passwords were (initdb --auth=trust), and gives a
// cluster whose password file was lost the new password.
//
// The password is set in single-user mode, which listens on no socket, and
// before pg_hba.conf is rewritten: no server ever runs with trust
// authentication and a crash at any point is redone at the next start. The
// server is never given the plain password, only its verifier.
func secureAuth(ctx context.Context, cfg Config, as *osIdentity, pgdata, password string, pending bool) error {
	hba, err := os.ReadFile(filepath.Join(pgdata, "pg_hba.conf"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read pg_hba.conf: %w", err)
	}
	if bytes.Equal(hba, []byte(hbaConf)) && !pending {
		return nil
	}
	if bytes.Equal(hba, []byte(hbaConf)) {
		cfg.Logger.Warn("password file missing: setting a new superuser password on the existing cluster", "data_dir", pgdata)
	} else {
		cfg.Logger.Warn("pg_hba.conf is not the password-only one (a cluster from before passwords?): setting the superuser password and rewriting pg_hba.conf", "data_dir", pgdata)
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("make password verifier: %w", err)
	}
	stmt := fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'\n", Superuser, verifier) // verifier: base64, $, :
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "postgres"),
		"--single", "-D", pgdata, "-c", "log_min_messages=warning", "postgres")
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stmt)
	cmd.SysProcAttr = initdbProcAttr(as)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	// Single-user mode exits 0 after a failed statement; its ERROR line
	// tells.
	if err != nil || bytes.Contains(out, []byte("ERROR:")) || bytes.Contains(out, []byte("FATAL:")) {
		return fmt.Errorf("set superuser password (postgres --single): %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return writeHBA(pgdata, as)
}
