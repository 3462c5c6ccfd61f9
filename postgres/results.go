package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// ErrResultPending: the match's end is not in the database yet (the
// journal is spooling it while the database is down), so it cannot be
// rated now. RatePending rates it once the spool has been replayed.
var ErrResultPending = errors.New("match result not stored yet")

const (
	defaultRankRefresh  = time.Minute
	defaultRateAttempts = 5
	// defaultRatingCacheTTL bounds how stale a queue ticket's rating may
	// be when another process changed it.
	defaultRatingCacheTTL = time.Minute
	// ratingCacheMax bounds the ratings cached for queue tickets (about
	// 100 bytes each).
	ratingCacheMax = 200_000
	// pendingBatch is how many pending results RatePending reads at a time.
	pendingBatch = 100
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
}

// Validate reports a configuration that cannot work.
func (c RatingsConfig) Validate() error {
	switch {
	case c.Tau < 0 || math.IsNaN(c.Tau) || math.IsInf(c.Tau, 0):
		return fmt.Errorf("leaderboard: Tau %v is not a positive number", c.Tau)
	case c.RankRefresh < 0:
		return fmt.Errorf("leaderboard: negative RankRefresh %v", c.RankRefresh)
	case c.RateAttempts < 0:
		return fmt.Errorf("leaderboard: negative RateAttempts %d", c.RateAttempts)
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
	if c.RatingCacheTTL == 0 {
		c.RatingCacheTTL = defaultRatingCacheTTL
	}
	return c
}

// Ratings applies match results to Glicko-2 ratings in PostgreSQL
// (match.ResultRecorder) and answers the read side: leaderboards, ranks,
// player pages and stored matches. Safe for concurrent use; Run keeps its
// rank counts fresh.
type Ratings struct {
	// Immutable after NewRatings.
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    RatingsConfig // with defaults
	glicko leaderboard.Glicko2

	ranks   leaderboard.Ranks // guards itself
	batch   rateBatcher       // guards itself
	tickets *ratingCache      // guards itself
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
		tickets: newRatingCache(cfg.RatingCacheTTL, ratingCacheMax)}
}

