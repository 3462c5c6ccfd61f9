package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/leaderboard"
)

// The operators' reads: the leaderboard with every player, and a
// player's whole file.

// OpsBoard returns the game's leaderboard as operators see it: filter is
// one of leaderboard.Filter*, search a part of the name (ignoring case).
// flagged are the ids of flagged players with their flag counts.
func (o *Ops) OpsBoard(ctx context.Context, game, filter, search string, limit, offset int, flagged map[string]int) ([]leaderboard.OpsBoardEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if offset < 0 || offset > leaderboard.MaxBoardOffset {
		return nil, fmt.Errorf("%w: offset out of range", leaderboard.ErrBadRequest)
	}
	if len(search) > leaderboard.MaxNameLen {
		return nil, fmt.Errorf("%w: search is at most %d characters", leaderboard.ErrBadRequest, leaderboard.MaxNameLen)
	}
	var where string
	switch filter {
	case "", leaderboard.FilterEstablished:
		where = "r.rd <= 110 AND p.banned_at IS NULL"
	case leaderboard.FilterProvisional:
		where = "r.rd > 110 AND p.banned_at IS NULL"
	case leaderboard.FilterBanned:
		where = "p.banned_at IS NOT NULL"
	case leaderboard.FilterAll:
		where = "true"
	case leaderboard.FilterFlagged:
		where = "r.player_id = ANY($5)"
	default:
		return nil, fmt.Errorf("%w: filter must be all, established, provisional, banned or flagged", leaderboard.ErrBadRequest)
	}
	ids := make([]string, 0, len(flagged))
	for id := range flagged {
		ids = append(ids, id)
	}
	pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(search)) + "%"
	rows, err := o.pool.Query(ctx, `
		SELECT r.player_id, p.name, r.rating, r.rd, r.games, r.wins, r.losses, r.draws,
			(SELECT max(m.ended_at) FROM matches m WHERE m.game = r.game AND (m.seat0 = r.player_id OR m.seat1 = r.player_id) AND m.status <> 'live'),
			p.banned_at IS NOT NULL
		FROM ratings r JOIN players p ON p.id = r.player_id
		WHERE r.game = $1 AND `+where+` AND p.name_key LIKE $2 AND cardinality($5::text[]) >= 0
		ORDER BY r.rating DESC, r.player_id
		LIMIT $3 OFFSET $4`, game, pattern, limit, offset, ids)
	if err != nil {
		return nil, fmt.Errorf("read operators' leaderboard: %w", err)
	}
	out := []leaderboard.OpsBoardEntry{}
	var e leaderboard.OpsBoardEntry
	var rating, rd float64
	_, err = pgx.ForEachRow(rows, []any{&e.Player.ID, &e.Player.Name, &rating, &rd, &e.Games, &e.Wins, &e.Losses, &e.Draws, &e.LastPlayed, &e.Banned}, func() error {
		pr := leaderboard.NewPlayerRating(rating, rd, e.Wins, e.Losses, e.Draws, e.Games)
		e.Rating, e.RD, e.Provisional = pr.Rating, pr.RD, pr.Provisional
		e.Flags = flagged[e.Player.ID]
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read operators' leaderboard: %w", err)
	}
	return out, nil
}

