package web

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// frameLimiter decides, frame by frame, whether a connection may have one
// more frame dispatched. Owned by the connection's read pump; the player
// limiter inside is shared by that player's connections and is safe for
// concurrent use.
type frameLimiter struct {
	conn    *rate.Limiter // this connection
	player  *rate.Limiter // all connections of the player; nil for spectators
	strikes *rate.Limiter // frames over the rate that are still forgiven
}

func newFrameLimiter(cfg Config, player *rate.Limiter) *frameLimiter {
	return &frameLimiter{
		conn:    rate.NewLimiter(rate.Limit(cfg.ConnRate), cfg.ConnBurst),
		player:  player,
		strikes: rate.NewLimiter(rate.Limit(float64(cfg.MaxLimited)/cfg.LimitedWindow.Seconds()), cfg.MaxLimited),
	}
}

// check reports whether a frame arriving at now may be dispatched, and when
// it may not, whether the client has gone over its rate so often that it
// must be closed (4008). A refused frame changes nothing else.
func (l *frameLimiter) check(now time.Time) (ok, closeIt bool) {
	if l.conn.AllowN(now, 1) && (l.player == nil || l.player.AllowN(now, 1)) {
		return true, false
	}
	return false, !l.strikes.AllowN(now, 1)
}

// keyLimiters holds one token bucket per key: a client IP, or a player name
// for login attempts. Safe for concurrent use.
type keyLimiters struct {
	limit rate.Limit // immutable
	burst int        // immutable
	idle  time.Duration

	mu        sync.Mutex // guards the fields below
	byKey     map[string]*keyLimiter
	lastSweep time.Time
}

type keyLimiter struct {
	lim  *rate.Limiter
	last time.Time
}

func newKeyLimiters(perSecond float64, burst int) *keyLimiters {
	// A bucket idle for this long is full again: forgetting it changes
	// nothing. Sweeps run at most once per idle period.
	idle := time.Duration(float64(burst)/perSecond*float64(time.Second)) + time.Second
	return &keyLimiters{
		limit: rate.Limit(perSecond),
		burst: burst,
		idle:  max(idle, time.Minute),
		byKey: make(map[string]*keyLimiter),
	}
}

// allow takes one token for key at now. When none is left it returns false
// and how long until one is.
func (l *keyLimiters) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle {
		l.sweepLocked(now)
	}
	e := l.byKey[key]
	if e == nil {
		e = &keyLimiter{lim: rate.NewLimiter(l.limit, l.burst)}
		l.byKey[key] = e
	}
	e.last = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweepLocked forgets the buckets idle long enough to be full.
func (l *keyLimiters) sweepLocked(now time.Time) {
	l.lastSweep = now
	for key, e := range l.byKey {
		if now.Sub(e.last) > l.idle {
			delete(l.byKey, key)
		}
	}
}
