package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// rateBatcher groups concurrent RecordResult calls into one transaction,
// as the journal groups moves: the first caller leads and rates everything
// queued by then; callers that arrive meanwhile queue, and when the leader
// is done the first of them leads the next batch. No goroutine of its own.
type rateBatcher struct {
	mu      sync.Mutex
	queue   []*rateReq // waiting for the next batch
	leading bool       // a caller is rating a batch
}

type rateReq struct {
	matchID string
	changes []match.RatingChange // the answer, once done is closed
	err     error
	done    chan struct{} // closed when answered
	lead    chan struct{} // closed when this caller is to lead a batch
}

// recordBatched rates matchID together with whatever other results are
// being recorded at the same moment.
func (s *Ratings) recordBatched(ctx context.Context, matchID string) ([]match.RatingChange, error) {
	req := &rateReq{matchID: matchID, done: make(chan struct{}), lead: make(chan struct{})}
	b := &s.batch
	b.mu.Lock()
	b.queue = append(b.queue, req)
	if !b.leading {
		b.leading = true
		close(req.lead)
	}
	b.mu.Unlock()
	// A follower waits whatever its ctx says: leaving would strand the
	// leadership handed to it. A batch takes milliseconds.
	select {
	case <-req.done:
		return req.changes, req.err
	case <-req.lead:
	}
	b.mu.Lock()
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()

	s.rateBatch(ctx, batch)

	b.mu.Lock()
	if len(b.queue) > 0 {
		close(b.queue[0].lead)
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	<-req.done
	return req.changes, req.err
}

// rateBatch answers every request of batch: in one transaction when it
// can, else each through rate, one transaction per match (retries and
// every special case live there).
func (s *Ratings) rateBatch(ctx context.Context, batch []*rateReq) {
	answered, deltas, err := s.rateBatchOnce(ctx, batch)
	if err == nil {
		for _, d := range deltas {
			s.ranks.Apply(d)
		}
		for _, req := range batch {
			req.changes = answered[req.matchID]
			close(req.done)
		}
		return
	}
	if errors.Is(err, errCommitUnknown) {
		s.ranks.Invalidate()
	}
	for _, req := range batch {
		req.changes, _, req.err = s.rate(ctx, req.matchID)
		close(req.done)
	}
}

// rateBatchOnce rates the batch's matches in one transaction, in the order
// they ended, a player's later match against the rating their earlier one
// gave. It fails (and changes nothing) unless every match can be answered
// from it; the caller then rates them one by one.
func (s *Ratings) rateBatchOnce(ctx context.Context, batch []*rateReq) (map[string][]match.RatingChange, []leaderboard.RankDelta, error) {
	ids := make([]string, 0, len(batch))
	for _, req := range batch {
		if !slices.Contains(ids, req.matchID) {
			ids = append(ids, req.matchID)
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	type stored struct {
		ratedMatch
		id    string
		ended time.Time
	}
	rows, err := tx.Query(ctx, `
		SELECT id, game, status, rated, rated_at IS NOT NULL, voided_at IS NOT NULL, winner, seat0, seat1,
			coalesce(ended_at, now())
		FROM matches WHERE id = ANY($1) ORDER BY id
		FOR NO KEY UPDATE`, ids)
	if err != nil {
		return nil, nil, err
	}
	var toRate []stored
	answered := make(map[string][]match.RatingChange, len(ids))
	var m stored
	if _, err := pgx.ForEachRow(rows, []any{&m.id, &m.game, &m.status, &m.rated, &m.done, &m.voided, &m.winner, &m.seats[0], &m.seats[1], &m.ended}, func() error {
		switch {
		case m.status == match.StatusLive || m.done:
			// Pending, or rated already: the one-by-one path answers
			// those exactly as it always has.
			return errBatchFallback
		case m.status != match.StatusFinished || !m.rated || m.voided:
			answered[m.id] = []match.RatingChange{}
		default:
			if m.winner != nil { // the next row may scan into the same pointer
				w := *m.winner
				m.winner = &w
			}
			toRate = append(toRate, m)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if len(answered)+len(toRate) != len(ids) {
		return nil, nil, errBatchFallback // a match is missing
	}
	if len(toRate) == 0 {
		return answered, nil, tx.Commit(ctx)
	}
	slices.SortStableFunc(toRate, func(a, b stored) int { return a.ended.Compare(b.ended) })

	// Both players' ratings rows of every match, created if missing and
	// locked in (player, game) order, as rate locks them.
	type key struct{ player, game string }
	var pids, games []string
	seen := map[key]bool{}
	for _, m := range toRate {
		for _, p := range m.seats {
			if k := (key{p, m.game}); !seen[k] {
				seen[k] = true
				pids, games = append(pids, p), append(games, m.game)
			}
		}
	}
	rows, err = tx.Query(ctx, `
		INSERT INTO ratings (player_id, game)
		SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT (player_id, game) DO NOTHING
		RETURNING player_id, game`, pids, games)
	if err != nil {
		return nil, nil, err
	}
	created := map[key]bool{}
	var k key
	if _, err := pgx.ForEachRow(rows, []any{&k.player, &k.game}, func() error { created[k] = true; return nil }); err != nil {
		return nil, nil, err
	}
	rows, err = tx.Query(ctx, `
		SELECT r.player_id, r.game, r.rating, r.rd, r.volatility, p.banned_at IS NOT NULL
		FROM ratings r JOIN players p ON p.id = r.player_id
		JOIN unnest($1::text[], $2::text[]) AS v(player_id, game) ON v.player_id = r.player_id AND v.game = r.game
		ORDER BY r.player_id, r.game
		FOR NO KEY UPDATE OF r`, pids, games)
	if err != nil {
		return nil, nil, err
	}
	cur := make(map[key]playerRating, len(pids))
	var pr playerRating
	if _, err := pgx.ForEachRow(rows, []any{&k.player, &k.game, &pr.Rating.Rating, &pr.RD, &pr.Volatility, &pr.banned}, func() error {
		cur[k] = pr
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if len(cur) != len(pids) {
		return nil, nil, fmt.Errorf("found %d of %d ratings rows", len(cur), len(pids))
	}

	// Rate in end order; collect the writes.
	type tally struct{ wins, losses, draws, games int }
	tallies := map[key]*tally{}
	var (
		ch       changeCols
		deltas   []leaderboard.RankDelta
		counted  = map[key]bool{} // counted in the histogram before this batch
		matchIDs []string
	)
	for k := range cur {
		counted[k] = !created[k]
	}
	for _, m := range toRate {
		score0 := 0.5
		if m.winner != nil {
			score0 = float64(1 - *m.winner)
		}
		k0, k1 := key{m.seats[0], m.game}, key{m.seats[1], m.game}
		olds := [2]playerRating{cur[k0], cur[k1]}
		a0, a1 := s.glicko.Game(olds[0].Rating, olds[1].Rating, score0)
		after := [2]leaderboard.Rating{a0, a1}
		scores := [2]float64{score0, 1 - score0}
		changes := make([]match.RatingChange, 2)
		for seat, k := range [2]key{k0, k1} {
			b, a := olds[seat], after[seat]
			changes[seat] = match.RatingChange{PlayerID: k.player, Before: b.Rating.Rating, After: a.Rating}
			ch.add(m.id, k.player, m.game, seat, scores[seat], b.Rating, a)
			t := tallies[k]
			if t == nil {
				t = &tally{}
				tallies[k] = t
			}
			t.games++
			switch scores[seat] {
			case 1:
				t.wins++
			case 0:
				t.losses++
			default:
				t.draws++
			}
			from := leaderboard.PositionOf(b.Rating.Rating, b.RD, b.banned)
			if !counted[k] {
				from = leaderboard.RankPos{}
				counted[k] = true
			}
			deltas = append(deltas, leaderboard.RankDelta{Game: m.game, From: from, To: leaderboard.PositionOf(a.Rating, a.RD, b.banned)})
			cur[k] = playerRating{Rating: a, banned: b.banned}
		}
		answered[m.id] = changes
		matchIDs = append(matchIDs, m.id)
	}

	var up ratingCols
	for k, t := range tallies {
		r := cur[k].Rating
		up.add(k.player, k.game, r, t.wins, t.losses, t.draws, t.games)
	}
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE ratings r SET rating = v.rating, rd = v.rd, volatility = v.vol,
			wins = r.wins + v.w, losses = r.losses + v.l, draws = r.draws + v.d, games = r.games + v.g,
			updated_at = now()
		FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::int[], $7::int[], $8::int[], $9::int[])
			AS v(player_id, game, rating, rd, vol, w, l, d, g)
		WHERE r.player_id = v.player_id AND r.game = v.game`,
		up.pids, up.games, up.ratings, up.rds, up.vols, up.wins, up.losses, up.draws, up.counts)
	b.Queue(`
		INSERT INTO rating_changes (match_id, player_id, game, seat, score,
			rating_before, rating_after, rd_before, rd_after, volatility_before, volatility_after)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::float8[],
			$6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[])`,
		ch.matchIDs, ch.pids, ch.games, ch.seats, ch.scores, ch.rBefore, ch.rAfter, ch.rdBefore, ch.rdAfter, ch.vBefore, ch.vAfter)
	b.Queue(`UPDATE matches SET rated_at = now() WHERE id = ANY($1)`, matchIDs)
	var xidText string
	b.Queue(`SELECT pg_current_xact_id()::text`).QueryRow(func(row pgx.Row) error { return row.Scan(&xidText) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	xid, err := strconv.ParseUint(xidText, 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("transaction id %q: %w", xidText, err)
	}
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			err = fmt.Errorf("%w: %w", errCommitUnknown, err)
		}
		return nil, nil, err
	}
	for i := range deltas {
		deltas[i].TxID = xid
	}
	return answered, deltas, nil
}

// errBatchFallback: the batch has a match the one-by-one path must answer.
var errBatchFallback = errors.New("rate one by one")

// changeCols are rating_changes rows as columns.
type changeCols struct {
	matchIDs, pids, games                                       []string
	seats                                                       []int16
	scores, rBefore, rAfter, rdBefore, rdAfter, vBefore, vAfter []float64
}

func (c *changeCols) add(matchID, pid, game string, seat int, score float64, b, a leaderboard.Rating) {
	c.matchIDs = append(c.matchIDs, matchID)
	c.pids = append(c.pids, pid)
	c.games = append(c.games, game)
	c.seats = append(c.seats, int16(seat))
	c.scores = append(c.scores, score)
	c.rBefore, c.rAfter = append(c.rBefore, b.Rating), append(c.rAfter, a.Rating)
	c.rdBefore, c.rdAfter = append(c.rdBefore, b.RD), append(c.rdAfter, a.RD)
	c.vBefore, c.vAfter = append(c.vBefore, b.Volatility), append(c.vAfter, a.Volatility)
}

// ratingCols are ratings updates as columns.
type ratingCols struct {
	pids, games                 []string
	ratings, rds, vols          []float64
	wins, losses, draws, counts []int32
}

func (u *ratingCols) add(pid, game string, r leaderboard.Rating, wins, losses, draws, games int) {
	u.pids, u.games = append(u.pids, pid), append(u.games, game)
	u.ratings, u.rds, u.vols = append(u.ratings, r.Rating), append(u.rds, r.RD), append(u.vols, r.Volatility)
	u.wins, u.losses = append(u.wins, int32(wins)), append(u.losses, int32(losses))
	u.draws, u.counts = append(u.draws, int32(draws)), append(u.counts, int32(games))
}
