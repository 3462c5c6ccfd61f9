package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSIGKILLUnreplayableMoveAborted: a live match whose stored moves do
// not replay (a row with case-variant keys, as a client could plant
// before moves were read strictly) is not left live after a restart, with
// its lease renewed forever: the restarted server stores it aborted,
// server_error, unrated, its lease released, and its players are free.
func TestSIGKILLUnreplayableMoveAborted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	dsn := testDatabase(t)
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": dsn, "TURNBASE_DATA": t.TempDir(), "TURNBASE_LOG_LEVEL": "warn"}
	p1 := startProcess(t, bin, addr, env)
	s := p1.server()
	x, o, id := pair(t, s, "tictactoe")
	play := func(c *client, cell, moves int) {
		t.Helper()
		c.send(frame{"type": "match.move", "match": id, "move": frame{"cell": cell}})
		c.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == moves })
	}
	play(x, 4, 1)
	play(o, 0, 2)
	p1.kill()
	x.closeCodeWait(t)
	o.closeCodeWait(t)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `UPDATE match_moves SET move = '{"cell":8,"CELL":4}' WHERE match_id = $1 AND seq = 2`, id); err != nil {
		t.Fatal(err)
	}

	p2 := startProcess(t, bin, addr, env)
	s = p2.server()
	var (
		status, reason string
		rated, owned   bool
	)
	err = db.QueryRow(ctx, `SELECT status, reason, rated, owner IS NOT NULL OR lease_until IS NOT NULL FROM matches WHERE id = $1`, id).
		Scan(&status, &reason, &rated, &owned)
	if err != nil || status != "aborted" || reason != "server_error" || rated || owned {
		t.Fatalf("match row after restart: %s %s rated=%v owned=%v (%v)", status, reason, rated, owned, err)
	}
	var summary struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(s.get("/api/matches/"+id)), &summary); err != nil || summary.Status != "aborted" || summary.Reason != "server_error" {
		t.Fatalf("GET /api/matches/%s: %+v, %v", id, summary, err)
	}
	x2 := s.dial("x again", x.token)
	if active, _ := x2.welcome["active"].([]any); len(active) != 0 {
		t.Fatalf("welcome.active = %v after the abort", active)
	}
	x2.send(frame{"type": "queue.join", "game": "tictactoe", "id": "q"})
	x2.expect("queue.joined", func(f frame) bool { return f["re"] == "q" })
}

// TestMovesStoredCanonicalOverTheWire: a move with repeated or
// case-variant keys is bad_request; an accepted move is stored, and shown
// in the match's history, in the game's canonical form, not as sent.
func TestMovesStoredCanonicalOverTheWire(t *testing.T) {
	s := startServer(t, nil)
	x, o, id := pair(t, s, "tictactoe")
	for _, bad := range []string{`{"cell":8,"CELL":4}`, `{"cell":8,"cell":4}`, `{"cell":1e1000000}`, `{"cell":4,"x":"\u0000"}`} {
		x.expectError(frame{"type": "match.move", "match": id, "move": json.RawMessage(bad)}, "bad_request")
	}
	x.send(frame{"type": "match.move", "match": id, "move": json.RawMessage(`{"\u0063ell":-0}`)})
	o.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 1 })
	var detail struct {
		Moves []struct {
			Move json.RawMessage `json:"move"`
		} `json:"moves"`
	}
	if err := json.Unmarshal([]byte(s.get("/api/matches/"+id)), &detail); err != nil {
		t.Fatal(err)
	}
	if len(detail.Moves) != 1 || string(detail.Moves[0].Move) != `{"cell": 0}` && string(detail.Moves[0].Move) != `{"cell":0}` {
		t.Fatalf("stored moves %s", detail.Moves)
	}
}

// TestRatingFarmingOverTheWire replays the farming attack: a challenge,
// the victim resigns before any move, both rematch, repeat. A resign
// before one's own first move is an unrated abort; between the same two
// players only the first rated-pair-limit results in the window are
// rated, and match.found and match.state say when a match is not, and
// why.
func TestRatingFarmingOverTheWire(t *testing.T) {
	s := startServer(t, map[string]string{"TURNBASE_RATED_PAIR_LIMIT": "2"})
	x, o, id := pair(t, s, "tictactoe")
	seats := [2]*client{x, o}

	// The victim resigns at once: an abort, no rating moves.
	o.send(frame{"type": "match.resign", "match": id})
	over := x.expect("match.over", func(f frame) bool { return f["match"] == id })
	if over["result"] != "aborted" || over["reason"] != "resign" || over["winner"] != nil || len(over["ratings"].([]any)) != 0 {
		t.Fatalf("resign before any move: over = %v", over)
	}

	rematch := func() frame {
		t.Helper()
		for _, c := range seats {
			c.send(frame{"type": "match.rematch", "match": id})
		}
		found := [2]frame{}
		for i, c := range seats {
			found[i] = c.expect("match.found", func(f frame) bool { return f["match"] != id })
		}
		id = found[0]["match"].(string)
		if num(found[0]["you"]) == 1 { // seats swap
			seats[0], seats[1] = seats[1], seats[0]
		}
		return found[0]
	}
	// Three rematches, each played one move each, then seat 1 resigns:
	// the first two are rated, the third is over the pair limit.
	for round := range 3 {
		found := rematch()
		wantRated := round < 2
		state := seats[0].expect("match.state", func(f frame) bool { return f["match"] == id })
		for _, f := range []frame{found, state} {
			if f["rated"] != wantRated {
				t.Fatalf("round %d: %s rated = %v, want %v: %v", round, f["type"], f["rated"], wantRated, f)
			}
			if reason, has := f["unrated_reason"]; wantRated == has || (!wantRated && reason != "pair_limit") {
				t.Fatalf("round %d: %s unrated_reason %v", round, f["type"], reason)
			}
		}
		for i, cell := range []int{4, 0} {
			seats[i].send(frame{"type": "match.move", "match": id, "move": frame{"cell": cell}})
			seats[1-i].expect("match.state", func(f frame) bool {
				return f["match"] == id && num(f["state"].(map[string]any)["moves"]) == i+1
			})
		}
		seats[1].send(frame{"type": "match.resign", "match": id})
		over := seats[0].expect("match.over", func(f frame) bool { return f["match"] == id })
		if n := len(over["ratings"].([]any)); over["result"] != "win" || n != map[bool]int{true: 2, false: 0}[wantRated] {
			t.Fatalf("round %d: over = %v", round, over)
		}
	}
}
