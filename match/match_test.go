package match

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeConn records what a match sends it. Our own interface, so a
// recording fake is the honest test double.
type fakeConn struct {
	player string

	mu     sync.Mutex
	frames []map[string]any
	raw    []string
	full   bool // Send refuses, as a connection that cannot keep up
}

func (c *fakeConn) PlayerID() string { return c.player }

func (c *fakeConn) Send(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return false
	}
	var v map[string]any
	if err := json.Unmarshal(frame, &v); err != nil {
		panic("match sent invalid JSON: " + string(frame))
	}
	c.frames = append(c.frames, v)
	c.raw = append(c.raw, string(frame))
	return true
}

func (c *fakeConn) setFull(full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.full = full
}

// last returns the newest frame of a type, or nil.
func (c *fakeConn) last(typ string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.frames) - 1; i >= 0; i-- {
		if c.frames[i]["type"] == typ {
			return c.frames[i]
		}
	}
	return nil
}

func (c *fakeConn) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if f["type"] == typ {
			n++
		}
	}
	return n
}

func (c *fakeConn) allRaw() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.raw, "\n")
}

// errBox collects a reply.
type errBox struct {
	mu   sync.Mutex
	err  error
	done bool
}

func (b *errBox) reply(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.done = err, true
}

func (b *errBox) get(t *testing.T) error {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		t.Fatal("no reply")
	}
	return b.err
}

type env struct {
	t    *testing.T
	reg  *Registry
	a, b *fakeConn
	id   string
}

var testCfg = Config{MoveTimeout: 30 * time.Second, Grace: 10 * time.Second, Linger: time.Minute}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnvGames() *game.Registry {
	return game.NewRegistry(tictactoe.Game{}, rps.Game{}, panicGame{})
}

func newEnv(t *testing.T, gameID string, deps Deps, cfg Config) *env {
	t.Helper()
	reg := NewRegistry(quietLogger(), newEnvGames(), deps, cfg)
	t.Cleanup(func() {
		if err := reg.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	e := &env{t: t, reg: reg, a: &fakeConn{player: "alice"}, b: &fakeConn{player: "bob"}}
	reg.Connect(e.a)
	reg.Connect(e.b)
	id, err := reg.Start(context.Background(), gameID, [2]Player{{ID: "alice", Name: "Alice", Rating: 1500}, {ID: "bob", Name: "Bob", Rating: 1612.6}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	e.id = id
	synctest.Wait()
	return e
}

func (e *env) move(c *fakeConn, mv string) error {
	e.t.Helper()
	var b errBox
	e.reg.Move(c, e.id, json.RawMessage(mv), b.reply)
	synctest.Wait()
	return b.get(e.t)
}

// playOpening makes one tic-tac-toe move for each seat, so that either
// may then resign (a resign before one's own first move is an abort).
func (e *env) playOpening() {
	e.t.Helper()
	for i, c := range []*fakeConn{e.a, e.b} {
		if err := e.move(c, fmt.Sprintf(`{"cell":%d}`, i)); err != nil {
			e.t.Fatalf("opening move: %v", err)
		}
	}
}

func num(v any) int { return int(v.(float64)) }

func TestTicTacToeGame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		spec := &fakeConn{}
		var wb errBox
		e.reg.Watch(spec, e.id, wb.reply)
		synctest.Wait()
		if err := wb.get(t); err != nil {
			t.Fatalf("watch: %v", err)
		}

		found := e.a.last("match.found")
		if found == nil || found["you"] != 0.0 || found["game"] != "tictactoe" {
			t.Fatalf("alice match.found = %v", found)
		}
		players := found["players"].([]any)
		if players[1].(map[string]any)["rating"] != 1613.0 {
			t.Errorf("rating not rounded: %v", players[1])
		}
		st := e.b.last("match.state")
		if st["you"] != 1.0 || st["turn"] != 0.0 || st["status"] != "live" || st["deadline_ms"] == nil {
			t.Fatalf("bob first state = %v", st)
		}
		if got := num(spec.last("match.state")["spectators"]); got != 1 {
			t.Errorf("spectators = %d, want 1", got)
		}
		if spec.last("match.state")["you"] != nil {
			t.Errorf("spectator you = %v", spec.last("match.state")["you"])
		}

		errCases := map[string]struct {
			conn *fakeConn
			move string
			want error
		}{
			"bob moves first": {e.b, `{"cell":4}`, game.ErrNotYourTurn},
			"spectator moves": {spec, `{"cell":4}`, ErrNotAPlayer},
			"stranger moves":  {&fakeConn{player: "mallory"}, `{"cell":4}`, ErrNotAPlayer},
			"off the board":   {e.a, `{"cell":9}`, game.ErrIllegalMove},
			"not a move":      {e.a, `{"cell":"x"}`, game.ErrBadMove},
			"no cell":         {e.a, `{}`, game.ErrBadMove},
		}
		v0 := num(e.a.last("match.state")["version"])
		for name, tc := range errCases {
			if err := e.move(tc.conn, tc.move); !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", name, err, tc.want)
			}
		}
		if v := num(e.a.last("match.state")["version"]); v != v0 {
			t.Errorf("rejected moves changed version %d -> %d", v0, v)
		}

		// X takes the top row.
		for i, mv := range []struct {
			c    *fakeConn
			cell string
		}{{e.a, "0"}, {e.b, "4"}, {e.a, "1"}, {e.b, "5"}, {e.a, "2"}} {
			if err := e.move(mv.c, `{"cell":`+mv.cell+`}`); err != nil {
				t.Fatalf("move %d: %v", i, err)
			}
		}
		if err := e.move(e.a, `{"cell":3}`); !errors.Is(err, ErrMatchOver) {
			t.Errorf("move after end: %v", err)
		}
		final := spec.last("match.state")
		if final["status"] != "finished" || final["turn"] != nil || final["deadline_ms"] != nil {
			t.Errorf("final state = %v", final)
		}
		over := spec.last("match.over")
		if over == nil || over["result"] != "win" || over["winner"] != 0.0 || over["reason"] != "line" {
			t.Fatalf("match.over = %v", over)
		}
		if e.reg.InMatch("alice") || e.reg.InMatch("bob") {
			t.Error("players still in a match after the end")
		}
		if got := len(e.reg.List(StatusLive)); got != 0 {
			t.Errorf("live matches = %d", got)
		}
		if got := e.reg.List(StatusFinished); len(got) != 1 || *got[0].Winner != 0 || got[0].Reason != "line" {
			t.Errorf("finished = %+v", got)
		}
		// Versions grow by one per visible change.
		if v := num(final["version"]); v != v0+5 {
			t.Errorf("final version = %d, want %d", v, v0+5)
		}
	})
}

