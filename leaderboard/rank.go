package leaderboard

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
// The counts are loaded with one GROUP BY, moved by this process's
// RecordResult as it changes ratings, and reloaded every
// RatingsConfig.RankRefresh to take in what other processes wrote and who
// was banned. Between reloads, ranks may be off by what other processes
// changed meanwhile; this process's own changes count at once.

// Bounds of the buckets kept: ratings beyond them count in the edge
// buckets. Real ratings stay within a few hundred points of 1500.
const (
	minRankBucket = -10000
	maxRankBucket = 20000
)

// shownRating rounds a rating to the whole point it is shown as, halves
// up. The histogram's buckets and the ranks follow the same rounding.
func shownRating(r float64) float64 {
	f := math.Floor(r)
	if r-f >= 0.5 { // exact: r and f are within 1 of each other
		f++
	}
	return f
}

// shownRatingSQL is shownRating in SQL, on the same IEEE doubles, so that
// the database puts each rating in the bucket Go would.
const shownRatingSQL = `(floor(r.rating) + CASE WHEN r.rating - floor(r.rating) >= 0.5 THEN 1 ELSE 0 END)`

// rankCountsSQL counts players per game, established or not, and shown
// rating (0 for provisional players): one pass over ratings, leaving
// banned players out through players_banned.
const rankCountsSQL = `
	SELECT r.game, r.rd <= 110, CASE WHEN r.rd <= 110 THEN ` + shownRatingSQL + ` ELSE 0 END, count(*)
	FROM ratings r
	WHERE r.player_id NOT IN (SELECT b.id FROM players b WHERE b.banned_at IS NOT NULL)
	GROUP BY 1, 2, 3`

// rankBucket is the histogram bucket of a rating: its shown value, within
// the bounds kept.
func rankBucket(r float64) int64 {
	if math.IsNaN(r) {
		return minRankBucket
	}
	return int64(min(max(shownRating(r), minRankBucket), maxRankBucket))
}

// rankPos is where a player counts in a game's histogram.
type rankPos struct {
	counted     bool  // false: not at all (no ratings row, or banned)
	established bool  // RD <= ProvisionalRD; else counted as provisional only
	bucket      int64 // rankBucket(rating), when established
}

func positionOf(rating, rd float64, banned bool) rankPos {
	if banned {
		return rankPos{}
	}
	if rd > ProvisionalRD {
		return rankPos{counted: true}
	}
	return rankPos{counted: true, established: true, bucket: rankBucket(rating)}
}

// rankDelta moves one player in one game's histogram: a committed rating
// update, tagged with the transaction that made it so that a reload can
// tell whether its snapshot includes it.
type rankDelta struct {
	game     string
	xid      uint64 // pg_current_xact_id() of the committed transaction
	from, to rankPos
}

// gameCounts is one game's histogram. Counts may dip below zero for a
// moment when two deltas of one player arrive out of commit order; deltas
// add up, so the sums come out right once both are in.
type gameCounts struct {
	lo          int64 // bucket of counts[0]
	counts      []int // established players per bucket, from lo up
	established int
	provisional int
}

func (g *gameCounts) add(p rankPos, n int) {
	switch {
	case !p.counted:
		return
	case !p.established:
		g.provisional += n
		return
	}
	g.established += n
	if len(g.counts) == 0 {
		g.lo = p.bucket
	}
	if p.bucket < g.lo {
		grown := make([]int, int(g.lo-p.bucket)+len(g.counts))
		copy(grown[g.lo-p.bucket:], g.counts)
		g.counts, g.lo = grown, p.bucket
	}
	if i := int(p.bucket - g.lo); i >= len(g.counts) {
		g.counts = append(g.counts, make([]int, i+1-len(g.counts))...)
	}
	g.counts[p.bucket-g.lo] += n
}

// above returns the established players in buckets above b.
func (g *gameCounts) above(b int64) int {
	n := 0
	for i := max(b+1-g.lo, 0); i < int64(len(g.counts)); i++ {
		n += g.counts[i]
	}
	return n
}

// rankIndex holds the histograms of all games. Safe for concurrent use.
type rankIndex struct {
	// reloadMu is held by the one reload running; taken before mu.
	reloadMu sync.Mutex

	mu        sync.RWMutex // guards the fields below
	loaded    bool         // games holds a reload's result
	games     map[string]*gameCounts
	snap      xactSnapshot // what the reload that made games saw
	reloading bool         // a reload's query runs: record deltas in during
	during    []rankDelta  // deltas applied while reloading, for it to replay
}

// apply records a committed rating change. Before the first load it is
// dropped: the load reads it from the database. So is a change the
// counts' snapshot saw already (it committed just before a reload, and
// reached apply after it).
func (ix *rankIndex) apply(d rankDelta) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.loaded && !ix.snap.sees(d.xid) {
		ix.applyLocked(ix.games, d)
	}
	if ix.reloading {
		ix.during = append(ix.during, d)
	}
}

