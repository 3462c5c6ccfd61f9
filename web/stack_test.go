package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/match"
)

// startStack serves the real games, match registry, lobby, journal and
// ratings on a database of the test's own, wired as cmd wires them.
// ReadyFunc is the journal's.
func startStack(t *testing.T, cfg Config) (*testServer, *match.Registry) {
	t.Helper()
	return startStackWith(t, cfg, match.Config{MoveTimeout: 10 * time.Second, Grace: 5 * time.Second, Linger: 5 * time.Second})
}

// guest signs up over HTTP and connects.
func (ts *testServer) guest(t *testing.T, name string) (*websocket.Conn, string, string) {
	t.Helper()
	var got struct {
		Token  string `json:"token"`
		Player struct {
			ID string `json:"id"`
		} `json:"player"`
	}
	if resp := httpDo(t, "POST", ts.url+"/api/auth/guest", strings.NewReader(`{"name":"`+name+`"}`), nil, &got); resp.StatusCode != 201 {
		t.Fatalf("guest %s: %d", name, resp.StatusCode)
	}
	c, _ := ts.connect(t, got.Token)
	return c, got.Player.ID, got.Token
}

// readAll reads frames until it has one of each type in types (the
// first of each), skipping match.state frames it does not need.
func readAll(t *testing.T, c *websocket.Conn, types ...string) map[string]frameMap {
	t.Helper()
	got := map[string]frameMap{}
	for range 50 {
		if len(got) == len(types) {
			return got
		}
		f := readFrame(t, c)
		typ := fmt.Sprint(f["type"])
		for _, want := range types {
			if typ == want && got[typ] == nil {
				got[typ] = f
			}
		}
		if typ == "error" && got["error"] == nil {
			t.Fatalf("unexpected error %v", f)
		}
	}
	t.Fatalf("frames %v, want %v", got, types)
	return nil
}

// stateWhere reads until a match.state satisfying ok.
func stateWhere(t *testing.T, c *websocket.Conn, ok func(frameMap) bool) frameMap {
	t.Helper()
	for range 50 {
		f := readFrame(t, c)
		if f["type"] == "error" {
			t.Fatalf("unexpected error %v", f)
		}
		if f["type"] == "match.state" && ok(f) {
			return f
		}
	}
	t.Fatal("no such match.state in 50 frames")
	return nil
}

func board(f frameMap) string {
	st, _ := f["state"].(map[string]any)
	return fmt.Sprint(st["board"])
}

func TestStackQueueAndPlay(t *testing.T) {
	ts, matches := startStack(t, testConfig())
	a, aID, aTok := ts.guest(t, "alice")
	b, bID, _ := ts.guest(t, "bob_2")

	writeText(t, a, `{"type":"queue.join","id":"qa","game":"tictactoe"}`)
	if f := readFrame(t, a); f["type"] != "queue.joined" || f["re"] != "qa" || f["game"] != "tictactoe" {
		t.Fatalf("a: %v", f)
	}
	writeText(t, b, `{"type":"queue.join","id":"qb","game":"tictactoe"}`)
	fa := readAll(t, a, "match.found", "match.state")
	fb := readAll(t, b, "queue.joined", "match.found", "match.state")
	if fb["queue.joined"]["re"] != "qb" {
		t.Fatalf("b: %v", fb["queue.joined"])
	}
	id := fa["match.found"]["match"].(string)
	if fb["match.found"]["match"] != id || fa["match.found"]["game"] != "tictactoe" {
		t.Fatalf("found %v / %v", fa["match.found"], fb["match.found"])
	}
	if !matches.InMatch(aID) || !matches.InMatch(bID) {
		t.Fatal("players not in the match")
	}

	// Seat 0 moves first.
	x, o := a, b
	if fa["match.found"]["you"] != float64(0) {
		x, o = b, a
	}

	// A reconnecting tab learns of the match in its welcome.
	tab, w := ts.connect(t, aTok)
	if fmt.Sprint(w["active"]) != "["+id+"]" {
		t.Fatalf("welcome active %v, want [%s]", w["active"], id)
	}
	writeText(t, tab, `{"type":"match.watch","match":"`+id+`"}`)
	stateWhere(t, tab, func(frameMap) bool { return true })
	tab.Close()

	// A spectator watches.
	spec, _ := ts.connect(t, "")
	writeText(t, spec, `{"type":"match.watch","id":"w","match":"`+id+`"}`)
	if f := stateWhere(t, spec, func(frameMap) bool { return true }); f["you"] != nil || f["status"] != "live" {
		t.Fatalf("spectator state %v", f)
	}
	writeText(t, spec, `{"type":"match.move","id":"sm","match":"`+id+`","move":{"cell":0}}`)
	expectError(t, spec, "unauthorized", "sm")

	// Refusals map to their codes.
	writeText(t, o, `{"type":"match.move","id":"early","match":"`+id+`","move":{"cell":0}}`)
	expectErrorSkipping(t, o, "not_your_turn", "early")
	writeText(t, x, `{"type":"match.move","id":"bad","match":"`+id+`","move":{"cell":"middle"}}`)
	expectErrorSkipping(t, x, "bad_request", "bad")
	writeText(t, x, `{"type":"match.move","id":"nf","match":"nope","move":{"cell":0}}`)
	expectErrorSkipping(t, x, "not_found", "nf")
	writeText(t, x, `{"type":"queue.join","id":"busy","game":"rps"}`)
	expectErrorSkipping(t, x, "in_match", "busy")

	// X takes the top row while O plays the middle row.
	moves := []struct {
		c    *websocket.Conn
		cell int
	}{{x, 0}, {o, 3}, {x, 1}, {o, 4}, {x, 2}}
	for i, mv := range moves {
		writeText(t, mv.c, fmt.Sprintf(`{"type":"match.move","id":"m%d","match":"%s","move":{"cell":%d}}`, i, id, mv.cell))
		stateWhere(t, mv.c, func(f frameMap) bool {
			return strings.Count(board(f), "X")+strings.Count(board(f), "O") == i+1
		})
		if i == 1 {
			writeText(t, o, `{"type":"match.move","id":"taken","match":"`+id+`","move":{"cell":3}}`)
			expectErrorSkipping(t, o, "not_your_turn", "taken")
		}
	}
	for name, c := range map[string]*websocket.Conn{"x": x, "o": o, "spectator": spec} {
		over := readType(t, c, "match.over")
		if over["result"] != "win" || over["winner"] != float64(0) || over["reason"] != "line" || over["match"] != id {
			t.Fatalf("%s: over %v", name, over)
		}
	}
	writeText(t, x, `{"type":"match.move","id":"late","match":"`+id+`","move":{"cell":8}}`)
	expectErrorSkipping(t, x, "match_over", "late")

	// The finished match is listed as such, not as live.
	var live []match.Summary
	httpDo(t, "GET", ts.url+"/api/matches?status=live", nil, nil, &live)
	if len(live) != 0 {
		t.Fatalf("live matches %+v", live)
	}
}

