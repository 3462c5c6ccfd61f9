package game_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
)

// countGame is a stub game: seats alternate, a move is the JSON true, and
// anything else is illegal.
type countGame struct{ id string }

func (g countGame) ID() string        { return g.id }
func (g countGame) Name() string      { return "Count " + g.id }
func (g countGame) Players() int      { return 2 }
func (g countGame) Start() game.State { return countState(0) }

func (g countGame) ParseMove(m json.RawMessage) (json.RawMessage, error) { return m, nil }
func (g countGame) PublicMoves(m []game.Move, _ bool) int                { return len(m) }

// countState is the number of moves made.
type countState int

func (s countState) Turn() int              { return int(s) % 2 }
func (s countState) Awaiting(seat int) bool { return seat == s.Turn() }
func (s countState) Phase() int             { return int(s) }
func (s countState) Outcome() game.Outcome  { return game.Outcome{Winner: game.NoSeat} }
func (s countState) View(int) any           { return int(s) }

func (s countState) Apply(seat int, move json.RawMessage) (game.State, error) {
	if seat != s.Turn() {
		return nil, game.ErrNotYourTurn
	}
	if string(move) != "true" {
		return nil, fmt.Errorf("%w: %s", game.ErrIllegalMove, move)
	}
	return s + 1, nil
}

func TestNewRegistryPanics(t *testing.T) {
	tests := map[string]struct {
		games []game.Game
		want  string // in the panic message
	}{
		"duplicate":       {[]game.Game{countGame{"a"}, countGame{"b"}, countGame{"a"}}, `"a" registered twice`},
		"empty id":        {[]game.Game{countGame{"a"}, countGame{""}}, "empty game id"},
		"real game twice": {[]game.Game{tictactoe.Game{}, rps.Game{}, tictactoe.Game{}}, `"tictactoe" registered twice`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, tt.want) {
					t.Fatalf("panic %q, want one containing %q", msg, tt.want)
				}
			}()
			game.NewRegistry(tt.games...)
		})
	}
}

func TestRegistry(t *testing.T) {
	r := game.NewRegistry(tictactoe.Game{}, rps.Game{})

	want := []struct {
		id, name string
	}{{"tictactoe", "Tic-tac-toe"}, {"rps", "Rock paper scissors"}}
	all := r.All()
	if len(all) != len(want) {
		t.Fatalf("All returned %d games, want %d", len(all), len(want))
	}
	for i, w := range want {
		if g := all[i]; g.ID() != w.id || g.Name() != w.name || g.Players() != 2 {
			t.Errorf("game %d: %q %q %d players, want %q %q 2", i, g.ID(), g.Name(), g.Players(), w.id, w.name)
		}
		g, ok := r.Lookup(w.id)
		if !ok || g.ID() != w.id {
			t.Errorf("Lookup(%q) = %v, %v", w.id, g, ok)
		}
	}
	if g, ok := r.Lookup("chess"); ok || g != nil {
		t.Errorf("Lookup(chess) = %v, %v", g, ok)
	}
	if g, ok := r.Lookup("TicTacToe"); ok {
		t.Errorf("Lookup is case-insensitive: found %v", g)
	}

	all[0] = countGame{"x"}
	if r.All()[0].ID() != "tictactoe" {
		t.Errorf("writing to the slice All returned changed the registry")
	}
	if got := game.NewRegistry().All(); len(got) != 0 {
		t.Errorf("empty registry lists %v", got)
	}
}

func TestReplay(t *testing.T) {
	g := countGame{"count"}
	yes := json.RawMessage("true")
	moves := []game.Move{{Seat: 0, Move: yes}, {Seat: 1, Move: yes}, {Seat: 0, Move: yes}}

	s, err := game.Replay(g, moves)
	if err != nil || s != countState(3) {
		t.Fatalf("Replay = %v, %v; want 3, nil", s, err)
	}
	if s, err := game.Replay(g, nil); err != nil || s != countState(0) {
		t.Fatalf("Replay of no moves = %v, %v; want the start", s, err)
	}

	tests := map[string]struct {
		moves  []game.Move
		target error
		prefix string
	}{
		"illegal second move": {
			[]game.Move{{Seat: 0, Move: yes}, {Seat: 1, Move: json.RawMessage("false")}},
			game.ErrIllegalMove, "replay move 2 of count: ",
		},
		"wrong seat first": {
			[]game.Move{{Seat: 1, Move: yes}},
			game.ErrNotYourTurn, "replay move 1 of count: ",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := game.Replay(g, tt.moves)
			if s != nil || !errors.Is(err, tt.target) || !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Fatalf("Replay = %v, %v; want an error wrapping %v starting %q", s, err, tt.target, tt.prefix)
			}
		})
	}
}

// TestReplayRealGames replays whole stored games through the real rules.
func TestReplayRealGames(t *testing.T) {
	mv := func(seat int, s string) game.Move { return game.Move{Seat: seat, Move: json.RawMessage(s)} }
	tests := map[string]struct {
		game  game.Game
		moves []game.Move
		want  game.Outcome
	}{
		"tictactoe column": {tictactoe.Game{}, []game.Move{
			mv(0, `{"cell":1}`), mv(1, `{"cell":0}`), mv(0, `{"cell":4}`), mv(1, `{"cell":2}`), mv(0, `{"cell":7}`),
		}, game.Outcome{Done: true, Winner: 0, Reason: "line"}},
		"rps two wins": {rps.Game{}, []game.Move{
			mv(1, `{"choice":"paper"}`), mv(0, `{"choice":"rock"}`),
			mv(0, `{"choice":"rock"}`), mv(1, `{"choice":"rock"}`),
			mv(0, `{"choice":"scissors"}`), mv(1, `{"choice":"rock"}`),
		}, game.Outcome{Done: true, Winner: 1, Reason: "rounds"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := game.Replay(tt.game, tt.moves)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Outcome(); got != tt.want {
				t.Fatalf("outcome %+v, want %+v", got, tt.want)
			}
			_, err = game.Replay(tt.game, append(tt.moves, mv(0, `{}`)))
			if !errors.Is(err, game.ErrGameOver) {
				t.Fatalf("a move after the end replayed with error %v", err)
			}
		})
	}
}