func TestRPSHiddenChoice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "rps", Deps{}, testCfg)
		spec := &fakeConn{}
		e.reg.Watch(spec, e.id, func(error) {})
		synctest.Wait()

		if err := e.move(e.a, `{"choice":"scissors"}`); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]*fakeConn{"opponent": e.b, "spectator": spec} {
			if strings.Contains(c.allRaw(), "scissors") {
				t.Errorf("%s saw the hidden choice: %s", name, c.allRaw())
			}
		}
		if st := e.a.last("match.state")["state"].(map[string]any); st["mine"] != "scissors" {
			t.Errorf("chooser's mine = %v", st["mine"])
		}
		if st := e.b.last("match.state"); st["turn"] != nil {
			t.Errorf("turn during an open round = %v", st["turn"])
		}
		if err := e.move(e.b, `{"choice":"rock"}`); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(spec.allRaw(), "scissors") {
			t.Error("reveal did not reach the spectator")
		}
		if err := e.move(e.a, `{"choice":"lizard"}`); !errors.Is(err, game.ErrIllegalMove) {
			t.Errorf("lizard: %v", err)
		}
	})
}

func TestTimeouts(t *testing.T) {
	cases := map[string]struct {
		game    string
		moves   []string // alternating a, b
		status  string
		winner  any
		reason  string
		waitFor time.Duration
	}{
		"nobody moved":     {"tictactoe", nil, "aborted", nil, "no_moves", 31 * time.Second},
		"o never answered": {"tictactoe", []string{`{"cell":0}`}, "finished", 0.0, "timeout", 31 * time.Second},
		"rps both missed":  {"rps", []string{`{"choice":"rock"}`, `{"choice":"paper"}`}, "finished", nil, "timeout", 31 * time.Second},
		"rps one missed":   {"rps", []string{`{"choice":"rock"}`}, "finished", 0.0, "timeout", 31 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tc.game, Deps{}, testCfg)
				for i, mv := range tc.moves {
					c := e.a
					if i%2 == 1 {
						c = e.b
					}
					if err := e.move(c, mv); err != nil {
						t.Fatalf("move %d: %v", i, err)
					}
				}
				time.Sleep(29 * time.Second)
				synctest.Wait()
				if e.a.last("match.over") != nil {
					t.Fatal("ended before the deadline")
				}
				time.Sleep(tc.waitFor - 29*time.Second)
				synctest.Wait()
				over := e.a.last("match.over")
				if over == nil {
					t.Fatal("no match.over after the deadline")
				}
				st := e.a.last("match.state")
				if st["status"] != tc.status || over["winner"] != tc.winner || over["reason"] != tc.reason {
					t.Errorf("status %v over %v; want %s winner %v reason %s", st["status"], over, tc.status, tc.winner, tc.reason)
				}
			})
		})
	}
}

func TestDisconnectGraceAndReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		if err := e.move(e.a, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		e.reg.Disconnect(e.b)
		synctest.Wait()
		bob := e.a.last("match.state")["players"].([]any)[1].(map[string]any)
		if bob["connected"] != false || bob["grace_ms"] == nil {
			t.Fatalf("bob after disconnect = %v", bob)
		}
		time.Sleep(8 * time.Second)
		b2 := &fakeConn{player: "bob"}
		e.reg.Connect(b2)
		if got := e.reg.Active("bob"); len(got) != 1 || got[0] != e.id {
			t.Fatalf("Active = %v", got)
		}
		var wb errBox
		e.reg.Watch(b2, e.id, wb.reply)
		synctest.Wait()
		if err := wb.get(t); err != nil {
			t.Fatal(err)
		}
		st := b2.last("match.state")
		if st == nil || st["state"].(map[string]any)["board"].([]any)[4] != "X" || st["you"] != 1.0 {
			t.Fatalf("reconnected state = %v", st)
		}
		bob = e.a.last("match.state")["players"].([]any)[1].(map[string]any)
		if bob["connected"] != true {
			t.Errorf("bob not connected again: %v", bob)
		}
		time.Sleep(5 * time.Second) // past the first grace period
		synctest.Wait()
		if e.a.last("match.over") != nil {
			t.Fatal("match ended although bob came back")
		}
		if err := e.move(b2, `{"cell":0}`); err != nil {
			t.Fatalf("move after reconnect: %v", err)
		}

		// Now bob leaves for good.
		e.reg.Disconnect(b2)
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		over := e.a.last("match.over")
		if over == nil || over["reason"] != "abandoned" || over["winner"] != 0.0 {
			t.Fatalf("match.over = %v", over)
		}
	})
}

// A player back on a new connection who moves without watching first is
// there: the move's match.state reaches that connection, the seat is
// connected, and no grace period ends the match under a player who plays.
// Its Disconnect starts the grace period again.
func TestMoveWithoutWatchJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		if err := e.move(e.a, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		e.reg.Disconnect(e.b)
		time.Sleep(8 * time.Second)
		b2 := &fakeConn{player: "bob"}
		e.reg.Connect(b2)
		if err := e.move(b2, `{"cell":0}`); err != nil {
			t.Fatalf("move from a connection that did not watch: %v", err)
		}
		st := b2.last("match.state")
		if st == nil || st["state"].(map[string]any)["board"].([]any)[0] != "O" || st["you"] != 1.0 {
			t.Fatalf("the mover's match.state = %v", st)
		}
		bob := e.a.last("match.state")["players"].([]any)[1].(map[string]any)
		if bob["connected"] != true {
			t.Fatalf("bob moved but shows %v", bob)
		}
		time.Sleep(5 * time.Second) // past the first grace period
		synctest.Wait()
		if over := e.a.last("match.over"); over != nil {
			t.Fatalf("the match ended under a player who moves: %v", over)
		}
		// A refused move joins too (a resign is the same path).
		b3 := &fakeConn{player: "bob"}
		e.reg.Connect(b3)
		if err := e.move(b3, `{"cell":1}`); !errors.Is(err, game.ErrNotYourTurn) {
			t.Fatalf("bob's move out of turn: %v", err)
		}
		e.reg.Disconnect(b2)
		e.reg.Disconnect(b3)
		synctest.Wait()
		bob = e.a.last("match.state")["players"].([]any)[1].(map[string]any)
		if bob["connected"] != false {
			t.Fatalf("bob gone, shows %v", bob)
		}
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		over := e.a.last("match.over")
		if over == nil || over["reason"] != "abandoned" || over["winner"] != 0.0 {
			t.Fatalf("match.over = %v", over)
		}
	})
}

func TestSlowSubscriberDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		slow := &fakeConn{}
		e.reg.Watch(slow, e.id, func(error) {})
		synctest.Wait()
		slow.setFull(true)
		if err := e.move(e.a, `{"cell":0}`); err != nil {
			t.Fatal(err)
		}
		// The drop shows with the next count, within SpectatorEvery.
		time.Sleep(time.Second)
		synctest.Wait()
		if got := num(e.b.last("match.state")["spectators"]); got != 0 {
			t.Errorf("spectators after drop = %d", got)
		}
		if err := e.move(e.b, `{"cell":1}`); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRematch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		var b errBox
		e.reg.Rematch(e.a, e.id, b.reply)
		synctest.Wait()
		if !errors.Is(b.get(t), ErrNoRematch) {
			t.Errorf("rematch while live: %v", b.get(t))
		}
		e.playOpening()
		e.reg.Resign(e.b, e.id, func(error) {})
		synctest.Wait()
		if over := e.a.last("match.over"); over == nil || over["reason"] != "resign" || over["winner"] != 0.0 {
			t.Fatalf("over = %v", over)
		}
		e.reg.Rematch(e.a, e.id, func(error) {})
		synctest.Wait()
		if off := e.b.last("match.rematch_offered"); off == nil || off["by"] != 0.0 {
			t.Fatalf("offer = %v", off)
		}
		e.reg.Rematch(e.b, e.id, func(error) {})
		synctest.Wait()
		if e.a.count("match.found") != 2 {
			t.Fatalf("match.found count = %d", e.a.count("match.found"))
		}
		found := e.a.last("match.found")
		if found["match"] == e.id || found["you"] != 1.0 {
			t.Errorf("rematch found = %v", found)
		}
		if !e.reg.InMatch("alice") {
			t.Error("alice not in the rematch")
		}
	})
}

// A rematch tells the finished match's spectators where the players went
// (match.rematch_started), and so does a watch of that match afterwards.
func TestRematchTellsSpectators(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		spec := &fakeConn{}
		e.reg.Watch(spec, e.id, func(error) {})
		e.reg.Resign(e.b, e.id, func(error) {})
		synctest.Wait()
		e.reg.Rematch(e.a, e.id, func(error) {})
		e.reg.Rematch(e.b, e.id, func(error) {})
		synctest.Wait()
		next, _ := e.a.last("match.found")["match"].(string)
		if next == "" || next == e.id {
			t.Fatalf("rematch found = %v", e.a.last("match.found"))
		}
		for name, c := range map[string]*fakeConn{"spectator": spec, "player": e.a} {
			got := c.last("match.rematch_started")
			if got == nil || got["match"] != e.id || got["next"] != next || len(got) != 3 {
				t.Errorf("%s: match.rematch_started = %v, want match %s next %s", name, got, e.id, next)
			}
		}
		late := &fakeConn{}
		var b errBox
		e.reg.Watch(late, e.id, b.reply)
		synctest.Wait()
		if err := b.get(t); err != nil {
			t.Fatalf("late watch: %v", err)
		}
		if got := late.last("match.rematch_started"); got == nil || got["next"] != next {
			t.Errorf("late watcher: match.rematch_started = %v", got)
		}
	})
}

func TestLingerThenGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		e.reg.Resign(e.a, e.id, func(error) {})
		time.Sleep(testCfg.Linger + time.Second)
		synctest.Wait()
		var b errBox
		e.reg.Watch(&fakeConn{}, e.id, b.reply)
		if !errors.Is(b.get(t), ErrNotFound) {
			t.Errorf("watch after linger: %v", b.get(t))
		}
	})
}

func TestInMatchAndValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		_, err := e.reg.Start(context.Background(), "rps", [2]Player{{ID: "alice"}, {ID: "carol"}})
		if !errors.Is(err, ErrInMatch) {
			t.Errorf("second live match: %v", err)
		}
		if _, err := e.reg.Start(context.Background(), "chess", [2]Player{{ID: "x"}, {ID: "y"}}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("unknown game: %v", err)
		}
		if _, err := e.reg.Start(context.Background(), "rps", [2]Player{{ID: "x"}, {ID: "x"}}); err == nil {
			t.Error("a player against themself started")
		}
		var b errBox
		e.reg.Move(e.a, "nope", json.RawMessage(`{}`), b.reply)
		if !errors.Is(b.get(t), ErrNotFound) {
			t.Errorf("unknown match: %v", b.get(t))
		}
	})
}

