package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/turnbase/turnbase/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(removeBuilt{pgtest.Wrap(m)}) }

// lockedBuffer collects the server's output for the test to show on failure.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a turnbase started through run, as main starts it.
type server struct {
	t    *testing.T
	base string // http://127.0.0.1:port
	ops  string // http://127.0.0.1:port of the operator listener
	ws   string // ws://127.0.0.1:port/ws
	stop func() // stops the server and waits for it; safe to call twice
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testDatabase returns the URL of a fresh migrated database on the test
// binary's throwaway cluster.
func testDatabase(t *testing.T) string {
	t.Helper()
	pool, dsn := pgtest.NewDB(t)
	pool.Close()
	return dsn
}

// startServer runs the server with env on top of short test defaults and
// stops it when the test ends.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	addr, opsAddr := freeAddr(t), freeAddr(t)
	vars := map[string]string{
		"TURNBASE_OPS_ADDR":     opsAddr,
		"DATABASE_URL":          testDatabase(t),
		"TURNBASE_DATA":         t.TempDir(),
		"TURNBASE_MOVE_TIMEOUT": "10s",
		"TURNBASE_GRACE":        "10s",
		"TURNBASE_LOG_LEVEL":    "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-addr", addr}, func(k string) string { return vars[k] }, out)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("server did not stop")
			}
			if t.Failed() {
				t.Logf("server output:\n%s", out.String())
			}
		})
	}
	t.Cleanup(stop)
	s := &server{t: t, base: "http://" + addr, ops: "http://" + opsAddr, ws: "ws://" + addr + "/ws", stop: stop}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether the server answers /healthz.
func (s *server) ready() bool {
	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// guest signs up a guest and returns its token and player id.
func (s *server) guest(name string) (token, id string) {
	s.t.Helper()
	resp, err := http.Post(s.base+"/api/auth/guest", "application/json", strings.NewReader(`{"name":"`+name+`"}`))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token  string `json:"token"`
		Player struct {
			ID string `json:"id"`
		} `json:"player"`
	}
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("guest %s: %d %s", name, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		s.t.Fatal(err)
	}
	return body.Token, body.Player.ID
}

type frame map[string]any

// client is one WebSocket connection; a goroutine reads frames into a
// channel so tests can wait for the one they expect.
type client struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	frames chan frame
	closed chan struct{}

	token   string
	welcome frame
	nextID  atomic.Int64

	mu        sync.Mutex
	closeCode int
	seen      []string // every raw frame, for leak checks
}

func (s *server) dial(name, token string) *client {
	s.t.Helper()
	c := s.dialRaw(name)
	hello := frame{"type": "hello", "v": 1}
	if token != "" {
		hello["token"] = token
	}
	c.send(hello)
	c.token = token
	c.welcome = c.expect("welcome", nil)
	return c
}

func (s *server) dialRaw(name string) *client {
	s.t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(s.ws, nil)
	if err != nil {
		s.t.Fatalf("dial %s: %v", name, err)
	}
	c := &client{t: s.t, name: name, conn: conn, frames: make(chan frame, 1024), closed: make(chan struct{})}
	go c.readLoop()
	s.t.Cleanup(c.close)
	return c
}

func (c *client) readLoop() {
	defer close(c.closed)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if asClose(err, &ce) {
				c.mu.Lock()
				c.closeCode = ce.Code
				c.mu.Unlock()
			}
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Errorf("%s: server sent invalid JSON %q", c.name, data)
			continue
		}
		c.mu.Lock()
		c.seen = append(c.seen, string(data))
		c.mu.Unlock()
		select {
		case c.frames <- f:
		default:
			c.t.Errorf("%s: test client buffer full", c.name)
		}
	}
}

func asClose(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	if ok {
		*ce = e
	}
	return ok
}

func (c *client) close() {
	c.conn.Close()
	<-c.closed
}

func (c *client) send(f frame) {
	c.t.Helper()
	if err := c.conn.WriteJSON(f); err != nil {
		c.t.Fatalf("%s: send %v: %v", c.name, f, err)
	}
}

