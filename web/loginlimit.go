package web

import (
	"strings"
	"sync"
	"time"
)

// loginLimiter limits password guessing on each name without letting
// strangers lock its owner out. Every name has a budget of attempts from
// all addresses together (a token bucket: nameBurst, refilled at
// nameRate). While it lasts, any address may try. Once it is spent, an
// address may still try once if it has made no attempt on that name for
// freshAfter: the owner, who has not been guessing, gets in from any
// address, while the guesser gets one attempt per address per freshAfter.
// So a name gets at most nameBurst + nameRate*T attempts in a time T,
// plus one per address and freshAfter. A successful login gives its
// attempt back and forgets its address's. Addresses are counted by /64 for
// IPv6, which one client usually holds whole. Safe for concurrent use.
type loginLimiter struct {
	nameRate   float64 // immutable: tokens per second
	nameBurst  float64 // immutable
	freshAfter time.Duration

	mu        sync.Mutex           // guards the fields below
	names     map[string]*bucket   // by lower-case name
	tried     map[string]time.Time // by address key "|" lower-case name: its last attempt
	lastSweep time.Time
}

// bucket is a token bucket: tokens at time at.
type bucket struct {
	tokens float64
	at     time.Time
}

// loginAttempt is an admitted attempt, to give back if it succeeds.
type loginAttempt struct {
	name, pair string
	took       bool // a token of the name's budget
}

func newLoginLimiter(nameRate float64, nameBurst int, freshAfter time.Duration) *loginLimiter {
	return &loginLimiter{
		nameRate:   nameRate,
		nameBurst:  float64(nameBurst),
		freshAfter: freshAfter,
		names:      make(map[string]*bucket),
		tried:      make(map[string]time.Time),
	}
}

// admit decides whether an attempt on name from ip may go ahead at now.
// When it may not, wait is how long until it may.
func (l *loginLimiter) admit(ip, name string, now time.Time) (a loginAttempt, ok bool, wait time.Duration) {
	a.name = strings.ToLower(name)
	a.pair = addrKey(ip) + "|" + a.name
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.freshAfter {
		l.sweepLocked(now)
	}
	b := l.bucketLocked(a.name, now)
	last, tried := l.tried[a.pair]
	fresh := !tried || now.Sub(last) >= l.freshAfter
	switch {
	case b.tokens >= 1:
		b.tokens--
		a.took = true
	case !fresh:
		wait = min(l.freshAfter-now.Sub(last), time.Duration((1-b.tokens)/l.nameRate*float64(time.Second)))
		return a, false, max(wait, time.Second)
	}
	l.tried[a.pair] = now
	return a, true, 0
}

// succeeded gives back a attempt, which found the right password.
func (l *loginLimiter) succeeded(a loginAttempt, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tried, a.pair)
	if a.took {
		b := l.bucketLocked(a.name, now)
		b.tokens = min(l.nameBurst, b.tokens+1)
	}
}

// bucketLocked returns name's bucket, refilled up to now.
func (l *loginLimiter) bucketLocked(name string, now time.Time) *bucket {
	b := l.names[name]
	if b == nil {
		b = &bucket{tokens: l.nameBurst, at: now}
		l.names[name] = b
	}
	if now.After(b.at) {
		b.tokens = min(l.nameBurst, b.tokens+now.Sub(b.at).Seconds()*l.nameRate)
		b.at = now
	}
	return b
}

// sweepLocked forgets full buckets and attempts older than freshAfter:
// both are as if never made.
func (l *loginLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for name, b := range l.names {
		if b.tokens+now.Sub(b.at).Seconds()*l.nameRate >= l.nameBurst {
			delete(l.names, name)
		}
	}
	for pair, at := range l.tried {
		if now.Sub(at) >= l.freshAfter {
			delete(l.tried, pair)
		}
	}
}
