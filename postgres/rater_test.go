package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// newTestRatings returns Ratings on a fresh database, and the database.
func newTestRatings(t testing.TB) (*Ratings, *pgxpool.Pool) {
	t.Helper()
	db, _ := pgtest.NewDB(t)
	return NewRatings(db, slog.New(slog.DiscardHandler), RatingsConfig{Games: catalog.New()}), db
}

func rtExec(t testing.TB, db *pgxpool.Pool, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	tag, err := db.Exec(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag
}

// rtPlayers adds guests with the given ids, named "n-" + id.
func rtPlayers(t testing.TB, db *pgxpool.Pool, ids ...string) {
	t.Helper()
	for _, id := range ids {
		rtExec(t, db, `INSERT INTO players (id, name, guest) VALUES ($1, 'n-' || $1, true)`, id)
	}
}

// rtMatchRow describes a match for rtMatch. Status "" is finished.
type rtMatchRow struct {
	id, game       string
	seat0, seat1   string
	status         string
	winner         int // a seat or game.NoSeat
	unrated        bool
	started, ended time.Time
}

// rtMatch stores a match as the journal would have: live (owned), or
// ended with its result.
func rtMatch(t testing.TB, db *pgxpool.Pool, m rtMatchRow) {
	t.Helper()
	if m.game == "" {
		m.game = "tictactoe"
	}
	if m.status == "" {
		m.status = match.StatusFinished
	}
	if m.started.IsZero() {
		m.started = time.Now().Add(-time.Minute)
	}
	if m.status == match.StatusLive {
		rtExec(t, db, `INSERT INTO matches (id, game, seat0, seat1, rated, started_at, owner, lease_until)
			VALUES ($1, $2, $3, $4, true, $5, 'p1', now() + interval '1 minute')`,
			m.id, m.game, m.seat0, m.seat1, m.started)
		return
	}
	if m.ended.IsZero() {
		m.ended = m.started.Add(30 * time.Second)
	}
	var winner *int
	if m.winner == 0 || m.winner == 1 {
		winner = &m.winner
	}
	reason := "line"
	if m.status == match.StatusAborted {
		reason, winner = "no_moves", nil
	}
	rtExec(t, db, `INSERT INTO matches (id, game, seat0, seat1, rated, started_at, status, ended_at, winner, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		m.id, m.game, m.seat0, m.seat1, !m.unrated && m.status == match.StatusFinished,
		m.started, m.status, m.ended, winner, reason)
}

// storedRating reads a ratings row.
type storedRating struct {
	Rating                     leaderboard.Rating
	Wins, Losses, Draws, Games int
}

func readRating(t testing.TB, db *pgxpool.Pool, player, game string) (storedRating, bool) {
	t.Helper()
	var s storedRating
	err := db.QueryRow(t.Context(), `SELECT rating, rd, volatility, wins, losses, draws, games
		FROM ratings WHERE player_id = $1 AND game = $2`, player, game).
		Scan(&s.Rating.Rating, &s.Rating.RD, &s.Rating.Volatility, &s.Wins, &s.Losses, &s.Draws, &s.Games)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

func TestRatingAppliesGlicko2Once(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice", "bob")
	// bob has played before; alice is new.
	rtExec(t, db, `INSERT INTO ratings (player_id, game, rating, rd, volatility, wins, losses, draws, games)
		VALUES ('bob', 'tictactoe', 1620.5, 80, 0.059, 10, 4, 1, 15)`)
	rtMatch(t, db, rtMatchRow{id: "m1", seat0: "bob", seat1: "alice", winner: 1})

	changes, err := rateMatch(t.Context(), r, "m1")
	if err != nil {
		t.Fatal(err)
	}
	bobBefore := leaderboard.Rating{Rating: 1620.5, RD: 80, Volatility: 0.059}
	wantBob, wantAlice := leaderboard.Glicko2{}.Game(bobBefore, leaderboard.NewRating(), 0)
	want := []match.RatingChange{
		{PlayerID: "bob", Before: 1620.5, After: wantBob.Rating},
		{PlayerID: "alice", Before: 1500, After: wantAlice.Rating},
	}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	bob, _ := readRating(t, db, "bob", "tictactoe")
	alice, ok := readRating(t, db, "alice", "tictactoe")
	if !ok {
		t.Fatal("no ratings row for alice")
	}
	if bob != (storedRating{Rating: wantBob, Wins: 10, Losses: 5, Draws: 1, Games: 16}) {
		t.Errorf("bob %+v, want %+v", bob, wantBob)
	}
	if alice != (storedRating{Rating: wantAlice, Wins: 1, Games: 1}) {
		t.Errorf("alice %+v, want %+v", alice, wantAlice)
	}

	var (
		n       int
		ratedAt *time.Time
	)
	if err := db.QueryRow(t.Context(), `SELECT count(*), (SELECT rated_at FROM matches WHERE id = 'm1')
		FROM rating_changes WHERE match_id = 'm1'`).Scan(&n, &ratedAt); err != nil {
		t.Fatal(err)
	}
	if n != 2 || ratedAt == nil {
		t.Errorf("%d rating_changes, rated_at %v", n, ratedAt)
	}
	var score, rdAfter float64
	if err := db.QueryRow(t.Context(), `SELECT score, rd_after FROM rating_changes
		WHERE match_id = 'm1' AND player_id = 'alice' AND seat = 1`).Scan(&score, &rdAfter); err != nil {
		t.Fatal(err)
	}
	if score != 1 || rdAfter != wantAlice.RD {
		t.Errorf("alice's change: score %v, rd_after %v", score, rdAfter)
	}

	// Again: the same changes, nothing applied twice.
	again, err := rateMatch(t.Context(), r, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(want) {
		t.Errorf("second call: %v, want %v", again, want)
	}
	if alice2, _ := readRating(t, db, "alice", "tictactoe"); alice2 != alice {
		t.Errorf("second call changed alice: %+v", alice2)
	}
	if n, err := r.RatePending(t.Context()); n != 0 || err != nil {
		t.Errorf("RatePending after rating: %d, %v", n, err)
	}
}

func TestRatingDraw(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice", "bob")
	rtMatch(t, db, rtMatchRow{id: "m1", seat0: "alice", seat1: "bob", winner: game.NoSeat})
	changes, err := rateMatch(t.Context(), r, "m1")
	if err != nil {
		t.Fatal(err)
	}
	// Equal ratings and a draw: no one moves, both get surer.
	if len(changes) != 2 || changes[0].After != 1500 || changes[1].After != 1500 {
		t.Errorf("changes %v", changes)
	}
	for _, p := range []string{"alice", "bob"} {
		s, _ := readRating(t, db, p, "tictactoe")
		if s.Draws != 1 || s.Games != 1 || s.Rating.RD >= leaderboard.DefaultRD {
			t.Errorf("%s: %+v", p, s)
		}
	}
}

func TestRatingChangesNothingWithoutARatedResult(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice", "bob")
	rtMatch(t, db, rtMatchRow{id: "aborted", seat0: "alice", seat1: "bob", status: match.StatusAborted})
	rtMatch(t, db, rtMatchRow{id: "unrated", seat0: "alice", seat1: "bob", winner: 0, unrated: true})
	rtMatch(t, db, rtMatchRow{id: "voided", seat0: "alice", seat1: "bob", winner: 0})
	rtExec(t, db, `UPDATE matches SET voided_at = now(), void_reason = 'test' WHERE id = 'voided'`)

	for _, id := range []string{"aborted", "unrated", "voided"} {
		// What the match says does not matter: the stored result does.
		changes, err := rateMatch(t.Context(), r, id)
		if err != nil || changes == nil || len(changes) != 0 {
			t.Errorf("%s: %v, %v; want an empty slice", id, changes, err)
		}
	}
	var n int
	if err := db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM ratings) + (SELECT count(*) FROM rating_changes)
		+ (SELECT count(*) FROM matches WHERE rated_at IS NOT NULL)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows written, %v", n, err)
	}
	if n, err := r.RatePending(t.Context()); n != 0 || err != nil {
		t.Errorf("RatePending: %d, %v", n, err)
	}
}

func TestRatingPendingThenRatePending(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice", "bob", "carol")

	// The journal is spooling: the match is still live in the database,
	// or not there at all.
	rtMatch(t, db, rtMatchRow{id: "m1", seat0: "alice", seat1: "bob", status: match.StatusLive})
	if _, err := rateMatch(t.Context(), r, "m1"); !errors.Is(err, errNotRated) {
		t.Fatalf("live match: %v, want errNotRated", err)
	}
	if _, err := rateMatch(t.Context(), r, "m0"); !errors.Is(err, errNotRated) {
		t.Fatalf("missing match: %v, want errNotRated", err)
	}

	// The spool is replayed: m1 ends, and two more matches with it, out of
	// id order; alice plays all three.
	t0 := time.Now().Add(-time.Hour)
	rtExec(t, db, `UPDATE matches SET status = 'finished', ended_at = $1, winner = 0, reason = 'line',
		owner = NULL, lease_until = NULL, deadline_at = NULL WHERE id = 'm1' AND status = 'live'`, t0.Add(2*time.Minute))
	rtMatch(t, db, rtMatchRow{id: "m3", seat0: "carol", seat1: "alice", winner: 0, started: t0, ended: t0.Add(time.Minute)})
	rtMatch(t, db, rtMatchRow{id: "m2", seat0: "alice", seat1: "carol", winner: game.NoSeat, started: t0, ended: t0.Add(3 * time.Minute)})
	rtMatch(t, db, rtMatchRow{id: "m4", seat0: "alice", seat1: "carol", status: match.StatusAborted, started: t0, ended: t0.Add(4 * time.Minute)})

	n, err := r.RatePending(t.Context())
	if err != nil || n != 3 {
		t.Fatalf("RatePending: %d, %v; want 3", n, err)
	}
	// In end order: m3 (carol beats alice), m1 (alice beats bob), m2 (draw).
	g := leaderboard.Glicko2{}
	alice, carol := g.Game(leaderboard.NewRating(), leaderboard.NewRating(), 0) // m3, alice's view
	alice, bob := g.Game(alice, leaderboard.NewRating(), 1)                     // m1
	alice, carol = g.Game(alice, carol, 0.5)                                    // m2
	for p, want := range map[string]leaderboard.Rating{"alice": alice, "bob": bob, "carol": carol} {
		if got, _ := readRating(t, db, p, "tictactoe"); got.Rating != want {
			t.Errorf("%s: %+v, want %+v", p, got.Rating, want)
		}
	}
	if got, _ := readRating(t, db, "alice", "tictactoe"); got.Games != 3 || got.Wins != 1 || got.Losses != 1 || got.Draws != 1 {
		t.Errorf("alice: %+v", got)
	}
	if n, err := r.RatePending(t.Context()); n != 0 || err != nil {
		t.Errorf("second RatePending: %d, %v", n, err)
	}
	// The match is rated once; its changes are there to read.
	changes, err := rateMatch(t.Context(), r, "m1")
	if err != nil || len(changes) != 2 || changes[1].PlayerID != "bob" || changes[1].After != bob.Rating {
		t.Errorf("changes after RatePending: %v, %v", changes, err)
	}
}

// TestRatePendingPages rates more pending results than one batch holds.
func TestRatePendingPages(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice", "bob")
	rtExec(t, db, `INSERT INTO matches (id, game, seat0, seat1, rated, started_at, status, ended_at, winner, reason)
		SELECT 'm' || i, 'rps', 'alice', 'bob', true, now() - interval '1 day', 'finished',
			now() - interval '1 hour' + i * interval '1 second', i % 2, 'rounds'
		FROM generate_series(1, $1) i`, defaultRateBatch+7)
	n, err := r.RatePending(t.Context())
	if err != nil || n != defaultRateBatch+7 {
		t.Fatalf("RatePending: %d, %v", n, err)
	}
	if s, _ := readRating(t, db, "alice", "rps"); s.Games != defaultRateBatch+7 {
		t.Errorf("alice: %+v", s)
	}
}

// TestConcurrentResultsForOnePlayer ends twenty matches of one player at
// once: every result is kept, applied one after the other.
func TestConcurrentResultsForOnePlayer(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	const n = 20
	rtPlayers(t, db, "hero")
	for i := range n {
		opp := fmt.Sprintf("opp%02d", i)
		rtPlayers(t, db, opp)
		m := rtMatchRow{id: fmt.Sprintf("m%02d", i), seat0: "hero", seat1: opp, winner: i % 3}
		if i%3 == 2 {
			m.winner = game.NoSeat
		}
		if i%2 == 1 { // hero in either seat, so lock order is tested
			m.seat0, m.seat1 = opp, "hero"
		}
		rtMatch(t, db, m)
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = rateMatch(t.Context(), r, fmt.Sprintf("m%02d", i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("match %d: %v", i, err)
		}
	}

	final, _ := readRating(t, db, "hero", "tictactoe")
	if final.Games != n || final.Wins+final.Losses+final.Draws != n {
		t.Fatalf("hero: %+v, want %d games", final, n)
	}
	checkChain(t, db, "hero", "tictactoe", final.Rating)
}

// checkChain checks that a player's rating changes form one serial
// history: from the starting rating, each change starts where another
// ended, each is Glicko-2 against the opponent's rating before that
// match, and the last ends at the stored rating.
func checkChain(t *testing.T, db *pgxpool.Pool, player, gameID string, final leaderboard.Rating) {
	t.Helper()
	type change struct {
		Before, After leaderboard.Rating
		Opponent      leaderboard.Rating
		Score         float64
	}
	rows, err := db.Query(t.Context(), `
		SELECT c.rating_before, c.rd_before, c.volatility_before, c.rating_after, c.rd_after, c.volatility_after,
			o.rating_before, o.rd_before, o.volatility_before, c.score
		FROM rating_changes c JOIN rating_changes o ON o.match_id = c.match_id AND o.player_id <> c.player_id
		WHERE c.player_id = $1 AND c.game = $2`, player, gameID)
	if err != nil {
		t.Fatal(err)
	}
	var (
		c       change
		changes []change
	)
	if _, err := pgx.ForEachRow(rows, []any{&c.Before.Rating, &c.Before.RD, &c.Before.Volatility,
		&c.After.Rating, &c.After.RD, &c.After.Volatility,
		&c.Opponent.Rating, &c.Opponent.RD, &c.Opponent.Volatility, &c.Score}, func() error {
		changes = append(changes, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cur := leaderboard.NewRating()
	used := make([]bool, len(changes))
	for step := range changes {
		next := -1
		for i, c := range changes {
			if !used[i] && c.Before == cur {
				next = i
				break
			}
		}
		if next < 0 {
			t.Fatalf("%s: after %d changes, none starts at %+v", player, step, cur)
		}
		used[next] = true
		c := changes[next]
		if want := (leaderboard.Glicko2{}).Update(c.Before, []leaderboard.Result{{Opponent: c.Opponent, Score: c.Score}}); c.After != want {
			t.Errorf("%s: change %d: after %+v, want %+v", player, step, c.After, want)
		}
		cur = c.After
	}
	if cur != final {
		t.Errorf("%s: chain ends at %+v, stored rating %+v", player, cur, final)
	}
}

// TestConcurrentResultsAmongFew has four players play many matches among
// themselves in both seat orders, all ending at once, while the rank
// counts are reloaded: no deadlock survives the retries, every result is
// kept, and the counts in memory equal a fresh load.
func TestConcurrentResultsAmongFew(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	players := []string{"ann", "ben", "cat", "dan"}
	rtPlayers(t, db, players...)
	var ids []string
	for i := range 36 {
		a, b := players[i%4], players[(i/4+1+i%4)%4]
		if a == b {
			continue
		}
		id := fmt.Sprintf("m%02d", i)
		rtMatch(t, db, rtMatchRow{id: id, seat0: a, seat1: b, winner: i % 2})
		ids = append(ids, id)
	}
	if err := r.RefreshRanks(t.Context()); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			<-start
			_, errs[i] = rateMatch(t.Context(), r, id)
		})
	}
	reloadErrs := make(chan error, 5)
	wg.Go(func() {
		<-start
		for range cap(reloadErrs) {
			reloadErrs <- r.RefreshRanks(t.Context())
		}
	})
	close(start)
	wg.Wait()
	close(reloadErrs)
	for err := range reloadErrs {
		if err != nil {
			t.Errorf("reload: %v", err)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("match %s: %v", ids[i], err)
		}
	}
	total := 0
	for _, p := range players {
		s, _ := readRating(t, db, p, "tictactoe")
		total += s.Games
		checkChain(t, db, p, "tictactoe", s.Rating)
	}
	if total != 2*len(ids) {
		t.Errorf("%d games in all, want %d", total, 2*len(ids))
	}
	checkRankCounts(t, r)
}

// checkRankCounts compares the rank counts in memory with a fresh load.
func checkRankCounts(t *testing.T, r *Ratings) {
	t.Helper()
	var fresh leaderboard.Ranks
	if err := fresh.Reload(t.Context(), r.loadRanks, false); err != nil {
		t.Fatal(err)
	}
	if a, b := r.ranks.String(), fresh.String(); a != b {
		t.Errorf("rank counts in memory:\n%s\nfresh from the database:\n%s", a, b)
	}
}

func TestRatedAtSchema(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice", "bob")
	rtMatch(t, db, rtMatchRow{id: "live", seat0: "alice", seat1: "bob", status: match.StatusLive})
	rtMatch(t, db, rtMatchRow{id: "aborted", seat0: "alice", seat1: "bob", status: match.StatusAborted})
	rtMatch(t, db, rtMatchRow{id: "done", seat0: "alice", seat1: "bob", winner: 0})
	wantCode := func(code, sql string) {
		t.Helper()
		_, err := db.Exec(t.Context(), sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != code {
			t.Errorf("%s: %v, want SQLSTATE %s", sql, err, code)
		}
	}
	wantCode("23514", `UPDATE matches SET rated_at = now() WHERE id = 'live'`)
	wantCode("23514", `UPDATE matches SET rated_at = now() WHERE id = 'aborted'`)
	if _, err := rateMatch(t.Context(), r, "done"); err != nil {
		t.Fatal(err) // sets rated_at on an ended match: matches_result_once allows it
	}
	wantCode("23000", `UPDATE matches SET rated_at = NULL WHERE id = 'done'`)
	wantCode("23000", `UPDATE matches SET rated_at = now() + interval '1 day' WHERE id = 'done'`)
	rtExec(t, db, `UPDATE matches SET voided_at = now(), void_reason = 'test' WHERE id = 'done'`)
}

func TestRatingAndPlayerRatings(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "alice")
	if got, err := r.Rating(t.Context(), "alice", "rps"); got != leaderboard.DefaultRating || err != nil {
		t.Errorf("no row: %v, %v", got, err)
	}
	rtExec(t, db, `INSERT INTO ratings (player_id, game, rating, rd, wins, losses, draws, games) VALUES
		('alice', 'rps', 1712.49, 109.2, 6, 3, 1, 10), ('alice', 'tictactoe', 1433.5, 110.01, 1, 1, 0, 2)`)
	if got, err := r.Rating(t.Context(), "alice", "rps"); got != 1712.49 || err != nil {
		t.Errorf("rps: %v, %v", got, err)
	}
	got, err := r.playerRatings(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]leaderboard.PlayerRating{
		"rps":       {Rating: 1712, RD: 110, Wins: 6, Losses: 3, Draws: 1, Games: 10},
		"tictactoe": {Rating: 1434, RD: 111, Provisional: true, Wins: 1, Losses: 1, Games: 2},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PlayerRatings %v, want %v", got, want)
	}
	if got, err := r.playerRatings(t.Context(), "nobody"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("unknown player: %v, %v", got, err)
	}
}

func TestRatingsConfigValidate(t *testing.T) {
	for name, cfg := range map[string]RatingsConfig{
		"negative tau":     {Tau: -1},
		"negative refresh": {RankRefresh: -time.Second},
		"negative retries": {RateAttempts: -1},
	} {
		if cfg.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := (RatingsConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

func TestRatingCache(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	r := NewRatings(db, slog.New(slog.DiscardHandler), RatingsConfig{RatingCacheTTL: time.Hour})
	rtPlayers(t, db, "alice", "bob")
	rtExec(t, db, `INSERT INTO ratings (player_id, game, rating, rd, wins, losses, draws, games) VALUES ('alice', 'rps', 1600, 80, 5, 5, 0, 10)`)
	if got, err := r.Rating(t.Context(), "alice", "rps"); got != 1600 || err != nil {
		t.Fatalf("first read: %v, %v", got, err)
	}
	// Another process changes the row: this one keeps its cached value
	// until the TTL passes.
	rtExec(t, db, `UPDATE ratings SET rating = 1650 WHERE player_id = 'alice' AND game = 'rps'`)
	if got, _ := r.Rating(t.Context(), "alice", "rps"); got != 1600 {
		t.Errorf("cached read %v, want 1600", got)
	}
	// A match this process rates writes through.
	rtMatch(t, db, rtMatchRow{id: "m1", game: "rps", seat0: "alice", seat1: "bob", winner: 0})
	changes, err := rateMatch(t.Context(), r, "m1")
	if err != nil || len(changes) != 2 {
		t.Fatalf("rateMatch: %v, %v", changes, err)
	}
	for _, ch := range changes {
		if got, _ := r.Rating(t.Context(), ch.PlayerID, "rps"); got != ch.After {
			t.Errorf("%s after the match: %v, want %v", ch.PlayerID, got, ch.After)
		}
	}

	// A TTL of -1 turns the cache off.
	off := NewRatings(db, slog.New(slog.DiscardHandler), RatingsConfig{RatingCacheTTL: -1})
	off.Rating(t.Context(), "alice", "rps")
	rtExec(t, db, `UPDATE ratings SET rating = 1700 WHERE player_id = 'alice' AND game = 'rps'`)
	if got, _ := off.Rating(t.Context(), "alice", "rps"); got != 1700 {
		t.Errorf("uncached read %v, want 1700", got)
	}
}

func TestRatingCacheBounds(t *testing.T) {
	now := time.Now()
	c := newRatingCache(time.Minute, 3)
	for i, p := range []string{"a", "b", "c"} {
		c.put(p, "g", float64(i), now)
	}
	if got, ok := c.get("c", "g", now.Add(59*time.Second)); !ok || got != 2 {
		t.Errorf("c within TTL: %v, %v", got, ok)
	}
	if _, ok := c.get("c", "g", now.Add(time.Minute)); ok {
		t.Error("c after TTL still cached")
	}
	c.put("a", "g", 10, now) // an update does not evict
	if got, ok := c.get("b", "g", now); !ok || got != 1 {
		t.Errorf("b after updating a: %v, %v", got, ok)
	}
	c.put("d", "g", 4, now) // full: starts again
	if _, ok := c.get("b", "g", now); ok {
		t.Error("b survived a full cache")
	}
	if got, ok := c.get("d", "g", now); !ok || got != 4 {
		t.Errorf("d: %v, %v", got, ok)
	}
}
