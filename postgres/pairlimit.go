package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/match"
)

// PairLimitConfig tunes PairLimit. Zero fields take the defaults.
type PairLimitConfig struct {
	// Limit is how many rated results two players may have together
	// within Window; a match created past it is unrated. Default 5;
	// negative: no limit.
	Limit int
	// Window is the rolling period Limit counts over. Default 24h.
	Window time.Duration
}

func (c PairLimitConfig) withDefaults() PairLimitConfig {
	if c.Limit == 0 {
		c.Limit = 5
	}
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
	return c
}

// PairLimit decides, as a match is created, whether it will be rated:
// between the same two players (in any seats, in any game) only the first
// Limit results within Window are, so that two accounts cannot farm
// rating from each other. Its Rated method is a match.RatedFunc.
type PairLimit struct {
	pool *pgxpool.Pool   // immutable
	cfg  PairLimitConfig // immutable
}

// NewPairLimit returns the pair limit over the matches in pool.
func NewPairLimit(pool *pgxpool.Pool, cfg PairLimitConfig) *PairLimit {
	return &PairLimit{pool: pool, cfg: cfg.withDefaults()}
}

// Rated returns "" when a new match between players will be rated, else
// match.UnratedPairLimit. It counts the pair's rated matches started
// within the window that were not aborted (live ones included: they will
// be rated results), reading at most Limit rows through the indexes on
// (seat0, started_at) and (seat1, started_at). A database that cannot be
// reached is match.ErrUnavailable.
func (p *PairLimit) Rated(ctx context.Context, _ string, players [2]match.Player) (string, error) {
	if p.cfg.Limit < 0 {
		return "", nil
	}
	var n int
	err := p.pool.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT 1 FROM matches
			WHERE ((seat0 = $1 AND seat1 = $2) OR (seat0 = $2 AND seat1 = $1))
				AND started_at > now() - $3::interval
				AND rated AND status <> 'aborted'
			LIMIT $4
		) AS recent`, players[0].ID, players[1].ID, p.cfg.Window, p.cfg.Limit).Scan(&n)
	if err != nil {
		if unreachable(err) {
			err = fmt.Errorf("%w: %w", match.ErrUnavailable, err)
		}
		return "", fmt.Errorf("count rated results of %s and %s: %w", players[0].ID, players[1].ID, err)
	}
	if n >= p.cfg.Limit {
		return match.UnratedPairLimit, nil
	}
	return "", nil
}
