package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/leaderboard"
)

// Integrity signals: each is one SQL query over the match history (never
// over voided matches) with its threshold a setting. They are computed
// when the review queue is read; review_flags only remembers what
// operators decided. The signals:
//
//   - same_opponent: a player played at least SameOpponentGames rated games
//     against one opponent on one (UTC) day, within Window.
//   - win_rate: a player won at least WinRate of at least WinRateGames
//     rated games against one opponent, within WinRateWindow.
//   - early_end: matches that ended by a resign or an abort before the
//     second move, within Window: at least EarlyEnds won that way (the
//     player gained from opponents who gave up at once), or lost or
//     aborted that way (the player fed someone).
//   - addr_block: at least AddrBlockAccounts accounts were first seen from
//     the player's address block (/24, /64) within a day of the player's,
//     for accounts created within AccountWindow.
//   - rating_gain: the player gained at least RatingGain points in a game
//     within Window, over at least RatingGainGames games, and more than
//     RatingGainFactor times their best daily gain in the 30 days before.
//
// A flag's severity is how far past its threshold the evidence is (1 at
// the threshold); the review queue orders players by the sum.

// SignalsConfig holds the signals' thresholds. Zero fields take the
// defaults.
type SignalsConfig struct {
	Window            time.Duration // recent history: default 24h
	SameOpponentGames int           // default 10
	WinRateWindow     time.Duration // default 30 days
	WinRateGames      int           // default 10
	WinRate           float64       // default 0.9
	EarlyEnds         int           // default 5
	AccountWindow     time.Duration // default 7 days
	AddrBlockAccounts int           // default 4
	RatingGain        float64       // default 150
	RatingGainFactor  float64       // default 3
	RatingGainGames   int           // default 5: a new player's first win alone is +170
}

func (c SignalsConfig) withDefaults() SignalsConfig {
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
	if c.SameOpponentGames <= 0 {
		c.SameOpponentGames = 10
	}
	if c.WinRateWindow <= 0 {
		c.WinRateWindow = 30 * 24 * time.Hour
	}
	if c.WinRateGames <= 0 {
		c.WinRateGames = 10
	}
	if c.WinRate <= 0 {
		c.WinRate = 0.9
	}
	if c.EarlyEnds <= 0 {
		c.EarlyEnds = 5
	}
	if c.AccountWindow <= 0 {
		c.AccountWindow = 7 * 24 * time.Hour
	}
	if c.AddrBlockAccounts <= 0 {
		c.AddrBlockAccounts = 4
	}
	if c.RatingGain <= 0 {
		c.RatingGain = 150
	}
	if c.RatingGainFactor <= 0 {
		c.RatingGainFactor = 3
	}
	if c.RatingGainGames <= 0 {
		c.RatingGainGames = 5
	}
	return c
}

// playerMatchesSQL is each ended, unvoided match since $1 seconds ago
// once per seat: the player, the opponent and the player's result.
const playerMatchesSQL = `
	WITH pm AS (
		SELECT m.id, m.game, m.status, m.rated, m.reason, m.ended_at, m.seat0 AS player, m.seat1 AS opp,
			CASE WHEN m.status = 'aborted' THEN 'a' WHEN m.winner IS NULL THEN 'd' WHEN m.winner = 0 THEN 'w' ELSE 'l' END AS res
		FROM matches m
		WHERE m.status <> 'live' AND m.voided_at IS NULL AND m.ended_at > now() - make_interval(secs => $1)
		UNION ALL
		SELECT m.id, m.game, m.status, m.rated, m.reason, m.ended_at, m.seat1, m.seat0,
			CASE WHEN m.status = 'aborted' THEN 'a' WHEN m.winner IS NULL THEN 'd' WHEN m.winner = 1 THEN 'w' ELSE 'l' END
		FROM matches m
		WHERE m.status <> 'live' AND m.voided_at IS NULL AND m.ended_at > now() - make_interval(secs => $1)
	)`

