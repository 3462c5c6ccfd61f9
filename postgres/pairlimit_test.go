package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/match"
)

// TestPairLimit: between the same two players, in either seats and any
// game, only the first Limit rated results within the window are rated;
// aborted, unrated and old matches do not count, nor do other pairs. The
// journal stores the decision (matches.rated) and a claimed live match
// brings it back.
func TestPairLimit(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	j := startJournal(t, pool, JournalConfig{})
	pl := NewPairLimit(pool, PairLimitConfig{Limit: 2})
	ann, bob, cat := match.Player{ID: "pl-ann", Name: "ann"}, match.Player{ID: "pl-bob", Name: "bob"}, match.Player{ID: "pl-cat", Name: "cat"}

	n := 0
	create := func(players [2]match.Player, game string, started time.Time) match.Record {
		t.Helper()
		n++
		unrated, err := pl.Rated(ctx, game, players)
		if err != nil {
			t.Fatal(err)
		}
		rec := match.Record{ID: "pl" + string(rune('a'+n)), Game: game, Players: players, Started: started, Unrated: unrated}
		if err := j.CreateMatch(ctx, rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	finish := func(rec match.Record, status string) {
		t.Helper()
		res := match.Result{MatchID: rec.ID, Game: rec.Game, Players: rec.Players, Status: status, Winner: 0, Reason: "resign",
			Rated: status == match.StatusFinished && rec.Unrated == "", Started: rec.Started, Ended: time.Now()}
		if status == match.StatusAborted {
			res.Winner = -1
		}
		if err := j.FinishMatch(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	want := func(players [2]match.Player, reason string) {
		t.Helper()
		got, err := pl.Rated(ctx, "rps", players)
		if err != nil || got != reason {
			t.Fatalf("Rated(%s, %s) = %q, %v; want %q", players[0].ID, players[1].ID, got, err, reason)
		}
	}
	now := time.Now()

	// Old results and aborted matches do not count.
	finish(create([2]match.Player{ann, bob}, "tictactoe", now.Add(-25*time.Hour)), match.StatusFinished)
	finish(create([2]match.Player{ann, bob}, "tictactoe", now), match.StatusAborted)
	want([2]match.Player{ann, bob}, "")

	first := create([2]match.Player{ann, bob}, "tictactoe", now)
	finish(first, match.StatusFinished)
	live := create([2]match.Player{bob, ann}, "rps", now) // live, rated: counts
	if first.Unrated != "" || live.Unrated != "" {
		t.Fatalf("first two matches unrated: %q, %q", first.Unrated, live.Unrated)
	}
	want([2]match.Player{ann, bob}, match.UnratedPairLimit)
	want([2]match.Player{bob, ann}, match.UnratedPairLimit)
	want([2]match.Player{ann, cat}, "")
	finish(live, match.StatusFinished)

	third := create([2]match.Player{ann, bob}, "tictactoe", now)
	if third.Unrated != match.UnratedPairLimit {
		t.Fatalf("third match: %q", third.Unrated)
	}
	var rated bool
	pool.QueryRow(ctx, `SELECT rated FROM matches WHERE id = $1`, third.ID).Scan(&rated)
	if rated {
		t.Fatal("an unrated match stored rated")
	}
	claimed, err := j.Claim(ctx)
	if err != nil || len(claimed) != 1 || claimed[0].Record.ID != third.ID || claimed[0].Record.Unrated != match.UnratedPairLimit {
		t.Fatalf("claimed %+v, %v", claimed, err)
	}
	finish(third, match.StatusFinished)
	var rating int
	pool.QueryRow(ctx, `SELECT count(*) FROM matches WHERE id = $1 AND status = 'finished' AND NOT rated`, third.ID).Scan(&rating)
	if rating != 1 {
		t.Error("the unrated match did not end finished and unrated")
	}

	unlimited := NewPairLimit(pool, PairLimitConfig{Limit: -1})
	if got, err := unlimited.Rated(ctx, "rps", [2]match.Player{ann, bob}); err != nil || got != "" {
		t.Errorf("no limit: %q, %v", got, err)
	}
}
