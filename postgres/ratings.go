package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

const (
	defaultRankRefresh  = time.Minute
	defaultRateAttempts = 5
	// defaultRatingCacheTTL bounds how stale a queue ticket's rating may
	// be when another process changed it.
	defaultRatingCacheTTL = time.Minute
	// ratingCacheMax bounds the ratings cached for queue tickets (about
	// 100 bytes each).
	ratingCacheMax    = 200_000
	defaultRateBatch  = 100
	defaultRatePoll   = 2 * time.Second
	defaultRateGather = 20 * time.Millisecond
)

// RatingsConfig tunes Ratings. Zero fields take the defaults.
type RatingsConfig struct {
	// Tau is Glicko-2's τ; zero means DefaultTau (0.5).
	Tau float64
	// RankRefresh is how often Run reloads the rank counts, to take in
	// other processes' rating changes and bans. Default 1 minute.
	RankRefresh time.Duration
	// RateAttempts bounds the transactions one rating tries when
	// PostgreSQL reports a serialization failure or a deadlock. Default 5.
	RateAttempts int
	// RatingCacheTTL is how long Rating trusts a rating it read or wrote
	// (queue tickets ask for one each time a player queues); a rating this
	// process changes is updated in the cache at once. Default 1 minute;
	// negative turns the cache off.
	RatingCacheTTL time.Duration
	// Games are the games whose rules say which stored moves anyone may
	// see (Match). Without it, moves show only once a match is over.
	Games *game.Registry
	// Batch bounds the matches one rating transaction rates. Default 100.
	Batch int
	// Poll is how often Run looks for results to rate without a Kick
	// (ends another process stored). Default 2 seconds.
	Poll time.Duration
	// Gather is how long Run waits after a Kick before it rates, so that
	// the matches ending meanwhile are rated in the same transaction (at
	// human pace, a transaction per ended match cost PostgreSQL more than
	// the moves that led to it). Default 20ms; negative: not at all.
	Gather time.Duration
	// Node is this node's id in a cluster (empty for one node alone):
	// each rating batch then tells the other nodes what it changed in the
	// rank counts and ratings (ChannelRanks), in its transaction, and the
	// operators' actions do too (ChannelOps).
	Node string
	// OnRated, when set, receives each rated match's rating changes by
	// seat, once committed, on Run's goroutine (or RatePending's caller).
	// It must not block.
	OnRated func(matchID string, changes []match.RatingChange)
}

// Validate reports a configuration that cannot work.
func (c RatingsConfig) Validate() error {
	switch {
	case c.Tau < 0 || math.IsNaN(c.Tau) || math.IsInf(c.Tau, 0):
		return fmt.Errorf("ratings: Tau %v is not a positive number", c.Tau)
	case c.RankRefresh < 0:
		return fmt.Errorf("ratings: negative RankRefresh %v", c.RankRefresh)
	case c.Batch < 0 || c.Poll < 0:
		return fmt.Errorf("ratings: negative Batch %d or Poll %v", c.Batch, c.Poll)
	case c.RateAttempts < 0:
		return fmt.Errorf("ratings: negative RateAttempts %d", c.RateAttempts)
	}
	return nil
}

func (c RatingsConfig) withDefaults() RatingsConfig {
	if c.RankRefresh == 0 {
		c.RankRefresh = defaultRankRefresh
	}
	if c.RateAttempts == 0 {
		c.RateAttempts = defaultRateAttempts
	}
	if c.Batch == 0 {
		c.Batch = defaultRateBatch
	}
	if c.Poll == 0 {
		c.Poll = defaultRatePoll
	}
	if c.Gather == 0 {
		c.Gather = defaultRateGather
	}
	if c.RatingCacheTTL == 0 {
		c.RatingCacheTTL = defaultRatingCacheTTL
	}
	return c
}

// Ratings rates finished matches with Glicko-2 in PostgreSQL (rater.go)
// and answers the read side: leaderboards, ranks, player pages, stored
// matches and the ratings queue tickets carry. Safe for concurrent use;
// Run drains the results to rate and keeps the rank counts fresh.
type Ratings struct {
	// Immutable after NewRatings.
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    RatingsConfig // with defaults
	glicko leaderboard.Glicko2

	ranks   leaderboard.Ranks // guards itself
	tickets *ratingCache      // guards itself
	kick    chan struct{}     // buffered(1): Kick wakes Run

	unsureMu sync.Mutex
	unsure   []string // matches whose rating batch's COMMIT went unanswered
}

// NewRatings returns Ratings stored in pool; a nil logger discards. It
// panics if cfg does not pass Validate: a wiring mistake.
func NewRatings(pool *pgxpool.Pool, logger *slog.Logger, cfg RatingsConfig) *Ratings {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Ratings{pool: pool, logger: logger, cfg: cfg, glicko: leaderboard.Glicko2{Tau: cfg.Tau},
		tickets: newRatingCache(cfg.RatingCacheTTL, ratingCacheMax), kick: make(chan struct{}, 1)}
}

// Rating returns the player's rating in game, or DefaultRating if the
// player has none yet. It rates queue tickets, so it answers from a cache
// when it can: a rating this process changed is current, one changed
// elsewhere may be up to RatingCacheTTL old.
func (s *Ratings) Rating(ctx context.Context, playerID, game string) (float64, error) {
	now := time.Now()
	if r, ok := s.tickets.get(playerID, game, now); ok {
		return r, nil
	}
	var r float64
	err := s.pool.QueryRow(ctx, `SELECT rating FROM ratings WHERE player_id = $1 AND game = $2`, playerID, game).Scan(&r)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Not cached: the first rated game creates the row, and rating
		// it writes the cache.
		return leaderboard.DefaultRating, nil
	case err != nil:
		return 0, fmt.Errorf("read rating of %s in %s: %w", playerID, game, err)
	}
	s.tickets.put(playerID, game, r, now)
	return r, nil
}
