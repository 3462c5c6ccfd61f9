package leaderboard

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
)

// Ranks.
//
// A player's rank in a game is competition ranking ("1, 2, 2, 4") on the
// rating as shown, rounded to whole points: 1 + the number of established
// (RD <= 110), unbanned players whose shown rating is higher. Players shown
// with the same rating share a rank. The leaderboard lists players by exact
// rating and id, and gives each the same rank as Rank does.
//
// Counting "rating > x" exactly takes tens of milliseconds at a million
// players, so each process keeps, per game, how many established players
// stand at each shown rating (a histogram with one bucket per whole point,
// whose edges are the .5 points where rounding changes): a rank is then a
// sum over the buckets above the player's, with no query at all, and exact
// because every player in a higher bucket has a higher shown rating.
//
// The store loads the counts with one query (Ranks.Reload), moves them as
// it commits rating changes (Ranks.Apply), and reloads them periodically to
// take in what other processes wrote and who was banned. Between reloads,
// ranks may be off by what other processes changed meanwhile; this
// process's own changes count at once.

// Bounds of the buckets kept: ratings beyond them count in the edge
// buckets. Real ratings stay within a few hundred points of 1500.
const (
	MinRankBucket = -10000
	MaxRankBucket = 20000
)

// ShownRating rounds a rating to the whole point it is shown as, halves
// up. The histogram's buckets and the ranks follow the same rounding.
func ShownRating(r float64) float64 {
	f := math.Floor(r)
	if r-f >= 0.5 { // exact: r and f are within 1 of each other
		f++
	}
	return f
}

// RankBucket is the histogram bucket of a rating: its shown value, within
// the bounds kept.
func RankBucket(r float64) int64 {
	if math.IsNaN(r) {
		return MinRankBucket
	}
	return int64(min(max(ShownRating(r), MinRankBucket), MaxRankBucket))
}

// RankPos is where a player counts in a game's histogram.
type RankPos struct {
	Counted     bool  // false: not at all (no rating yet, or banned)
	Established bool  // RD <= ProvisionalRD; else counted as provisional only
	Bucket      int64 // RankBucket(rating), when established
}

// PositionOf is where a player with this rating and RD counts.
func PositionOf(rating, rd float64, banned bool) RankPos {
	if banned {
		return RankPos{}
	}
	if rd > ProvisionalRD {
		return RankPos{Counted: true}
	}
	return RankPos{Counted: true, Established: true, Bucket: RankBucket(rating)}
}

// RankDelta moves one player in one game's histogram: a committed rating
// update, tagged with the transaction that made it so that a reload can
// tell whether its snapshot includes it.
type RankDelta struct {
	Game     string
	TxID     uint64 // the id of the committed transaction
	From, To RankPos
}

// Histogram is one game's counts. Counts may dip below zero for a moment
// when two deltas of one player arrive out of commit order; deltas add
// up, so the sums come out right once both are in.
type Histogram struct {
	lo          int64 // bucket of counts[0]
	counts      []int // established players per bucket, from lo up
	established int
	provisional int
}

// Add counts n more players (or fewer, for negative n) at p.
func (g *Histogram) Add(p RankPos, n int) {
	switch {
	case !p.Counted:
		return
	case !p.Established:
		g.provisional += n
		return
	}
	g.established += n
	if len(g.counts) == 0 {
		g.lo = p.Bucket
	}
	if p.Bucket < g.lo {
		grown := make([]int, int(g.lo-p.Bucket)+len(g.counts))
		copy(grown[g.lo-p.Bucket:], g.counts)
		g.counts, g.lo = grown, p.Bucket
	}
	if i := int(p.Bucket - g.lo); i >= len(g.counts) {
		g.counts = append(g.counts, make([]int, i+1-len(g.counts))...)
	}
	g.counts[p.Bucket-g.lo] += n
}

// above returns the established players in buckets above b.
func (g *Histogram) above(b int64) int {
	n := 0
	for i := max(b+1-g.lo, 0); i < int64(len(g.counts)); i++ {
		n += g.counts[i]
	}
	return n
}

