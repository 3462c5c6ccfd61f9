package lobby

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Defaults for the zero fields of RatingConfig.
const (
	DefaultRatingBase  = 100 // rating points
	DefaultRatingWiden = 50  // rating points per second waited
)

// opponentMemory is how long the lobby remembers whom a player was last
// paired with: at least this long, at most twice.
const opponentMemory = time.Hour

// RatingConfig tunes ByRating. Zero fields take the defaults.
//
// A ticket that has waited w seconds accepts a rating gap of up to
// Base + Widen·w, capped at Max if set, and any gap once w reaches MaxWait if
// set. By default the gap grows without a cap, so after a few seconds anyone
// pairs: 600 points after 10s, 1,100 after 20s. A cap keeps far-apart
// players from meeting, at the price of their wait; docs/matchmaking.md has
// the figures.
type RatingConfig struct {
	// Base is the gap accepted at once. Default 100, which pairs at once
	// the players within 100 points that the protocol promises to pair
	// within 2 seconds.
	Base float64
	// Widen is how much the accepted gap grows per second waited.
	// Default 50.
	Widen float64
	// Max caps the accepted gap until MaxWait; if set, at least Base.
	// Default none.
	Max float64
	// MaxWait is the wait after which a ticket accepts any opponent of its
	// game, cap or not. Default never.
	MaxWait time.Duration
}

// withDefaults fills the zero fields and checks the others.
func (c RatingConfig) withDefaults() (RatingConfig, error) {
	if c.Base == 0 {
		c.Base = DefaultRatingBase
	}
	if c.Widen == 0 {
		c.Widen = DefaultRatingWiden
	}
	switch {
	case !(c.Base > 0) || math.IsInf(c.Base, 1):
		return c, fmt.Errorf("rating config: Base %v is not a positive finite number", c.Base)
	case !(c.Widen > 0) || math.IsInf(c.Widen, 1):
		return c, fmt.Errorf("rating config: Widen %v is not a positive finite number", c.Widen)
	case !(c.Max >= 0) || (c.Max > 0 && c.Max < c.Base):
		return c, fmt.Errorf("rating config: Max %v is neither 0 (none) nor at least Base %v", c.Max, c.Base)
	case c.MaxWait < 0:
		return c, fmt.Errorf("MaxWait %v is negative", c.MaxWait)
	}
	return c, nil
}

// window returns the rating gap a ticket accepts after waiting waited; it
// never shrinks as waited grows. c has its defaults.
func (c RatingConfig) window(waited time.Duration) float64 {
	waited = max(waited, 0)
	if c.MaxWait > 0 && waited >= c.MaxWait {
		return math.Inf(1)
	}
	w := c.Base + c.Widen*waited.Seconds()
	if c.Max > 0 {
		w = min(w, c.Max)
	}
	return w
}

// ByRating returns a policy that pairs players of the same game whose
// ratings are close, accepting a wider gap the longer they wait (see
// RatingConfig). It panics if cfg is invalid.
//
// The rule: the tickets take turns in order of waiting, longest first (arrival
// order among equals); each pairs with the closest-rated ticket still waiting
// whose gap is within its window, and the tie between two equally close goes
// to the longer waiter. Since a longer wait means a wider window, a pair's
// gap is bounded by the window of its longer waiter, not both: that is what
// makes every wait end (once a ticket's window covers somebody who waits, it
// pairs), where requiring both windows would leave a far-off rating waiting
// for as long as nobody near it waits long too.
//
// Repeats: two tickets are a repeat when either's LastOpponent is the other's
// player. A repeat pairs only as a last resort, after every other pair of
// this call is made, when neither of the two has any other acceptable
// opponent left; it still needs its gap within the window. So two players
// who just met and queue again get someone else if anyone fits either of
// them, and each other at once if nobody does.
//
// As FIFO, tickets of different games never pair, a player never pairs with
// themselves or twice, and rest keeps the order of queue. The output depends
// only on the input. It costs O(n log n) for n tickets: two sorts, then a
// walk to each ticket's nearest neighbours in rating among those still
// waiting.
func ByRating(cfg RatingConfig) PairFunc {
	cfg, err := cfg.withDefaults()
	if err != nil {
		panic("lobby.ByRating: " + err.Error())
	}
	return func(queue []Ticket, now time.Time) ([][2]Ticket, []Ticket) {
		return pairByRating(queue, now, cfg)
	}
}

