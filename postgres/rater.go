package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// The one rating path.
//
// A finished, rated match whose end is stored and that is not rated yet
// (rated_at IS NULL, index matches_rating_pending) is in the outbox. One
// loop drains it (Run, woken by Kick when the journal stores an end, and
// polling for ends other processes stored): each batch is one transaction
// that rates up to RatingsConfig.Batch matches in the order they ended and
// sets their rated_at, so a result is rated exactly once however often the
// drain runs or fails. Raters of several processes take turns through an
// advisory lock, so each player's results are always rated in end order.
// After a commit, each match's rating changes go back through the one
// callback, RatingsConfig.OnRated.

// raterLock keys the transaction-level advisory lock of a rating batch,
// "rate" in ASCII.
const raterLock = 0x72617465

// Kick asks Run to drain the outbox now. It never blocks.
func (s *Ratings) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run drains the outbox at start, at each Kick and every Poll, and
// reloads the rank counts every RankRefresh, until ctx is done; then it
// returns nil. Failures are logged and tried again at the next wake-up.
func (s *Ratings) Run(ctx context.Context) error {
	ranks := time.NewTicker(s.cfg.RankRefresh)
	defer ranks.Stop()
	poll := time.NewTicker(s.cfg.Poll)
	defer poll.Stop()
	s.reloadRanks(ctx)
	s.drain(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
			if s.cfg.Gather > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(s.cfg.Gather):
				}
				select { // kicks made while gathering are this drain's
				case <-s.kick:
				default:
				}
			}
			s.drain(ctx)
		case <-poll.C:
			s.drain(ctx)
		case <-ranks.C:
			s.reloadRanks(ctx)
		}
	}
}

func (s *Ratings) reloadRanks(ctx context.Context) {
	if err := s.RefreshRanks(ctx); err != nil && ctx.Err() == nil {
		s.logger.Warn("reload rank counts", "err", err)
	}
}

func (s *Ratings) drain(ctx context.Context) {
	n, err := s.RatePending(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.logger.Warn("rate finished matches", "err", err, "rated", n)
	case n > 0:
		s.logger.Debug("finished matches rated", "count", n)
	}
}

// RatePending rates every match in the outbox, batch by batch, and returns
// how many it rated. Run calls it; so may anyone else, at the same time,
// in this process or another: each match is rated once.
func (s *Ratings) RatePending(ctx context.Context) (int, error) {
	if err := s.reportUnsure(ctx); err != nil {
		return 0, err
	}
	rated := 0
	for {
		n, more, err := s.rateNext(ctx)
		rated += n
		if err != nil || !more {
			return rated, err
		}
	}
}

