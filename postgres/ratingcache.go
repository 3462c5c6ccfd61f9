package postgres

import (
	"sync"
	"time"
)

// ratingCache remembers the ratings that queue tickets ask for, so that
// queueing again after a game costs no database read. It is a matchmaking
// hint, not a source of truth: this process writes through it when it
// rates a match, and an entry another process may have changed (a match
// rated elsewhere, a voided match) is read again once it is older than the
// TTL. Safe for concurrent use.
type ratingCache struct {
	ttl time.Duration // immutable
	max int           // immutable; entries kept before the map is emptied

	mu      sync.Mutex
	entries map[ratingKey]cachedRating // guarded by mu
}

// ratingKey is one player's rating in one game.
type ratingKey struct{ player, game string }

type cachedRating struct {
	rating float64
	at     time.Time
	xid    uint64 // the transaction that wrote it, when known (0: read)
}

func newRatingCache(ttl time.Duration, max int) *ratingCache {
	return &ratingCache{ttl: ttl, max: max, entries: make(map[ratingKey]cachedRating)}
}

// get returns the rating cached for player in game if it is younger than
// the TTL at now.
func (c *ratingCache) get(player, game string, now time.Time) (float64, bool) {
	if c.ttl <= 0 {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[ratingKey{player, game}]
	if !ok || now.Sub(e.at) >= c.ttl {
		return 0, false
	}
	return e.rating, true
}

// put remembers rating as read or written at now. When the cache is full
// it starts again from empty: entries are cheap to read back, and a
// player who queues again soon is among the first to return.
func (c *ratingCache) put(player, game string, rating float64, now time.Time) {
	c.putAt(player, game, rating, now, 0)
}

// putAt remembers rating as written at now by transaction xid (0: not
// known). A rating written by an older transaction than the entry's, while
// the entry is fresh, is stale news (a note from another node that came
// late) and is ignored.
func (c *ratingCache) putAt(player, game string, rating float64, now time.Time, xid uint64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := ratingKey{player, game}
	e, ok := c.entries[k]
	if ok && xid != 0 && e.xid > xid && now.Sub(e.at) < c.ttl {
		return
	}
	if !ok && len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[k] = cachedRating{rating: rating, at: now, xid: xid}
}

// forget drops the player's ratings in every game.
func (c *ratingCache) forget(player string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.player == player {
			delete(c.entries, k)
		}
	}
}

// forgetAll drops every rating.
func (c *ratingCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