// OpsPlayer returns everything operators see about a player but the
// flags, which the caller adds.
func (o *Ops) OpsPlayer(ctx context.Context, playerID string) (leaderboard.OpsPlayer, error) {
	p := leaderboard.OpsPlayer{ID: playerID, Ratings: map[string]leaderboard.PlayerRating{},
		History: map[string][]leaderboard.HistoryPoint{}, Recent: []leaderboard.OpsMatch{},
		Opponents: []leaderboard.OpponentCount{}, Flags: []leaderboard.Flag{}}
	b := &pgx.Batch{}
	b.Queue(`
		SELECT name, guest, operator_since IS NOT NULL, created_at, last_seen_at, banned_at, banned_until, ban_reason, first_addr_block
		FROM players WHERE id = $1`, playerID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&p.Name, &p.Guest, &p.Operator, &p.CreatedAt, &p.LastSeenAt, &p.BannedAt, &p.BannedUntil, &p.BanReason, &p.FirstAddrBlock)
	})
	b.Queue(`SELECT game, rating, rd, wins, losses, draws, games FROM ratings WHERE player_id = $1`, playerID).Query(func(rows pgx.Rows) error {
		var g string
		var r, rd float64
		var w, l, d, n int
		_, err := pgx.ForEachRow(rows, []any{&g, &r, &rd, &w, &l, &d, &n}, func() error {
			p.Ratings[g] = leaderboard.NewPlayerRating(r, rd, w, l, d, n)
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT c.game, c.match_id, m.ended_at, c.rating_after, c.rd_after
		FROM rating_changes c JOIN matches m ON m.id = c.match_id
		WHERE c.player_id = $1 AND m.voided_at IS NULL
		ORDER BY m.ended_at, m.id`, playerID).Query(func(rows pgx.Rows) error {
		var g string
		var h leaderboard.HistoryPoint
		_, err := pgx.ForEachRow(rows, []any{&g, &h.MatchID, &h.At, &h.Rating, &h.RD}, func() error {
			h.Rating, h.RD = leaderboard.ShownRating(h.Rating), float64(int(h.RD+0.999999))
			p.History[g] = append(p.History[g], h)
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT m.id, m.game, m.status, m.reason, m.rated, o.id, o.name,
			CASE WHEN m.status = 'live' THEN 'live' WHEN m.status = 'aborted' THEN 'aborted'
				WHEN m.winner IS NULL THEN 'draw' WHEN (m.winner = 0) = (m.seat0 = $1) THEN 'win' ELSE 'loss' END,
			(SELECT count(*) FROM match_moves mm WHERE mm.match_id = m.id)::int,
			m.started_at, m.ended_at, m.voided_at IS NOT NULL, m.void_reason,
			(SELECT c.rating_after - c.rating_before FROM rating_changes c WHERE c.match_id = m.id AND c.player_id = $1)
		FROM matches m JOIN players o ON o.id = CASE WHEN m.seat0 = $1 THEN m.seat1 ELSE m.seat0 END
		WHERE m.seat0 = $1 OR m.seat1 = $1
		ORDER BY m.started_at DESC, m.id DESC LIMIT 250`, playerID).Query(func(rows pgx.Rows) error {
		var m leaderboard.OpsMatch
		_, err := pgx.ForEachRow(rows, []any{&m.ID, &m.Game, &m.Status, &m.Reason, &m.Rated, &m.Opponent.ID, &m.Opponent.Name,
			&m.Result, &m.Moves, &m.StartedAt, &m.EndedAt, &m.Voided, &m.VoidReason, &m.Change}, func() error {
			p.Recent = append(p.Recent, m)
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT o.id, o.name, count(*) FILTER (WHERE m.voided_at IS NULL),
			count(*) FILTER (WHERE m.voided_at IS NULL AND m.winner IS NOT NULL AND (m.winner = 0) = (m.seat0 = $1)),
			count(*) FILTER (WHERE m.voided_at IS NULL AND m.winner IS NOT NULL AND (m.winner = 0) <> (m.seat0 = $1)),
			count(*) FILTER (WHERE m.voided_at IS NULL AND m.winner IS NULL),
			count(*) FILTER (WHERE m.voided_at IS NOT NULL)
		FROM matches m JOIN players o ON o.id = CASE WHEN m.seat0 = $1 THEN m.seat1 ELSE m.seat0 END
		WHERE (m.seat0 = $1 OR m.seat1 = $1) AND m.status = 'finished'
		GROUP BY o.id, o.name ORDER BY count(*) DESC, o.name LIMIT 50`, playerID).Query(func(rows pgx.Rows) error {
		var c leaderboard.OpponentCount
		_, err := pgx.ForEachRow(rows, []any{&c.Opponent.ID, &c.Opponent.Name, &c.Games, &c.Wins, &c.Losses, &c.Draws, &c.Voided}, func() error {
			p.Opponents = append(p.Opponents, c)
			return nil
		})
		return err
	})
	err := o.pool.SendBatch(ctx, b).Close()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.OpsPlayer{}, fmt.Errorf("player %s: %w", playerID, leaderboard.ErrNotFound)
	case err != nil:
		return leaderboard.OpsPlayer{}, fmt.Errorf("read player %s: %w", playerID, err)
	}
	return p, nil
}

// FindPlayers returns up to 20 players whose name contains search.
func (o *Ops) FindPlayers(ctx context.Context, search string) ([]leaderboard.PlayerRef, error) {
	if len(search) > leaderboard.MaxNameLen {
		return nil, fmt.Errorf("%w: search is at most %d characters", leaderboard.ErrBadRequest, leaderboard.MaxNameLen)
	}
	pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(search)) + "%"
	rows, err := o.pool.Query(ctx, `SELECT id, name FROM players WHERE name_key LIKE $1 ORDER BY name_key LIMIT 20`, pattern)
	if err != nil {
		return nil, fmt.Errorf("find players: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[leaderboard.PlayerRef])
}

// DBHealthy reports whether the database answers within a second.
func (o *Ops) DBHealthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return o.pool.Ping(ctx) == nil
}

// MoveCounts returns how many moves each of the matches has stored.
func (o *Ops) MoveCounts(ctx context.Context, ids []string) (map[string]int, error) {
	rows, err := o.pool.Query(ctx, `
		SELECT match_id, max(seq)::int FROM match_moves WHERE match_id = ANY($1) GROUP BY match_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("count moves: %w", err)
	}
	out := make(map[string]int, len(ids))
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	return out, err
}
