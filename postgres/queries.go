package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// Leaderboard returns limit entries of game's leaderboard from offset:
// established players (RD <= 110) unless includeProvisional, banned
// players never, best rating first and ties by player id. A limit of 0
// means DefaultBoardLimit; a limit outside 0..MaxBoardLimit or an offset
// outside 0..MaxBoardOffset is an error wrapping ErrBadRequest.
//
// Ranks are competition ranking on shown (whole-point) ratings, as Rank
// gives them: 1 + the players listed before with a higher shown rating.
// With includeProvisional, provisional players count too.
func (s *Ratings) Leaderboard(ctx context.Context, game string, limit, offset int, includeProvisional bool) (leaderboard.Board, error) {
	if limit == 0 {
		limit = leaderboard.DefaultBoardLimit
	}
	switch {
	case limit < 0 || limit > leaderboard.MaxBoardLimit:
		return leaderboard.Board{}, fmt.Errorf("%w: limit %d is not within 1..%d", leaderboard.ErrBadRequest, limit, leaderboard.MaxBoardLimit)
	case offset < 0 || offset > leaderboard.MaxBoardOffset:
		return leaderboard.Board{}, fmt.Errorf("%w: offset %d is not within 0..%d", leaderboard.ErrBadRequest, offset, leaderboard.MaxBoardOffset)
	}
	if err := s.ensureRanks(ctx); err != nil {
		return leaderboard.Board{}, err
	}
	pageSQL, aboveSQL := boardEstablishedSQL, aboveEstablishedSQL
	if includeProvisional {
		pageSQL, aboveSQL = boardAllSQL, aboveAllSQL
	}

	board := leaderboard.Board{Game: game, Entries: []leaderboard.BoardEntry{}}
	predecessor := false // the row before the page was read
	read := func(q querier) error {
		// From offset 1 on, the row before the page comes too: whether the
		// first entry shares its shown rating decides its rank.
		from := max(offset-1, 0)
		entries, err := readBoard(ctx, q, pageSQL, game, limit+offset-from, from)
		if err != nil {
			return err
		}
		var predShown float64
		if predecessor = offset > 0 && len(entries) > 0; predecessor {
			predShown, entries = entries[0].Rating, entries[1:]
		}
		for i := range entries {
			e := &entries[i]
			switch {
			case i > 0 && e.Rating == entries[i-1].Rating:
				e.Rank = entries[i-1].Rank
			case i > 0 || !predecessor || e.Rating != predShown:
				e.Rank = offset + i + 1
			default: // tied with the row before the page: count those above
				var above int
				if err := q.QueryRow(ctx, aboveSQL, game, e.Rating+0.5).Scan(&above); err != nil {
					return err
				}
				e.Rank = above + 1
			}
		}
		board.Entries = append(board.Entries, entries...)
		return nil
	}
	var err error
	if offset == 0 {
		err = read(s.pool)
	} else {
		// One snapshot for the page and the count.
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
			func(tx pgx.Tx) error { return read(tx) })
	}
	if err != nil {
		return leaderboard.Board{}, fmt.Errorf("read leaderboard of %s: %w", game, err)
	}

	// The counts may lag other processes; a page that is not full tells
	// the truth.
	n := len(board.Entries)
	board.Total = s.ranks.Total(game, includeProvisional)
	switch {
	case offset > 0 && !predecessor:
		board.Total = min(board.Total, offset-1) // even the row before the page is missing
	case n < limit:
		board.Total = offset + n
	default:
		board.Total = max(board.Total, offset+n)
	}
	return board, nil
}