// Snapshot tells which committed transactions a load of the counts saw.
type Snapshot interface {
	Sees(txID uint64) bool
}

// LoadFunc reads the counts of every game from the store, and the
// snapshot they were read in.
type LoadFunc func(ctx context.Context) (map[string]*Histogram, Snapshot, error)

// Ranks holds the histograms of all games. Safe for concurrent use; the
// zero value is empty and not loaded.
type Ranks struct {
	// reloadMu is held by the one reload running; taken before mu.
	reloadMu sync.Mutex

	mu        sync.RWMutex // guards the fields below
	loaded    bool         // games holds a reload's result
	games     map[string]*Histogram
	snap      Snapshot    // what the reload that made games saw
	reloading bool        // a reload's query runs: record deltas in during
	during    []RankDelta // deltas applied while reloading, for it to replay
}

// Apply records a committed rating change. Before the first load it is
// dropped: the load reads it from the store. So is a change the counts'
// snapshot saw already (it committed just before a reload, and reached
// Apply after it).
func (ix *Ranks) Apply(d RankDelta) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.loaded && !ix.snap.Sees(d.TxID) {
		applyDelta(ix.games, d)
	}
	if ix.reloading {
		ix.during = append(ix.during, d)
	}
}

func applyDelta(games map[string]*Histogram, d RankDelta) {
	g := games[d.Game]
	if g == nil {
		g = &Histogram{}
		games[d.Game] = g
	}
	g.Add(d.From, -1)
	g.Add(d.To, 1)
}

// Rank returns 1 + the established players above bucket b in game.
func (ix *Ranks) Rank(game string, b int64) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if g := ix.games[game]; g != nil {
		return 1 + g.above(b)
	}
	return 1
}

// Total returns the players on game's leaderboard: the established ones,
// or all with includeProvisional.
func (ix *Ranks) Total(game string, includeProvisional bool) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	g := ix.games[game]
	switch {
	case g == nil:
		return 0
	case includeProvisional:
		return g.established + g.provisional
	}
	return g.established
}

// Loaded reports whether the counts hold a load's result.
func (ix *Ranks) Loaded() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.loaded
}

// Invalidate forgets the counts: the next use (or the periodic refresh)
// loads them again. For when the store cannot know whether a change it
// made committed.
func (ix *Ranks) Invalidate() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.loaded = false
}

// Reload replaces the histograms by counts that load reads. With
// onlyIfUnloaded it does nothing once they are loaded. Deltas that arrive
// while load runs are applied to the old histograms and also kept; once
// the new counts are in, those whose transactions the load's snapshot did
// not see are applied to them too, and so are later ones it did not see
// (Apply), so that no change of this process is lost or counted twice.
func (ix *Ranks) Reload(ctx context.Context, load LoadFunc, onlyIfUnloaded bool) error {
	ix.reloadMu.Lock()
	defer ix.reloadMu.Unlock()
	ix.mu.Lock()
	if onlyIfUnloaded && ix.loaded {
		ix.mu.Unlock()
		return nil
	}
	ix.reloading, ix.during = true, nil
	ix.mu.Unlock()

	games, snap, err := load(ctx)

	ix.mu.Lock()
	defer ix.mu.Unlock()
	during := ix.during
	ix.reloading, ix.during = false, nil
	if err != nil {
		return fmt.Errorf("load rank counts: %w", err)
	}
	for _, d := range during {
		if !snap.Sees(d.TxID) {
			applyDelta(games, d)
		}
	}
	ix.games, ix.snap, ix.loaded = games, snap, true
	return nil
}

// String lists each game's counts without the empty buckets, games in
// name order: for logs and tests.
func (ix *Ranks) String() string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(ix.games)) {
		g := ix.games[name]
		fmt.Fprintf(&b, "%s: %d established, %d provisional:", name, g.established, g.provisional)
		for i, n := range g.counts {
			if n != 0 {
				fmt.Fprintf(&b, " %d:%d", g.lo+int64(i), n)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