// ratingPass is the state of one ByRating call. Tickets are known by their
// index in queue, players by a number of this call.
type ratingPass struct {
	queue  []Ticket
	player []int32   // per ticket
	window []float64 // accepted gap per ticket
	rank   []int32   // per ticket: position in waiting order, 0 for the longest waiter
	paired []bool    // per ticket
	done   []bool    // per ticket: had its turn in the first round, is paired, or its player is
	busy   []bool    // per player: paired in this call

	// The tickets in order of game, rating and waiting (byRating) fall into
	// buckets of one game and one rating. prev and next link, in that
	// order, the buckets that may still hold a ticket not done; -1 ends.
	byRating   []int32
	buckets    []bucket
	bucketOf   []int32 // per ticket
	prev, next []int32 // per bucket
	linked     []bool  // per bucket
}

// bucket is a run byRating[head:end] of tickets of one game and rating, in
// waiting order; those before head are done.
type bucket struct{ head, end int32 }

func pairByRating(queue []Ticket, now time.Time, cfg RatingConfig) (pairs [][2]Ticket, rest []Ticket) {
	if len(queue) < 2 {
		return nil, queue
	}
	p, byWait := newRatingPass(queue, now, cfg)

	// First round: every ticket, longest waiter first, takes its closest
	// acceptable opponent that is no repeat. A ticket is done after its
	// turn, paired or not, for no later turn can want it: a later ticket's
	// window is no wider, and the gap between them is the same, so if the
	// pair were acceptable the earlier ticket would have taken it, or someone
	// as close.
	var left []int32 // tickets the first round left waiting, in waiting order
	for _, i := range byWait {
		if p.done[i] || p.busy[p.player[i]] {
			continue
		}
		p.done[i] = true
		if j := p.closest(i); j >= 0 {
			p.done[j] = true
			pairs = append(pairs, p.pair(i, j))
		} else {
			left = append(left, i)
		}
	}
	// Second round: repeats, among the tickets left. None of those has an
	// acceptable opponent left but repeats, by the argument above.
	pairs = append(pairs, p.repeats(left)...)

	if m := len(queue) - 2*len(pairs); m > 0 {
		rest = make([]Ticket, 0, m)
	}
	for i, t := range queue {
		if !p.paired[i] {
			rest = append(rest, t)
		}
	}
	return pairs, rest
}