func (ix *rankIndex) applyLocked(games map[string]*gameCounts, d rankDelta) {
	g := games[d.game]
	if g == nil {
		g = &gameCounts{}
		games[d.game] = g
	}
	g.add(d.from, -1)
	g.add(d.to, 1)
}

// rank returns 1 + the established players above bucket b in game.
func (ix *rankIndex) rank(game string, b int64) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if g := ix.games[game]; g != nil {
		return 1 + g.above(b)
	}
	return 1
}

// total returns the players on game's leaderboard: the established ones,
// or all with includeProvisional.
func (ix *rankIndex) total(game string, includeProvisional bool) int {
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

// ensure loads the histograms unless they are.
func (ix *rankIndex) ensure(ctx context.Context, pool *pgxpool.Pool) error {
	ix.mu.RLock()
	ok := ix.loaded
	ix.mu.RUnlock()
	if ok {
		return nil
	}
	return ix.reload(ctx, pool, true)
}

// invalidate forgets the counts: the next use (or the periodic refresh)
// loads them again from the database. For when this process cannot know
// whether a change it made committed.
func (ix *rankIndex) invalidate() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.loaded = false
}

// reload replaces the histograms by counts read from the database. Deltas
// that arrive while the query runs are applied to the old histograms and
// also kept; once the new counts are in, those whose transactions the
// query's snapshot did not see are applied to them too, and so are later
// ones it did not see (apply), so that no change of this process is lost
// or counted twice.
func (ix *rankIndex) reload(ctx context.Context, pool *pgxpool.Pool, onlyIfUnloaded bool) error {
	ix.reloadMu.Lock()
	defer ix.reloadMu.Unlock()
	ix.mu.Lock()
	if onlyIfUnloaded && ix.loaded {
		ix.mu.Unlock()
		return nil
	}
	ix.reloading, ix.during = true, nil
	ix.mu.Unlock()

	games, snap, err := loadRankCounts(ctx, pool)

	ix.mu.Lock()
	defer ix.mu.Unlock()
	during := ix.during
	ix.reloading, ix.during = false, nil
	if err != nil {
		return fmt.Errorf("load rank counts: %w", err)
	}
	for _, d := range during {
		if !snap.sees(d.xid) {
			ix.applyLocked(games, d)
		}
	}
	ix.games, ix.snap, ix.loaded = games, snap, true
	return nil
}

// loadRankCounts counts established players per game and shown rating,
// and provisional ones per game, leaving banned players out. It returns
// the snapshot the counts were read in.
func loadRankCounts(ctx context.Context, pool *pgxpool.Pool) (map[string]*gameCounts, xactSnapshot, error) {
	games := make(map[string]*gameCounts)
	var snap xactSnapshot
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The first statement fixes the transaction's snapshot, which the
		// count below reads in.
		var text string
		if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
			return err
		}
		var err error
		if snap, err = parseXactSnapshot(text); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, rankCountsSQL)
		if err != nil {
			return err
		}
		var (
			game        string
			established bool
			bucket      float64
			n           int
		)
		_, err = pgx.ForEachRow(rows, []any{&game, &established, &bucket, &n}, func() error {
			g := games[game]
			if g == nil {
				g = &gameCounts{}
				games[game] = g
			}
			g.add(rankPos{counted: true, established: established, bucket: rankBucket(bucket)}, n)
			return nil
		})
		return err
	})
	return games, snap, err
}

// xactSnapshot is a PostgreSQL snapshot (pg_snapshot): which transactions
// a query saw.
type xactSnapshot struct {
	xmin, xmax uint64
	xip        map[uint64]bool // in progress when it was taken
}

// parseXactSnapshot reads pg_snapshot's text form, "xmin:xmax:xip,...".
func parseXactSnapshot(s string) (xactSnapshot, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return xactSnapshot{}, fmt.Errorf("malformed snapshot %q", s)
	}
	var snap xactSnapshot
	var err error
	if snap.xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return xactSnapshot{}, fmt.Errorf("malformed snapshot %q", s)
	}
	if snap.xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return xactSnapshot{}, fmt.Errorf("malformed snapshot %q", s)
	}
	if parts[2] != "" {
		snap.xip = make(map[uint64]bool)
		for _, x := range strings.Split(parts[2], ",") {
			xid, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return xactSnapshot{}, fmt.Errorf("malformed snapshot %q", s)
			}
			snap.xip[xid] = true
		}
	}
	return snap, nil
}

// sees reports whether a query in the snapshot saw the committed
// transaction xid: it had finished before the snapshot was taken.
func (s xactSnapshot) sees(xid uint64) bool {
	switch {
	case xid < s.xmin:
		return true
	case xid >= s.xmax:
		return false
	}
	return !s.xip[xid]
}
