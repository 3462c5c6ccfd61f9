package pgcluster

import (
	"fmt"
	"os"
	"syscall"
)

// serverProcAttr runs postgres as the given user (nil: ourselves), in its
// own process group, with a fast shutdown (SIGINT) when this process dies.
func serverProcAttr(as *osIdentity) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: as.credential(),
		Setpgid:    true,
		Pdeathsig:  syscall.SIGINT,
	}
}

// initdbProcAttr runs initdb as the given user, killed if this process dies.
func initdbProcAttr(as *osIdentity) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: as.credential(),
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
}

// runningOn reports whether process pid runs with dir as its working
// directory, as a postmaster on that data directory does. A process we may
// not inspect belongs to another user, so it is not a server on our data
// directory: postgres requires the directory to belong to the user it runs
// as.
func runningOn(pid int, dir string) bool {
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return err == nil && cwd == dir
}
