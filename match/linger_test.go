package match

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/turnbase/turnbase/game"
)

// endMatches plays n tic-tac-toe matches to an X win, each between two of
// a pool of connected players, as a load run does, and leaves them
// lingering.
func endMatches(tb testing.TB, reg *Registry, conns []*countConn, n int) {
	tb.Helper()
	done := make(chan error, 1)
	reply := func(err error) { done <- err }
	cells := []string{`{"cell":0}`, `{"cell":3}`, `{"cell":1}`, `{"cell":4}`, `{"cell":2}`}
	for i := range n {
		a, b := conns[(2*i)%len(conns)], conns[(2*i+1)%len(conns)]
		id, err := reg.Start(context.Background(), "tictactoe", [2]Player{{ID: a.player, Name: a.player}, {ID: b.player, Name: b.player}})
		if err != nil {
			tb.Fatalf("start match %d: %v", i, err)
		}
		for k, mv := range cells {
			c := a
			if k%2 == 1 {
				c = b
			}
			reg.Move(c, id, json.RawMessage(mv), reply)
			if err := <-done; err != nil {
				tb.Fatalf("match %d move %d: %v", i, k, err)
			}
		}
	}
}

func playerPool(reg *Registry, n int) []*countConn {
	conns := make([]*countConn, n)
	for i := range conns {
		conns[i] = &countConn{player: "p" + strconv.Itoa(i)}
		reg.Connect(conns[i])
	}
	return conns
}

// memAfterGC returns the live heap and the goroutine stacks in use.
func memAfterGC() (heap, stacks int64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), int64(ms.StackInuse)
}

// BenchmarkLingeringMatches ends b.N matches (400 players connected, as in
// the load run) and reports what each costs while it lingers: heap bytes
// after GC and goroutines. Run it with -benchtime 10000x.
func BenchmarkLingeringMatches(b *testing.B) {
	reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, Config{Linger: time.Hour})
	defer reg.Shutdown(context.Background())
	conns := playerPool(reg, 400)
	heap0, stack0 := memAfterGC()
	g0 := runtime.NumGoroutine()
	b.ResetTimer()
	endMatches(b, reg, conns, b.N)
	b.StopTimer()
	time.Sleep(10 * time.Millisecond) // let ended goroutines exit
	heap1, stack1 := memAfterGC()
	g1 := runtime.NumGoroutine()
	if live, _ := reg.Counts(); live != 0 || len(reg.List(StatusFinished)) != b.N {
		b.Fatalf("%d live, %d lingering; want 0 and %d", live, len(reg.List(StatusFinished)), b.N)
	}
	b.ReportMetric(float64(heap1-heap0)/float64(b.N), "heapB/lingering")
	b.ReportMetric(float64(stack1-stack0)/float64(b.N), "stackB/lingering")
	b.ReportMetric(float64(g1-g0)/float64(b.N), "goroutines/lingering")
}

