package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turnbase/turnbase/leaderboard"
)

// The gate: slots bound the hashes at once; a freed slot goes to a login
// before any sign-up; the lines are bounded (ErrBusy beyond); a caller
// whose context ends leaves the line and loses nothing.
func TestHashGate(t *testing.T) {
	g := newHashGate(1, 4) // one slot; 4 logins or 1 sign-up may wait
	ctx := t.Context()
	hold, err := g.acquire(ctx, hashLogin)
	if err != nil {
		t.Fatal(err)
	}

	order := make(chan string, 8)
	wait := func(class hashClass, name string) chan error {
		done := make(chan error, 1)
		go func() {
			release, err := g.acquire(ctx, class)
			if err == nil {
				order <- name
				release()
			}
			done <- err
		}()
		return done
	}
	waiting := func(class hashClass, n int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			g.mu.Lock()
			got := g.waiting[class].Len()
			g.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting in class %d, want %d", got, class, n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	signup := wait(hashSignup, "signup")
	waiting(hashSignup, 1)
	if _, err := g.acquire(ctx, hashSignup); !errors.Is(err, leaderboard.ErrBusy) {
		t.Fatalf("second sign-up in line: %v, want ErrBusy", err)
	}
	login1 := wait(hashLogin, "login1")
	waiting(hashLogin, 1)
	login2 := wait(hashLogin, "login2")
	waiting(hashLogin, 2)

	// A login that gives up leaves the line.
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := g.acquire(cctx, hashLogin)
		gaveUp <- err
	}()
	waiting(hashLogin, 3)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	waiting(hashLogin, 2)

	hold()
	for _, done := range []chan error{login1, login2, signup} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	close(order)
	var got []string
	for name := range order {
		got = append(got, name)
	}
	if want := []string{"login1", "login2", "signup"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("order %v, want %v", got, want)
	}
	// Every slot is back.
	if g.free != 1 || g.signups != 0 {
		t.Fatalf("free slots %d, sign-ups %d; want 1, 0", g.free, g.signups)
	}
}

// Sign-ups hold at most half of the slots: a login never waits behind
// them.
func TestHashGateKeepsSlotsForLogins(t *testing.T) {
	g := newHashGate(2, 8)
	ctx := t.Context()
	s1, err := g.acquire(ctx, hashSignup)
	if err != nil {
		t.Fatal(err)
	}
	s2 := make(chan error, 1)
	go func() {
		release, err := g.acquire(ctx, hashSignup)
		if err == nil {
			release()
		}
		s2 <- err
	}()
	for {
		g.mu.Lock()
		n := g.waiting[hashSignup].Len()
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	l1, err := g.acquire(ctx, hashLogin) // at once: the slot no sign-up may take
	if err != nil {
		t.Fatal(err)
	}
	l1()
	s1()
	if err := <-s2; err != nil {
		t.Fatal(err)
	}
	if g.free != 2 || g.signups != 0 {
		t.Fatalf("free slots %d, sign-ups %d; want 2, 0", g.free, g.signups)
	}
}