// expect waits for the next frame of type typ for which ok (if given)
// holds, skipping others.
func (c *client) expect(typ string, ok func(frame) bool) frame {
	c.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case f := <-c.frames:
			if f["type"] == typ && (ok == nil || ok(f)) {
				return f
			}
			if f["type"] == "error" && typ != "error" {
				c.t.Logf("%s: unexpected error frame %v", c.name, f)
			}
		case <-c.closed:
			c.t.Fatalf("%s: connection closed (code %d) while waiting for %s", c.name, c.closeCode, typ)
		case <-timeout:
			c.t.Fatalf("%s: no %s frame in time", c.name, typ)
		}
	}
}

// expectError sends f and waits for the error answering it.
func (c *client) expectError(f frame, code string) {
	c.t.Helper()
	id := fmt.Sprintf("r%d", c.nextID.Add(1))
	f["id"] = id
	c.send(f)
	got := c.expect("error", func(g frame) bool { return g["re"] == id })
	if got["code"] != code {
		c.t.Errorf("%s: %v answered %v, want code %s", c.name, f, got, code)
	}
}

func (c *client) rawSeen() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.seen, "\n")
}

func (c *client) closeCodeWait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: not closed", c.name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// pair queues two players for a game and returns their clients in seat
// order with the match id.
func pair(t *testing.T, s *server, gameID string) (seat0, seat1 *client, matchID string) {
	t.Helper()
	ta, _ := s.guest("alice")
	tb, _ := s.guest("bob")
	a, b := s.dial("alice", ta), s.dial("bob", tb)
	a.send(frame{"type": "queue.join", "game": gameID, "id": "q1"})
	a.expect("queue.joined", func(f frame) bool { return f["re"] == "q1" && f["game"] == gameID })
	b.send(frame{"type": "queue.join", "game": gameID})
	fa := a.expect("match.found", nil)
	fb := b.expect("match.found", nil)
	if fa["match"] != fb["match"] || fa["you"] == fb["you"] {
		t.Fatalf("match.found mismatch: %v / %v", fa, fb)
	}
	a.expect("match.state", nil)
	b.expect("match.state", nil)
	if num(fa["you"]) == 0 {
		return a, b, fa["match"].(string)
	}
	return b, a, fa["match"].(string)
}

