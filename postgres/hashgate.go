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
// misses its deadline. A free slot goes to the longest-waiting login
// before any sign-up, so that a sign-up flood cannot keep players out.
// Safe for concurrent use.
type hashGate struct {
	maxWait [hashClasses]int // immutable: the longest line per class

	mu      sync.Mutex // guards the fields below
	free    int        // slots not held
	waiting [hashClasses]*list.List
}

// waiter is a caller in line; ready is closed when it is given a slot.
type waiter struct {
	ready chan struct{}
}

// newHashGate returns a gate of slots slots, where at most maxWait logins
// and maxWait/4 (at least 1) sign-ups wait for one.
func newHashGate(slots, maxWait int) *hashGate {
	g := &hashGate{free: slots}
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
	g.mu.Lock()
	if g.free > 0 && g.waiting[hashLogin].Len() == 0 && (class == hashLogin || g.waiting[hashSignup].Len() == 0) {
		g.free--
		g.mu.Unlock()
		return g.release, nil
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
		return g.release, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile: pass it on
		g.mu.Unlock()
		g.release()
	default:
		g.waiting[class].Remove(e)
		g.mu.Unlock()
	}
	return nil, fmt.Errorf("wait to hash a password: %w", ctx.Err())
}

// release gives a slot back, to the first waiter in line if any.
func (g *hashGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.waiting {
		if e := l.Front(); e != nil {
			l.Remove(e)
			close(e.Value.(*waiter).ready)
			return
		}
	}
	g.free++
}
