package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

// FuzzSessionFrames sends each input as one text frame from a player's
// connection to a real server, in a live tic-tac-toe match where that
// player is seat 0 ("$M" in the input stands for the match id). The server
// must not panic nor log an error; every frame it writes back must be
// valid UTF-8 and a JSON object with a type; an error must carry a code of
// PROTOCOL.md (never internal) and echo the frame's id; the connection must
// stay open (it answers the next request) unless the frame is over the
// 4 KiB limit (closed 1009) or not UTF-8 (closed 1007); and the match's
// version must not move unless the frame was an accepted move or resign
// (one version) or an unwatch of the match (two: the seat shows
// disconnected, then connected again as the harness watches again). An
// accepted move or resign must show in the state.
//
// It needs no database: accounts are in memory, and the match registry
// and lobby are the real ones. One server, and one match until it ends,
// serve all the iterations of a process.
func FuzzSessionFrames(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping","id":"p"}`,
		`{"type":"ping"}`,
		`{"type":"match.move","id":"m","match":"$M","move":{"cell":4}}`,
		`{"type":"match.move","match":"$M","move":{"cell":0}}`,
		`{"type":"match.move","match":"$M","move":{"cell":-1}}`,
		`{"type":"match.move","match":"$M","move":{"cell":"4"}}`,
		`{"type":"match.move","match":"$M","move":{"choice":"rock"}}`,
		`{"type":"match.move","match":"nosuchmatch","move":{"cell":4}}`,
		`{"type":"match.resign","id":"r","match":"$M"}`,
		`{"type":"match.rematch","id":"e","match":"$M"}`,
		`{"type":"match.watch","id":"w","match":"$M"}`,
		`{"type":"match.unwatch","match":"$M"}`,
		`{"type":"queue.join","id":"q","game":"rps"}`,
		`{"type":"queue.leave","id":"l"}`,
		`{"type":"challenge.create","id":"c","game":"tictactoe"}`,
		`{"type":"challenge.accept","id":"a","code":"ABCD2345"}`,
		`{"type":"hello","v":1,"id":"h"}`,
		`{"type":"hello","v":1,"token":"x.y.z"}`,
		`{"type":"match.move","id":"` + strings.Repeat("i", 40) + `","match":"$M","move":{"cell":4}}`,
		"{\"type\":\"ping\",\"id\":\"\xff\xfe\"}",
		`{"type":"ping","id":"big","pad":"` + strings.Repeat("x", 4100) + `"}`,
		`{"type":"match.move","match":"$M","move":{"cell":4},"type":"match.resign"}`,
		`{"type":"\u0000","id":"\ud800"}`,
		``, `null`, `[]`, `{}`, `"hello"`, `{"type":null}`, `{"id":null,"type":"ping"}`,
	} {
		f.Add([]byte(s))
	}

	var (
		mu  sync.Mutex
		env *sessionFuzz
	)
	f.Cleanup(func() {
		if env != nil {
			env.stop()
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16<<10 {
			return // the 1009 path is in the seeds; huge inputs only cost time
		}
		mu.Lock()
		defer mu.Unlock()
		if env == nil {
			env = newSessionFuzz(t)
		}
		env.iterate(t, data)
	})
}

// sessionFuzz is the server, match and connections FuzzSessionFrames
// shares between iterations. Iterations run one at a time.
type sessionFuzz struct {
	srv   *Server
	reg   *match.Registry
	wsURL string
	alarm *alarmHandler
	stop  func()

	aToken string
	a      *websocket.Conn // seat 0; nil when the server has closed it
	b      *fakeSeat       // seat 1, on the registry directly
	match  string          // the current match; "" before the first
	st     stateOf         // of match, as a last saw it
	over   bool            // a has seen match's match.over
	states int             // match.state frames of match a has read
}

// The players of the fuzzed match.
const (
	fuzzA, fuzzAName = "fuzz-player-a", "fuzz_a"
	fuzzB, fuzzBName = "fuzz-player-b", "fuzz_b"
)

// syncID is the id of the request that ends each iteration; an input that
// uses it is skipped.
const syncID = "zz\u0001sync"

// isProtocolCode reports whether code is an error code of PROTOCOL.md
// other than internal.
func isProtocolCode(code string) bool {
	switch code {
	case "bad_request", "unauthorized", "not_found", "unsupported_game", "already_queued", "in_match",
		"not_your_turn", "illegal_move", "match_over", "not_a_player", "rate_limited", "server_busy":
		return true
	}
	return false
}