// TestLingeringMatch: after its end a match has no goroutine, yet answers
// as before until Linger has passed.
func TestLingeringMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{}, testCfg)
		for i, mv := range []string{`{"cell":0}`, `{"cell":3}`, `{"cell":1}`, `{"cell":4}`, `{"cell":2}`} {
			c := e.a
			if i%2 == 1 {
				c = e.b
			}
			if err := e.move(c, mv); err != nil {
				t.Fatalf("move %d: %v", i, err)
			}
		}
		final := num(e.a.last("match.state")["version"])

		// A late spectator gets the final state, then match.over; everyone
		// sees the spectator count change.
		spec := &fakeConn{}
		var wb errBox
		e.reg.Watch(spec, e.id, wb.reply)
		if err := wb.get(t); err != nil {
			t.Fatalf("watch: %v", err)
		}
		st := spec.last("match.state")
		if st["status"] != "finished" || num(st["version"]) != final+1 || num(st["spectators"]) != 1 || spec.last("match.over") == nil {
			t.Fatalf("late spectator got %s", spec.allRaw())
		}
		if num(e.b.last("match.state")["version"]) != final+1 {
			t.Error("players did not see the spectator count change")
		}
		for name, err := range map[string]error{
			"move":   e.move(e.a, `{"cell":5}`),
			"resign": func() error { var b errBox; e.reg.Resign(e.b, e.id, b.reply); return b.get(t) }(),
		} {
			if !errors.Is(err, ErrMatchOver) {
				t.Errorf("%s after the end: %v", name, err)
			}
		}
		if s, ok := e.reg.Get(e.id); !ok || s.Status != StatusFinished || *s.Winner != 0 || s.Spectators != 1 {
			t.Errorf("Get = %+v, %v", s, ok)
		}
		if live, _ := e.reg.Counts(); live != 0 || len(e.reg.List(StatusFinished)) != 1 {
			t.Errorf("live %d, finished %v", live, e.reg.List(StatusFinished))
		}
		e.reg.Unwatch(spec, e.id)
		if s, _ := e.reg.Get(e.id); s.Spectators != 0 {
			t.Errorf("unwatch not in the summary: %+v", s)
		}
		// The count, changed within SpectatorEvery of the last, shows
		// once that has passed, though no goroutine runs the match.
		time.Sleep(time.Second)
		synctest.Wait()
		if num(e.a.last("match.state")["spectators"]) != 0 {
			t.Error("unwatch not seen")
		}

		// Rematch: offered to both players, started when both asked.
		var ra, rb errBox
		e.reg.Rematch(e.b, e.id, rb.reply)
		if err := rb.get(t); err != nil {
			t.Fatal(err)
		}
		if off := e.a.last("match.rematch_offered"); off == nil || off["by"] != 1.0 || e.b.last("match.rematch_offered") == nil {
			t.Fatalf("offer = %v", off)
		}
		e.reg.Rematch(e.a, e.id, ra.reply)
		synctest.Wait()
		if err := ra.get(t); err != nil {
			t.Fatal(err)
		}
		if found := e.b.last("match.found"); found == nil || found["match"] == e.id || found["you"] != 0.0 {
			t.Fatalf("rematch found = %v", found)
		}

		time.Sleep(testCfg.Linger)
		synctest.Wait()
		if _, ok := e.reg.Get(e.id); ok {
			t.Error("still there after Linger")
		}
		e.reg.Watch(spec, e.id, wb.reply)
		if !errors.Is(wb.get(t), ErrNotFound) {
			t.Errorf("watch after linger: %v", wb.get(t))
		}
	})
}

// TestLingeringCostsNoGoroutine: ended matches leave no goroutine behind
// but the one sweeper, and Shutdown stops them.
func TestLingeringCostsNoGoroutine(t *testing.T) {
	reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, Config{Linger: time.Hour})
	conns := playerPool(reg, 10)
	g0 := runtime.NumGoroutine()
	endMatches(t, reg, conns, 50)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0+1 {
		t.Errorf("%d goroutines for 50 lingering matches, want at most 1 (the sweeper)", g-g0)
	}
	if n := len(reg.List(StatusFinished)); n != 50 {
		t.Fatalf("%d lingering matches, want 50", n)
	}
	if err := reg.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.List(StatusFinished)); n != 0 {
		t.Errorf("%d matches left after Shutdown", n)
	}
}

// blockingJournal holds every AppendMove until release is closed.
type blockingJournal struct {
	memJournal
	release chan struct{}
}

func (j *blockingJournal) AppendMove(ctx context.Context, id string, mv StoredMove) error {
	<-j.release
	return j.memJournal.AppendMove(ctx, id, mv)
}

// TestBusyMatch: a match stuck on its journal refuses requests past its
// queue with ErrBusy, but never loses nor blocks on an unwatch; watches
// and unwatches have a bound of their own (half the queue), so that the
// players' moves still get in behind any number of them.
func TestBusyMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &blockingJournal{release: make(chan struct{})}
		cfg := testCfg
		cfg.InboxSize = 4
		e := newEnv(t, "tictactoe", Deps{Journal: j}, cfg)
		spec := &fakeConn{}
		e.reg.Watch(spec, e.id, func(error) {})
		synctest.Wait()
		e.reg.Move(e.a, e.id, json.RawMessage(`{"cell":4}`), func(error) {})
		synctest.Wait() // run is now waiting on the journal
		var replies [3]errBox
		for i := range replies {
			e.reg.Watch(&fakeConn{}, e.id, replies[i].reply)
		}
		if err := replies[2].get(t); !errors.Is(err, ErrBusy) {
			t.Fatalf("third queued watch: %v, want ErrBusy (watches take half the queue)", err)
		}
		for range 100 {
			e.reg.Unwatch(&fakeConn{}, e.id) // never refused
		}
		var moves [5]errBox
		e.reg.Move(e.b, e.id, json.RawMessage(`{"cell":0}`), moves[0].reply)
		for i := 1; i < 4; i++ {
			e.reg.Resign(e.b, e.id, moves[i].reply) // after the move: the first ends the match
		}
		e.reg.Move(e.b, e.id, json.RawMessage(`{"cell":1}`), moves[4].reply)
		if err := moves[4].get(t); !errors.Is(err, ErrBusy) {
			t.Fatalf("a player's fifth queued request: %v, want ErrBusy", err)
		}
		e.reg.Disconnect(spec) // returns at once, with the queue full
		close(j.release)
		synctest.Wait()
		for i := range 2 {
			if err := replies[i].get(t); err != nil {
				t.Errorf("queued watch %d: %v", i, err)
			}
		}
		if err := moves[0].get(t); err != nil {
			t.Errorf("the player's move behind the watches: %v", err)
		}
		time.Sleep(time.Second) // the count shows within SpectatorEvery
		synctest.Wait()
		if got := num(e.a.last("match.state")["spectators"]); got != 2 {
			t.Errorf("spectators = %d, want 2 (the unwatch was lost?)", got)
		}
	})
}

