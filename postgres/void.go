package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/leaderboard"
)

// Voiding matches.
//
// A voided match counts for no one. Its rating_changes rows stay, as the
// record of what it did, but every player whose rating it touched gets the
// rating their remaining history gives: the rated, unvoided matches of the
// game are replayed with Glicko-2 in the order the rater rated them (end
// order), from the first voided match on. A later match is replayed only
// if one of its players is affected (played a voided match, or a replayed
// one); its rating_changes row is rewritten with the new before and after,
// and its other player becomes affected too. Players no replayed match
// reaches keep their ratings: their history did not change. The void takes
// the rater's advisory lock, so no result is rated meanwhile.

// replayRow is a rated match of one game, in rating order, with what
// rating_changes stored for its two seats.
type replayRow struct {
	id      string
	voiding bool // voided by this call
	seats   [2]string
	scores  [2]float64
	before  [2]leaderboard.Rating
}

// Void voids the ended matches ids and recomputes the ratings they
// touched. Matches already voided are left as they are; a live or unknown
// match is an error wrapping ErrBadRequest or ErrNotFound.
func (o *Ops) Void(ctx context.Context, a leaderboard.Actor, ids []string, reason string) (leaderboard.VoidResult, error) {
	reason, err := checkReason(reason)
	if err != nil {
		return leaderboard.VoidResult{}, err
	}
	if len(ids) == 0 || len(ids) > 1000 {
		return leaderboard.VoidResult{}, fmt.Errorf("%w: void 1 to 1000 matches at a time", leaderboard.ErrBadRequest)
	}
	var res leaderboard.VoidResult
	var final map[ratingKey]leaderboard.Rating
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(raterLock)); err != nil {
			return err
		}
		voided, games, err := markVoided(ctx, tx, ids, reason)
		if err != nil {
			return err
		}
		res.Voided = voided
		var restores []leaderboard.RatingRestore
		final, restores, err = o.replay(ctx, tx, games, voided)
		if err != nil {
			return err
		}
		res.Changes = restores
		note := OpsNote{Op: OpsRanks}
		for k := range final {
			note.Players = append(note.Players, k.player)
		}
		if len(note.Players) > 0 {
			if err := o.notifyOps(ctx, tx, note); err != nil {
				return err
			}
		}
		for _, id := range voided {
			if err := audit(ctx, tx, a, "match.void", "match", id, reason,
				map[string]any{"voided": false, "ratings": restores}, map[string]any{"voided": true, "voided_with": voided}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return leaderboard.VoidResult{}, fmt.Errorf("void matches: %w", err)
	}
	now := time.Now()
	for k, r := range final {
		o.ratings.tickets.put(k.player, k.game, r.Rating, now)
	}
	o.reloadRanks(ctx)
	return res, nil
}

