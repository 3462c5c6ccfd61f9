//go:build !linux

package pgcluster

import "syscall"

// serverProcAttr runs postgres as the given user (nil: ourselves), in its
// own process group. Without Linux's parent-death signal, a server whose
// parent is killed outlives it until it is stopped by hand.
func serverProcAttr(as *osIdentity) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: as.credential(), Setpgid: true}
}

// initdbProcAttr runs initdb as the given user.
func initdbProcAttr(as *osIdentity) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: as.credential(), Setpgid: true}
}

// runningOn reports whether process pid runs as our user. Without /proc it
// cannot tell whether it is a server on dir, so any such process counts.
func runningOn(pid int, dir string) bool {
	return syscall.Kill(pid, 0) == nil
}
