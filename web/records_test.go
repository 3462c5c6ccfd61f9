package web

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/match"
)

// sortedKeys lists a JSON object's keys, sorted, space-separated.
func sortedKeys(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprintf("not an object: %v", v)
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), " ")
}

// The keys of PROTOCOL.md's shapes, sorted.
const (
	summaryKeys    = "ended_ms game id players reason spectators started_ms status winner"
	matchKeys      = "ended_ms game id moves players reason spectators started_ms status winner"
	moveKeys       = "at_ms move seat seq"
	ratingKeys     = "draws games losses provisional rating rd wins"
	entryKeys      = "draws games losses player provisional rank rating rd wins"
	boardKeys      = "entries game total"
	playerRefKeys  = "id name"
	seatKeys       = "id name rating"
	playerPageKeys = "player ratings recent"
)

// getJSON GETs path and decodes the answer as generic JSON.
func (ts *testServer) getJSON(t *testing.T, path string, h http.Header) (int, any) {
	t.Helper()
	var v any
	resp := httpDo(t, "GET", ts.url+path, nil, h, &v)
	return resp.StatusCode, v
}

// errorCode is the code of a JSON error body, or "".
func errorCode(v any) string {
	m, _ := v.(map[string]any)
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// playTicTacToe pairs two new guests through the queue and lets seat 0
// win along the top row. It returns the match id and the players by seat
// with their tokens.
func playTicTacToe(t *testing.T, ts *testServer) (id string, ids, tokens [2]string) {
	t.Helper()
	a, aID, aTok := ts.guest(t, "alice")
	b, bID, bTok := ts.guest(t, "bob_2")
	writeText(t, a, `{"type":"queue.join","game":"tictactoe"}`)
	readType(t, a, "queue.joined")
	writeText(t, b, `{"type":"queue.join","game":"tictactoe"}`)
	fa := readAll(t, a, "match.found", "match.state")
	readAll(t, b, "match.found", "match.state")
	id = fa["match.found"]["match"].(string)
	conns := [2]*websocket.Conn{a, b}
	ids, tokens = [2]string{aID, bID}, [2]string{aTok, bTok}
	if fa["match.found"]["you"] != float64(0) {
		conns[0], conns[1] = b, a
		ids[0], ids[1] = bID, aID
		tokens[0], tokens[1] = bTok, aTok
	}
	for i, cell := range []int{0, 3, 1, 4, 2} {
		c := conns[i%2]
		writeText(t, c, fmt.Sprintf(`{"type":"match.move","match":"%s","move":{"cell":%d}}`, id, cell))
		stateWhere(t, c, func(f frameMap) bool {
			return strings.Count(board(f), "X")+strings.Count(board(f), "O") == i+1
		})
	}
	for _, c := range conns {
		// match.over follows the rating: the database has it by now.
		if over := readType(t, c, "match.over"); over["winner"] != float64(0) {
			t.Fatalf("over %v", over)
		}
	}
	return id, ids, tokens
}

func TestStackRecords(t *testing.T) {
	ts, _ := startStack(t, testConfig())
	id, ids, tokens := playTicTacToe(t, ts)

	// Both players have one provisional rating: the default board is empty.
	status, v := ts.getJSON(t, "/api/leaderboard/tictactoe", nil)
	if status != 200 || sortedKeys(v) != boardKeys {
		t.Fatalf("leaderboard: %d %v", status, v)
	}
	if b := v.(map[string]any); b["game"] != "tictactoe" || b["total"] != float64(0) || len(b["entries"].([]any)) != 0 {
		t.Fatalf("leaderboard %v", v)
	}
	status, v = ts.getJSON(t, "/api/leaderboard/tictactoe?provisional=true&limit=10", nil)
	b := v.(map[string]any)
	entries, _ := b["entries"].([]any)
	if status != 200 || b["total"] != float64(2) || len(entries) != 2 {
		t.Fatalf("provisional leaderboard: %d %v", status, v)
	}
	for i, e := range entries {
		e := e.(map[string]any)
		p := e["player"].(map[string]any)
		if sortedKeys(e) != entryKeys || sortedKeys(p) != playerRefKeys || p["id"] != ids[i] ||
			e["rank"] != float64(i+1) || e["provisional"] != true || e["games"] != float64(1) || e["wins"] != float64(1-i) {
			t.Fatalf("entry %d: %v", i, e)
		}
	}
	if r0, r1 := entries[0].(map[string]any)["rating"].(float64), entries[1].(map[string]any)["rating"].(float64); r0 <= 1500 || r1 >= 1500 {
		t.Fatalf("ratings %v and %v after a win", r0, r1)
	}

	// The player page.
	status, v = ts.getJSON(t, "/api/players/"+ids[0], nil)
	if status != 200 || sortedKeys(v) != playerPageKeys {
		t.Fatalf("player: %d %v", status, v)
	}
	page := v.(map[string]any)
	if p := page["player"].(map[string]any); sortedKeys(p) != "guest id name" || p["id"] != ids[0] {
		t.Fatalf("player %v", p)
	}
	if r := page["ratings"].(map[string]any)["tictactoe"]; sortedKeys(r) != ratingKeys {
		t.Fatalf("rating %v", r) // provisional: no rank
	}
	recent := page["recent"].([]any)
	if len(recent) != 1 || sortedKeys(recent[0]) != summaryKeys {
		t.Fatalf("recent %v", recent)
	}
	sum := recent[0].(map[string]any)
	if sum["id"] != id || sum["status"] != "finished" || sum["winner"] != float64(0) || sum["reason"] != "line" ||
		sum["ended_ms"] == nil || sortedKeys(sum["players"].([]any)[0]) != seatKeys {
		t.Fatalf("summary %v", sum)
	}

	// Finished matches come from the database.
	status, v = ts.getJSON(t, "/api/matches?status=finished", nil)
	if list, _ := v.([]any); status != 200 || len(list) != 1 || sortedKeys(list[0]) != summaryKeys || list[0].(map[string]any)["id"] != id {
		t.Fatalf("finished: %d %v", status, v)
	}
	if status, v = ts.getJSON(t, "/api/matches?status=finished&game=rps", nil); status != 200 || len(v.([]any)) != 0 {
		t.Fatalf("finished rps: %d %v", status, v)
	}

	// One match with its moves.
	status, v = ts.getJSON(t, "/api/matches/"+id, nil)
	if status != 200 || sortedKeys(v) != matchKeys {
		t.Fatalf("match: %d %v", status, v)
	}
	moves := v.(map[string]any)["moves"].([]any)
	if len(moves) != 5 {
		t.Fatalf("moves %v", moves)
	}
	for i, mv := range moves {
		mv := mv.(map[string]any)
		if sortedKeys(mv) != moveKeys || mv["seq"] != float64(i+1) || mv["seat"] != float64(i%2) || mv["at_ms"].(float64) <= 0 {
			t.Fatalf("move %d: %v", i, mv)
		}
	}
	if cell := moves[4].(map[string]any)["move"].(map[string]any)["cell"]; cell != float64(2) {
		t.Fatalf("last move %v", moves[4])
	}

	// Me, with a rank once the rating is established.
	auth := http.Header{"Authorization": {"Bearer " + tokens[0]}}
	var me meAnswer
	if resp := httpDo(t, "GET", ts.url+"/api/me", nil, auth, &me); resp.StatusCode != 200 || me.Player.ID != ids[0] ||
		me.Ratings["tictactoe"]["wins"] != float64(1) || len(me.Ranks) != 0 {
		t.Fatalf("me: %d %+v", resp.StatusCode, me)
	}
	if _, err := ts.pool.Exec(t.Context(), `UPDATE ratings SET rd = 60`); err != nil {
		t.Fatal(err)
	}
	if err := ts.ratings.RefreshRanks(t.Context()); err != nil {
		t.Fatal(err)
	}
	httpDo(t, "GET", ts.url+"/api/me", nil, auth, &me)
	if me.Ranks["tictactoe"] != 1 || me.Ratings["tictactoe"]["provisional"] != false {
		t.Fatalf("me established: %+v", me)
	}
	status, v = ts.getJSON(t, "/api/leaderboard/tictactoe?offset=1", nil)
	if entries := v.(map[string]any)["entries"].([]any); status != 200 || len(entries) != 1 ||
		entries[0].(map[string]any)["rank"] != float64(2) || v.(map[string]any)["total"] != float64(2) {
		t.Fatalf("established leaderboard from 1: %d %v", status, v)
	}
}

func TestRecordsErrors(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tests := map[string]struct {
		path   string
		status int
		code   string
	}{
		"unknown game":        {"/api/leaderboard/chess", 404, "unsupported_game"},
		"no game":             {"/api/leaderboard/", 404, "not_found"},
		"limit 0":             {"/api/leaderboard/rps?limit=0", 400, "bad_request"},
		"limit 101":           {"/api/leaderboard/rps?limit=101", 400, "bad_request"},
		"limit text":          {"/api/leaderboard/rps?limit=many", 400, "bad_request"},
		"offset negative":     {"/api/leaderboard/rps?offset=-1", 400, "bad_request"},
		"offset text":         {"/api/leaderboard/rps?offset=x", 400, "bad_request"},
		"offset too deep":     {"/api/leaderboard/rps?offset=10000000", 400, "bad_request"},
		"provisional yes":     {"/api/leaderboard/rps?provisional=yes", 400, "bad_request"},
		"empty board":         {"/api/leaderboard/rps?limit=100&offset=0&provisional=false", 200, ""},
		"provisional board":   {"/api/leaderboard/tictactoe?provisional=true", 200, ""},
		"unknown player":      {"/api/players/nobody", 404, "not_found"},
		"unknown match":       {"/api/matches/nothing", 404, "not_found"},
		"finished limit 0":    {"/api/matches?status=finished&limit=0", 400, "bad_request"},
		"finished limit 101":  {"/api/matches?status=finished&limit=101", 400, "bad_request"},
		"finished empty":      {"/api/matches?status=finished&game=rps&limit=100", 200, ""},
		"leaderboard post":    {"/api/leaderboard/rps", 405, "method_not_allowed"},
		"nested player route": {"/api/players/a/b", 404, "not_found"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			method := "GET"
			if tt.status == 405 {
				method = "POST"
			}
			var v any
			resp := httpDo(t, method, ts.url+tt.path, nil, nil, &v)
			if resp.StatusCode != tt.status || errorCode(v) != tt.code {
				t.Fatalf("%d %v; want %d %s", resp.StatusCode, v, tt.status, tt.code)
			}
		})
	}
}

