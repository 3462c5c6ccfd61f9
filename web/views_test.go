package web

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/turnbase/turnbase/match"
)

// fakeViews are a cluster's views, as the test sets them.
type fakeViews struct {
	mu     sync.Mutex
	live   []match.Summary
	counts Counts
	err    error
	asked  []string // game, limit of each LiveMatches
}

func (v *fakeViews) LiveMatches(ctx context.Context, game string, limit int) ([]match.Summary, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asked = append(v.asked, game)
	if v.err != nil {
		return nil, v.err
	}
	out := []match.Summary{}
	for _, m := range v.live {
		if (game == "" || m.Game == game) && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (v *fakeViews) Counts(ctx context.Context) (Counts, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.counts, v.err
}

// TestClusterViewsServed: with Views, the live list and the counts come
// from them (every node's), not from this node's registry and lobby; the
// response shapes stay the protocol's. When the views cannot be read, the
// list and the counts fall back to this node's.
func TestClusterViewsServed(t *testing.T) {
	views := &fakeViews{
		live: []match.Summary{
			{ID: "far", Game: "rps", Status: "live", Players: []match.Player{{ID: "a", Name: "ann", Rating: 1500}, {ID: "b", Name: "ben", Rating: 1500}}, Spectators: 3},
			{ID: "near", Game: "tictactoe", Status: "live", Players: []match.Player{}},
		},
		counts: Counts{Players: 7, Spectators: 2, LiveMatches: 2, Queued: map[string]int{"rps": 4}, Playing: map[string]int{"rps": 2, "tictactoe": 2}},
	}
	ts := startServer(t, testConfig(), Deps{Views: views})
	ts.matches.mu.Lock()
	ts.matches.summaries = append(ts.matches.summaries, match.Summary{ID: "local-only", Game: "tictactoe", Status: "live", Players: []match.Player{{ID: "l1"}, {ID: "l2"}}})
	ts.matches.mu.Unlock()

	var list []map[string]any
	httpDo(t, "GET", ts.url+"/api/matches?game=rps&limit=5", nil, nil, &list)
	if len(list) != 1 || list[0]["id"] != "far" || list[0]["spectators"] != 3.0 || list[0]["winner"] != nil {
		t.Fatalf("live list %v", list)
	}
	for _, k := range []string{"id", "game", "status", "players", "winner", "reason", "started_ms", "ended_ms", "spectators"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("summary without %q: %v", k, list[0])
		}
	}
	var games []gameInfo
	httpDo(t, "GET", ts.url+"/api/games", nil, nil, &games)
	got := map[string][3]int{}
	for _, g := range games {
		got[g.ID] = [3]int{g.Queued, g.Playing, g.Online}
	}
	if got["rps"] != [3]int{4, 2, 6} || got["tictactoe"] != [3]int{0, 2, 2} {
		t.Fatalf("games %v", got)
	}
	if smp := ts.Probe(t.Context()); smp.Players != 7 || smp.Spectators != 2 || smp.LiveMatches != 2 || smp.Queued != 4 {
		t.Fatalf("overview sample %+v", smp)
	}

	views.mu.Lock()
	views.err = errors.New("database down")
	views.mu.Unlock()
	httpDo(t, "GET", ts.url+"/api/matches", nil, nil, &list)
	if len(list) != 1 || list[0]["id"] != "local-only" {
		t.Fatalf("live list without the database: %v", list)
	}
	httpDo(t, "GET", ts.url+"/api/games", nil, nil, &games)
	for _, g := range games {
		if g.ID == "tictactoe" && g.Playing != 2 { // the local-only match
			t.Fatalf("fallback counts %+v", g)
		}
	}
}

// TestBannedElsewhereCloses: a player banned on another node loses every
// socket here with 4001, as a ban here does, and their queue ticket.
func TestBannedElsewhereCloses(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tok, id := ts.token(t, "mallory")
	c1, _ := ts.connect(t, tok)
	c2, _ := ts.connect(t, tok)
	other, _ := ts.token(t, "olive")
	c3, _ := ts.connect(t, other)
	if n := ts.Banned(t.Context(), id.ID); n != 2 {
		t.Fatalf("closed %d sockets", n)
	}
	expectClose(t, c1, closeBadToken)
	expectClose(t, c2, closeBadToken)
	writeJSONFrame(t, c3, map[string]any{"type": "ping", "id": "p"})
	if f := readFrame(t, c3); f["type"] != "pong" {
		t.Fatalf("another player's socket: %v", f)
	}
	if n := ts.Banned(t.Context(), "nobody"); n != 0 {
		t.Fatalf("closed %d sockets of nobody", n)
	}
}