func TestPlayTicTacToeWithSpectator(t *testing.T) {
	s := startServer(t, nil)
	x, o, id := pair(t, s, "tictactoe")
	spec := s.dial("spectator", "")
	spec.send(frame{"type": "match.watch", "match": id})
	spec.expect("match.state", func(f frame) bool { return f["you"] == nil })

	resp, err := http.Get(s.base + "/api/matches?status=live")
	if err != nil {
		t.Fatal(err)
	}
	var live []map[string]any
	json.NewDecoder(resp.Body).Decode(&live)
	resp.Body.Close()
	if len(live) != 1 || live[0]["id"] != id {
		t.Fatalf("live matches = %v", live)
	}

	moves := []struct {
		c    *client
		cell int
	}{{x, 4}, {o, 0}, {x, 2}, {o, 6}, {x, 3}, {o, 5}, {x, 1}, {o, 7}, {x, 8}}
	version := 0
	for i, mv := range moves {
		mv.c.send(frame{"type": "match.move", "match": id, "move": frame{"cell": mv.cell}})
		st := spec.expect("match.state", func(f frame) bool {
			return num(f["state"].(map[string]any)["moves"]) == i+1
		})
		if v := num(st["version"]); v <= version {
			t.Errorf("version went %d -> %d", version, v)
		} else {
			version = v
		}
		if board := st["state"].(map[string]any)["board"].([]any); board[mv.cell] == "" {
			t.Errorf("move %d not on the spectator's board: %v", i, board)
		}
	}
	over := spec.expect("match.over", nil)
	if over["result"] != "draw" || over["reason"] != "board_full" || over["winner"] != nil {
		t.Errorf("over = %v", over)
	}
	x.expect("match.over", nil)
	o.expect("match.over", nil)

	// The metrics moved.
	x.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}) // refused: match_over
	x.expect("error", nil)
	// The metrics are on the operator listener, not the public address
	// (where /metrics is a 404 that says so).
	if resp, err := http.Get(s.base + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics on the public address: %d, want 404", resp.StatusCode)
		}
	}
	body := s.get(s.ops + "/metrics")
	for _, want := range []string{
		`turnbase_moves_accepted_total{game="tictactoe"} 9`,
		`turnbase_moves_rejected_total{game="tictactoe",reason="match_over"} 1`,
		`turnbase_matches_started_total{game="tictactoe"} 1`,
		`turnbase_matches_ended_total{game="tictactoe",reason="board_full",status="finished"} 1`,
		`turnbase_connections{kind="player"} 2`,
		`turnbase_connections{kind="spectator"} 1`,
		`turnbase_move_seconds_count{game="tictactoe"} 9`,
		`turnbase_queue_wait_seconds_count{game="tictactoe"} 2`,
		`turnbase_live_matches 0`,
		`turnbase_results_pending 0`,
		"turnbase_store_batch_size_count",
		"turnbase_store_write_seconds_bucket",
		"turnbase_frames_rate_limited_total 0",
		"turnbase_subscribers_dropped_total 0",
		`turnbase_queue_length{game="rps"} 0`,
		"go_goroutines",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// get returns the body of a GET.
func (s *server) get(path string) string {
	s.t.Helper()
	url := path
	if strings.HasPrefix(path, "/") {
		url = s.base + path
	}
	resp, err := http.Get(url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func TestPlayRPSHiddenUntilReveal(t *testing.T) {
	s := startServer(t, nil)
	p0, p1, id := pair(t, s, "rps")
	spec := s.dial("spectator", "")
	spec.send(frame{"type": "match.watch", "match": id})
	spec.expect("match.state", nil)

	rounds := [][2]string{{"rock", "rock"}, {"paper", "rock"}, {"scissors", "rock"}, {"scissors", "paper"}}
	for r, ch := range rounds {
		p0.send(frame{"type": "match.move", "match": id, "move": frame{"choice": ch[0]}})
		// Everyone sees that seat 0 has chosen, nobody but seat 0 what.
		st := p1.expect("match.state", func(f frame) bool {
			c := f["state"].(map[string]any)["chosen"].([]any)
			return c[0] == true
		})
		if st["state"].(map[string]any)["mine"] != nil {
			t.Fatalf("round %d: opponent sees mine=%v", r+1, st["state"])
		}
		spec.expect("match.state", func(f frame) bool {
			return f["state"].(map[string]any)["chosen"].([]any)[0] == true
		})
		leak := fmt.Sprintf(`"%s"`, ch[0])
		openRound := fmt.Sprintf(`"round":%d`, len(rounds)) // not used for matching
		_ = openRound
		for name, c := range map[string]*client{"opponent": p1, "spectator": spec} {
			frames := c.rawSeen()
			// Only revealed rounds may name a choice; count occurrences.
			if strings.Count(frames, leak) > 0 && !revealedBefore(frames, ch[0], r) {
				t.Fatalf("round %d: %s saw hidden %s", r+1, name, ch[0])
			}
		}
		p1.send(frame{"type": "match.move", "match": id, "move": frame{"choice": ch[1]}})
		spec.expect("match.state", func(f frame) bool {
			return len(f["state"].(map[string]any)["rounds"].([]any)) == r+1
		})
	}
	over := spec.expect("match.over", nil)
	if over["result"] != "win" || over["winner"] != 0.0 || over["reason"] != "rounds" {
		t.Errorf("over = %v", over)
	}
}

// revealedBefore reports whether choice appears in a revealed round that
// precedes round r (0-based), so its presence in frames is legitimate.
func revealedBefore(frames, choice string, r int) bool {
	for _, line := range strings.Split(frames, "\n") {
		var f struct {
			State struct {
				Rounds []struct {
					Choices []string `json:"choices"`
				} `json:"rounds"`
				Mine *string `json:"mine"`
			} `json:"state"`
		}
		if json.Unmarshal([]byte(line), &f) != nil {
			continue
		}
		for i, rd := range f.State.Rounds {
			if i < r && (rd.Choices[0] == choice || rd.Choices[1] == choice) {
				return true
			}
		}
	}
	return false
}

func TestReconnectWithinGrace(t *testing.T) {
	s := startServer(t, map[string]string{"TURNBASE_GRACE": "5s"})
	x, o, id := pair(t, s, "tictactoe")
	x.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 4}})
	o.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 1 })

	o.close()
	st := x.expect("match.state", func(f frame) bool { return seatField(f, 1, "connected") == false })
	if seatField(st, 1, "grace_ms") == nil {
		t.Errorf("no grace_ms for the disconnected player: %v", st["players"])
	}
	o2 := s.dial("bob again", o.token)
	if act := o2.welcome["active"].([]any); len(act) != 1 || act[0] != id {
		t.Fatalf("active = %v", act)
	}
	o2.send(frame{"type": "match.watch", "match": id})
	st = o2.expect("match.state", nil)
	if st["state"].(map[string]any)["board"].([]any)[4] != "X" || st["you"] != 1.0 || st["turn"] != 1.0 {
		t.Fatalf("state after reconnect = %v", st)
	}
	x.expect("match.state", func(f frame) bool { return seatField(f, 1, "connected") == true })
	o2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}})
	x.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 2 })
}

