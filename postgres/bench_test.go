package postgres

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/turnbase/turnbase/leaderboard"
)

// Benchmarks of the read side on a seeded database. They run on a fresh
// database of the test cluster (pgtest); see docs/benchmarks.md for
// figures and plans.
//
//	TURNBASE_BENCH_ROWS=1000000 go test -run '^$' -bench Leaderboard -benchtime 2s ./leaderboard
//
// TURNBASE_BENCH_ROWS is the number of players, each with a tictactoe
// rating (default 10,000, so that a plain -bench run stays quick); a fifth
// as many finished matches are seeded, with their rating changes (a
// million players and matches with their two million rating changes take
// over six minutes to seed here, mostly foreign-key checks; the queries
// read a player's or the latest matches through indexes, whose depth a
// fifth changes little).
// TURNBASE_BENCH_EXPLAIN=1 logs the plan of each statement first.
const (
	benchRowsEnv     = "TURNBASE_BENCH_ROWS"
	benchExplainEnv  = "TURNBASE_BENCH_EXPLAIN"
	benchDefaultRows = 10000
	// benchHero is the player whose page and rank are read: an
	// established player with benchHeroMatches matches of their own.
	benchHero        = "p1"
	benchHeroMatches = 200
	// benchPlayersPerMatch: one seeded match per so many players.
	benchPlayersPerMatch = 5
)