// rateNext rates one batch, trying again after a serialization failure or
// a deadlock. more reports a full batch: the outbox may hold more.
func (s *Ratings) rateNext(ctx context.Context) (n int, more bool, err error) {
	for attempt := 1; ; attempt++ {
		b, err := s.rateBatch(ctx)
		if err == nil {
			s.rated(b)
			return len(b.ids), len(b.ids) == s.cfg.Batch, nil
		}
		if errors.Is(err, errCommitUnknown) {
			// Whether the batch committed is unknown: reload the rank
			// counts on next use, and look its matches up next time.
			s.ranks.Invalidate()
			s.unsureMu.Lock()
			s.unsure = append(s.unsure, b.ids...)
			s.unsureMu.Unlock()
		}
		if !isTxConflict(err) || attempt >= s.cfg.RateAttempts {
			return 0, false, err
		}
		// Back off a little, randomly, so that the transactions that
		// collided do not collide again.
		wait := time.Duration(attempt) * time.Duration(1+rand.IntN(10)) * time.Millisecond
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// rated takes in a committed batch: rank counts, the ticket cache, and the
// callback.
func (s *Ratings) rated(b ratedBatch) {
	for _, d := range b.deltas {
		s.ranks.Apply(d)
	}
	now := time.Now()
	var xid uint64
	if len(b.deltas) > 0 {
		xid = b.deltas[0].TxID
	}
	for _, id := range b.ids {
		changes := b.changes[id]
		for _, ch := range changes {
			s.tickets.putAt(ch.PlayerID, b.games[id], ch.After, now, xid)
		}
		if s.cfg.OnRated != nil {
			s.cfg.OnRated(id, changes)
		}
	}
}

// reportUnsure hands OnRated the changes of matches whose batch committed
// although its COMMIT went unanswered. Those it did not commit are still
// in the outbox.
func (s *Ratings) reportUnsure(ctx context.Context) error {
	s.unsureMu.Lock()
	ids := s.unsure
	s.unsure = nil
	s.unsureMu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.match_id, m.game, c.player_id, c.rating_before, c.rating_after
		FROM rating_changes c JOIN matches m ON m.id = c.match_id
		WHERE c.match_id = ANY($1) ORDER BY c.match_id, c.seat`, ids)
	if err == nil {
		b := ratedBatch{changes: map[string][]match.RatingChange{}, games: map[string]string{}}
		var id, game string
		var ch match.RatingChange
		_, err = pgx.ForEachRow(rows, []any{&id, &game, &ch.PlayerID, &ch.Before, &ch.After}, func() error {
			if _, ok := b.changes[id]; !ok {
				b.ids = append(b.ids, id)
			}
			b.changes[id] = append(b.changes[id], ch)
			b.games[id] = game
			return nil
		})
		if err == nil {
			s.rated(b)
			return nil
		}
	}
	s.unsureMu.Lock()
	s.unsure = append(s.unsure, ids...)
	s.unsureMu.Unlock()
	return fmt.Errorf("read the changes of matches rated by an unanswered commit: %w", err)
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

// ratedBatch is what one rating transaction did.
type ratedBatch struct {
	ids     []string // the matches, in end order
	games   map[string]string
	changes map[string][]match.RatingChange // by match, in seat order
	deltas  []leaderboard.RankDelta
}

// outboxMatch is a match of the outbox.
type outboxMatch struct {
	id, game string
	winner   *int16
	seats    [2]string
}

// playerRating is one player's ratings row as read under lock.
type playerRating struct {
	leaderboard.Rating
	banned bool
}

// rateBatch is one transaction: the next matches of the outbox, rated in
// end order, a player's later match against the rating the earlier one
// gave. On errCommitUnknown the returned batch names the matches tried.
func (s *Ratings) rateBatch(ctx context.Context) (ratedBatch, error) {
	var b ratedBatch
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return b, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	ms, err := takeOutbox(ctx, tx, s.cfg.Batch)
	if err != nil || len(ms) == 0 {
		return b, err
	}
	cur, counted, err := lockRatings(ctx, tx, ms)
	if err != nil {
		return b, err
	}
	b, writes := s.rateInOrder(ms, cur, counted)
	xid, err := writes.store(ctx, tx, b.ids, s.rankNotes(b))
	if err != nil {
		return b, err
	}
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			// The answer to COMMIT was lost: it may have committed.
			err = fmt.Errorf("%w: %w", errCommitUnknown, err)
		}
		return b, err
	}
	for i := range b.deltas {
		b.deltas[i].TxID = xid
	}
	return b, nil
}

// takeOutbox locks the rater's turn and the next matches to rate, in the
// order they ended. The transaction runs without sequential scans (in the
// same round trip): its statements find rows by key, and their cached
// plans must not depend on how small the tables were when first made
// (on a fresh database the id = ANY($1) statements scanned matches whole
// until autovacuum's first ANALYZE). Its plans are generic: with arrays
// for parameters, PostgreSQL otherwise planned each statement afresh at
// each call (pg_stat_statements: as much planning as execution).
func takeOutbox(ctx context.Context, tx pgx.Tx, limit int) ([]outboxMatch, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1), set_config('enable_seqscan', 'off', true),
		set_config('plan_cache_mode', 'force_generic_plan', true)`, int64(raterLock)); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		SELECT id, game, winner, seat0, seat1 FROM matches
		WHERE status = 'finished' AND rated AND rated_at IS NULL AND voided_at IS NULL
		ORDER BY ended_at, id
		LIMIT $1
		FOR NO KEY UPDATE`, limit)
	if err != nil {
		return nil, err
	}
	var ms []outboxMatch
	var m outboxMatch
	_, err = pgx.ForEachRow(rows, []any{&m.id, &m.game, &m.winner, &m.seats[0], &m.seats[1]}, func() error {
		if m.winner != nil { // the next row scans into the same pointer
			w := *m.winner
			m.winner = &w
		}
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

// lockRatings returns the ratings rows of every player of ms, creating
// those missing, all locked in (player, game) order: transactions that
// share players take the locks in the same order and cannot deadlock.
// counted says which rows the rank histogram counted before (not the new
// ones).
func lockRatings(ctx context.Context, tx pgx.Tx, ms []outboxMatch) (cur map[ratingKey]playerRating, counted map[ratingKey]bool, err error) {
	var pids, games []string
	seen := map[ratingKey]bool{}
	for _, m := range ms {
		for _, p := range m.seats {
			if k := (ratingKey{p, m.game}); !seen[k] {
				seen[k] = true
				pids, games = append(pids, p), append(games, m.game)
			}
		}
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO ratings (player_id, game)
		SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT (player_id, game) DO NOTHING
		RETURNING player_id, game`, pids, games)
	if err != nil {
		return nil, nil, err
	}
	created := map[ratingKey]bool{}
	var k ratingKey
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
	cur = make(map[ratingKey]playerRating, len(pids))
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
	counted = make(map[ratingKey]bool, len(cur))
	for k := range cur {
		counted[k] = !created[k]
	}
	return cur, counted, nil
}

