package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// rtRating stores a rating directly, as another process would have.
func rtRating(t testing.TB, db *pgxpool.Pool, player, gameID string, rating, rd float64) {
	t.Helper()
	rtExec(t, db, `INSERT INTO ratings (player_id, game, rating, rd, wins, losses, draws, games)
		VALUES ($1, $2, $3, $4, 3, 2, 1, 6)
		ON CONFLICT (player_id, game) DO UPDATE SET rating = $3, rd = $4`, player, gameID, rating, rd)
}

// boardLines prints a board as "rank:id" pairs.
func boardLines(b leaderboard.Board) string {
	var s []string
	for _, e := range b.Entries {
		s = append(s, fmt.Sprintf("%d:%s", e.Rank, e.Player.ID))
	}
	return strings.Join(s, " ")
}

// seedBoard stores a small leaderboard of tictactoe:
//
//	rank  player  rating   shown
//	1     p1      1800.4   1800
//	1     p2      1799.5   1800  (tie on the shown rating)
//	3     p3      1700     1700
//	3     p4      1700     1700  (exact tie: p3 first by id)
//	3     p5      1699.5   1700
//	6     p6      1650.2   1650
//	7     p7      1500     1500
//
// and players the board leaves out: prov (RD 200, provisional, rated
// 1900), edge (RD 110.01), banned (rated 2000). rd 110 exactly counts as
// established (p7).
func seedBoard(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for _, p := range []struct {
		id         string
		rating, rd float64
	}{
		{"p1", 1800.4, 60}, {"p2", 1799.5, 70}, {"p3", 1700, 80}, {"p4", 1700, 50},
		{"p5", 1699.5, 90}, {"p6", 1650.2, 100}, {"p7", 1500, 110},
		{"prov", 1900, 200}, {"edge", 1750, 110.01}, {"banned", 2000, 50},
	} {
		rtPlayers(t, db, p.id)
		rtRating(t, db, p.id, "tictactoe", p.rating, p.rd)
	}
	rtExec(t, db, `UPDATE players SET banned_at = now() WHERE id = 'banned'`)
	// Another game, which must not mix in.
	rtRating(t, db, "p7", "rps", 2500, 50)
}