// No HTTP answer shows an open rps round's choice; a live match shows the
// registry's summary, spectators included.
func TestStackOpenRoundHidden(t *testing.T) {
	ts, _ := startStack(t, testConfig())
	a, aID, _ := ts.guest(t, "carol")
	b, _, _ := ts.guest(t, "dave")
	writeText(t, a, `{"type":"challenge.create","game":"rps"}`)
	code := readType(t, a, "challenge.created")["code"].(string)
	writeText(t, b, `{"type":"challenge.accept","code":"`+code+`"}`)
	fa := readAll(t, a, "match.found", "match.state")
	readAll(t, b, "match.found", "match.state")
	id := fa["match.found"]["match"].(string)
	seatA := int(fa["match.found"]["you"].(float64))
	spec, _ := ts.connect(t, "")
	writeText(t, spec, `{"type":"match.watch","match":"`+id+`"}`)
	stateWhere(t, spec, func(frameMap) bool { return true })

	// waitChosen reads a's states until a has chosen in the open round:
	// the move is stored by then.
	waitChosen := func(rounds int) {
		t.Helper()
		stateWhere(t, a, func(f frameMap) bool {
			st, _ := f["state"].(map[string]any)
			chosen, _ := st["chosen"].([]any)
			done, _ := st["rounds"].([]any)
			return len(done) == rounds && len(chosen) == 2 && chosen[seatA] == true
		})
	}
	get := func() (map[string]any, string) {
		t.Helper()
		var v map[string]any
		resp := httpDo(t, "GET", ts.url+"/api/matches/"+id, nil, nil, &v)
		if resp.StatusCode != 200 {
			t.Fatalf("match: %d %v", resp.StatusCode, v)
		}
		return v, fmt.Sprint(v)
	}

	writeText(t, a, `{"type":"match.move","match":"`+id+`","move":{"choice":"rock"}}`)
	waitChosen(0)
	v, raw := get()
	if sortedKeys(v) != matchKeys || v["status"] != "live" || len(v["moves"].([]any)) != 0 || strings.Contains(raw, "rock") {
		t.Fatalf("open round shown: %v", v)
	}
	waitFor(t, "the spectator count", func() bool {
		v, _ := get()
		return v["spectators"] == float64(1)
	})
	var page map[string]any
	httpDo(t, "GET", ts.url+"/api/players/"+aID, nil, nil, &page)
	if recent := page["recent"].([]any); len(recent) != 1 || recent[0].(map[string]any)["status"] != "live" ||
		recent[0].(map[string]any)["spectators"] != float64(1) {
		t.Fatalf("player page while live: %v", page)
	}

	writeText(t, b, `{"type":"match.move","match":"`+id+`","move":{"choice":"paper"}}`)
	stateWhere(t, a, func(f frameMap) bool {
		st, _ := f["state"].(map[string]any)
		done, _ := st["rounds"].([]any)
		return len(done) == 1
	})
	if v, raw := get(); len(v["moves"].([]any)) != 2 || !strings.Contains(raw, "rock") || !strings.Contains(raw, "paper") {
		t.Fatalf("revealed round: %v", v)
	}

	writeText(t, a, `{"type":"match.move","match":"`+id+`","move":{"choice":"scissors"}}`)
	waitChosen(1)
	if v, raw := get(); len(v["moves"].([]any)) != 2 || strings.Contains(raw, "scissors") {
		t.Fatalf("second open round shown: %v", v)
	}
	// Resigning leaves the round unrevealed for good.
	writeText(t, b, `{"type":"match.resign","match":"`+id+`"}`)
	readType(t, a, "match.over")
	if v, raw := get(); v["status"] != "finished" || len(v["moves"].([]any)) != 2 || strings.Contains(raw, "scissors") {
		t.Fatalf("after the end: %v", v)
	}
}

