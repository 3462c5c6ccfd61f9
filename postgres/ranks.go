package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/leaderboard"
)

// The rank histograms (leaderboard.Ranks) are loaded from ratings with one
// GROUP BY in a repeatable-read snapshot, so that committed changes this
// process applies meanwhile are counted exactly once.

// shownRatingSQL is leaderboard.ShownRating in SQL, on the same IEEE doubles, so that
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

// loadRankCounts counts established players per game and shown rating,
// and provisional ones per game, leaving banned players out. It returns
// the snapshot the counts were read in.
func loadRankCounts(ctx context.Context, pool *pgxpool.Pool) (map[string]*leaderboard.Histogram, leaderboard.Snapshot, error) {
	games := make(map[string]*leaderboard.Histogram)
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
				g = &leaderboard.Histogram{}
				games[game] = g
			}
			g.Add(leaderboard.RankPos{Counted: true, Established: established, Bucket: leaderboard.RankBucket(bucket)}, n)
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
func (s xactSnapshot) Sees(xid uint64) bool {
	switch {
	case xid < s.xmin:
		return true
	case xid >= s.xmax:
		return false
	}
	return !s.xip[xid]
}

// loadRanks is the leaderboard.LoadFunc of s's rank counts.
func (s *Ratings) loadRanks(ctx context.Context) (map[string]*leaderboard.Histogram, leaderboard.Snapshot, error) {
	return loadRankCounts(ctx, s.pool)
}

// ensureRanks loads the rank counts unless they are.
func (s *Ratings) ensureRanks(ctx context.Context) error {
	return s.ranks.Reload(ctx, s.loadRanks, true)
}

// RefreshRanks reloads the rank counts now; Run does every RankRefresh.
func (s *Ratings) RefreshRanks(ctx context.Context) error {
	return s.ranks.Reload(ctx, s.loadRanks, false)
}