func BenchmarkLeaderboard(b *testing.B) {
	n := benchDefaultRows
	if s := os.Getenv(benchRowsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("%s=%q: want a number of players, at least 1000", benchRowsEnv, s)
		}
		n = v
	}
	r, db := newTestRatings(b)
	ctx := b.Context()
	start := time.Now()
	seedBench(b, db, n)
	b.Logf("seeded %d players, ratings and matches in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := r.RefreshRanks(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded rank counts in %v", time.Since(start).Round(time.Millisecond))

	// Players to rank: established ones spread over the board.
	rows, err := db.Query(ctx, `SELECT r.player_id FROM ratings r JOIN players p ON p.id = r.player_id
		WHERE r.game = 'tictactoe' AND r.rd <= 110 AND p.banned_at IS NULL ORDER BY r.player_id LIMIT 1000`)
	if err != nil {
		b.Fatal(err)
	}
	ranked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ranked) == 0 {
		b.Fatalf("players to rank: %d, %v", len(ranked), err)
	}
	var heroRating float64
	if err := db.QueryRow(ctx, `SELECT rating FROM ratings WHERE player_id = $1 AND game = 'tictactoe'`, benchHero).Scan(&heroRating); err != nil {
		b.Fatal(err)
	}

	if os.Getenv(benchExplainEnv) != "" {
		explainBench(b, db, heroRating)
	}

	board := func(limit, offset int, provisional bool) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Leaderboard(ctx, "tictactoe", limit, offset, provisional); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("top50", board(50, 0, false))
	b.Run("top50_provisional", board(50, 0, true))
	b.Run("offset1000", board(50, 1000, false))
	b.Run("offset10000", board(50, 10000, false))
	b.Run("rank_histogram", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok, err := r.rank(ctx, "tictactoe", ranked[i%len(ranked)]); err != nil || !ok {
				b.Fatal(ok, err)
			}
			i++
		}
	})
	b.Run("rank_exact_count", func(b *testing.B) {
		for b.Loop() {
			var above int
			if err := db.QueryRow(ctx, aboveEstablishedSQL, "tictactoe", leaderboard.ShownRating(heroRating)+0.5).Scan(&above); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("player_page", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.PlayerPage(ctx, benchHero); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("matches_finished", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Matches(ctx, "finished", "tictactoe", 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("record_result", func(b *testing.B) {
		// Matches between random players, ended and waiting for their
		// ratings, as the journal leaves them; seeded in chunks outside
		// the timer.
		const chunk = 2000
		seeded := 0
		for i := 0; b.Loop(); i++ {
			if i == seeded {
				b.StopTimer()
				rtExec(b, db, `INSERT INTO matches (id, game, seat0, seat1, rated, started_at, status, ended_at, winner, reason)
					SELECT 'r' || i, 'tictactoe', 'p' || a, 'p' || (1 + (a + d) % $1::int), true,
						now() - interval '1 minute', 'finished', now(), (i % 2)::smallint, 'line'
					FROM generate_series($2::int, $3::int) i,
						LATERAL (SELECT 1 + floor(random() * $1::int)::int + i * 0 AS a,
							floor(random() * ($1::int - 1))::int + i * 0 AS d) x`, n, seeded, seeded+chunk-1)
				seeded += chunk
				b.StartTimer()
			}
			if _, err := rateMatch(ctx, r, fmt.Sprintf("r%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reload_ranks", func(b *testing.B) {
		for b.Loop() {
			if err := r.RefreshRanks(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// seedBench stores n players (0.1% banned) with a tictactoe rating each,
// normally distributed around 1500 (SD 250, Box-Muller), 70% established
// (RD 45..110) and 30% provisional (RD 110..350); and n/5 finished, rated
// matches between random players with their rating changes, plus
// benchHeroMatches of benchHero's. One INSERT ... SELECT FROM
// generate_series per table, with a fixed random seed.
func seedBench(b *testing.B, db *pgxpool.Pool, n int) {
	b.Helper()
	ctx := b.Context()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, st := range []struct {
			sql  string
			args []any
		}{
			{`SELECT setseed(0.42)`, nil},
			{`INSERT INTO players (id, name, guest, created_at, banned_at)
			SELECT 'p' || i, 'player' || i, true, now() - interval '1 year',
				CASE WHEN i % 1000 = 500 THEN now() END
			FROM generate_series(1, $1) i`, []any{n}},
			{`INSERT INTO ratings (player_id, game, rating, rd, volatility, wins, losses, draws, games, updated_at)
			SELECT 'p' || i, 'tictactoe',
				1500 + 250 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()),
				CASE WHEN i = 1 OR random() < 0.7 THEN 45 + 65 * random() ELSE 110.001 + 239.999 * random() END,
				0.06, g / 2, g - g / 2 - g / 10, g / 10, g, now() - random() * interval '30 days'
			FROM generate_series(1, $1) i, LATERAL (SELECT (random() * 200)::int + i * 0 AS g) games`, []any{n}},
			{`INSERT INTO matches (id, game, seat0, seat1, rated, started_at, status, ended_at, winner, reason, rated_at)
			SELECT 'm' || i, 'tictactoe', 'p' || a, 'p' || (1 + (a + d) % $1::int), true, t, 'finished',
				t + interval '40 seconds', (i % 2)::smallint, 'line', t + interval '41 seconds'
			FROM generate_series(1, $2::int) i,
				LATERAL (SELECT 1 + floor(random() * $1::int)::int + i * 0 AS a,
					floor(random() * ($1::int - 1))::int + i * 0 AS d,
					now() - interval '30 days' + i * (interval '30 days' / $2::int) AS t) x`, []any{n, n / benchPlayersPerMatch}},
			{`INSERT INTO matches (id, game, seat0, seat1, rated, started_at, status, ended_at, winner, reason, rated_at)
			SELECT 'h' || i, 'tictactoe', CASE WHEN i % 2 = 0 THEN 'p1' ELSE 'p' || (2 + i) END,
				CASE WHEN i % 2 = 0 THEN 'p' || (2 + i) ELSE 'p1' END, true, t, 'finished',
				t + interval '40 seconds', (i % 2)::smallint, 'line', t + interval '41 seconds'
			FROM generate_series(1, $1) i,
				LATERAL (SELECT now() - interval '30 days' + i * interval '1 hour' AS t) x`, []any{benchHeroMatches}},
			{`INSERT INTO rating_changes (match_id, player_id, game, seat, score, rating_before, rating_after,
				rd_before, rd_after, volatility_before, volatility_after, at)
			SELECT m.id, s.player, 'tictactoe', s.seat, CASE WHEN m.winner = s.seat THEN 1 ELSE 0 END,
				1500, 1500, 100, 99, 0.06, 0.06, m.rated_at
			FROM matches m, LATERAL (VALUES (0::smallint, m.seat0), (1::smallint, m.seat1)) s(seat, player)`, nil},
		} {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("%s: %w", st.sql, err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// FREEZE marks every page all-visible, as autovacuum would in time, so
	// that index-only scans need no heap fetches.
	if _, err := db.Exec(ctx, `VACUUM (FREEZE, ANALYZE)`); err != nil {
		b.Fatal(err)
	}
}

// explainBench logs the plans of the benchmarked statements, as run.
func explainBench(b *testing.B, db *pgxpool.Pool, heroRating float64) {
	b.Helper()
	for _, q := range []struct {
		name string
		sql  string
		args []any
	}{
		{"top50", boardEstablishedSQL, []any{"tictactoe", 50, 0}},
		{"top50_provisional", boardAllSQL, []any{"tictactoe", 50, 0}},
		{"offset1000", boardEstablishedSQL, []any{"tictactoe", 51, 999}},
		{"offset10000", boardEstablishedSQL, []any{"tictactoe", 51, 9999}},
		{"rank_exact_count", aboveEstablishedSQL, []any{"tictactoe", leaderboard.ShownRating(heroRating) + 0.5}},
		{"rank_player_row", `SELECT r.rating, r.rd, p.banned_at IS NOT NULL
			FROM ratings r JOIN players p ON p.id = r.player_id
			WHERE r.player_id = $1 AND r.game = $2`, []any{benchHero, "tictactoe"}},
		{"player_page_recent", recentSQL, []any{benchHero, leaderboard.RecentMatches}},
		{"matches_finished_game", endedGameSQL, []any{50, "tictactoe"}},
		{"matches_finished", endedSQL, []any{50}},
		{"reload_ranks", rankCountsSQL, nil},
		{"rate_outbox", `SELECT id, game, winner, seat0, seat1 FROM matches
			WHERE status = 'finished' AND rated AND rated_at IS NULL AND voided_at IS NULL
			ORDER BY ended_at, id LIMIT $1`, []any{defaultRateBatch}},
	} {
		rows, err := db.Query(b.Context(), "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+q.sql, q.args...)
		if err != nil {
			b.Fatalf("explain %s: %v", q.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatalf("explain %s: %v", q.name, err)
		}
		b.Logf("plan of %s:\n%s", q.name, strings.Join(lines, "\n"))
	}
}