// While ReadyFunc fails, nothing that would start a match is accepted;
// moves in running matches go on.
func TestNotReadyRefusesNewMatches(t *testing.T) {
	var down atomic.Bool
	ts := startServer(t, testConfig(), Deps{ReadyFunc: func(context.Context) error {
		if down.Load() {
			return fmt.Errorf("database unreachable")
		}
		return nil
	}})
	tok, _ := ts.token(t, "Nia")
	c, _ := ts.connect(t, tok)
	down.Store(true)
	for _, req := range []string{
		`{"type":"queue.join","id":"q","game":"rps"}`,
		`{"type":"challenge.create","id":"cc","game":"rps"}`,
		`{"type":"challenge.accept","id":"ca","code":"ABCD2345"}`,
		`{"type":"match.rematch","id":"r","match":"m1"}`,
	} {
		writeText(t, c, req)
		var f map[string]any
		if err := json.Unmarshal([]byte(req), &f); err != nil {
			t.Fatal(err)
		}
		expectError(t, c, "server_busy", f["id"].(string))
	}
	writeText(t, c, `{"type":"match.move","id":"mv","match":"m1","move":{"cell":4}}`)
	writeText(t, c, `{"type":"queue.leave","id":"ql"}`)
	if f := readFrame(t, c); f["type"] != "queue.left" || f["re"] != "ql" {
		t.Fatalf("got %v, want queue.left", f)
	}
	if calls := ts.matches.callLog(); !slices.Contains(calls, `move m1 {"cell":4}`) || slices.Contains(calls, "rematch m1") {
		t.Fatalf("registry calls %v", calls)
	}
	ts.lobby.mu.Lock()
	joined, accepted := len(ts.lobby.joined), len(ts.lobby.accepted)
	ts.lobby.mu.Unlock()
	if joined != 0 || accepted != 0 {
		t.Fatalf("lobby reached: %d joins, %d accepts", joined, accepted)
	}
	var e apiError
	if resp := httpDo(t, "GET", ts.url+"/readyz", nil, nil, &e); resp.StatusCode != 503 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}

	down.Store(false)
	writeText(t, c, `{"type":"queue.join","id":"q2","game":"rps"}`)
	if f := readFrame(t, c); f["type"] != "queue.joined" || f["re"] != "q2" {
		t.Fatalf("got %v, want queue.joined", f)
	}
}

// The summaries of live matches are still the registry's.
func TestMatchesLiveFromRegistry(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	ts.matches.mu.Lock()
	ts.matches.summaries = []match.Summary{{ID: "m1", Game: "rps", Status: "live", Players: []match.Player{}, Spectators: 3}}
	ts.matches.mu.Unlock()
	status, v := ts.getJSON(t, "/api/matches", nil)
	if list, _ := v.([]any); status != 200 || len(list) != 1 || list[0].(map[string]any)["spectators"] != float64(3) {
		t.Fatalf("live: %d %v", status, v)
	}
	// A match that only the registry knows (no journal) shows without moves.
	status, v = ts.getJSON(t, "/api/matches/m1", nil)
	if m, _ := v.(map[string]any); status != 200 || m["id"] != "m1" || len(m["moves"].([]any)) != 0 {
		t.Fatalf("match: %d %v", status, v)
	}
}