// markVoided sets voided_at on the ids not voided yet and returns them,
// and the games whose ratings they moved with the first (ended_at, id)
// of each.
func markVoided(ctx context.Context, tx pgx.Tx, ids []string, reason string) ([]string, map[string]bool, error) {
	rows, err := tx.Query(ctx, `SELECT id, status, voided_at IS NOT NULL FROM matches WHERE id = ANY($1) FOR UPDATE`, ids)
	if err != nil {
		return nil, nil, err
	}
	found := map[string]bool{}
	var id, status string
	var already bool
	var todo []string
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &already}, func() error {
		found[id] = true
		if status == "live" {
			return fmt.Errorf("%w: match %s is live; abort it instead", leaderboard.ErrBadRequest, id)
		}
		if !already {
			todo = append(todo, id)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if !found[id] {
			return nil, nil, fmt.Errorf("match %s: %w", id, leaderboard.ErrNotFound)
		}
	}
	if len(todo) == 0 {
		return nil, nil, nil
	}
	rows, err = tx.Query(ctx, `
		UPDATE matches SET voided_at = now(), void_reason = $2 WHERE id = ANY($1)
		RETURNING game, rated_at IS NOT NULL`, todo, reason)
	if err != nil {
		return nil, nil, err
	}
	games := map[string]bool{}
	var game string
	var rated bool
	if _, err := pgx.ForEachRow(rows, []any{&game, &rated}, func() error {
		if rated {
			games[game] = true
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	slices.Sort(todo)
	return todo, games, nil
}

// replay recomputes, in each game, the ratings the voided matches
// touched, and returns the affected players' final ratings.
func (o *Ops) replay(ctx context.Context, tx pgx.Tx, games map[string]bool, voided []string) (map[ratingKey]leaderboard.Rating, []leaderboard.RatingRestore, error) {
	final := map[ratingKey]leaderboard.Rating{}
	var restores []leaderboard.RatingRestore
	for game := range games {
		ms, err := loadReplay(ctx, tx, game, voided)
		if err != nil {
			return nil, nil, err
		}
		cur := map[string]leaderboard.Rating{}
		tallies := map[string]*tally{}
		var ch changeCols
		for _, m := range ms {
			if m.voiding {
				for seat, p := range m.seats {
					if _, ok := cur[p]; !ok {
						cur[p] = m.before[seat]
					}
					t := tallies[p]
					if t == nil {
						t = &tally{}
						tallies[p] = t
					}
					t.add(m.scores[seat]) // to take away
				}
				continue
			}
			_, aff0 := cur[m.seats[0]]
			_, aff1 := cur[m.seats[1]]
			if !aff0 && !aff1 {
				continue
			}
			var before [2]leaderboard.Rating
			for seat, p := range m.seats {
				if r, ok := cur[p]; ok {
					before[seat] = r
				} else {
					before[seat] = m.before[seat]
				}
			}
			a0, a1 := o.ratings.glicko.Game(before[0], before[1], m.scores[0])
			after := [2]leaderboard.Rating{a0, a1}
			for seat, p := range m.seats {
				cur[p] = after[seat]
				ch.add(m.id, p, game, seat, m.scores[seat], before[seat], after[seat])
			}
		}
		if len(ch.matchIDs) > 0 {
			if _, err := tx.Exec(ctx, `
				UPDATE rating_changes c SET rating_before = v.rb, rating_after = v.ra, rd_before = v.db, rd_after = v.da,
					volatility_before = v.vb, volatility_after = v.va
				FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[])
					AS v(match_id, player_id, rb, ra, db, da, vb, va)
				WHERE c.match_id = v.match_id AND c.player_id = v.player_id`,
				ch.matchIDs, ch.pids, ch.rBefore, ch.rAfter, ch.rdBefore, ch.rdAfter, ch.vBefore, ch.vAfter); err != nil {
				return nil, nil, err
			}
		}
		players := make([]string, 0, len(cur))
		for p := range cur {
			players = append(players, p)
		}
		slices.Sort(players) // lock order, as the rater's
		for _, p := range players {
			r := cur[p]
			t := tallies[p]
			if t == nil {
				t = &tally{}
			}
			var old leaderboard.Rating
			err := tx.QueryRow(ctx, `
				WITH old AS (SELECT rating, rd FROM ratings WHERE player_id = $1 AND game = $2 FOR UPDATE)
				UPDATE ratings r SET rating = $3, rd = $4, volatility = $5,
					wins = wins - $6, losses = losses - $7, draws = draws - $8, games = games - $9, updated_at = now()
				FROM old WHERE r.player_id = $1 AND r.game = $2
				RETURNING old.rating, old.rd`, p, game, r.Rating, r.RD, r.Volatility,
				t.wins, t.losses, t.draws, t.games).Scan(&old.Rating, &old.RD)
			if err != nil {
				return nil, nil, fmt.Errorf("store rating of %s in %s: %w", p, game, err)
			}
			final[ratingKey{p, game}] = r
			restores = append(restores, leaderboard.RatingRestore{PlayerID: p, Game: game,
				Before: old.Rating, After: r.Rating, RDBefore: old.RD, RDAfter: r.RD})
		}
	}
	return final, restores, nil
}

// loadReplay reads the game's rated matches from the first match voided
// now on, in rating order, leaving out those voided before.
func loadReplay(ctx context.Context, tx pgx.Tx, game string, voided []string) ([]replayRow, error) {
	rows, err := tx.Query(ctx, `
		WITH first AS (
			SELECT min(ended_at) AS at FROM matches WHERE id = ANY($2) AND game = $1 AND rated_at IS NOT NULL
		)
		SELECT m.id, m.id = ANY($2),
			c0.player_id, c0.score, c0.rating_before, c0.rd_before, c0.volatility_before,
			c1.player_id, c1.score, c1.rating_before, c1.rd_before, c1.volatility_before
		FROM first, matches m
		JOIN LATERAL (SELECT * FROM rating_changes WHERE match_id = m.id AND seat = 0) c0 ON true
		JOIN LATERAL (SELECT * FROM rating_changes WHERE match_id = m.id AND seat = 1) c1 ON true
		WHERE m.game = $1 AND m.status = 'finished' AND m.rated_at IS NOT NULL AND m.ended_at >= first.at
			AND (m.voided_at IS NULL OR m.id = ANY($2))
		ORDER BY m.ended_at, m.id`, game, voided)
	if err != nil {
		return nil, err
	}
	var out []replayRow
	var r replayRow
	_, err = pgx.ForEachRow(rows, []any{&r.id, &r.voiding,
		&r.seats[0], &r.scores[0], &r.before[0].Rating, &r.before[0].RD, &r.before[0].Volatility,
		&r.seats[1], &r.scores[1], &r.before[1].Rating, &r.before[1].RD, &r.before[1].Volatility}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}