func TestRatedResultWaitsForTheRater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{Rated: true}, testCfg)
		e.playOpening()
		e.reg.Resign(e.b, e.id, func(error) {})
		synctest.Wait()
		if over := e.a.last("match.over"); over != nil {
			t.Fatalf("match.over before the rater reported: %v", over)
		}
		// While the rater works, the match still answers.
		var b errBox
		e.reg.Watch(&fakeConn{}, e.id, b.reply)
		synctest.Wait()
		if b.get(t) != nil {
			t.Fatal(b.get(t))
		}
		e.reg.Rated("another process's match", nil) // ignored
		e.reg.Rated(e.id, []RatingChange{{PlayerID: "alice", Before: 1500, After: 1516}, {PlayerID: "bob", Before: 1500, After: 1484}})
		synctest.Wait()
		over := e.a.last("match.over")
		if over == nil || len(over["ratings"].([]any)) != 2 || over["winner"] != float64(0) {
			t.Fatalf("over = %v", over)
		}
		e.reg.Rated(e.id, nil) // a second report changes nothing
		synctest.Wait()
		if n := e.a.count("match.over"); n != 1 {
			t.Errorf("%d match.over frames, want 1", n)
		}
	})
}

func TestRatedResultWithoutRaterAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testCfg
		cfg.RatingWait = 3 * time.Second
		e := newEnv(t, "tictactoe", Deps{Rated: true}, cfg)
		e.playOpening()
		e.reg.Resign(e.b, e.id, func(error) {})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if over := e.a.last("match.over"); over != nil {
			t.Fatalf("match.over before RatingWait: %v", over)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		over := e.a.last("match.over")
		if over == nil || len(over["ratings"].([]any)) != 0 {
			t.Fatalf("over = %v", over)
		}
	})
}

// panicGame panics when asked to apply a move, as a buggy game would.
type panicGame struct{}

func (panicGame) ID() string                                           { return "panic" }
func (panicGame) Name() string                                         { return "Panic" }
func (panicGame) Players() int                                         { return 2 }
func (panicGame) Start() game.State                                    { return panicState{} }
func (panicGame) ParseMove(m json.RawMessage) (json.RawMessage, error) { return m, nil }
func (panicGame) PublicMoves(m []game.Move, _ bool) int                { return len(m) }

type panicState struct{}

func (panicState) Apply(int, json.RawMessage) (game.State, error) { panic("boom") }
func (panicState) Turn() int                                      { return 0 }
func (panicState) Awaiting(seat int) bool                         { return seat == 0 }
func (panicState) Phase() int                                     { return 0 }
func (panicState) Outcome() game.Outcome                          { return game.Outcome{} }
func (panicState) View(int) any                                   { return struct{}{} }

func TestPanicAbortsOnlyThatMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "panic", Deps{}, testCfg)
		var b errBox
		e.reg.Move(e.a, e.id, json.RawMessage(`{}`), b.reply)
		synctest.Wait()
		if err := b.get(t); err == nil {
			t.Error("the move that crashed the match was answered with success")
		}
		over := e.b.last("match.over")
		if over == nil || over["result"] != "aborted" || over["reason"] != "server_error" {
			t.Fatalf("over = %v", over)
		}
		if e.reg.InMatch("alice") {
			t.Error("alice still in the crashed match")
		}
		// The registry goes on.
		if _, err := e.reg.Start(context.Background(), "tictactoe", [2]Player{{ID: "alice"}, {ID: "bob"}}); err != nil {
			t.Fatalf("start after panic: %v", err)
		}
		synctest.Wait()
	})
}

func TestSecondTabIsNoVisibleChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		v := num(e.b.last("match.state")["version"])
		tab := &fakeConn{player: "alice"}
		e.reg.Connect(tab)
		e.reg.Watch(tab, e.id, func(error) {})
		synctest.Wait()
		if got := num(tab.last("match.state")["version"]); got != v {
			t.Errorf("the new tab got version %d, want the current %d", got, v)
		}
		e.reg.Disconnect(tab)
		synctest.Wait()
		if got := num(e.b.last("match.state")["version"]); got != v {
			t.Errorf("a second tab coming and going moved the version %d -> %d", v, got)
		}
		// The last tab going is visible.
		e.reg.Disconnect(e.a)
		synctest.Wait()
		if got := num(e.b.last("match.state")["version"]); got != v+1 {
			t.Errorf("alice's last connection going: version %d, want %d", got, v+1)
		}
	})
}