// readBoard reads leaderboard rows, without ranks.
func readBoard(ctx context.Context, q querier, sql, game string, limit, offset int) ([]leaderboard.BoardEntry, error) {
	rows, err := q.Query(ctx, sql, game, limit, offset)
	if err != nil {
		return nil, err
	}
	var (
		entries        []leaderboard.BoardEntry
		e              leaderboard.BoardEntry
		rating, rd     float64
		w, l, d, games int
	)
	_, err = pgx.ForEachRow(rows, []any{&e.Player.ID, &e.Player.Name, &rating, &rd, &w, &l, &d, &games}, func() error {
		e.PlayerRating = leaderboard.NewPlayerRating(rating, rd, w, l, d, games)
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// querier is what Leaderboard's queries need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// The leaderboard's statements. "rd <= 110" is ProvisionalRD, spelled as
// the literal of the partial index ratings_leaderboard_established so
// that the planner uses it. The page is found on the index alone (an
// index-only scan, skipping OFFSET entries), leaving banned players out
// through a hash of their ids built once per query (players_banned; NOT IN
// is NOT EXISTS here, ids being non-null); only the page's own rows are
// then read from ratings and players. The count of players above a shown
// rating walks the same index; it runs only for a page whose first entry
// shares its shown rating with the entry before the page.
const (
	boardEstablishedSQL = `
		WITH page AS (
			SELECT r.player_id, r.rating FROM ratings r
			WHERE r.game = $1 AND r.rd <= 110
				AND r.player_id NOT IN (SELECT b.id FROM players b WHERE b.banned_at IS NOT NULL)
			ORDER BY r.rating DESC, r.player_id
			LIMIT $2 OFFSET $3
		)
		SELECT r.player_id, p.name, r.rating, r.rd, r.wins, r.losses, r.draws, r.games
		FROM page
		JOIN ratings r ON r.player_id = page.player_id AND r.game = $1
		JOIN players p ON p.id = page.player_id
		ORDER BY page.rating DESC, page.player_id`
	boardAllSQL = `
		WITH page AS (
			SELECT r.player_id, r.rating FROM ratings r
			WHERE r.game = $1
				AND r.player_id NOT IN (SELECT b.id FROM players b WHERE b.banned_at IS NOT NULL)
			ORDER BY r.rating DESC, r.player_id
			LIMIT $2 OFFSET $3
		)
		SELECT r.player_id, p.name, r.rating, r.rd, r.wins, r.losses, r.draws, r.games
		FROM page
		JOIN ratings r ON r.player_id = page.player_id AND r.game = $1
		JOIN players p ON p.id = page.player_id
		ORDER BY page.rating DESC, page.player_id`
	aboveEstablishedSQL = `
		SELECT count(*) FROM ratings r
		WHERE r.game = $1 AND r.rd <= 110 AND r.rating >= $2
			AND r.player_id NOT IN (SELECT b.id FROM players b WHERE b.banned_at IS NOT NULL)`
	aboveAllSQL = `
		SELECT count(*) FROM ratings r
		WHERE r.game = $1 AND r.rating >= $2
			AND r.player_id NOT IN (SELECT b.id FROM players b WHERE b.banned_at IS NOT NULL)`
)

// rankedRatingsSQL reads a player's ratings and whether the player is
// banned, for scanRankedRatings.
const rankedRatingsSQL = `
	SELECT r.game, r.rating, r.rd, r.wins, r.losses, r.draws, r.games, p.banned_at IS NOT NULL
	FROM ratings r JOIN players p ON p.id = r.player_id
	WHERE r.player_id = $1`

// RankedRatings returns the player's ratings by game with their ranks
// (GET /api/me): empty for a player with no rated game.
func (s *Ratings) RankedRatings(ctx context.Context, playerID string) (map[string]leaderboard.RankedRating, error) {
	if err := s.ensureRanks(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, rankedRatingsSQL, playerID)
	if err != nil {
		return nil, fmt.Errorf("read ratings of %s: %w", playerID, err)
	}
	out, err := s.scanRankedRatings(rows)
	if err != nil {
		return nil, fmt.Errorf("read ratings of %s: %w", playerID, err)
	}
	return out, nil
}

func (s *Ratings) scanRankedRatings(rows pgx.Rows) (map[string]leaderboard.RankedRating, error) {
	out := make(map[string]leaderboard.RankedRating)
	var (
		game           string
		rating, rd     float64
		w, l, d, games int
		banned         bool
	)
	_, err := pgx.ForEachRow(rows, []any{&game, &rating, &rd, &w, &l, &d, &games, &banned}, func() error {
		rr := leaderboard.RankedRating{PlayerRating: leaderboard.NewPlayerRating(rating, rd, w, l, d, games)}
		if !banned && !rr.Provisional {
			rr.Rank = s.ranks.Rank(game, leaderboard.RankBucket(rating))
		}
		out[game] = rr
		return nil
	})
	return out, err
}

// PlayerPage returns a player, their ratings with ranks, and their
// RecentMatches latest matches (live ones included), newest first by
// start. An unknown player is an error wrapping ErrNotFound.
func (s *Ratings) PlayerPage(ctx context.Context, playerID string) (leaderboard.PlayerPage, error) {
	if err := s.ensureRanks(ctx); err != nil {
		return leaderboard.PlayerPage{}, err
	}
	page := leaderboard.PlayerPage{Player: leaderboard.PlayerInfo{ID: playerID}}
	// One round trip for the three statements.
	batch := &pgx.Batch{}
	batch.Queue(`SELECT name, guest FROM players WHERE id = $1`, playerID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&page.Player.Name, &page.Player.Guest)
	})
	batch.Queue(rankedRatingsSQL, playerID).Query(func(rows pgx.Rows) error {
		var err error
		page.Ratings, err = s.scanRankedRatings(rows)
		return err
	})
	batch.Queue(recentSQL, playerID, leaderboard.RecentMatches).Query(func(rows pgx.Rows) error {
		var err error
		page.Recent, err = scanSummaries(rows)
		return err
	})
	err := s.pool.SendBatch(ctx, batch).Close()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.PlayerPage{}, fmt.Errorf("player %s: %w", playerID, leaderboard.ErrNotFound)
	case err != nil:
		return leaderboard.PlayerPage{}, fmt.Errorf("read player page of %s: %w", playerID, err)
	}
	return page, nil
}