// newRatingPass sorts queue, at least two tickets, and returns the state of
// a call and the tickets in waiting order, longest waiter first.
func newRatingPass(queue []Ticket, now time.Time, cfg RatingConfig) (*ratingPass, []int32) {
	n := len(queue)
	p := &ratingPass{
		queue:    queue,
		player:   make([]int32, n),
		window:   make([]float64, n),
		rank:     make([]int32, n),
		paired:   make([]bool, n),
		done:     make([]bool, n),
		byRating: make([]int32, n),
		bucketOf: make([]int32, n),
	}

	// The sorts compare small keys, not tickets: it is most of the cost.
	type waitKey struct {
		waited time.Duration
		i      int32
	}
	type ratingKey struct {
		game, rank, i int32
		rating        float64
	}
	byWait := make([]waitKey, n)
	byRating := make([]ratingKey, n)
	players := make(map[string]int32, n)
	games := make(map[string]int32)
	for i, t := range queue {
		waited := now.Sub(t.Since)
		byWait[i] = waitKey{waited, int32(i)}
		p.window[i] = cfg.window(waited)
		id, ok := players[t.PlayerID]
		if !ok {
			id = int32(len(players))
			players[t.PlayerID] = id
		}
		p.player[i] = id
		g, ok := games[t.Game]
		if !ok {
			g = int32(len(games))
			games[t.Game] = g
		}
		byRating[i] = ratingKey{game: g, i: int32(i), rating: t.Rating}
	}
	p.busy = make([]bool, len(players))
	slices.SortFunc(byWait, func(a, b waitKey) int {
		return cmp.Or(cmp.Compare(b.waited, a.waited), cmp.Compare(a.i, b.i))
	})
	for r, k := range byWait {
		p.rank[k.i] = int32(r)
		byRating[k.i].rank = int32(r)
	}
	slices.SortFunc(byRating, func(a, b ratingKey) int {
		return cmp.Or(cmp.Compare(a.game, b.game), cmp.Compare(a.rating, b.rating), cmp.Compare(a.rank, b.rank))
	})
	for k, key := range byRating {
		p.byRating[k] = key.i
		if k == 0 || key.game != byRating[k-1].game || key.rating != byRating[k-1].rating {
			p.buckets = append(p.buckets, bucket{head: int32(k)})
		}
		p.buckets[len(p.buckets)-1].end = int32(k + 1)
		p.bucketOf[key.i] = int32(len(p.buckets) - 1)
	}
	nb := len(p.buckets)
	p.prev, p.next, p.linked = make([]int32, nb), make([]int32, nb), make([]bool, nb)
	for b := range nb {
		p.prev[b], p.next[b], p.linked[b] = int32(b-1), int32(b+1), true
	}
	p.next[nb-1] = -1

	order := make([]int32, n)
	for r, k := range byWait {
		order[r] = k.i
	}
	return p, order
}

// closest returns the ticket nearest in rating to i, longest waiter among
// equals, that i may pair with in the first round, or -1. It looks in i's
// bucket, then walks the buckets each way, past those holding only tickets
// that i may not pair with (a repeat, the same player), so it costs a step
// or two each way in the usual case.
func (p *ratingPass) closest(i int32) int32 {
	b := p.bucketOf[i]
	if j := p.first(b, i); j >= 0 {
		return j // a gap of 0: none is closer
	}
	t := &p.queue[i]
	best, bestGap := int32(-1), 0.0
	for _, link := range [2][]int32{p.prev, p.next} {
		for c := link[b]; c >= 0; c = link[c] {
			other := &p.queue[p.byRating[p.buckets[c].end-1]]
			if other.Game != t.Game {
				break
			}
			gap := math.Abs(t.Rating - other.Rating)
			if !within(gap, p.window[i]) {
				break // farther on, gaps only grow
			}
			j := p.first(c, i)
			if j < 0 {
				continue
			}
			if best < 0 || gap < bestGap || (gap == bestGap && p.rank[j] < p.rank[best]) {
				best, bestGap = j, gap
			}
			break
		}
	}
	return best
}

// first returns the longest waiter of bucket b that i may pair with in the
// first round, or -1. It drops the done tickets at the front of the bucket,
// and the bucket from the list when none is left.
func (p *ratingPass) first(b, i int32) int32 {
	bk := &p.buckets[b]
	for bk.head < bk.end && p.done[p.byRating[bk.head]] {
		bk.head++
	}
	if bk.head == bk.end {
		p.unlink(b)
		return -1
	}
	for _, j := range p.byRating[bk.head:bk.end] {
		switch {
		case p.done[j]:
		case p.busy[p.player[j]]:
			p.done[j] = true // paired in another game: for good
		case p.player[j] == p.player[i], repeat(&p.queue[i], &p.queue[j]):
		default:
			return j
		}
	}
	return -1
}

