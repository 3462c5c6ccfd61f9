package pgcluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound means no PostgreSQL server binaries were found on this machine.
var ErrNotFound = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql/*/bin: install PostgreSQL (Debian: apt-get install postgresql) or set DATABASE_URL")

// debianBinGlob is where Debian and Ubuntu install each major version's
// server binaries; they are not put on PATH there.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// Find returns the directory holding the PostgreSQL server binaries: the
// directory of initdb on PATH if postgres sits beside it, else the highest
// version under /usr/lib/postgresql/*/bin. The error wraps ErrNotFound when
// there is none.
func Find() (binDir string, err error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// Follow symlinks: /usr/local/bin/initdb may point into the real
		// installation, which is where postgres lives too.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if dir := filepath.Dir(p); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(debianBinGlob) // the pattern is valid
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !hasServerBinaries(d) })
	if len(dirs) == 0 {
		return "", ErrNotFound
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	return dirs[len(dirs)-1], nil
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions orders dotted version numbers numerically ("9.6" < "15");
// a part that is not a number sorts first.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		x, y := -1, -1
		if i < len(as) {
			if n, err := strconv.Atoi(as[i]); err == nil {
				x = n
			}
		}
		if i < len(bs) {
			if n, err := strconv.Atoi(bs[i]); err == nil {
				y = n
			}
		}
		if x != y {
			return x - y
		}
	}
	return strings.Compare(a, b)
}