func TestLeaderboard(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	seedBoard(t, db)
	ctx := t.Context()

	for _, tc := range []struct {
		limit, offset int
		provisional   bool
		want          string
		total         int
	}{
		{0, 0, false, "1:p1 1:p2 3:p3 3:p4 3:p5 6:p6 7:p7", 7},
		{2, 0, false, "1:p1 1:p2", 7},
		{2, 1, false, "1:p2 3:p3", 7}, // the first entry ties with the row before the page
		{2, 3, false, "3:p4 3:p5", 7},
		{2, 4, false, "3:p5 6:p6", 7},
		{3, 5, false, "6:p6 7:p7", 7},
		{3, 7, false, "", 7},
		{3, 20, false, "", 7},
		{0, 0, true, "1:prov 2:p1 2:p2 4:edge 5:p3 5:p4 5:p5 8:p6 9:p7", 9},
		{2, 5, true, "5:p4 5:p5", 9},
	} {
		b, err := r.Leaderboard(ctx, "tictactoe", tc.limit, tc.offset, tc.provisional)
		if err != nil {
			t.Fatalf("limit %d offset %d: %v", tc.limit, tc.offset, err)
		}
		if got := boardLines(b); got != tc.want || b.Total != tc.total || b.Game != "tictactoe" {
			t.Errorf("limit %d offset %d provisional %v: %q total %d, want %q total %d",
				tc.limit, tc.offset, tc.provisional, got, b.Total, tc.want, tc.total)
		}
	}

	b, err := r.Leaderboard(ctx, "tictactoe", 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	want := leaderboard.BoardEntry{Rank: 1, Player: leaderboard.PlayerRef{ID: "p1", Name: "n-p1"},
		PlayerRating: leaderboard.PlayerRating{Rating: 1800, RD: 60, Wins: 3, Losses: 2, Draws: 1, Games: 6}}
	if !reflect.DeepEqual(b.Entries, []leaderboard.BoardEntry{want}) {
		t.Errorf("entry %+v, want %+v", b.Entries, want)
	}

	if b, err := r.Leaderboard(ctx, "chess", 10, 0, false); err != nil || b.Total != 0 || b.Entries == nil || len(b.Entries) != 0 {
		t.Errorf("unknown game: %+v, %v", b, err)
	}
	for _, bad := range [][2]int{{-1, 0}, {101, 0}, {10, -1}, {10, leaderboard.MaxBoardOffset + 1}} {
		if _, err := r.Leaderboard(ctx, "tictactoe", bad[0], bad[1], false); !errors.Is(err, leaderboard.ErrBadRequest) {
			t.Errorf("limit %d offset %d: %v, want leaderboard.ErrBadRequest", bad[0], bad[1], err)
		}
	}
}

func TestRank(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	seedBoard(t, db)
	ctx := t.Context()

	rankOf := func(id string) (int, bool) {
		t.Helper()
		rank, ok, err := r.rank(ctx, "tictactoe", id)
		if err != nil {
			t.Fatal(err)
		}
		return rank, ok
	}
	// Rank agrees with the board, whose ranks come from the database.
	b, err := r.Leaderboard(ctx, "tictactoe", 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entries {
		if rank, ok := rankOf(e.Player.ID); !ok || rank != e.Rank {
			t.Errorf("Rank(%s) = %d, %v; the board says %d", e.Player.ID, rank, ok, e.Rank)
		}
	}
	for _, id := range []string{"prov", "edge", "banned", "nobody"} {
		if rank, ok := rankOf(id); ok {
			t.Errorf("Rank(%s) = %d, want none", id, rank)
		}
	}
	if rank, ok, err := r.rank(ctx, "rps", "p7"); rank != 1 || !ok || err != nil {
		t.Errorf("rps: %d, %v, %v", rank, ok, err)
	}

	// This process's results move ranks at once: p7 (1500, RD 110)
	// beats p1 (1800.4) and climbs; the newcomer stays provisional.
	rtPlayers(t, db, "newbie")
	rtMatch(t, db, rtMatchRow{id: "m1", seat0: "p1", seat1: "p7", winner: 1})
	rtMatch(t, db, rtMatchRow{id: "m2", seat0: "newbie", seat1: "p6", winner: 0})
	for _, id := range []string{"m1", "m2"} {
		if _, err := rateMatch(ctx, r, id); err != nil {
			t.Fatal(err)
		}
	}
	checkRankCounts(t, r)
	b, err = r.Leaderboard(ctx, "tictactoe", 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entries {
		if rank, ok := rankOf(e.Player.ID); !ok || rank != e.Rank {
			t.Errorf("after results: Rank(%s) = %d, %v; the board says %d", e.Player.ID, rank, ok, e.Rank)
		}
	}
	if _, ok := rankOf("newbie"); ok {
		t.Error("a provisional newcomer has a rank")
	}

	// Another process's changes and bans count from the next reload.
	rtExec(t, db, `UPDATE players SET banned_at = now() WHERE id = 'p1'`)
	rtRating(t, db, "prov", "tictactoe", 1900, 90)
	if err := r.RefreshRanks(ctx); err != nil {
		t.Fatal(err)
	}
	if rank, ok := rankOf("prov"); rank != 1 || !ok {
		t.Errorf("prov after reload: %d, %v", rank, ok)
	}
	checkRankCounts(t, r)
}

func TestPlayerPage(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	ctx := t.Context()
	seedBoard(t, db)
	rtExec(t, db, `INSERT INTO players (id, name, guest, password_hash) VALUES ('ann', 'Ann_1', false, 'h')`)
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	// 25 matches against p3, one a minute, in alternating seats; the
	// newest are a live one and an aborted one.
	for i := range 25 {
		m := rtMatchRow{id: fmt.Sprintf("m%02d", i), seat0: "ann", seat1: "p3", winner: i % 2,
			started: t0.Add(time.Duration(i) * time.Minute)}
		if i%2 == 1 {
			m.seat0, m.seat1 = "p3", "ann"
		}
		switch i {
		case 23:
			m.status = match.StatusAborted
		case 24:
			m.status = match.StatusLive
		}
		rtMatch(t, db, m)
	}
	if n, err := r.RatePending(ctx); n != 23 || err != nil {
		t.Fatalf("RatePending: %d, %v", n, err)
	}
	rtRating(t, db, "ann", "rps", 2720.4, 40) // ranks first in rps, above p7

	page, err := r.PlayerPage(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if page.Player != (leaderboard.PlayerInfo{ID: "ann", Name: "Ann_1", Guest: false}) {
		t.Errorf("player %+v", page.Player)
	}
	if rr := page.Ratings["rps"]; rr.Rank != 1 || rr.Rating != 2720 || rr.Provisional {
		t.Errorf("rps rating %+v", rr)
	}
	if rr := page.Ratings["tictactoe"]; rr.Games != 23 || rr.Wins != 23 || rr.Provisional != (rr.Rank == 0) {
		t.Errorf("tictactoe rating %+v", rr)
	}
	if len(page.Ratings) != 2 {
		t.Errorf("ratings %v", page.Ratings)
	}
	var ids []string
	for _, s := range page.Recent {
		ids = append(ids, s.ID)
	}
	var want []string
	for i := 24; i >= 5; i-- {
		want = append(want, fmt.Sprintf("m%02d", i))
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("recent %v, want %v", ids, want)
	}
	live, aborted, last := page.Recent[0], page.Recent[1], page.Recent[2]
	if live.Status != match.StatusLive || live.EndedMS != nil || live.Winner != nil || live.Reason != "" {
		t.Errorf("live summary %+v", live)
	}
	if aborted.Status != match.StatusAborted || aborted.EndedMS == nil || aborted.Winner != nil || aborted.Reason != "no_moves" {
		t.Errorf("aborted summary %+v", aborted)
	}
	// m22: ann in seat 0 won, rated; players show their ratings before it.
	var before0, before1 float64
	if err := db.QueryRow(ctx, `SELECT
		(SELECT rating_before FROM rating_changes WHERE match_id = 'm22' AND seat = 0),
		(SELECT rating_before FROM rating_changes WHERE match_id = 'm22' AND seat = 1)`).Scan(&before0, &before1); err != nil {
		t.Fatal(err)
	}
	wantLast := match.Summary{ID: "m22", Game: "tictactoe", Status: match.StatusFinished,
		Players: []match.Player{{ID: "ann", Name: "Ann_1", Rating: leaderboard.ShownRating(before0)}, {ID: "p3", Name: "n-p3", Rating: leaderboard.ShownRating(before1)}},
		Winner:  last.Winner, Reason: "line",
		StartedMS: t0.Add(22 * time.Minute).UnixMilli(), EndedMS: last.EndedMS}
	if !reflect.DeepEqual(last, wantLast) || last.Winner == nil || *last.Winner != 0 ||
		*last.EndedMS != t0.Add(22*time.Minute+30*time.Second).UnixMilli() {
		t.Errorf("m22 summary %+v, want %+v", last, wantLast)
	}

	// A banned player's page shows no rank; an unknown one is not found.
	if page, err := r.PlayerPage(ctx, "banned"); err != nil || page.Ratings["tictactoe"].Rank != 0 || page.Recent == nil {
		t.Errorf("banned: %+v, %v", page, err)
	}
	if _, err := r.PlayerPage(ctx, "nobody"); !errors.Is(err, leaderboard.ErrNotFound) {
		t.Errorf("unknown player: %v, want leaderboard.ErrNotFound", err)
	}
	ranked, err := r.RankedRatings(ctx, "ann")
	if err != nil || !reflect.DeepEqual(ranked, page.Ratings) {
		t.Errorf("RankedRatings %v, %v; want %v", ranked, err, page.Ratings)
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	ctx := t.Context()
	rtPlayers(t, db, "alice", "bob")
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	// Ended in the order e1 (rps), e2 (aborted), e3 (rps), e4; e0 is live.
	rtMatch(t, db, rtMatchRow{id: "e0", seat0: "alice", seat1: "bob", status: match.StatusLive})
	rtMatch(t, db, rtMatchRow{id: "e4", seat0: "alice", seat1: "bob", winner: 0, started: t0, ended: t0.Add(4 * time.Minute)})
	rtMatch(t, db, rtMatchRow{id: "e1", game: "rps", seat0: "alice", seat1: "bob", winner: 1, started: t0, ended: t0.Add(time.Minute)})
	rtMatch(t, db, rtMatchRow{id: "e2", seat0: "bob", seat1: "alice", status: match.StatusAborted, started: t0, ended: t0.Add(2 * time.Minute)})
	rtMatch(t, db, rtMatchRow{id: "e3", game: "rps", seat0: "bob", seat1: "alice", winner: game.NoSeat, started: t0.Add(time.Minute), ended: t0.Add(3 * time.Minute)})

	list := func(gameID string, limit int) string {
		t.Helper()
		sums, err := r.Matches(ctx, match.StatusFinished, gameID, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range sums {
			ids = append(ids, s.ID)
		}
		return strings.Join(ids, " ")
	}
	if got := list("", 0); got != "e4 e3 e2 e1" {
		t.Errorf("all: %q", got)
	}
	if got := list("", 2); got != "e4 e3" {
		t.Errorf("limit 2: %q", got)
	}
	if got := list("rps", 0); got != "e3 e1" {
		t.Errorf("rps: %q", got)
	}
	if got := list("chess", 0); got != "" {
		t.Errorf("chess: %q", got)
	}
	if sums, err := r.Matches(ctx, match.StatusFinished, "chess", 0); err != nil || sums == nil {
		t.Errorf("empty list: %v, %v; want []", sums, err)
	}
	for _, bad := range []struct {
		status string
		limit  int
	}{{match.StatusLive, 0}, {"", 0}, {match.StatusFinished, -1}, {match.StatusFinished, 101}} {
		if _, err := r.Matches(ctx, bad.status, "", bad.limit); !errors.Is(err, leaderboard.ErrBadRequest) {
			t.Errorf("status %q limit %d: %v, want leaderboard.ErrBadRequest", bad.status, bad.limit, err)
		}
	}
}

func TestMatchDetailHidesOpenRPSRound(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	ctx := t.Context()
	rtPlayers(t, db, "alice", "bob")
	rtMatch(t, db, rtMatchRow{id: "rps", game: "rps", seat0: "alice", seat1: "bob", status: match.StatusLive})
	rtMatch(t, db, rtMatchRow{id: "ttt", seat0: "alice", seat1: "bob", status: match.StatusLive})

	move := func(id string, seq, seat int, mv string) {
		t.Helper()
		rtExec(t, db, `INSERT INTO match_moves (match_id, seq, seat, move, at) VALUES ($1, $2, $3, $4, $5)`,
			id, seq, seat, mv, time.UnixMilli(1_700_000_000_000+int64(seq)))
	}
	seqs := func(id string) string {
		t.Helper()
		d, err := r.Match(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, m := range d.Moves {
			s = append(s, fmt.Sprint(m.Seq))
		}
		return strings.Join(s, ",")
	}
	const rock, paper = `{"choice": "rock"}`, `{"choice": "paper"}`
	steps := []struct {
		seat int
		mv   string
		want string
	}{
		{1, rock, ""},         // round 1 open: bob's choice stays hidden
		{0, rock, "1,2"},      // revealed: a tie, replayed
		{0, paper, "1,2"},     // round 2 open
		{1, rock, "1,2,3,4"},  // revealed, in the other order
		{1, paper, "1,2,3,4"}, // round 3 open
	}
	for i, s := range steps {
		move("rps", i+1, s.seat, s.mv)
		if got := seqs("rps"); got != s.want {
			t.Errorf("after %d moves: shown %q, want %q", i+1, got, s.want)
		}
	}
	// Ended by a resign with round 3 open: its choice was never revealed.
	rtExec(t, db, `UPDATE matches SET status = 'finished', ended_at = now(), winner = 0, reason = 'resign',
		owner = NULL, lease_until = NULL, deadline_at = NULL WHERE id = 'rps'`)
	if got := seqs("rps"); got != "1,2,3,4" {
		t.Errorf("ended: shown %q", got)
	}

	// Tic-tac-toe moves are public as they happen.
	move("ttt", 1, 0, `{"cell": 4}`)
	d, err := r.Match(ctx, "ttt")
	if err != nil {
		t.Fatal(err)
	}
	wantMoves := []leaderboard.MoveEntry{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"cell": 4}`), AtMS: 1_700_000_000_001}}
	if !reflect.DeepEqual(d.Moves, wantMoves) || d.Status != match.StatusLive || d.Spectators != 0 ||
		len(d.Players) != 2 || d.Players[0].Rating != 1500 {
		t.Errorf("ttt: %+v", d)
	}

	if _, err := r.Match(ctx, "nope"); !errors.Is(err, leaderboard.ErrNotFound) {
		t.Errorf("unknown match: %v, want leaderboard.ErrNotFound", err)
	}
}

func TestVisibleMoves(t *testing.T) {
	r := NewRatings(nil, nil, RatingsConfig{Games: catalog.New()})
	mv := func(seats ...int) []leaderboard.MoveEntry {
		out := []leaderboard.MoveEntry{}
		for i, s := range seats {
			out = append(out, leaderboard.MoveEntry{Seq: i + 1, Seat: s})
		}
		return out
	}
	for name, tc := range map[string]struct {
		game, status string
		in           []leaderboard.MoveEntry
		shown        int
	}{
		"rps none":            {"rps", "live", nil, 0},
		"rps one":             {"rps", "live", mv(0), 0},
		"rps pair":            {"rps", "live", mv(0, 1), 2},
		"rps pair and one":    {"rps", "live", mv(1, 0, 1), 2},
		"rps ended open":      {"rps", "finished", mv(0, 1, 0, 1, 1), 4},
		"tictactoe live":      {"tictactoe", "live", mv(0, 1, 0), 3},
		"unknown game live":   {"go", "live", mv(0, 1, 0), 0},
		"unknown game ended":  {"go", "aborted", mv(0, 1, 0), 3},
		"rps three in a pair": {"rps", "live", mv(0, 1, 1, 0, 0), 4},
		"connectfour live":    {"connectfour", "live", mv(0, 1, 0), 3},
	} {
		got := r.visibleMoves(tc.game, tc.status, tc.in)
		if got == nil || len(got) != tc.shown {
			t.Errorf("%s: %d moves shown, want %d", name, len(got), tc.shown)
		}
	}
}

// TestWireShapes checks the JSON of the read API against PROTOCOL.md.
func TestWireShapes(t *testing.T) {
	keys := func(v any) []string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	check := func(what string, v any, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := keys(v); !slices.Equal(got, want) {
			t.Errorf("%s keys %q, want %q", what, got, want)
		}
	}
	rating := []string{"rating", "rd", "provisional", "wins", "losses", "draws", "games"}
	check("Board", leaderboard.Board{}, "game", "total", "entries")
	check("BoardEntry", leaderboard.BoardEntry{}, append([]string{"rank", "player"}, rating...)...)
	check("PlayerRef", leaderboard.PlayerRef{}, "id", "name")
	check("PlayerRating", leaderboard.PlayerRating{}, rating...)
	check("RankedRating", leaderboard.RankedRating{Rank: 3}, append([]string{"rank"}, rating...)...)
	check("RankedRating without rank", leaderboard.RankedRating{}, rating...)
	check("PlayerPage", leaderboard.PlayerPage{}, "player", "ratings", "recent")
	check("PlayerInfo", leaderboard.PlayerInfo{}, "id", "name", "guest")
	check("MatchDetail", leaderboard.MatchDetail{}, "id", "game", "status", "players", "winner", "reason",
		"started_ms", "ended_ms", "spectators", "moves")
	check("MoveEntry", leaderboard.MoveEntry{Move: json.RawMessage(`{}`)}, "seq", "seat", "move", "at_ms")
}
