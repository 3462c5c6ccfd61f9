package match

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnbase/turnbase/game"
)

// countConn is a subscriber that takes every frame and counts bytes.
type countConn struct {
	player string
	bytes  atomic.Int64
}

func (c *countConn) PlayerID() string { return c.player }
func (c *countConn) Send(frame []byte) bool {
	c.bytes.Add(int64(len(frame)))
	return true
}

// BenchmarkMoveRoundTrip measures one move through a running match: the
// registry call, the inbox, Apply, the version bump and encoding the state
// once per kind of viewer for two players and the given spectators, to the
// reply. Moves alternate so the game never ends: X and O take a cell and
// the match is restarted every 8 moves.
func BenchmarkMoveRoundTrip(b *testing.B) {
	for _, spectators := range []int{0, 10, 100} {
		b.Run(benchName("spectators", spectators), func(b *testing.B) {
			reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, Config{MoveTimeout: time.Hour, Grace: time.Hour, Linger: time.Millisecond})
			defer reg.Shutdown(context.Background())
			a, o := &countConn{player: "a"}, &countConn{player: "b"}
			reg.Connect(a)
			reg.Connect(o)
			done := make(chan error, 1)
			reply := func(err error) { done <- err }
			moves := [8]json.RawMessage{}
			for i := range moves {
				moves[i] = json.RawMessage(`{"cell":` + string(rune('0'+[8]int{0, 1, 2, 4, 3, 5, 7, 6}[i])) + `}`)
			}
			var id string
			start := func() {
				var err error
				for {
					id, err = reg.Start(context.Background(), "tictactoe", [2]Player{{ID: "a", Name: "A"}, {ID: "b", Name: "B"}})
					if err == nil {
						break
					}
					time.Sleep(time.Millisecond) // the previous match is still ending
				}
				for range spectators {
					reg.Watch(&countConn{}, id, reply)
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
			}
			start()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % 8
				if k == 0 && i > 0 {
					b.StopTimer()
					reg.Resign(a, id, func(error) {})
					start()
					b.StartTimer()
				}
				c := a
				if k%2 == 1 {
					c = o
				}
				reg.Move(c, id, moves[k], reply)
				if err := <-done; err != nil {
					b.Fatalf("move %d: %v", i, err)
				}
			}
		})
	}
}

// BenchmarkStateFrames measures building and encoding one version of
// match.state for each kind of viewer (seat 0, seat 1, spectators).
func BenchmarkStateFrames(b *testing.B) {
	for _, g := range newEnvGames().All() {
		if g.ID() == "panic" {
			continue
		}
		b.Run(g.ID(), func(b *testing.B) {
			reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, Config{})
			rec := Record{ID: "m", Game: g.ID(), Players: [2]Player{{ID: "a", Name: "A"}, {ID: "b", Name: "B"}}}
			m := newMatch(reg, rec, g, g.Start(), 0, reg.cfg, time.Now())
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m.frames = [3][]byte{}
				for _, viewer := range []int{0, 1, game.Spectator} {
					_ = m.stateFrame(viewer)
				}
			}
		})
	}
}

func benchName(k string, v int) string { return k + "=" + strconv.Itoa(v) }