// The signals' queries. Each returns player_id, severity, summary and
// evidence (jsonb).
const (
	sameOpponentSQL = playerMatchesSQL + `
		SELECT player, count(*)::float8 / $2,
			format('%s rated games against %s on %s', count(*), (SELECT name FROM players WHERE id = opp), to_char(day, 'YYYY-MM-DD')),
			jsonb_build_object('opponent', opp, 'opponent_name', (SELECT name FROM players WHERE id = opp),
				'day', to_char(day, 'YYYY-MM-DD'), 'games', count(*),
				'wins', count(*) FILTER (WHERE res = 'w'), 'losses', count(*) FILTER (WHERE res = 'l'))
		FROM (SELECT *, date_trunc('day', ended_at AT TIME ZONE 'UTC') AS day FROM pm WHERE status = 'finished' AND rated) x
		GROUP BY player, opp, day HAVING count(*) >= $2`

	winRateSQL = playerMatchesSQL + `
		SELECT player, (count(*)::float8 / $2) * avg((res = 'w')::int),
			format('won %s of %s rated games against %s', count(*) FILTER (WHERE res = 'w'), count(*), (SELECT name FROM players WHERE id = opp)),
			jsonb_build_object('opponent', opp, 'opponent_name', (SELECT name FROM players WHERE id = opp),
				'games', count(*), 'wins', count(*) FILTER (WHERE res = 'w'),
				'win_rate', round(avg((res = 'w')::int)::numeric, 3))
		FROM pm WHERE status = 'finished' AND rated
		GROUP BY player, opp HAVING count(*) >= $2 AND avg((res = 'w')::int) >= $3`

	earlyEndSQL = playerMatchesSQL + `
		, early AS (
			SELECT * FROM pm
			WHERE (reason = 'resign' OR status = 'aborted')
				AND NOT EXISTS (SELECT FROM match_moves mm WHERE mm.match_id = pm.id AND mm.seq >= 2)
		)
		SELECT player, greatest(count(*) FILTER (WHERE res = 'w'), count(*) FILTER (WHERE res <> 'w'))::float8 / $2,
			format('%s games won and %s lost or aborted by a resign or abort before move 2',
				count(*) FILTER (WHERE res = 'w'), count(*) FILTER (WHERE res <> 'w')),
			jsonb_build_object('won_early', count(*) FILTER (WHERE res = 'w'),
				'resigned_early', count(*) FILTER (WHERE res = 'l'),
				'aborted_early', count(*) FILTER (WHERE res = 'a'),
				'opponents', (SELECT jsonb_agg(DISTINCT p.name) FROM early e2 JOIN players p ON p.id = e2.opp WHERE e2.player = early.player))
		FROM early GROUP BY player
		HAVING count(*) FILTER (WHERE res = 'w') >= $2 OR count(*) FILTER (WHERE res <> 'w') >= $2`

	addrBlockSQL = `
		SELECT p.id, 0.5 * (count(*) + 1)::float8 / $2,
			format('%s accounts first seen from %s within a day', count(*) + 1, p.first_addr_block),
			jsonb_build_object('block', p.first_addr_block, 'accounts', count(*) + 1,
				'others', jsonb_agg(q.name ORDER BY q.created_at))
		FROM players p
		JOIN players q ON q.first_addr_block = p.first_addr_block AND q.id <> p.id
			AND q.created_at BETWEEN p.created_at - interval '1 day' AND p.created_at + interval '1 day'
		WHERE p.first_addr_block IS NOT NULL AND p.created_at > now() - make_interval(secs => $1)
		GROUP BY p.id, p.first_addr_block HAVING count(*) + 1 >= $2`

	ratingGainSQL = `
		WITH recent AS (
			SELECT c.player_id, c.game, sum(c.rating_after - c.rating_before) AS gain, count(*) AS games
			FROM rating_changes c JOIN matches m ON m.id = c.match_id
			WHERE m.voided_at IS NULL AND c.at > now() - make_interval(secs => $1)
			GROUP BY 1, 2
		), past AS (
			SELECT player_id, game, max(d) AS best FROM (
				SELECT c.player_id, c.game, date_trunc('day', c.at) AS day, sum(c.rating_after - c.rating_before) AS d
				FROM rating_changes c JOIN matches m ON m.id = c.match_id
				WHERE m.voided_at IS NULL AND c.at <= now() - make_interval(secs => $1)
					AND c.at > now() - make_interval(secs => $1) - interval '30 days'
				GROUP BY 1, 2, 3) x
			GROUP BY 1, 2
		)
		SELECT r.player_id, r.gain / $2,
			format('gained %s points in %s in %s games (best day before: %s)', round(r.gain::numeric), r.game, r.games,
				round(greatest(coalesce(p.best, 0), 0)::numeric)),
			jsonb_build_object('game', r.game, 'gain', round(r.gain::numeric), 'games', r.games,
				'best_day_before', round(greatest(coalesce(p.best, 0), 0)::numeric))
		FROM recent r LEFT JOIN past p USING (player_id, game)
		WHERE r.gain >= $2 AND r.gain > $3 * greatest(coalesce(p.best, 0), 0) AND r.games >= $4`
)

