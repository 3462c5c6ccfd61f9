// Package gametest holds the checks every game's tests run against the
// parts of the game.Game contract that are the same for all games: moves
// parse as Apply reads them, random play from wire states is legal, and
// error messages speak JSON, not Go.
package gametest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/turnbase/turnbase/game"
)

// CheckMessage fails if an error message shows Go internals (type names,
// encoding/json's "cannot unmarshal ... into Go struct field").
func CheckMessage(t testing.TB, err error) {
	t.Helper()
	msg := err.Error()
	for _, bad := range []string{"Go ", "struct", "unmarshal", "int64", "float64", "json.", "reflect"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("error message %q shows %q", msg, bad)
		}
	}
}

// CheckParseMove checks g.ParseMove(move) against Apply in s, where seat
// owes a move: ParseMove refuses exactly what Apply refuses as ErrBadMove;
// its canonical form is a fixed point of ParseMove, no longer than needed
// (valid compact JSON), and Apply treats it as it treats move.
func CheckParseMove(t testing.TB, g game.Game, s game.State, seat int, move json.RawMessage) {
	t.Helper()
	if !s.Awaiting(seat) {
		t.Fatalf("CheckParseMove: seat %d owes no move", seat)
	}
	canon, perr := g.ParseMove(move)
	next, aerr := s.Apply(seat, move)
	if perr != nil {
		if canon != nil || !errors.Is(perr, game.ErrBadMove) {
			t.Fatalf("ParseMove(%q) = %q, %v; want nil and ErrBadMove", move, canon, perr)
		}
		CheckMessage(t, perr)
		if !errors.Is(aerr, game.ErrBadMove) || next != nil {
			t.Fatalf("ParseMove(%q) refuses it (%v), Apply gives %v", move, perr, aerr)
		}
		return
	}
	if errors.Is(aerr, game.ErrBadMove) {
		t.Fatalf("ParseMove(%q) = %q, but Apply refuses it: %v", move, canon, aerr)
	}
	if aerr != nil {
		CheckMessage(t, aerr)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, canon); err != nil || !bytes.Equal(compact.Bytes(), canon) {
		t.Fatalf("ParseMove(%q) = %q: not compact JSON (%v)", move, canon, err)
	}
	again, err := g.ParseMove(canon)
	if err != nil || !bytes.Equal(again, canon) {
		t.Fatalf("ParseMove(%q) = %q, %v; want it unchanged", canon, again, err)
	}
	cnext, cerr := s.Apply(seat, canon)
	if (aerr == nil) != (cerr == nil) || aerr != nil && aerr.Error() != cerr.Error() {
		t.Fatalf("Apply(%q): %v; Apply(%q): %v", move, aerr, canon, cerr)
	}
	if aerr == nil && !bytes.Equal(view(t, next), view(t, cnext)) {
		t.Fatalf("Apply(%q) and Apply(%q) give different states", move, canon)
	}
}

func view(t testing.TB, s game.State) []byte {
	t.Helper()
	b, err := json.Marshal(s.View(game.Spectator))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seatView returns the wire state seat sees.
func seatView(t testing.TB, s game.State, seat int) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s.View(seat))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RandomGame plays g to its end with g's own RandomMove, from the wire state
// each seat sees, and checks at each step that: RandomMove offers a move
// exactly to the seats Apply awaits; the move is canonical (ParseMove
// leaves it unchanged) and accepted; MovesMade counts each seat's moves.
// It returns the moves played and the final state.
func RandomGame(t testing.TB, g game.Game, r *rand.Rand) ([]game.Move, game.State) {
	t.Helper()
	rp, ok := g.(game.RandomPlayer)
	if !ok {
		t.Fatalf("%s is not a game.RandomPlayer", g.ID())
	}
	s := g.Start()
	var moves []game.Move
	made := make([]int, g.Players())
	for range 10_000 {
		var owed []int
		for seat := range g.Players() {
			v := seatView(t, s, seat)
			if n := rp.MovesMade(v, seat); n != made[seat] {
				t.Fatalf("after %d moves: MovesMade(%s, %d) = %d, want %d", len(moves), v, seat, n, made[seat])
			}
			mv, ok := rp.RandomMove(v, seat, r)
			if ok != s.Awaiting(seat) {
				t.Fatalf("RandomMove(%s, %d) = %s, %v; Awaiting is %v", v, seat, mv, ok, s.Awaiting(seat))
			}
			if ok {
				owed = append(owed, seat)
			}
		}
		for _, spect := range []int{game.Spectator, g.Players()} {
			if mv, ok := rp.RandomMove(seatView(t, s, game.Spectator), spect, r); ok {
				t.Fatalf("RandomMove offers viewer %d the move %s", spect, mv)
			}
		}
		if len(owed) == 0 {
			if !s.Outcome().Done {
				t.Fatalf("after %d moves nobody owes a move, and the game is not over", len(moves))
			}
			return moves, s
		}
		seat := owed[r.IntN(len(owed))]
		mv, _ := rp.RandomMove(seatView(t, s, seat), seat, r)
		if canon, err := g.ParseMove(mv); err != nil || !bytes.Equal(canon, mv) {
			t.Fatalf("RandomMove gave %s, not canonical: %s, %v", mv, canon, err)
		}
		next, err := s.Apply(seat, mv)
		if err != nil {
			t.Fatalf("after %d moves: seat %d's random move %s: %v", len(moves), seat, mv, err)
		}
		moves = append(moves, game.Move{Seat: seat, Move: mv})
		made[seat]++
		s = next
	}
	t.Fatalf("%s: no end after 10,000 random moves", g.ID())
	return nil, nil
}

// CheckViewNoise checks that RandomMove and MovesMade survive views that
// are not the game's: they owe nothing and count nothing, and never panic.
func CheckViewNoise(t testing.TB, g game.RandomPlayer, view json.RawMessage) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for seat := -1; seat <= 2; seat++ {
		mv, ok := g.RandomMove(view, seat, r)
		if ok {
			if _, err := g.ParseMove(mv); err != nil {
				t.Fatalf("RandomMove(%q, %d) = %s, which does not parse: %v", view, seat, mv, err)
			}
		}
		if n := g.MovesMade(view, seat); n < 0 {
			t.Fatalf("MovesMade(%q, %d) = %d", view, seat, n)
		}
	}
}