func newSessionFuzz(t *testing.T) *sessionFuzz {
	alarm := &alarmHandler{}
	logger := slog.New(alarm)
	games := game.NewRegistry(tictactoe.Game{}, rps.Game{})
	reg := match.NewRegistry(logger, games, match.Deps{}, match.Config{MoveTimeout: time.Hour, Grace: time.Hour, Linger: time.Second})
	start := func(ctx context.Context, p lobby.Pair) error {
		var players [2]match.Player
		for i, tk := range p.Players {
			players[i] = match.Player{ID: tk.PlayerID, Name: tk.Name, Rating: tk.Rating}
		}
		_, err := reg.Start(ctx, p.Game, players)
		return err
	}
	hasGame := func(id string) bool { _, ok := games.Lookup(id); return ok }
	lb := lobby.New(logger, start, hasGame, reg.InMatch, lobby.Config{})
	cfg := testConfig()
	cfg.ConnRate, cfg.ConnBurst, cfg.PlayerRate, cfg.PlayerBurst = 1e9, 1e9, 1e9, 1e9
	cfg.MaxConnsPerIP, cfg.HandshakeRate, cfg.HandshakeBurst = 1<<20, 1e9, 1e9
	// The fuzzer may pause between inputs: no pong timeouts.
	cfg.PingPeriod, cfg.PongWait = time.Hour, 2*time.Hour
	srv := New(logger, Deps{
		Games: games, Matches: reg, Lobby: lb,
		Accounts: memAccounts{
			fuzzA: {ID: fuzzA, Name: fuzzAName, Guest: true},
			fuzzB: {ID: fuzzB, Name: fuzzBName, Guest: true},
		},
		Records: noRecords{},
	}, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lobbyDone := make(chan struct{})
	go func() {
		defer close(lobbyDone)
		lb.Run(ctx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	tok, _, err := srv.tokens.Issue(Identity{ID: fuzzA, Name: fuzzAName, Guest: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &sessionFuzz{
		srv: srv, reg: reg, wsURL: "ws://" + ln.Addr().String() + "/ws", alarm: alarm, aToken: tok,
		b: &fakeSeat{id: fuzzB},
	}
	e.stop = func() {
		if e.a != nil {
			e.a.Close()
		}
		cancel()
		<-served
		<-lobbyDone
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		reg.Shutdown(sctx)
	}
	reg.Connect(e.b)
	return e
}

// iterate sends data as one frame from a and checks what follows.
func (e *sessionFuzz) iterate(t *testing.T, data []byte) {
	e.ready(t)
	frame := bytes.ReplaceAll(data, []byte("$M"), []byte(e.match))
	req, decodeErr := decodeFrame(frame)
	if req.HasID && req.ID == syncID {
		return
	}
	before := e.st.Version

	e.a.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := e.a.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("write: %v", err)
	}
	// Then, on the same connection: watch the match again (its state
	// follows, with the current version) and a move the match refuses,
	// whose error ends the iteration. The match handles both after
	// anything the frame asked of it; the read pump answers the rest
	// before it reads them. Once the server has closed, these writes may
	// fail: the read below tells.
	e.a.WriteMessage(websocket.TextMessage, []byte(`{"type":"match.watch","match":"`+e.match+`"}`))
	e.a.WriteMessage(websocket.TextMessage, []byte(`{"type":"match.move","id":"zz\u0001sync","match":"`+e.match+`","move":{"cell":99}}`))

	var refused []frameMap // errors answering the frame
	for {
		f, err := e.read(t)
		if err != nil {
			e.closed(t, frame, err)
			return
		}
		if f["type"] != "error" {
			continue
		}
		if f["re"] == syncID {
			break
		}
		refused = append(refused, f)
		if re, has := f["re"]; has != req.HasID || (has && re != req.ID) {
			t.Fatalf("error %v answers id %q; the frame's id is %q (has one: %v)", f, re, req.ID, req.HasID)
		}
	}
	if len(frame) > int(DefaultReadLimit) || !utf8.Valid(frame) {
		t.Fatalf("a frame of %d bytes (valid UTF-8: %v) was read", len(frame), utf8.Valid(frame))
	}
	if decodeErr != nil && len(refused) == 0 {
		t.Fatalf("malformed frame (%v) answered with no error", decodeErr)
	}

	delta := e.st.Version - before
	forMatch := decodeErr == nil && req.Match == e.match && len(refused) == 0
	switch {
	case len(refused) > 0 && delta != 0:
		t.Fatalf("refused (%v), yet the version went %d → %d", refused, before, e.st.Version)
	case forMatch && (req.Type == typeMatchMove || req.Type == typeMatchResign):
		if delta != 1 {
			t.Fatalf("%s neither refused nor applied once: version %d → %d", req.Type, before, e.st.Version)
		}
	case forMatch && req.Type == typeMatchUnwatch:
		if delta != 2 {
			t.Fatalf("unwatch and watch again: version %d → %d, want two more", before, e.st.Version)
		}
	case delta != 0:
		t.Fatalf("%q changed the version %d → %d", frame, before, e.st.Version)
	}
	e.checkAlarms(t)
}

// ready connects a, starts a match if there is none live, and plays b's
// moves until a is to move.
func (e *sessionFuzz) ready(t *testing.T) {
	if e.a == nil {
		c, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(e.wsURL, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		e.a = c
		e.send(t, `{"type":"hello","v":1,"token":"`+e.aToken+`"}`)
		if f := e.mustRead(t); f["type"] != "welcome" {
			t.Fatalf("hello: %v", f)
		}
		if e.match != "" && e.st.Status == match.StatusLive {
			// The state comes with a new version, or the same one if the
			// old connection's unwatch has not reached the match yet (then
			// that unwatch changes nothing anyone sees).
			n := e.states
			e.send(t, `{"type":"match.watch","match":"`+e.match+`"}`)
			e.readUntil(t, func() bool { return e.states > n })
		}
	}
	for {
		if e.match == "" || e.st.Status != match.StatusLive {
			if e.match != "" {
				// match.over follows the end once the registry has freed
				// the players.
				e.readUntil(t, func() bool { return e.over })
			}
			id, err := e.reg.Start(context.Background(), "tictactoe", [2]match.Player{
				{ID: fuzzA, Name: fuzzAName, Rating: 1500}, {ID: fuzzB, Name: fuzzBName, Rating: 1500},
			})
			if err != nil {
				t.Fatalf("start a match: %v", err)
			}
			e.match, e.st, e.over = id, stateOf{}, false
			e.readUntil(t, func() bool { return e.st.Version > 0 })
			continue
		}
		if e.st.Turn == nil || *e.st.Turn != 1 {
			return
		}
		cell := slices.Index(e.st.State.Board, "")
		replied := make(chan error, 1)
		v := e.st.Version
		e.reg.Move(e.b, e.match, json.RawMessage(fmt.Sprintf(`{"cell":%d}`, cell)), func(err error) { replied <- err })
		if err := <-replied; err != nil {
			t.Fatalf("b's move to %d: %v", cell, err)
		}
		e.readUntil(t, func() bool { return e.st.Version > v })
	}
}

// closed checks that the server closed a's connection as PROTOCOL.md says
// for frame, and forgets the connection.
func (e *sessionFuzz) closed(t *testing.T, frame []byte, err error) {
	t.Helper()
	e.a.Close()
	e.a = nil
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("connection lost without a close frame after %d bytes: %v", len(frame), err)
	}
	want := 0
	switch {
	case len(frame) > int(DefaultReadLimit):
		want = websocket.CloseMessageTooBig
	case !utf8.Valid(frame):
		want = websocket.CloseInvalidFramePayloadData
	}
	if ce.Code != want {
		t.Fatalf("closed with %d (%q) after a frame of %d bytes (valid UTF-8: %v); want %d (0: stay open)",
			ce.Code, ce.Text, len(frame), utf8.Valid(frame), want)
	}
	e.checkAlarms(t)
}

// read reads one frame from a, checks it and notes what it says of the
// match.
func (e *sessionFuzz) read(t *testing.T) (frameMap, error) {
	t.Helper()
	e.a.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := e.a.ReadMessage()
	if err != nil {
		return nil, err
	}
	if err := checkServerFrame(typ, data); err != nil {
		t.Fatal(err)
	}
	var f frameMap
	json.Unmarshal(data, &f) // checked
	switch f["type"] {
	case "error":
		if code, _ := f["code"].(string); !isProtocolCode(code) {
			t.Fatalf("error code %q is not one of PROTOCOL.md's: %s", code, data)
		}
	case "match.state":
		var st stateOf
		json.Unmarshal(data, &st)
		if st.Match == e.match {
			if st.Version < e.st.Version {
				t.Fatalf("version went back from %d: %s", e.st.Version, data)
			}
			e.st = st
			e.states++
		}
	case "match.over":
		if f["match"] == e.match {
			e.over = true
		}
	}
	return f, nil
}

func (e *sessionFuzz) mustRead(t *testing.T) frameMap {
	t.Helper()
	f, err := e.read(t)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return f
}

func (e *sessionFuzz) readUntil(t *testing.T, done func() bool) {
	t.Helper()
	for !done() {
		if f := e.mustRead(t); f["type"] == "error" {
			t.Fatalf("unexpected %v", f)
		}
	}
}

func (e *sessionFuzz) send(t *testing.T, s string) {
	t.Helper()
	e.a.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := e.a.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write %s: %v", s, err)
	}
}

func (e *sessionFuzz) checkAlarms(t *testing.T) {
	t.Helper()
	if msgs := e.alarm.take(); len(msgs) > 0 {
		t.Fatalf("server logged: %s", strings.Join(msgs, "; "))
	}
	if err := e.b.failure(); err != nil {
		t.Fatal(err)
	}
}

// checkServerFrame reports what is wrong with a frame the server wrote.
func checkServerFrame(typ int, data []byte) error {
	if typ != websocket.TextMessage {
		return fmt.Errorf("frame type %d: want text", typ)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("frame is not UTF-8: %q", data)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil || f == nil {
		return fmt.Errorf("frame %q is not a JSON object: %v", data, err)
	}
	if typ, ok := f["type"].(string); !ok || typ == "" {
		return fmt.Errorf("frame %s has no type", data)
	}
	return nil
}

// fakeSeat is a player connection on the registry directly; it checks
// every frame it is sent.
type fakeSeat struct {
	id string

	mu  sync.Mutex
	err error
}

func (s *fakeSeat) PlayerID() string { return s.id }

func (s *fakeSeat) Send(frame []byte) bool {
	if err := checkServerFrame(websocket.TextMessage, frame); err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = fmt.Errorf("to seat 1: %w", err)
		}
		s.mu.Unlock()
	}
	return true
}

func (s *fakeSeat) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// alarmHandler is a slog.Handler that keeps the errors logged, and any
// record that mentions a panic (net/http logs a handler's panic as a
// warning). Safe for concurrent use.
type alarmHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *alarmHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *alarmHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && !strings.Contains(strings.ToLower(r.Message), "panic") {
		return nil
	}
	msg := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, msg)
	return nil
}