// tally counts one player's results of a batch in one game.
type tally struct{ wins, losses, draws, games int }

// ratingWrites are a batch's writes, as columns.
type ratingWrites struct {
	changes changeCols
	ratings ratingCols
}

// rateInOrder applies Glicko-2 to ms in order (one game is one rating
// period for each player, against the other's rating before the game),
// moving cur along, and returns what to report and what to write.
func (s *Ratings) rateInOrder(ms []outboxMatch, cur map[ratingKey]playerRating, counted map[ratingKey]bool) (ratedBatch, *ratingWrites) {
	b := ratedBatch{games: map[string]string{}, changes: map[string][]match.RatingChange{}}
	w := &ratingWrites{}
	tallies := map[ratingKey]*tally{}
	for _, m := range ms {
		score0 := 0.5
		if m.winner != nil {
			score0 = float64(1 - *m.winner) // seat 0 wins: 1; seat 1 wins: 0
		}
		keys := [2]ratingKey{{m.seats[0], m.game}, {m.seats[1], m.game}}
		olds := [2]playerRating{cur[keys[0]], cur[keys[1]]}
		a0, a1 := s.glicko.Game(olds[0].Rating, olds[1].Rating, score0)
		after := [2]leaderboard.Rating{a0, a1}
		scores := [2]float64{score0, 1 - score0}
		changes := make([]match.RatingChange, 2)
		for seat, k := range keys {
			old, a := olds[seat], after[seat]
			changes[seat] = match.RatingChange{PlayerID: k.player, Before: old.Rating.Rating, After: a.Rating}
			w.changes.add(m.id, k.player, m.game, seat, scores[seat], old.Rating, a)
			t := tallies[k]
			if t == nil {
				t = &tally{}
				tallies[k] = t
			}
			t.add(scores[seat])
			from := leaderboard.PositionOf(old.Rating.Rating, old.RD, old.banned)
			if !counted[k] {
				from = leaderboard.RankPos{}
				counted[k] = true
			}
			b.deltas = append(b.deltas, leaderboard.RankDelta{Game: m.game, From: from, To: leaderboard.PositionOf(a.Rating, a.RD, old.banned)})
			cur[k] = playerRating{Rating: a, banned: old.banned}
		}
		b.ids = append(b.ids, m.id)
		b.games[m.id] = m.game
		b.changes[m.id] = changes
	}
	for k, t := range tallies {
		w.ratings.add(k.player, k.game, cur[k].Rating, t.wins, t.losses, t.draws, t.games)
	}
	return b, w
}

func (t *tally) add(score float64) {
	t.games++
	switch score {
	case 1:
		t.wins++
	case 0:
		t.losses++
	default:
		t.draws++
	}
}

// store writes the batch in one round trip: the ratings, their
// rating_changes, and the matches' rated_at, and the notes for the other
// nodes (notes.go). It returns the transaction's id, which tags the rank
// deltas.
func (w *ratingWrites) store(ctx context.Context, tx pgx.Tx, matchIDs []string, notes []string) (xid uint64, err error) {
	up, ch := &w.ratings, &w.changes
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
	queueRankNotes(b, notes)
	var xidText string
	b.Queue(`SELECT pg_current_xact_id()::text`).QueryRow(func(row pgx.Row) error { return row.Scan(&xidText) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	if xid, err = strconv.ParseUint(xidText, 10, 64); err != nil {
		return 0, fmt.Errorf("transaction id %q: %w", xidText, err)
	}
	return xid, nil
}

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