// Matches lists ended matches from the database, newest end first, all
// games or one: status must be "finished", which lists finished and
// aborted matches alike (each summary tells which). Live matches are the
// match registry's. A limit of 0 means DefaultMatchesLimit; another
// status, or a limit outside 0..MaxMatchesLimit, is an error wrapping
// ErrBadRequest.
func (s *Ratings) Matches(ctx context.Context, status, game string, limit int) ([]match.Summary, error) {
	if status != match.StatusFinished {
		return nil, fmt.Errorf("%w: status %q: only %q matches are stored", leaderboard.ErrBadRequest, status, match.StatusFinished)
	}
	if limit == 0 {
		limit = leaderboard.DefaultMatchesLimit
	}
	if limit < 0 || limit > leaderboard.MaxMatchesLimit {
		return nil, fmt.Errorf("%w: limit %d is not within 1..%d", leaderboard.ErrBadRequest, limit, leaderboard.MaxMatchesLimit)
	}
	sql, args := endedSQL, []any{limit}
	if game != "" {
		sql, args = endedGameSQL, []any{limit, game}
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list ended matches: %w", err)
	}
	out, err := scanSummaries(rows)
	if err != nil {
		return nil, fmt.Errorf("list ended matches: %w", err)
	}
	return out, nil
}

