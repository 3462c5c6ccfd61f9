package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// Helpers of the tests: what the server reads another way.

// rank returns the player's rank in game: 1 + the established, unbanned
// players whose shown (whole-point) rating is higher. ok is false when the
// player has no rating in game, a provisional one, or is banned. It reads
// the player's rating and counts the rest in memory (see rank.go).
func (s *Ratings) rank(ctx context.Context, game, playerID string) (rank int, ok bool, err error) {
	if err := s.ensureRanks(ctx); err != nil {
		return 0, false, err
	}
	var (
		rating, rd float64
		banned     bool
	)
	err = s.pool.QueryRow(ctx, `
		SELECT r.rating, r.rd, p.banned_at IS NOT NULL
		FROM ratings r JOIN players p ON p.id = r.player_id
		WHERE r.player_id = $1 AND r.game = $2`, playerID, game).Scan(&rating, &rd, &banned)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("rank %s in %s: %w", playerID, game, err)
	case banned || rd > leaderboard.ProvisionalRD:
		return 0, false, nil
	}
	return s.ranks.Rank(game, leaderboard.RankBucket(rating)), true, nil
}

// playerRatings returns the player's ratings by game as shown, without
// ranks.
func (s *Ratings) playerRatings(ctx context.Context, playerID string) (map[string]leaderboard.PlayerRating, error) {
	ranked, err := s.RankedRatings(ctx, playerID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]leaderboard.PlayerRating, len(ranked))
	for g, rr := range ranked {
		out[g] = rr.PlayerRating
	}
	return out, nil
}

// errNotRated: rateMatch found the match not rated: live, missing, or
// not in the outbox.
var errNotRated = errors.New("match not rated")

// rateMatch drains the outbox, as the server's rater does when the journal
// has stored an end, and returns the changes stored for matchID, by seat:
// empty for a stored match that is not to be rated (aborted, unrated,
// voided), errNotRated for a live or missing one.
func rateMatch(ctx context.Context, r *Ratings, matchID string) ([]match.RatingChange, error) {
	if _, err := r.RatePending(ctx); err != nil {
		return nil, err
	}
	var status string
	err := r.pool.QueryRow(ctx, `SELECT status FROM matches WHERE id = $1`, matchID).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w (no such match)", errNotRated)
	case err != nil:
		return nil, err
	case status == match.StatusLive:
		return nil, fmt.Errorf("%w (match still live)", errNotRated)
	}
	rows, err := r.pool.Query(ctx, `
		SELECT player_id, rating_before, rating_after FROM rating_changes
		WHERE match_id = $1 ORDER BY seat`, matchID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[match.RatingChange])
}