// expectErrorSkipping reads past match frames to the next error.
func expectErrorSkipping(t *testing.T, c *websocket.Conn, code, re string) {
	t.Helper()
	for range 50 {
		f := readFrame(t, c)
		if strings.HasPrefix(fmt.Sprint(f["type"]), "match.") {
			continue
		}
		if f["type"] != "error" || f["code"] != code || f["re"] != re {
			t.Fatalf("got %v, want error %s re %s", f, code, re)
		}
		return
	}
	t.Fatalf("no error in 50 frames")
}

func TestStackChallenge(t *testing.T) {
	ts, _ := startStack(t, testConfig())
	a, _, _ := ts.guest(t, "carol")
	b, _, _ := ts.guest(t, "dave")

	writeText(t, a, `{"type":"challenge.create","id":"cc","game":"rps"}`)
	created := readFrame(t, a)
	if created["type"] != "challenge.created" || created["re"] != "cc" || created["game"] != "rps" {
		t.Fatalf("got %v", created)
	}
	if exp, _ := created["expires_ms"].(float64); int64(exp) < time.Now().UnixMilli() {
		t.Fatalf("expires_ms %v", created["expires_ms"])
	}
	code := created["code"].(string)

	writeText(t, a, `{"type":"challenge.accept","id":"own","code":"`+code+`"}`)
	expectError(t, a, "bad_request", "own")
	writeText(t, b, `{"type":"challenge.accept","id":"nope","code":"ZZZZZZZZ"}`)
	expectError(t, b, "not_found", "nope")

	writeText(t, b, `{"type":"challenge.accept","id":"acc","code":"`+strings.ToLower(code)+`"}`)
	fa := readAll(t, a, "match.found", "match.state")
	fb := readAll(t, b, "match.found", "match.state")
	id := fa["match.found"]["match"].(string)
	if fb["match.found"]["match"] != id || fb["match.found"]["game"] != "rps" {
		t.Fatalf("found %v / %v", fa["match.found"], fb["match.found"])
	}

	// a wins two rounds of rock against scissors.
	for round := 1; round <= 2; round++ {
		writeText(t, a, `{"type":"match.move","match":"`+id+`","move":{"choice":"rock"}}`)
		writeText(t, b, `{"type":"match.move","match":"`+id+`","move":{"choice":"scissors"}}`)
		stateWhere(t, a, func(f frameMap) bool {
			st, _ := f["state"].(map[string]any)
			rounds, _ := st["rounds"].([]any)
			return len(rounds) == round
		})
	}
	seatA := int(fa["match.found"]["you"].(float64))
	over := readType(t, a, "match.over")
	if over["result"] != "win" || over["winner"] != float64(seatA) || over["reason"] != "rounds" {
		t.Fatalf("over %v", over)
	}
	readType(t, b, "match.over")

	// Both ask for a rematch: offered, then a new match found.
	writeText(t, a, `{"type":"match.rematch","id":"r1","match":"`+id+`"}`)
	readType(t, b, "match.rematch_offered")
	writeText(t, b, `{"type":"match.rematch","id":"r2","match":"`+id+`"}`)
	again := readType(t, a, "match.found")
	if again["match"] == id || again["game"] != "rps" {
		t.Fatalf("rematch found %v", again)
	}
}

// A player's connection that closes while queued leaves the queue.
func TestStackLeaveOnClose(t *testing.T) {
	ts, _ := startStack(t, testConfig())
	a, _, _ := ts.guest(t, "erin")
	writeText(t, a, `{"type":"queue.join","game":"rps"}`)
	readType(t, a, "queue.joined")
	writeText(t, a, `{"type":"queue.join","id":"twice","game":"rps"}`)
	expectError(t, a, "already_queued", "twice")
	a.Close()
	waitFor(t, "a's connection to go", func() bool { return ts.openConns() == 0 })
	b, _, _ := ts.guest(t, "frank")
	writeText(t, b, `{"type":"queue.join","game":"rps"}`)
	readType(t, b, "queue.joined")
	// Nobody to pair with: no match.found arrives.
	b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, data, err := b.ReadMessage(); err == nil {
		t.Fatalf("unexpected frame %s", data)
	}
}