// Run loads the rank counts and reloads them every RankRefresh until ctx
// is done; then it returns nil. A failed load is logged and tried again at
// the next tick (until the first load succeeds, ranks are loaded on first
// use instead).
func (s *Ratings) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.RankRefresh)
	defer t.Stop()
	for {
		if err := s.ranks.Reload(ctx, s.loadRanks, false); err != nil && ctx.Err() == nil {
			s.logger.Warn("reload rank counts", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RefreshRanks reloads the rank counts now.
func (s *Ratings) RefreshRanks(ctx context.Context) error {
	return s.ranks.Reload(ctx, s.loadRanks, false)
}

// RecordResult applies a finished, rated match's result to both players'
// ratings, once: called again for the same match, it changes nothing and
// returns the changes it made the first time. An aborted, unrated or
// voided match changes nothing (an empty slice). If the journal has not
// stored the match's end yet, the error wraps ErrResultPending, and
// RatePending rates it later. The result's fields other than MatchID are
// only a shortcut for aborts: the stored match is what counts.
func (s *Ratings) RecordResult(ctx context.Context, r match.Result) ([]match.RatingChange, error) {
	if r.Status == match.StatusAborted || !r.Rated {
		return []match.RatingChange{}, nil
	}
	changes, err := s.recordBatched(ctx, r.MatchID)
	if err != nil {
		return nil, fmt.Errorf("record result for match %s: %w", r.MatchID, err)
	}
	now := time.Now()
	for _, ch := range changes {
		s.tickets.put(ch.PlayerID, r.Game, ch.After, now)
	}
	return changes, nil
}

// RatePending rates every finished, rated match whose result has not been
// applied yet, in the order they ended, and returns how many it rated. The
// server calls it at start and after the journal replayed its spool.
// Several processes may run it at once: each match is rated once.
func (s *Ratings) RatePending(ctx context.Context) (int, error) {
	var (
		rated   int
		afterAt time.Time
		afterID string
	)
	for {
		rows, err := s.pool.Query(ctx, `
			SELECT ended_at, id FROM matches
			WHERE status = 'finished' AND rated AND rated_at IS NULL AND voided_at IS NULL
				AND (ended_at, id) > ($1, $2)
			ORDER BY ended_at, id
			LIMIT $3`, afterAt, afterID, pendingBatch)
		if err != nil {
			return rated, fmt.Errorf("list pending results: %w", err)
		}
		type pending struct {
			EndedAt time.Time
			ID      string
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pending])
		if err != nil {
			return rated, fmt.Errorf("list pending results: %w", err)
		}
		for _, p := range batch {
			_, applied, err := s.rate(ctx, p.ID)
			if err != nil {
				return rated, fmt.Errorf("rate pending match %s: %w", p.ID, err)
			}
			if applied {
				rated++
			}
			afterAt, afterID = p.EndedAt, p.ID
		}
		if len(batch) < pendingBatch {
			return rated, nil
		}
	}
}

// rate rates one match, retrying on serialization failures and deadlocks.
// applied reports whether this call changed ratings.
func (s *Ratings) rate(ctx context.Context, matchID string) (changes []match.RatingChange, applied bool, err error) {
	for attempt := 1; ; attempt++ {
		changes, deltas, err := s.rateOnce(ctx, matchID)
		if err == nil {
			for _, d := range deltas {
				s.ranks.Apply(d)
			}
			return changes, deltas != nil, nil
		}
		if errors.Is(err, errCommitUnknown) {
			// Whether these deltas happened is unknown, and a retry
			// would find the match rated and apply none: reload the rank
			// counts from the database on next use instead.
			s.ranks.Invalidate()
		}
		if !isTxConflict(err) || attempt >= s.cfg.RateAttempts {
			return nil, false, err
		}
		// Back off a little, randomly, so that the transactions that
		// collided do not collide again.
		wait := time.Duration(attempt) * time.Duration(1+rand.IntN(10)) * time.Millisecond
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// errCommitUnknown: the connection failed while committing, so the
// transaction may or may not have committed.
var errCommitUnknown = errors.New("commit outcome unknown")

// isTxConflict reports whether err is a serialization failure or a
// deadlock, after which the transaction may be tried again.
func isTxConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// ratedMatch is a stored match as rating sees it.
type ratedMatch struct {
	game, status        string
	rated, done, voided bool
	winner              *int16
	seats               [2]string
}

// playerRating is one player's ratings row as read under lock.
type playerRating struct {
	leaderboard.Rating
	banned bool
}

// rateOnce is one transaction of rate. deltas is nil unless it changed
// ratings; then it holds the moves of the rank histograms, to apply once
// committed.
func (s *Ratings) rateOnce(ctx context.Context, matchID string) (changes []match.RatingChange, deltas []leaderboard.RankDelta, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	// The match row's lock serializes everyone rating this match.
	var m ratedMatch
	err = tx.QueryRow(ctx, `
		SELECT game, status, rated, rated_at IS NOT NULL, voided_at IS NOT NULL, winner, seat0, seat1
		FROM matches WHERE id = $1
		FOR NO KEY UPDATE`, matchID).
		Scan(&m.game, &m.status, &m.rated, &m.done, &m.voided, &m.winner, &m.seats[0], &m.seats[1])
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil, fmt.Errorf("%w (no such match)", ErrResultPending)
	case err != nil:
		return nil, nil, err
	case m.status == match.StatusLive:
		return nil, nil, fmt.Errorf("%w (match still live)", ErrResultPending)
	case m.status != match.StatusFinished || !m.rated || m.voided:
		return []match.RatingChange{}, nil, nil
	case m.done:
		changes, err := storedChanges(ctx, tx, matchID)
		return changes, nil, err
	}

	olds, created, err := lockRatings(ctx, tx, m)
	if err != nil {
		return nil, nil, err
	}
	// One game is one rating period for each player, against the other's
	// rating before the game.
	score0 := 0.5
	if m.winner != nil {
		score0 = float64(1 - *m.winner) // seat 0 wins: 1; seat 1 wins: 0
	}
	a0, a1 := s.glicko.Game(olds[0].Rating, olds[1].Rating, score0)
	after := [2]leaderboard.Rating{a0, a1}
	xid, err := writeRatings(ctx, tx, matchID, m, [2]float64{score0, 1 - score0}, olds, after)
	if err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			// The answer to COMMIT was lost: it may have committed.
			err = fmt.Errorf("%w: %w", errCommitUnknown, err)
		}
		return nil, nil, err
	}

	changes = make([]match.RatingChange, 2)
	deltas = make([]leaderboard.RankDelta, 2)
	for seat, pid := range m.seats {
		b, a := olds[seat], after[seat]
		changes[seat] = match.RatingChange{PlayerID: pid, Before: b.Rating.Rating, After: a.Rating}
		from := leaderboard.PositionOf(b.Rating.Rating, b.RD, b.banned)
		if slices.Contains(created, pid) {
			from = leaderboard.RankPos{} // not counted before: the row is new
		}
		deltas[seat] = leaderboard.RankDelta{Game: m.game, TxID: xid, From: from, To: leaderboard.PositionOf(a.Rating, a.RD, b.banned)}
	}
	return changes, deltas, nil
}

// lockRatings returns both players' ratings rows by seat, creating those
// missing (created lists their players) and locking both, in player id
// order: transactions rating matches that share players take the locks in
// the same order and so cannot deadlock.
func lockRatings(ctx context.Context, tx pgx.Tx, m ratedMatch) (olds [2]playerRating, created []string, err error) {
	lo, hi := m.seats[0], m.seats[1]
	if hi < lo {
		lo, hi = hi, lo
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO ratings (player_id, game) VALUES ($1, $3), ($2, $3)
		ON CONFLICT (player_id, game) DO NOTHING
		RETURNING player_id`, lo, hi, m.game)
	if err != nil {
		return olds, nil, err
	}
	if created, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return olds, nil, err
	}
	rows, err = tx.Query(ctx, `
		SELECT r.player_id, r.rating, r.rd, r.volatility, p.banned_at IS NOT NULL
		FROM ratings r JOIN players p ON p.id = r.player_id
		WHERE r.game = $1 AND r.player_id IN ($2, $3)
		ORDER BY r.player_id
		FOR NO KEY UPDATE OF r`, m.game, lo, hi)
	if err != nil {
		return olds, nil, err
	}
	var (
		id    string
		pr    playerRating
		found int
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &pr.Rating.Rating, &pr.RD, &pr.Volatility, &pr.banned}, func() error {
		for seat, pid := range m.seats {
			if pid == id {
				olds[seat] = pr
				found++
			}
		}
		return nil
	}); err != nil {
		return olds, nil, err
	}
	if found != 2 {
		return olds, nil, fmt.Errorf("found %d of 2 ratings rows", found)
	}
	return olds, created, nil
}

// writeRatings stores a rated result: both ratings, their rating_changes
// and the match's rated_at, in one round trip. It returns the
// transaction's id.
func writeRatings(ctx context.Context, tx pgx.Tx, matchID string, m ratedMatch, scores [2]float64, olds [2]playerRating, after [2]leaderboard.Rating) (xid uint64, err error) {
	batch := &pgx.Batch{}
	for seat, pid := range m.seats {
		var win, loss, draw int
		switch scores[seat] {
		case 1:
			win = 1
		case 0:
			loss = 1
		default:
			draw = 1
		}
		b, a := olds[seat], after[seat]
		batch.Queue(`
			UPDATE ratings SET rating = $3, rd = $4, volatility = $5,
				wins = wins + $6, losses = losses + $7, draws = draws + $8, games = games + 1,
				updated_at = now()
			WHERE player_id = $1 AND game = $2`,
			pid, m.game, a.Rating, a.RD, a.Volatility, win, loss, draw)
		batch.Queue(`
			INSERT INTO rating_changes (match_id, player_id, game, seat, score,
				rating_before, rating_after, rd_before, rd_after, volatility_before, volatility_after)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			matchID, pid, m.game, seat, scores[seat],
			b.Rating.Rating, a.Rating, b.RD, a.RD, b.Volatility, a.Volatility)
	}
	batch.Queue(`UPDATE matches SET rated_at = now() WHERE id = $1`, matchID)
	var xidText string
	batch.Queue(`SELECT pg_current_xact_id()::text`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&xidText)
	})
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, err
	}
	if xid, err = strconv.ParseUint(xidText, 10, 64); err != nil {
		return 0, fmt.Errorf("transaction id %q: %w", xidText, err)
	}
	return xid, nil
}

