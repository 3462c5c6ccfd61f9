package web

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// frameLimiter decides, frame by frame, whether a connection may have one
// more frame dispatched. Owned by the connection's read pump; the player
// limiter inside is shared by that player's connections and is safe for
// concurrent use. The connection's own bucket is made at its first frame,
// and the strikes at its first refused frame: a bucket starts full, so
// making it later changes nothing, and an idle connection does not pay
// for them.
type frameLimiter struct {
	cfg     *Config       // immutable: the server's
	player  *rate.Limiter // all connections of the player; nil for spectators
	conn    *rate.Limiter // this connection; nil before its first frame
	strikes *rate.Limiter // frames over the rate that are still forgiven; nil before the first
}

func newFrameLimiter(cfg *Config, player *rate.Limiter) *frameLimiter {
	return &frameLimiter{cfg: cfg, player: player}
}

// check reports whether a frame arriving at now may be dispatched, and when
// it may not, whether the client has gone over its rate so often that it
// must be closed (4008). A refused frame changes nothing else.
func (l *frameLimiter) check(now time.Time) (ok, closeIt bool) {
	if l.conn == nil {
		l.conn = rate.NewLimiter(rate.Limit(l.cfg.ConnRate), l.cfg.ConnBurst)
	}
	if l.conn.AllowN(now, 1) && (l.player == nil || l.player.AllowN(now, 1)) {
		return true, false
	}
	if l.strikes == nil {
		l.strikes = rate.NewLimiter(rate.Limit(float64(l.cfg.MaxLimited)/l.cfg.LimitedWindow.Seconds()), l.cfg.MaxLimited)
	}
	return false, !l.strikes.AllowN(now, 1)
}

// keyLimiters holds one token bucket per key: a client IP, or a player name
// for login attempts. Safe for concurrent use.
type keyLimiters struct {
	limit rate.Limit // immutable
	burst int        // immutable
	idle  time.Duration
	addrs bool // immutable: keys are client addresses, limited by addrKey

	mu        sync.Mutex // guards the fields below
	byKey     map[string]*keyLimiter
	lastSweep time.Time
}

type keyLimiter struct {
	lim  *rate.Limiter
	last time.Time
}

// newAddrLimiters returns keyLimiters for client addresses: an IPv6
// client is limited by its /64 (see addrKey).
func newAddrLimiters(perSecond float64, burst int) *keyLimiters {
	l := newKeyLimiters(perSecond, burst)
	l.addrs = true
	return l
}

// addrKey is what per-address limits count a client address by: an IPv4
// address itself, an IPv6 address's /64, which a single subscriber
// usually holds whole (counting each of its 2^64 addresses apart would
// give one client unlimited budgets). Anything else is its own key.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Unmap().Is6() {
		return ip
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
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
	if l.addrs {
		key = addrKey(key)
	}
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