// unlink takes bucket b out of the list; prev[b] and next[b] keep pointing
// where they did, so a walk standing on b goes on.
func (p *ratingPass) unlink(b int32) {
	if !p.linked[b] {
		return
	}
	p.linked[b] = false
	if a := p.prev[b]; a >= 0 {
		p.next[a] = p.next[b]
	}
	if c := p.next[b]; c >= 0 {
		p.prev[c] = p.prev[b]
	}
}

// repeats pairs the repeats among left, which is in waiting order: each
// ticket, longest waiter first, takes the closest acceptable one.
func (p *ratingPass) repeats(left []int32) [][2]Ticket {
	byLast := make(map[string][]int32) // left tickets whose LastOpponent is the key
	for _, i := range left {
		if last := p.queue[i].LastOpponent; last != "" {
			byLast[last] = append(byLast[last], i)
		}
	}
	if len(byLast) == 0 {
		return nil
	}
	byPlayer := make(map[string][]int32, len(left)) // left tickets of each player
	for _, i := range left {
		byPlayer[p.queue[i].PlayerID] = append(byPlayer[p.queue[i].PlayerID], i)
	}
	var pairs [][2]Ticket
	for _, i := range left {
		t := &p.queue[i]
		if p.paired[i] || p.busy[p.player[i]] {
			continue
		}
		best, bestGap := int32(-1), 0.0
		for _, candidates := range [2][]int32{byPlayer[t.LastOpponent], byLast[t.PlayerID]} {
			for _, j := range candidates {
				u := &p.queue[j]
				if p.paired[j] || p.busy[p.player[j]] || p.player[j] == p.player[i] || u.Game != t.Game {
					continue
				}
				gap := math.Abs(t.Rating - u.Rating)
				if !within(gap, max(p.window[i], p.window[j])) {
					continue
				}
				if best < 0 || gap < bestGap || (gap == bestGap && p.rank[j] < p.rank[best]) {
					best, bestGap = j, gap
				}
			}
		}
		if best >= 0 {
			pairs = append(pairs, p.pair(i, best))
		}
	}
	return pairs
}

// pair marks i and j paired and returns them, i first.
func (p *ratingPass) pair(i, j int32) [2]Ticket {
	p.paired[i], p.paired[j] = true, true
	p.busy[p.player[i]], p.busy[p.player[j]] = true, true
	return [2]Ticket{p.queue[i], p.queue[j]}
}

// within reports whether gap fits window. An infinite window takes any gap,
// even one between ratings that are not numbers.
func within(gap, window float64) bool {
	return math.IsInf(window, 1) || gap <= window
}

// repeat reports whether a and b just played each other, as far as either
// ticket knows.
func repeat(a, b *Ticket) bool {
	return (a.LastOpponent != "" && a.LastOpponent == b.PlayerID) ||
		(b.LastOpponent != "" && b.LastOpponent == a.PlayerID)
}

// opponents remembers the last opponent of each player the lobby paired,
// for between one and two opponentMemory: two generations of a map, the
// older dropped when the newer has been filled for opponentMemory. Owned by
// Run, not thread-safe.
type opponents struct {
	cur, old map[string]string
	since    time.Time // when cur was started
}

// add records that a and b were paired at now.
func (o *opponents) add(a, b string, now time.Time) {
	o.age(now)
	o.cur[a], o.cur[b] = b, a
}

// last returns the player's last opponent, or "" if none is remembered.
func (o *opponents) last(playerID string, now time.Time) string {
	o.age(now)
	if id, ok := o.cur[playerID]; ok {
		return id
	}
	return o.old[playerID]
}

// age retires the generations that have served their time. Entries in cur
// were added in [since, since+opponentMemory), those in old in the span
// before.
func (o *opponents) age(now time.Time) {
	switch d := now.Sub(o.since); {
	case o.cur == nil || d >= 2*opponentMemory:
		o.cur, o.old, o.since = make(map[string]string), nil, now
	case d >= opponentMemory:
		o.cur, o.old = make(map[string]string), o.cur
		o.since = o.since.Add(opponentMemory)
	}
}