// storedChanges returns the rating changes a rated match made, by seat.
func storedChanges(ctx context.Context, tx pgx.Tx, matchID string) ([]match.RatingChange, error) {
	rows, err := tx.Query(ctx, `
		SELECT player_id, rating_before, rating_after FROM rating_changes
		WHERE match_id = $1 ORDER BY seat`, matchID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[match.RatingChange])
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

// PlayerRatings returns the player's ratings by game, as shown (see
// PlayerRating): empty for a player who has played no rated game, or who
// does not exist.
func (s *Ratings) PlayerRatings(ctx context.Context, playerID string) (map[string]leaderboard.PlayerRating, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT game, rating, rd, wins, losses, draws, games
		FROM ratings WHERE player_id = $1`, playerID)
	if err != nil {
		return nil, fmt.Errorf("read ratings of %s: %w", playerID, err)
	}
	out := make(map[string]leaderboard.PlayerRating)
	var (
		game           string
		rating, rd     float64
		w, l, d, games int
	)
	_, err = pgx.ForEachRow(rows, []any{&game, &rating, &rd, &w, &l, &d, &games}, func() error {
		out[game] = leaderboard.NewPlayerRating(rating, rd, w, l, d, games)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ratings of %s: %w", playerID, err)
	}
	return out, nil
}