func TestAbandonAfterGrace(t *testing.T) {
	s := startServer(t, map[string]string{"TURNBASE_GRACE": "1s"})
	x, o, id := pair(t, s, "tictactoe")
	x.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 4}})
	o.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 1 })
	o.close()
	over := x.expect("match.over", nil)
	if over["result"] != "win" || over["winner"] != 0.0 || over["reason"] != "abandoned" {
		t.Fatalf("over = %v", over)
	}
}

func TestTimeoutsOverTheWire(t *testing.T) {
	s := startServer(t, map[string]string{"TURNBASE_MOVE_TIMEOUT": "1s"})
	x, o, id := pair(t, s, "tictactoe")
	over := o.expect("match.over", nil)
	if over["result"] != "aborted" || over["reason"] != "no_moves" || over["winner"] != nil {
		t.Fatalf("nobody moved: over = %v", over)
	}
	x.send(frame{"type": "match.rematch", "match": id})
	o.expect("match.rematch_offered", nil)
	o.send(frame{"type": "match.rematch", "match": id})
	found := x.expect("match.found", nil)
	id2 := found["match"].(string)
	if id2 == id || found["you"] != 1.0 {
		t.Fatalf("rematch found = %v", found)
	}
	o.expect("match.found", nil)
	// Seats swapped: o moves first now, then x lets the clock run.
	o.send(frame{"type": "match.move", "match": id2, "move": frame{"cell": 0}})
	over = x.expect("match.over", func(f frame) bool { return f["match"] == id2 })
	if over["result"] != "win" || over["reason"] != "timeout" || over["winner"] != 0.0 {
		t.Fatalf("x never answered: over = %v", over)
	}
}

// seatField returns a field of a seat in a match.state's players list.
func seatField(f frame, seat int, field string) any {
	players, _ := f["players"].([]any)
	if len(players) <= seat {
		return nil
	}
	return players[seat].(map[string]any)[field]
}

func TestErrorCodesOverTheWire(t *testing.T) {
	s := startServer(t, nil)
	x, o, id := pair(t, s, "tictactoe")
	spec := s.dial("spectator", "")
	tc, _ := s.guest("carol")
	carol := s.dial("carol", tc)

	cases := []struct {
		name string
		c    *client
		f    frame
		code string
	}{
		{"unknown type", x, frame{"type": "match.dance"}, "bad_request"},
		{"missing field", x, frame{"type": "queue.join"}, "bad_request"},
		{"unsupported game", carol, frame{"type": "queue.join", "game": "chess"}, "unsupported_game"},
		{"queue while in a match", x, frame{"type": "queue.join", "game": "rps"}, "in_match"},
		{"challenge while in a match", x, frame{"type": "challenge.create", "game": "rps"}, "in_match"},
		{"unknown challenge", carol, frame{"type": "challenge.accept", "code": "ZZZZZZZZ"}, "not_found"},
		{"unknown match", x, frame{"type": "match.move", "match": "nope", "move": frame{"cell": 0}}, "not_found"},
		{"not your turn", o, frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}, "not_your_turn"},
		{"illegal move", x, frame{"type": "match.move", "match": id, "move": frame{"cell": 9}}, "illegal_move"},
		{"malformed move", x, frame{"type": "match.move", "match": id, "move": frame{"cell": "a"}}, "bad_request"},
		{"not a player", carol, frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}, "not_a_player"},
		{"spectator moves", spec, frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}, "unauthorized"},
		{"spectator queues", spec, frame{"type": "queue.join", "game": "rps"}, "unauthorized"},
		{"rematch while live", x, frame{"type": "match.rematch", "match": id}, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.c.expectError(tc.f, tc.code) })
	}

	carol.send(frame{"type": "queue.join", "game": "rps", "id": "j1"})
	carol.expect("queue.joined", func(f frame) bool { return f["re"] == "j1" })
	carol.expectError(frame{"type": "queue.join", "game": "tictactoe"}, "already_queued")
	carol.send(frame{"type": "queue.leave", "id": "l1"})
	carol.expect("queue.left", func(f frame) bool { return f["re"] == "l1" })

	x.send(frame{"type": "match.resign", "match": id})
	o.expect("match.over", nil)
	o.expectError(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}, "match_over")
	o.expectError(frame{"type": "match.resign", "match": id}, "match_over")
}