func (h *alarmHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *alarmHandler) WithGroup(string) slog.Handler      { return h }

func (h *alarmHandler) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	msgs := h.msgs
	h.msgs = nil
	return msgs
}

// memAccounts knows a fixed set of players.
type memAccounts map[string]leaderboard.Player

func (m memAccounts) Get(_ context.Context, id string) (leaderboard.Player, error) {
	if p, ok := m[id]; ok {
		return p, nil
	}
	return leaderboard.Player{}, leaderboard.ErrNotFound
}

func (memAccounts) CreateGuest(context.Context, string, string) (leaderboard.Player, error) {
	return leaderboard.Player{}, match.ErrUnavailable
}
func (memAccounts) Register(context.Context, string, string, string) (leaderboard.Player, error) {
	return leaderboard.Player{}, match.ErrUnavailable
}
func (memAccounts) Login(context.Context, string, string) (leaderboard.Player, error) {
	return leaderboard.Player{}, match.ErrUnavailable
}
func (memAccounts) Upgrade(context.Context, string, string) (leaderboard.Player, error) {
	return leaderboard.Player{}, match.ErrUnavailable
}
func (memAccounts) ChangePassword(context.Context, string, string, string) (leaderboard.Player, error) {
	return leaderboard.Player{}, match.ErrUnavailable
}

// noRecords has no history.
type noRecords struct{}

func (noRecords) Leaderboard(context.Context, string, int, int, bool) (leaderboard.Board, error) {
	return leaderboard.Board{}, match.ErrUnavailable
}
func (noRecords) RankedRatings(context.Context, string) (map[string]leaderboard.RankedRating, error) {
	return nil, match.ErrUnavailable
}
func (noRecords) PlayerPage(context.Context, string) (leaderboard.PlayerPage, error) {
	return leaderboard.PlayerPage{}, match.ErrUnavailable
}
func (noRecords) Matches(context.Context, string, string, int) ([]match.Summary, error) {
	return nil, match.ErrUnavailable
}
func (noRecords) Match(context.Context, string) (leaderboard.MatchDetail, error) {
	return leaderboard.MatchDetail{}, match.ErrUnavailable
}