// Flags computes every signal and returns the flagged players, most
// severe first, with the operators' decisions applied: a dismissed flag
// whose evidence has not changed is left out, a reviewed one is listed as
// reviewed (and counts for half).
func (o *Ops) Flags(ctx context.Context) ([]leaderboard.FlaggedPlayer, error) {
	c := o.signals
	secs := func(d time.Duration) float64 { return d.Seconds() }
	type query struct {
		signal string
		sql    string
		args   []any
	}
	queries := []query{
		{"same_opponent", sameOpponentSQL, []any{secs(c.Window), c.SameOpponentGames}},
		{"win_rate", winRateSQL, []any{secs(c.WinRateWindow), c.WinRateGames, c.WinRate}},
		{"early_end", earlyEndSQL, []any{secs(c.Window), c.EarlyEnds}},
		{"addr_block", addrBlockSQL, []any{secs(c.AccountWindow), c.AddrBlockAccounts}},
		{"rating_gain", ratingGainSQL, []any{secs(c.Window), c.RatingGain, c.RatingGainFactor, c.RatingGainGames}},
	}
	var flags []leaderboard.Flag
	b := &pgx.Batch{}
	for _, q := range queries {
		b.Queue(q.sql, q.args...).Query(func(rows pgx.Rows) error {
			var f leaderboard.Flag
			var ev []byte
			_, err := pgx.ForEachRow(rows, []any{&f.PlayerID, &f.Severity, &f.Summary, &ev}, func() error {
				f.Signal = q.signal
				f.Evidence = json.RawMessage(append([]byte(nil), ev...))
				sum := sha256.Sum256(append([]byte(q.signal+"\x00"), ev...))
				f.Key = hex.EncodeToString(sum[:8])
				f.Status = "open"
				flags = append(flags, f)
				return nil
			})
			if err != nil {
				return fmt.Errorf("signal %s: %w", q.signal, err)
			}
			return nil
		})
	}
	type decision struct{ status, key string }
	decided := map[[2]string]decision{}
	b.Queue(`SELECT player_id, signal, status, evidence_key FROM review_flags`).Query(func(rows pgx.Rows) error {
		var p, s string
		var d decision
		_, err := pgx.ForEachRow(rows, []any{&p, &s, &d.status, &d.key}, func() error {
			decided[[2]string{p, s}] = d
			return nil
		})
		return err
	})
	if err := o.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("compute signals: %w", err)
	}
	// One flag per player and signal: several rows of one signal (two
	// opponents) are one flag whose evidence is the list, keyed together.
	byPlayer := map[string]*leaderboard.FlaggedPlayer{}
	merged := map[[2]string]*leaderboard.Flag{}
	var order [][2]string
	for _, f := range flags {
		k := [2]string{f.PlayerID, f.Signal}
		if m := merged[k]; m != nil {
			m.Severity = max(m.Severity, f.Severity)
			m.Summary += "; " + f.Summary
			m.Evidence = append(append(append(json.RawMessage(nil), m.Evidence[:len(m.Evidence)-1]...), ','), f.Evidence...)
			m.Evidence = append(m.Evidence, ']')
			sum := sha256.Sum256(append([]byte(m.Key), f.Key...))
			m.Key = hex.EncodeToString(sum[:8])
			continue
		}
		f := f
		f.Evidence = append(append(json.RawMessage("["), f.Evidence...), ']')
		merged[k] = &f
		order = append(order, k)
	}
	for _, k := range order {
		f := merged[k]
		if d, ok := decided[k]; ok && d.key == f.Key {
			if d.status == "dismissed" {
				continue
			}
			f.Status = d.status
		}
		p := byPlayer[f.PlayerID]
		if p == nil {
			p = &leaderboard.FlaggedPlayer{Player: leaderboard.PlayerRef{ID: f.PlayerID}}
			byPlayer[f.PlayerID] = p
		}
		w := f.Severity
		if f.Status == "reviewed" {
			w /= 2
		}
		p.Severity += w
		p.Flags = append(p.Flags, *f)
	}
	out := make([]leaderboard.FlaggedPlayer, 0, len(byPlayer))
	ids := make([]string, 0, len(byPlayer))
	for id, p := range byPlayer {
		sort.Slice(p.Flags, func(i, j int) bool { return p.Flags[i].Severity > p.Flags[j].Severity })
		out = append(out, *p)
		ids = append(ids, id)
	}
	names := map[string]string{}
	banned := map[string]bool{}
	rows, err := o.pool.Query(ctx, `SELECT id, name, banned_at IS NOT NULL FROM players WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("name flagged players: %w", err)
	}
	var id, name string
	var ban bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &name, &ban}, func() error {
		names[id], banned[id] = name, ban
		return nil
	}); err != nil {
		return nil, fmt.Errorf("name flagged players: %w", err)
	}
	for i := range out {
		out[i].Player.Name = names[out[i].Player.ID]
		out[i].Banned = banned[out[i].Player.ID]
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return out[i].Player.ID < out[j].Player.ID
	})
	return out, nil
}

// Decide records an operator's decision on a player's flag: "reviewed"
// or "dismissed", for the evidence key the operator saw. A dismissed flag
// comes back when its evidence changes.
func (o *Ops) Decide(ctx context.Context, a leaderboard.Actor, playerID, signal, key, status, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	if status != "reviewed" && status != "dismissed" {
		return fmt.Errorf("%w: status must be reviewed or dismissed", leaderboard.ErrBadRequest)
	}
	if signal == "" || key == "" || len(signal) > 40 || len(key) > 64 {
		return fmt.Errorf("%w: signal and key are required", leaderboard.ErrBadRequest)
	}
	var opID *string
	if a.ID != "" {
		opID = &a.ID
	}
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var before *string
		err := tx.QueryRow(ctx, `SELECT status FROM review_flags WHERE player_id = $1 AND signal = $2`, playerID, signal).Scan(&before)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO review_flags (player_id, signal, status, evidence_key, decided_by)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (player_id, signal) DO UPDATE SET status = $3, evidence_key = $4, decided_by = $5, decided_at = now()`,
			playerID, signal, status, key, opID)
		if err != nil {
			if isForeignKey(err) {
				return fmt.Errorf("player %s: %w", playerID, leaderboard.ErrNotFound)
			}
			return err
		}
		return audit(ctx, tx, a, "flag."+status, "flag", playerID+"/"+signal, reason,
			map[string]any{"status": before}, map[string]string{"status": status, "key": key})
	})
	if err != nil {
		return fmt.Errorf("decide flag %s of %s: %w", signal, playerID, err)
	}
	return nil
}
