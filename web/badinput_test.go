package web

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

// Every client message type, with each of its fields missing, of the
// wrong type, a 3 KiB string, a negative number, naming an unknown match or
// someone else's: the answer is the error code of PROTOCOL.md echoing the
// request's id, and nothing changes. After each frame the match's version
// is unchanged (an observer's match.watch), the queue holds the same
// tickets, nobody entered a match, the sender's connection answers a ping
// with no other frame first, and nothing reached the other connections.
// Among them: a player acting in the opponent's seat or in a match not
// theirs, a second hello with another player's token, and a spectator
// trying to play.
func TestBadInputChangesNothing(t *testing.T) {
	cfg := testConfig()
	// One connection sends everything below: lift its limits.
	cfg.ConnRate, cfg.ConnBurst, cfg.PlayerRate, cfg.PlayerBurst = 1e4, 1e4, 1e4, 1e4
	ts, reg := startStackWith(t, cfg, match.Config{MoveTimeout: time.Minute, Grace: time.Minute, Linger: time.Minute})
	lb := ts.deps.Lobby.(*lobby.Lobby)
	seats, id := startMatch(t, ts, "tictactoe", "bad_x", "bad_o")

	// carol waits in the rps queue; dave has an open challenge; a
	// spectator and an observer watch the match.
	carol, carolID, _ := ts.guest(t, "carol")
	writeText(t, carol, `{"type":"queue.join","game":"rps"}`)
	readType(t, carol, "queue.joined")
	dave, daveID, _ := ts.guest(t, "dave")
	writeText(t, dave, `{"type":"challenge.create","game":"tictactoe"}`)
	code := readType(t, dave, "challenge.created")["code"].(string)
	spec, _ := ts.connect(t, "")
	writeText(t, spec, `{"type":"match.watch","match":"`+id+`"}`)
	stateWhere(t, spec, func(f frameMap) bool { return f["spectators"] == float64(1) })
	obs, _ := ts.connect(t, "")
	writeText(t, obs, `{"type":"match.watch","match":"`+id+`"}`)
	base := stateWhere(t, obs, func(f frameMap) bool { return f["spectators"] == float64(2) })["version"]
	for _, c := range []*websocket.Conn{seats[0].c, seats[1].c, spec} {
		stateWhere(t, c, func(f frameMap) bool { return f["version"] == base })
	}
	queue := lb.Stats()
	if !maps.Equal(queue, map[string]int{"rps": 1}) {
		t.Fatalf("queue %v, want carol in rps", queue)
	}

	conns := map[string]*websocket.Conn{"x": seats[0].c, "o": seats[1].c, "carol": carol, "dave": dave, "spec": spec}
	expand := strings.NewReplacer(
		"$M", id, "$C", code, "$H", strings.Repeat("h", 3<<10),
		"$XT", seats[0].token, "$OT", seats[1].token,
	).Replace

	// x is to move (seat 0), o is not; carol and dave sit in no match.
	tests := map[string]struct {
		from  string
		frame string // $M: the match, $C: dave's challenge, $H: 3 KiB, $XT/$OT: the players' tokens
		code  string // "" for a request the server ignores without answering
		re    string
	}{
		"type/missing":     {"x", `{"id":"t1"}`, "bad_request", "t1"},
		"type/number":      {"x", `{"type":7,"id":"t2"}`, "bad_request", "t2"},
		"type/negative":    {"x", `{"type":-1,"id":"t3"}`, "bad_request", "t3"},
		"type/huge":        {"x", `{"type":"$H","id":"t4"}`, "bad_request", "t4"},
		"type/object":      {"x", `{"type":{"type":"ping"},"id":"t5"}`, "bad_request", "t5"},
		"type/empty":       {"x", `{"type":"","id":"t6"}`, "bad_request", "t6"},
		"id/number":        {"x", `{"type":"ping","id":7}`, "bad_request", ""},
		"id/negative":      {"x", `{"type":"ping","id":-1}`, "bad_request", ""},
		"id/huge":          {"x", `{"type":"ping","id":"$H"}`, "bad_request", ""},
		"id/object":        {"x", `{"type":"ping","id":{}}`, "bad_request", ""},
		"frame/not json":   {"x", `{"type":"ping","id":"p2"`, "bad_request", ""},
		"frame/array":      {"x", `[{"type":"ping","id":"p3"}]`, "bad_request", ""},
		"frame/huge value": {"x", `"$H"`, "bad_request", ""},

		"hello/again":                 {"o", `{"type":"hello","id":"h1","v":1}`, "bad_request", "h1"},
		"hello/opponent's token":      {"o", `{"type":"hello","id":"h2","v":1,"token":"$XT"}`, "bad_request", "h2"},
		"hello/spectator takes seat":  {"spec", `{"type":"hello","id":"h3","v":1,"token":"$XT"}`, "bad_request", "h3"},
		"hello/v missing":             {"o", `{"type":"hello","id":"h4","token":"$OT"}`, "bad_request", "h4"},
		"hello/v string":              {"o", `{"type":"hello","id":"h5","v":"1"}`, "bad_request", "h5"},
		"hello/v negative":            {"o", `{"type":"hello","id":"h6","v":-1}`, "bad_request", "h6"},
		"hello/token number":          {"o", `{"type":"hello","id":"h7","v":1,"token":7}`, "bad_request", "h7"},
		"hello/token huge":            {"o", `{"type":"hello","id":"h8","v":1,"token":"$H"}`, "bad_request", "h8"},
		"queue.join/game missing":     {"dave", `{"type":"queue.join","id":"q1"}`, "bad_request", "q1"},
		"queue.join/game number":      {"dave", `{"type":"queue.join","id":"q2","game":7}`, "bad_request", "q2"},
		"queue.join/game negative":    {"dave", `{"type":"queue.join","id":"q3","game":-1}`, "bad_request", "q3"},
		"queue.join/game empty":       {"dave", `{"type":"queue.join","id":"q4","game":""}`, "bad_request", "q4"},
		"queue.join/game array":       {"dave", `{"type":"queue.join","id":"q5","game":["rps"]}`, "bad_request", "q5"},
		"queue.join/game huge":        {"dave", `{"type":"queue.join","id":"q6","game":"$H"}`, "unsupported_game", "q6"},
		"queue.join/game unknown":     {"dave", `{"type":"queue.join","id":"q7","game":"chess"}`, "unsupported_game", "q7"},
		"queue.join/game upper case":  {"dave", `{"type":"queue.join","id":"q8","game":"RPS"}`, "unsupported_game", "q8"},
		"queue.join/in a match":       {"x", `{"type":"queue.join","id":"q9","game":"rps"}`, "in_match", "q9"},
		"queue.join/already queued":   {"carol", `{"type":"queue.join","id":"q10","game":"tictactoe"}`, "already_queued", "q10"},
		"queue.join/spectator":        {"spec", `{"type":"queue.join","id":"q11","game":"rps"}`, "unauthorized", "q11"},
		"queue.leave/id number":       {"carol", `{"type":"queue.leave","id":7}`, "bad_request", ""},
		"queue.leave/id negative":     {"carol", `{"type":"queue.leave","id":-1}`, "bad_request", ""},
		"queue.leave/id huge":         {"carol", `{"type":"queue.leave","id":"$H"}`, "bad_request", ""},
		"queue.leave/spectator":       {"spec", `{"type":"queue.leave","id":"l1"}`, "unauthorized", "l1"},
		"challenge.create/missing":    {"dave", `{"type":"challenge.create","id":"c1"}`, "bad_request", "c1"},
		"challenge.create/number":     {"dave", `{"type":"challenge.create","id":"c2","game":7}`, "bad_request", "c2"},
		"challenge.create/negative":   {"dave", `{"type":"challenge.create","id":"c3","game":-1}`, "bad_request", "c3"},
		"challenge.create/huge":       {"dave", `{"type":"challenge.create","id":"c4","game":"$H"}`, "unsupported_game", "c4"},
		"challenge.create/unknown":    {"dave", `{"type":"challenge.create","id":"c5","game":"chess"}`, "unsupported_game", "c5"},
		"challenge.create/in a match": {"x", `{"type":"challenge.create","id":"c6","game":"rps"}`, "in_match", "c6"},
		"challenge.create/spectator":  {"spec", `{"type":"challenge.create","id":"c7","game":"rps"}`, "unauthorized", "c7"},
		"challenge.accept/missing":    {"carol", `{"type":"challenge.accept","id":"a1"}`, "bad_request", "a1"},
		"challenge.accept/number":     {"carol", `{"type":"challenge.accept","id":"a2","code":7}`, "bad_request", "a2"},
		"challenge.accept/negative":   {"carol", `{"type":"challenge.accept","id":"a3","code":-1}`, "bad_request", "a3"},
		"challenge.accept/empty":      {"carol", `{"type":"challenge.accept","id":"a4","code":""}`, "bad_request", "a4"},
		"challenge.accept/huge":       {"carol", `{"type":"challenge.accept","id":"a5","code":"$H"}`, "not_found", "a5"},
		"challenge.accept/unknown":    {"carol", `{"type":"challenge.accept","id":"a6","code":"ZZZZZZZZ"}`, "not_found", "a6"},
		"challenge.accept/own":        {"dave", `{"type":"challenge.accept","id":"a7","code":"$C"}`, "bad_request", "a7"},
		"challenge.accept/in a match": {"x", `{"type":"challenge.accept","id":"a8","code":"$C"}`, "in_match", "a8"},
		"challenge.accept/spectator":  {"spec", `{"type":"challenge.accept","id":"a9","code":"$C"}`, "unauthorized", "a9"},
		"match.move/match missing":    {"x", `{"type":"match.move","id":"m1","move":{"cell":4}}`, "bad_request", "m1"},
		"match.move/match number":     {"x", `{"type":"match.move","id":"m2","match":7,"move":{"cell":4}}`, "bad_request", "m2"},
		"match.move/match negative":   {"x", `{"type":"match.move","id":"m3","match":-1,"move":{"cell":4}}`, "bad_request", "m3"},
		"match.move/match empty":      {"x", `{"type":"match.move","id":"m4","match":"","move":{"cell":4}}`, "bad_request", "m4"},
		"match.move/match huge":       {"x", `{"type":"match.move","id":"m5","match":"$H","move":{"cell":4}}`, "not_found", "m5"},
		"match.move/match unknown":    {"x", `{"type":"match.move","id":"m6","match":"nosuchmatch","move":{"cell":4}}`, "not_found", "m6"},
		"match.move/move missing":     {"x", `{"type":"match.move","id":"m7","match":"$M"}`, "bad_request", "m7"},
		"match.move/move null":        {"x", `{"type":"match.move","id":"m8","match":"$M","move":null}`, "bad_request", "m8"},
		"match.move/move number":      {"x", `{"type":"match.move","id":"m9","match":"$M","move":4}`, "bad_request", "m9"},
		"match.move/move string":      {"x", `{"type":"match.move","id":"m10","match":"$M","move":"4"}`, "bad_request", "m10"},
		"match.move/move array":       {"x", `{"type":"match.move","id":"m11","match":"$M","move":[4]}`, "bad_request", "m11"},
		"match.move/cell missing":     {"x", `{"type":"match.move","id":"m12","match":"$M","move":{}}`, "bad_request", "m12"},
		"match.move/cell string":      {"x", `{"type":"match.move","id":"m13","match":"$M","move":{"cell":"4"}}`, "bad_request", "m13"},
		"match.move/cell fraction":    {"x", `{"type":"match.move","id":"m14","match":"$M","move":{"cell":4.5}}`, "bad_request", "m14"},
		"match.move/cell huge string": {"x", `{"type":"match.move","id":"m15","match":"$M","move":{"cell":"$H"}}`, "bad_request", "m15"},
		"match.move/cell huge number": {"x", `{"type":"match.move","id":"m16","match":"$M","move":{"cell":1e300}}`, "bad_request", "m16"},
		"match.move/cell negative":    {"x", `{"type":"match.move","id":"m17","match":"$M","move":{"cell":-1}}`, "illegal_move", "m17"},
		"match.move/cell off board":   {"x", `{"type":"match.move","id":"m18","match":"$M","move":{"cell":9}}`, "illegal_move", "m18"},
		"match.move/rps move":         {"x", `{"type":"match.move","id":"m19","match":"$M","move":{"choice":"rock"}}`, "bad_request", "m19"},
		"match.move/opponent's turn":  {"o", `{"type":"match.move","id":"m20","match":"$M","move":{"cell":4}}`, "not_your_turn", "m20"},
		"match.move/after re-hello":   {"o", `{"type":"match.move","id":"m21","match":"$M","move":{"cell":4}}`, "not_your_turn", "m21"},
		"match.move/not a player":     {"carol", `{"type":"match.move","id":"m22","match":"$M","move":{"cell":4}}`, "not_a_player", "m22"},
		"match.move/other player":     {"dave", `{"type":"match.move","id":"m23","match":"$M","move":{"cell":4}}`, "not_a_player", "m23"},
		"match.move/spectator":        {"spec", `{"type":"match.move","id":"m24","match":"$M","move":{"cell":4}}`, "unauthorized", "m24"},
		"match.resign/missing":        {"x", `{"type":"match.resign","id":"r1"}`, "bad_request", "r1"},
		"match.resign/number":         {"x", `{"type":"match.resign","id":"r2","match":7}`, "bad_request", "r2"},
		"match.resign/negative":       {"x", `{"type":"match.resign","id":"r3","match":-1}`, "bad_request", "r3"},
		"match.resign/huge":           {"x", `{"type":"match.resign","id":"r4","match":"$H"}`, "not_found", "r4"},
		"match.resign/unknown":        {"x", `{"type":"match.resign","id":"r5","match":"nosuchmatch"}`, "not_found", "r5"},
		"match.resign/not a player":   {"carol", `{"type":"match.resign","id":"r6","match":"$M"}`, "not_a_player", "r6"},
		"match.resign/spectator":      {"spec", `{"type":"match.resign","id":"r7","match":"$M"}`, "unauthorized", "r7"},
		"match.rematch/missing":       {"x", `{"type":"match.rematch","id":"e1"}`, "bad_request", "e1"},
		"match.rematch/number":        {"x", `{"type":"match.rematch","id":"e2","match":7}`, "bad_request", "e2"},
		"match.rematch/negative":      {"x", `{"type":"match.rematch","id":"e3","match":-1}`, "bad_request", "e3"},
		"match.rematch/huge":          {"x", `{"type":"match.rematch","id":"e4","match":"$H"}`, "not_found", "e4"},
		"match.rematch/unknown":       {"x", `{"type":"match.rematch","id":"e5","match":"nosuchmatch"}`, "not_found", "e5"},
		"match.rematch/still live":    {"x", `{"type":"match.rematch","id":"e6","match":"$M"}`, "bad_request", "e6"},
		"match.rematch/not a player":  {"carol", `{"type":"match.rematch","id":"e7","match":"$M"}`, "not_a_player", "e7"},
		"match.rematch/spectator":     {"spec", `{"type":"match.rematch","id":"e8","match":"$M"}`, "unauthorized", "e8"},
		"match.watch/missing":         {"dave", `{"type":"match.watch","id":"w1"}`, "bad_request", "w1"},
		"match.watch/number":          {"dave", `{"type":"match.watch","id":"w2","match":7}`, "bad_request", "w2"},
		"match.watch/negative":        {"dave", `{"type":"match.watch","id":"w3","match":-1}`, "bad_request", "w3"},
		"match.watch/huge":            {"dave", `{"type":"match.watch","id":"w4","match":"$H"}`, "not_found", "w4"},
		"match.watch/unknown":         {"dave", `{"type":"match.watch","id":"w5","match":"nosuchmatch"}`, "not_found", "w5"},
		"match.unwatch/missing":       {"dave", `{"type":"match.unwatch","id":"u1"}`, "bad_request", "u1"},
		"match.unwatch/number":        {"dave", `{"type":"match.unwatch","id":"u2","match":7}`, "bad_request", "u2"},
		"match.unwatch/negative":      {"dave", `{"type":"match.unwatch","id":"u3","match":-1}`, "bad_request", "u3"},
		"match.unwatch/huge":          {"dave", `{"type":"match.unwatch","id":"u4","match":"$H"}`, "", ""},
		"match.unwatch/unknown":       {"dave", `{"type":"match.unwatch","id":"u5","match":"nosuchmatch"}`, "", ""},
		"match.unwatch/not watching":  {"carol", `{"type":"match.unwatch","id":"u6","match":"$M"}`, "", ""},
		"ping/id number":              {"spec", `{"type":"ping","id":7}`, "bad_request", ""},
		"ping/id negative":            {"spec", `{"type":"ping","id":-1}`, "bad_request", ""},
		"ping/id huge":                {"spec", `{"type":"ping","id":"$H"}`, "bad_request", ""},
		"ping/id 33 characters":       {"spec", `{"type":"ping","id":"` + strings.Repeat("i", 33) + `"}`, "bad_request", ""},
	}
	// "match.move/after re-hello" runs after o's hellos: sorted names put
	// "hello/..." before "match.move/...".
	names := slices.Sorted(maps.Keys(tests))
	for n, name := range names {
		tt := tests[name]
		t.Run(name, func(t *testing.T) {
			c := conns[tt.from]
			frame := expand(tt.frame)
			if len(frame) > int(DefaultReadLimit) {
				t.Fatalf("frame of %d bytes is over the read limit: fix the test", len(frame))
			}
			writeText(t, c, frame)
			if tt.code != "" {
				expectError(t, c, tt.code, tt.re)
			}
			// Still open, and nothing else was sent to it.
			alive := fmt.Sprintf("alive-%d", n)
			writeText(t, c, `{"type":"ping","id":"`+alive+`"}`)
			if f := readFrame(t, c); f["type"] != "pong" || f["re"] != alive {
				t.Fatalf("after the refusal: %v, want pong %s", f, alive)
			}
			// The match did not change.
			writeText(t, obs, `{"type":"match.watch","match":"`+id+`"}`)
			if f := readFrame(t, obs); f["type"] != "match.state" || f["version"] != base {
				t.Fatalf("observer: %v, want match.state version %v", f, base)
			}
			// Nobody joined or left the queue or a match.
			if got := lb.Stats(); !maps.Equal(got, queue) {
				t.Fatalf("queue %v, want %v", got, queue)
			}
			if reg.InMatch(carolID) || reg.InMatch(daveID) {
				t.Fatal("carol or dave entered a match")
			}
			for _, s := range seats {
				if got := reg.Active(s.id); !slices.Equal(got, []string{id}) {
					t.Fatalf("player %s active in %v, want [%s]", s.id, got, id)
				}
			}
		})
	}

	// Nothing reached the other connections: each answers a ping first.
	for name, c := range conns {
		writeText(t, c, `{"type":"ping","id":"last"}`)
		if f := readFrame(t, c); f["type"] != "pong" || f["re"] != "last" {
			t.Fatalf("%s: %v, want pong", name, f)
		}
	}
	// And what was refused still works: x moves, and dave's challenge is
	// still open.
	writeText(t, seats[0].c, `{"type":"match.move","id":"ok","match":"`+id+`","move":{"cell":4}}`)
	if f := readFrame(t, obs); f["type"] != "match.state" || f["version"] != base.(float64)+1 {
		t.Fatalf("observer after x's move: %v", f)
	}
	erin, _, _ := ts.guest(t, "erin")
	writeText(t, erin, `{"type":"challenge.accept","code":"`+code+`"}`)
	readType(t, erin, "match.found")
	readType(t, dave, "match.found")
}