// Match returns a stored match and the moves anyone may see (see
// visibleMoves). Spectators is 0: the registry counts them for live
// matches. An unknown match is an error wrapping ErrNotFound.
func (s *Ratings) Match(ctx context.Context, id string) (leaderboard.MatchDetail, error) {
	var d leaderboard.MatchDetail
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, matchSQL, id)
		if err != nil {
			return err
		}
		sums, err := scanSummaries(rows)
		switch {
		case err != nil:
			return err
		case len(sums) == 0:
			return pgx.ErrNoRows
		}
		d.Summary = sums[0]
		rows, err = tx.Query(ctx, `SELECT seq, seat, move, at FROM match_moves WHERE match_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		var (
			mv leaderboard.MoveEntry
			at time.Time
		)
		_, err = pgx.ForEachRow(rows, []any{&mv.Seq, &mv.Seat, &mv.Move, &at}, func() error {
			mv.AtMS = at.UnixMilli()
			d.Moves = append(d.Moves, mv)
			mv.Move = nil // json.RawMessage's UnmarshalJSON reuses the slice
			return nil
		})
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.MatchDetail{}, fmt.Errorf("match %s: %w", id, leaderboard.ErrNotFound)
	case err != nil:
		return leaderboard.MatchDetail{}, fmt.Errorf("read match %s: %w", id, err)
	}
	d.Moves = s.visibleMoves(d.Game, d.Status, d.Moves)
	return d, nil
}

// visibleMoves returns the moves that may be shown to anyone: as many as
// the game says (game.Game.PublicMoves; an rps round stays hidden until
// both have chosen, PROTOCOL.md). Moves of a game this server does not
// offer are shown only once the match is over.
func (s *Ratings) visibleMoves(gameID, status string, moves []leaderboard.MoveEntry) []leaderboard.MoveEntry {
	if moves == nil {
		moves = []leaderboard.MoveEntry{}
	}
	over := status != match.StatusLive
	var g game.Game
	if s.cfg.Games != nil {
		g, _ = s.cfg.Games.Lookup(gameID)
	}
	if g == nil {
		if !over {
			return moves[:0]
		}
		return moves
	}
	played := make([]game.Move, len(moves))
	for i, mv := range moves {
		played[i] = game.Move{Seat: mv.Seat, Move: mv.Move}
	}
	return moves[:max(0, min(g.PublicMoves(played, over), len(moves)))]
}

// The match summaries' statements. Each defines the match rows as m;
// summaryFromM adds the players' names and ratings: a rated match shows
// the ratings its players had before it (rating_changes), any other
// their current rating in the game (DefaultRating without one). They are
// scalar subqueries rather than joins: each is one primary-key or
// unique-index lookup per match row, and the statement plans in a fraction
// of the time a seven-way join takes.
const (
	summaryFromM = `
		SELECT m.id, m.game, m.status, m.winner, m.reason, m.started_at, m.ended_at,
			m.seat0, (SELECT p.name FROM players p WHERE p.id = m.seat0),
			coalesce((SELECT c.rating_before FROM rating_changes c WHERE c.match_id = m.id AND c.seat = 0),
				(SELECT r.rating FROM ratings r WHERE r.player_id = m.seat0 AND r.game = m.game), 1500),
			m.seat1, (SELECT p.name FROM players p WHERE p.id = m.seat1),
			coalesce((SELECT c.rating_before FROM rating_changes c WHERE c.match_id = m.id AND c.seat = 1),
				(SELECT r.rating FROM ratings r WHERE r.player_id = m.seat1 AND r.game = m.game), 1500),
			m.voided_at IS NOT NULL
		FROM m`

	// recentSQL: a player's latest matches, through matches_seat0 and
	// matches_seat1.
	recentSQL = `
		WITH m AS (
			SELECT * FROM (
				(SELECT * FROM matches WHERE seat0 = $1 ORDER BY started_at DESC, id DESC LIMIT $2)
				UNION ALL
				(SELECT * FROM matches WHERE seat1 = $1 ORDER BY started_at DESC, id DESC LIMIT $2)
			) u
			ORDER BY started_at DESC, id DESC LIMIT $2
		)` + summaryFromM + `
		ORDER BY m.started_at DESC, m.id DESC`

	// endedSQL and endedGameSQL: through matches_ended and
	// matches_ended_game, whose predicate is "status <> 'live'".
	endedSQL = `
		WITH m AS (
			SELECT * FROM matches WHERE status <> 'live'
			ORDER BY ended_at DESC, id DESC LIMIT $1
		)` + summaryFromM + `
		ORDER BY m.ended_at DESC, m.id DESC`
	endedGameSQL = `
		WITH m AS (
			SELECT * FROM matches WHERE status <> 'live' AND game = $2
			ORDER BY ended_at DESC, id DESC LIMIT $1
		)` + summaryFromM + `
		ORDER BY m.ended_at DESC, m.id DESC`

	matchSQL = `WITH m AS (SELECT * FROM matches WHERE id = $1)` + summaryFromM
)

// scanSummaries reads rows of summaryFromM. Players' ratings are shown
// rounded to whole points, as everywhere on the wire.
func scanSummaries(rows pgx.Rows) ([]match.Summary, error) {
	return scanSummariesWith(rows, nil, nil)
}

// scanSummariesWith is scanSummaries of rows with more columns after the
// summary's, scanned into extra; each is called after every row.
func scanSummariesWith(rows pgx.Rows, extra []any, each func()) ([]match.Summary, error) {
	out := []match.Summary{}
	var (
		s       match.Summary
		winner  *int16
		reason  *string
		started time.Time
		ended   *time.Time
		p0, p1  match.Player
	)
	targets := []any{&s.ID, &s.Game, &s.Status, &winner, &reason, &started, &ended,
		&p0.ID, &p0.Name, &p0.Rating, &p1.ID, &p1.Name, &p1.Rating, &s.Voided}
	_, err := pgx.ForEachRow(rows, append(targets, extra...), func() error {
		if each != nil {
			each()
		}
		sum := s
		p0.Rating, p1.Rating = leaderboard.ShownRating(p0.Rating), leaderboard.ShownRating(p1.Rating)
		sum.Players = []match.Player{p0, p1}
		if winner != nil {
			w := int(*winner)
			sum.Winner = &w
		}
		if reason != nil {
			sum.Reason = *reason
		}
		sum.StartedMS = started.UnixMilli()
		if ended != nil {
			ms := ended.UnixMilli()
			sum.EndedMS = &ms
		}
		out = append(out, sum)
		return nil
	})
	return out, err
}
