package postgres

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/turnbase/turnbase/leaderboard"
)

// hashClass is who asks to hash: checks of an existing password go first.
type hashClass int

const (
	hashLogin  hashClass = iota // login, password change: someone proves a password
	hashSignup                  // register, upgrade: a new password
	hashClasses
)

// hashGate bounds how many bcrypt computations run at once (slots, one
// per core), and how many wait for a slot: a flood of requests that hash
// gets ErrBusy at once instead of piling up until every one of them
// misses its deadline. Logins come first: sign-ups may hold only half of
// the slots (at least one), so a login finds a slot that no sign-up holds,
// and a freed slot goes to the longest-waiting login before any sign-up.
// Safe for concurrent use.
type hashGate struct {
	// Immutable.
	maxWait    [hashClasses]int // the longest line per class
	maxSignups int              // slots sign-ups may hold at once

	mu      sync.Mutex // guards the fields below
	free    int        // slots not held
	signups int        // slots held by sign-ups
	waiting [hashClasses]*list.List
}

// waiter is a caller in line; ready is closed when it is given a slot.
type waiter struct {
	ready chan struct{}
}

// newHashGate returns a gate of slots slots, where at most maxWait logins
// and maxWait/4 (at least 1) sign-ups wait for one.
func newHashGate(slots, maxWait int) *hashGate {
	g := &hashGate{free: slots, maxSignups: max(1, slots/2)}
	g.maxWait[hashLogin] = maxWait
	g.maxWait[hashSignup] = max(1, maxWait/4)
	for i := range g.waiting {
		g.waiting[i] = list.New()
	}
	return g
}

// acquire waits for a slot and returns the function that gives it back.
// It fails with an error wrapping leaderboard.ErrBusy when the line of
// class is full, and with ctx's error when ctx ends first.
func (g *hashGate) acquire(ctx context.Context, class hashClass) (release func(), err error) {
	release = func() { g.release(class) }
	g.mu.Lock()
	if g.waiting[class].Len() == 0 && g.mayTakeLocked(class) {
		g.takeLocked(class)
		g.mu.Unlock()
		return release, nil
	}
	if g.waiting[class].Len() >= g.maxWait[class] {
		g.mu.Unlock()
		return nil, fmt.Errorf("%w: too many password checks at once; try again in a moment", leaderboard.ErrBusy)
	}
	w := &waiter{ready: make(chan struct{})}
	e := g.waiting[class].PushBack(w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile: pass it on
		g.mu.Unlock()
		release()
	default:
		g.waiting[class].Remove(e)
		g.mu.Unlock()
	}
	return nil, fmt.Errorf("wait to hash a password: %w", ctx.Err())
}

// mayTakeLocked reports whether class may take a slot now.
func (g *hashGate) mayTakeLocked(class hashClass) bool {
	return g.free > 0 && (class == hashLogin || g.signups < g.maxSignups)
}

func (g *hashGate) takeLocked(class hashClass) {
	g.free--
	if class == hashSignup {
		g.signups++
	}
}

// release gives back a slot that class held, and hands the slots free
// to the first waiters in line that may take them, logins first.
func (g *hashGate) release(class hashClass) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.free++
	if class == hashSignup {
		g.signups--
	}
	for c, l := range g.waiting {
		for l.Len() > 0 && g.mayTakeLocked(hashClass(c)) {
			g.takeLocked(hashClass(c))
			close(l.Remove(l.Front()).(*waiter).ready)
		}
	}
}