// endGame ends at its first move; a spectator's view of the end panics,
// as a buggy game's might.
type endGame struct{}

func (endGame) ID() string                                           { return "end" }
func (endGame) Name() string                                         { return "End" }
func (endGame) Players() int                                         { return 2 }
func (endGame) Start() game.State                                    { return endState{} }
func (endGame) ParseMove(m json.RawMessage) (json.RawMessage, error) { return m, nil }
func (endGame) PublicMoves(m []game.Move, _ bool) int                { return len(m) }

type endState struct{ over bool }

func (endState) Apply(int, json.RawMessage) (game.State, error) { return endState{over: true}, nil }
func (endState) Turn() int                                      { return 0 }
func (s endState) Awaiting(seat int) bool                       { return !s.over && seat == 0 }
func (endState) Phase() int                                     { return 0 }
func (s endState) Outcome() game.Outcome {
	if s.over {
		return game.Outcome{Done: true, Winner: 0, Reason: "line"}
	}
	return game.Outcome{}
}
func (s endState) View(viewer int) any {
	if s.over && viewer == game.Spectator {
		panic("no view for spectators")
	}
	return struct{}{}
}

// TestHandOverPanicAnswersTheRest: when a request queued behind a
// match's last move panics as the match hands over, the match is dropped
// and the requests queued after it are answered ErrNotFound, not left
// without a reply.
func TestHandOverPanicAnswersTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &blockingJournal{release: make(chan struct{})}
		reg := NewRegistry(quietLogger(), game.NewRegistry(endGame{}), Deps{Journal: j}, testCfg)
		defer reg.Shutdown(context.Background())
		a, b := &fakeConn{player: "alice"}, &fakeConn{player: "bob"}
		reg.Connect(a)
		reg.Connect(b)
		id, err := reg.Start(context.Background(), "end", [2]Player{{ID: "alice"}, {ID: "bob"}})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		var last, watch, late errBox
		reg.Move(a, id, json.RawMessage(`{}`), last.reply)
		synctest.Wait() // run waits on the journal with the last move
		reg.Watch(&fakeConn{}, id, watch.reply)
		reg.Move(b, id, json.RawMessage(`{}`), late.reply)
		close(j.release)
		synctest.Wait()
		if err := last.get(t); err != nil {
			t.Errorf("last move: %v", err)
		}
		if err := watch.get(t); err == nil {
			t.Error("the watch that panicked was answered with success")
		}
		if err := late.get(t); !errors.Is(err, ErrNotFound) {
			t.Errorf("request queued after the panic: %v, want ErrNotFound", err)
		}
		if n := len(reg.List(StatusFinished)); n != 0 {
			t.Errorf("%d matches lingering after the panic", n)
		}
	})
}

// A queue that never runs empty keeps only its waiting requests, in order.
func TestQueueCompacts(t *testing.T) {
	m := &Match{wake: make(chan struct{}, 1), cfg: Config{InboxSize: 8}}
	sent, took := 0, 0
	for range 10_000 {
		for range 2 { // two in, one out: the queue grows to the inbox bound, never empties
			if m.deliver(request{received: time.Unix(int64(sent), 0)}, true) == nil {
				sent++
			}
		}
		r, ok := m.next()
		if !ok || r.received.Unix() != int64(took) {
			t.Fatalf("took %v (%v), want request %d", r.received.Unix(), ok, took)
		}
		took++
	}
	if c := cap(m.queue); c > 256 {
		t.Fatalf("queue capacity %d after %d requests; want it bounded", c, sent)
	}
}
