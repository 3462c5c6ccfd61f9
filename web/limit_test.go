package web

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// A real player is never limited: PROTOCOL.md promises it to any client
// that sends at most 5 messages a second, and players burst (a reconnect
// watches several matches at once, a double click sends twice).
func TestFrameLimiterRealPlayer(t *testing.T) {
	cfg := Config{JWTSecret: testSecret}.withDefaults()
	player := rate.NewLimiter(rate.Limit(cfg.PlayerRate), cfg.PlayerBurst)
	tabs := []*frameLimiter{newFrameLimiter(&cfg, player), newFrameLimiter(&cfg, player)}
	now := time.Unix(1_700_000_000, 0)

	// The reconnect burst: hello, then watches and a ping all at once, on
	// both tabs.
	for _, l := range tabs {
		for i := range 12 {
			if ok, _ := l.check(now); !ok {
				t.Fatalf("reconnect burst frame %d limited", i)
			}
		}
	}
	// Then ten minutes at 5 frames a second on each tab, each second's
	// frames sent together.
	for sec := range 600 {
		now = now.Add(time.Second)
		for _, l := range tabs {
			for i := range 5 {
				if ok, _ := l.check(now); !ok {
					t.Fatalf("second %d frame %d limited", sec, i)
				}
			}
		}
	}
}

func TestFrameLimiterFlood(t *testing.T) {
	cfg := Config{JWTSecret: testSecret, ConnRate: 10, ConnBurst: 10, MaxLimited: 5, LimitedWindow: 10 * time.Second}.withDefaults()
	l := newFrameLimiter(&cfg, nil)
	now := time.Unix(1_700_000_000, 0)
	var limited int
	for i := range 100 {
		ok, closeIt := l.check(now)
		switch {
		case i < 10 && !ok:
			t.Fatalf("frame %d of the burst limited", i)
		case i >= 10 && ok:
			t.Fatalf("frame %d over the burst allowed", i)
		case closeIt:
			if limited != 5 {
				t.Fatalf("closed after %d limited frames, want 5", limited)
			}
			return
		case !ok:
			limited++
		}
	}
	t.Fatal("a flood was never closed")
}

// A client a little over its rate is refused frames but not closed as long
// as its limited frames stay within MaxLimited per LimitedWindow.
func TestFrameLimiterForgivesSlightExcess(t *testing.T) {
	cfg := Config{JWTSecret: testSecret, ConnRate: 10, ConnBurst: 10, MaxLimited: 20, LimitedWindow: 10 * time.Second}.withDefaults()
	l := newFrameLimiter(&cfg, nil)
	now := time.Unix(1_700_000_000, 0)
	for sec := range 120 {
		for range 11 { // one over the rate each second
			if _, closeIt := l.check(now); closeIt {
				t.Fatalf("closed in second %d", sec)
			}
		}
		now = now.Add(time.Second)
	}
}

func TestFrameLimiterPlayerShared(t *testing.T) {
	cfg := Config{JWTSecret: testSecret, ConnRate: 100, ConnBurst: 100}.withDefaults()
	player := rate.NewLimiter(1, 3)
	a, b := newFrameLimiter(&cfg, player), newFrameLimiter(&cfg, player)
	now := time.Unix(1_700_000_000, 0)
	for i, l := range []*frameLimiter{a, b, a} {
		if ok, _ := l.check(now); !ok {
			t.Fatalf("frame %d limited", i)
		}
	}
	if ok, _ := b.check(now); ok {
		t.Fatal("the player's fourth frame across tabs was allowed")
	}
}

func TestKeyLimiters(t *testing.T) {
	l := newKeyLimiters(1, 2)
	now := time.Unix(1_700_000_000, 0)
	for i := range 2 {
		if ok, _ := l.allow("10.0.0.1", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.allow("10.0.0.1", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third request: ok %v wait %v, want refused within 1s", ok, wait)
	}
	if ok, _ := l.allow("10.0.0.2", now); !ok {
		t.Fatal("another address refused")
	}
	if ok, _ := l.allow("10.0.0.1", now.Add(time.Second)); !ok {
		t.Fatal("refused after the wait")
	}
	// Idle buckets are forgotten.
	l.allow("10.0.0.3", now.Add(time.Hour))
	l.mu.Lock()
	n := len(l.byKey)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d buckets kept after an hour, want 1", n)
	}
}
