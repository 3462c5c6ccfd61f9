package web

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/turnbase/turnbase/match"
)

// TestComputerFromQueueOffer: a guest waits in the queue, is offered a
// computer game (queue.bot_offer), takes it with match.computer, plays the
// perfect bot to the end, and the game moves no rating: the match is
// stored unrated, no rating row or change exists, match.over has none.
func TestComputerFromQueueOffer(t *testing.T) {
	mcfg := match.Config{MoveTimeout: 10 * time.Second, Grace: 5 * time.Second, Linger: 5 * time.Second,
		BotDelayMin: time.Millisecond, BotDelayMax: 5 * time.Millisecond}
	ts, matches := startStackOffering(t, testConfig(), mcfg, 200*time.Millisecond)
	alice, aliceID, _ := ts.guest(t, "alice")

	writeText(t, alice, `{"type":"queue.join","game":"tictactoe"}`)
	readType(t, alice, "queue.joined")
	offer := readType(t, alice, "queue.bot_offer")
	if offer["game"] != "tictactoe" || fmt.Sprint(offer["levels"]) != "[map[id:easy name:Easy] map[id:medium name:Medium] map[id:perfect name:Perfect]]" {
		t.Fatalf("offer = %v", offer)
	}
	writeText(t, alice, `{"type":"match.computer","id":"c1","game":"tictactoe","level":"perfect"}`)
	found := readType(t, alice, "match.found")
	me := int(found["you"].(float64))
	bot := found["players"].([]any)[1-me].(map[string]any)
	if bot["bot"] != "perfect" || bot["id"] != "bot:tictactoe:perfect" {
		t.Fatalf("match.found = %v", found)
	}
	if n := ts.deps.Lobby.Stats()["tictactoe"]; n != 0 {
		t.Errorf("still queued: %d", n)
	}
	id := found["match"].(string)

	r := rand.New(rand.NewPCG(1, 2))
	var over frameMap
	for over == nil {
		f := readFrame(t, alice)
		switch f["type"] {
		case "match.over":
			over = f
		case "error":
			t.Fatalf("error %v", f)
		case "match.state":
			seat := f["players"].([]any)[1-me].(map[string]any)
			if seat["bot"] != "perfect" || seat["connected"] != true {
				t.Fatalf("bot seat = %v", seat)
			}
			if f["status"] == "live" && f["turn"] == float64(me) {
				var free []int
				for i, c := range f["state"].(map[string]any)["board"].([]any) {
					if c == "" {
						free = append(free, i)
					}
				}
				writeText(t, alice, fmt.Sprintf(`{"type":"match.move","match":%q,"move":{"cell":%d}}`, id, free[r.IntN(len(free))]))
			}
		}
	}
	if over["winner"] == float64(me) {
		t.Errorf("random play beat the perfect bot: %v", over)
	}
	if n := len(over["ratings"].([]any)); n != 0 {
		t.Errorf("ratings in match.over: %v", over)
	}
	// Give the rater its chance, then look in the database.
	time.Sleep(300 * time.Millisecond)
	var rated bool
	var ratings, changes int
	pool := ts.testDB.pool
	if err := pool.QueryRow(t.Context(), `SELECT rated FROM matches WHERE id = $1`, id).Scan(&rated); err != nil || rated {
		t.Errorf("matches.rated = %v, %v", rated, err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM ratings WHERE player_id IN ($1, 'bot:tictactoe:perfect')`, aliceID).Scan(&ratings); err != nil || ratings != 0 {
		t.Errorf("ratings rows = %d, %v", ratings, err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM rating_changes WHERE match_id = $1`, id).Scan(&changes); err != nil || changes != 0 {
		t.Errorf("rating changes = %d, %v", changes, err)
	}
	if matches.InMatch(aliceID) {
		t.Error("alice still in a match")
	}
}

// TestComputerRequests: match.computer's refusals.
func TestComputerRequests(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	token, _ := ts.token(t, "alice")
	c, _ := ts.connect(t, token)
	for name, tc := range map[string]struct{ frame, code string }{
		"no level":     {`{"type":"match.computer","id":"x","game":"tictactoe"}`, "bad_request"},
		"level number": {`{"type":"match.computer","id":"x","game":"tictactoe","level":3}`, "bad_request"},
		"no game":      {`{"type":"match.computer","id":"x","level":"easy"}`, "bad_request"},
		"unknown game": {`{"type":"match.computer","id":"x","game":"chess","level":"easy"}`, "unsupported_game"},
	} {
		writeText(t, c, tc.frame)
		if f := expectError(t, c, tc.code, "x"); f == nil {
			t.Errorf("%s: no error", name)
		}
	}
	ts.matches.mu.Lock()
	ts.matches.replies["computer"] = fmt.Errorf("start: %w", match.ErrNoBot)
	ts.matches.mu.Unlock()
	writeText(t, c, `{"type":"match.computer","id":"y","game":"tictactoe","level":"grandmaster"}`)
	expectError(t, c, "bad_request", "y")

	spectator, _ := ts.connect(t, "")
	writeText(t, spectator, `{"type":"match.computer","id":"z","game":"tictactoe","level":"easy"}`)
	expectError(t, spectator, "unauthorized", "z")
}