func TestGamesShowWhoIsAround(t *testing.T) {
	s := startServer(t, nil)
	_, _, _ = pair(t, s, "rps")
	tc, _ := s.guest("carol")
	carol := s.dial("carol", tc)
	carol.send(frame{"type": "queue.join", "game": "tictactoe", "id": "q"})
	carol.expect("queue.joined", nil)
	var games []struct {
		ID      string `json:"id"`
		Queued  int    `json:"queued"`
		Playing int    `json:"playing"`
		Online  int    `json:"online"`
	}
	if err := json.Unmarshal([]byte(s.get("/api/games")), &games); err != nil {
		t.Fatal(err)
	}
	got := map[string][3]int{}
	for _, g := range games {
		got[g.ID] = [3]int{g.Queued, g.Playing, g.Online}
	}
	if got["tictactoe"] != [3]int{1, 0, 1} || got["rps"] != [3]int{0, 2, 2} {
		t.Errorf("who is around = %v", got)
	}
}

// TestRatingsShownAfterAWin: the player cards show the ratings the match
// will change. After a rated win, the rematch and a challenge the winner
// accepts both show the new ratings, not the default (issue: the
// challenge acceptor was shown at 1500).
func TestRatingsShownAfterAWin(t *testing.T) {
	s := startServer(t, nil)
	x, o, id := pair(t, s, "tictactoe")
	for i, mv := range []struct {
		c    *client
		cell int
	}{{x, 0}, {o, 3}, {x, 1}, {o, 4}, {x, 2}} {
		mv.c.send(frame{"type": "match.move", "match": id, "move": frame{"cell": mv.cell}})
		x.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == i+1 })
	}
	over := o.expect("match.over", nil)
	ratings := over["ratings"].([]any)
	if len(ratings) != 2 {
		t.Fatalf("over = %v", over)
	}
	after := map[string]float64{}
	for _, r := range ratings {
		r := r.(map[string]any)
		after[r["player"].(string)] = r["after"].(float64)
	}
	shown := func(f frame) map[string]float64 {
		out := map[string]float64{}
		for _, p := range f["players"].([]any) {
			p := p.(map[string]any)
			out[p["id"].(string)] = p["rating"].(float64)
		}
		return out
	}
	round := func(m map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range m {
			out[k] = math.Round(v)
		}
		return out
	}

	// The rematch.
	x.send(frame{"type": "match.rematch", "match": id})
	o.send(frame{"type": "match.rematch", "match": id})
	found := x.expect("match.found", func(f frame) bool { return f["match"] != id })
	if got, want := shown(found), round(after); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rematch shows %v, want %v", got, want)
	}
	o.expect("match.found", nil)
	x.send(frame{"type": "match.resign", "match": found["match"]})
	over = x.expect("match.over", func(f frame) bool { return f["match"] == found["match"] })
	for _, r := range over["ratings"].([]any) {
		r := r.(map[string]any)
		after[r["player"].(string)] = r["after"].(float64)
	}
	xID := found["players"].([]any)[num(found["you"])].(map[string]any)["id"].(string)

	// A challenge the winner of the first match accepts.
	o.send(frame{"type": "challenge.create", "game": "tictactoe", "id": "c1"})
	ch := o.expect("challenge.created", nil)
	x.send(frame{"type": "challenge.accept", "code": ch["code"]})
	prev := found["match"]
	found = x.expect("match.found", func(f frame) bool { return f["match"] != id && f["match"] != prev })
	if got, want := shown(found), round(after); fmt.Sprint(got) != fmt.Sprint(want) || got[xID] == 1500 {
		t.Errorf("challenge shows %v, want %v (the acceptor is %s)", got, want, xID)
	}
}
