// Package game defines the rules interface that a match drives, and the
// registry of the games a server offers. Rules are pure values: no I/O, no
// goroutines, no clocks. A match owns a State and replaces it with the one
// Apply returns; a State is never mutated after it is returned.
//
// Adding a game is one new package under game/ that implements Game (and
// RandomPlayer), plus one line in game/catalog, the list that the server
// and the load generator both take their games from.
package game

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
)

// Spectator is the viewer passed to State.View for anyone who does not sit
// in the match. Seats are 0 and 1.
const Spectator = -1

// NoSeat is the winner of a drawn or undecided game, and the turn of a game
// whose seats move at once or that is over.
const NoSeat = -1

// Errors that Apply wraps. The transport maps them to wire codes.
var (
	ErrNotYourTurn = errors.New("not your turn")
	ErrIllegalMove = errors.New("illegal move")
	ErrBadMove     = errors.New("malformed move")
	ErrGameOver    = errors.New("game is over")
)

// Game is one kind of game.
type Game interface {
	// ID is the wire name, e.g. "tictactoe". Immutable.
	ID() string
	// Name is the human name, e.g. "Tic-tac-toe".
	Name() string
	// Players is the number of seats (2 for every game today).
	Players() int
	// Start returns the state before any move.
	Start() State

	// ParseMove decodes a wire move strictly (see DecodeObject) and returns
	// its canonical JSON: what a match stores and replays, never the
	// client's own text. It refuses exactly the moves that Apply refuses
	// with ErrBadMove, and every error wraps ErrBadMove; whether a move is
	// legal in a position (a cell off the board, an unknown hand) is
	// Apply's to say. Apply gives the same answer for a move and for its
	// canonical form.
	ParseMove(move json.RawMessage) (json.RawMessage, error)

	// PublicMoves returns how many of a match's stored moves, taken in
	// order from the first, anyone may see: the HTTP match history shows
	// moves[:n]. over says whether the match has ended. A move that would
	// give away hidden information (a choice in an open rps round) is
	// never public, over or not.
	PublicMoves(moves []Move, over bool) int
}

// RandomPlayer is a Game that can play from the wire state alone, as a
// client sees it: load generators and tests use it to play any game without
// knowing its rules. It is optional; every game in this repository has it.
type RandomPlayer interface {
	Game

	// RandomMove returns a random legal move for seat, given view, the
	// wire "state" that seat is shown, or false if seat owes no move in it
	// (not its turn, already chosen, or the game is over). A view that does
	// not parse owes no move.
	RandomMove(view json.RawMessage, seat int, r *rand.Rand) (json.RawMessage, bool)

	// MovesMade returns how many moves seat has made so far, as view (the
	// wire "state" seat is shown) tells. It grows by one with each of
	// seat's accepted moves, so a client can tell the state that holds its
	// last move from states that other events caused. A view that does
	// not parse gives 0.
	MovesMade(view json.RawMessage, seat int) int
}

// State is one position of a game. Implementations are immutable values.
type State interface {
	// Apply returns the state after seat plays move (the JSON of the wire
	// "move" field). The receiver is unchanged. Errors wrap ErrBadMove (the
	// move does not parse), ErrNotYourTurn, ErrIllegalMove or ErrGameOver.
	Apply(seat int, move json.RawMessage) (State, error)

	// Turn is the one seat to move, or NoSeat while seats move at once
	// (an open rps round) or once the game is over. It is the wire "turn".
	Turn() int

	// Awaiting reports whether seat owes a move now. When a deadline passes,
	// the seats still awaited lose (both awaited: a draw).
	Awaiting(seat int) bool

	// Phase numbers the turn or round in play. A match restarts the move
	// deadline whenever Phase changes.
	Phase() int

	// Outcome says whether the game is over, who won and why.
	Outcome() Outcome

	// View returns the state as viewer (a seat, or Spectator) may see it,
	// ready for JSON encoding as the wire "state". Hidden information of
	// other seats never appears in it.
	View(viewer int) any
}

// Outcome is the end of a game, or its absence.
type Outcome struct {
	Done   bool
	Winner int    // a seat, or NoSeat for a draw
	Reason string // wire reason, e.g. "line", "board_full", "rounds"
}

// Registry holds the games a server offers. Immutable after NewRegistry.
type Registry struct {
	byID  map[string]Game
	order []Game
}

// NewRegistry returns a registry of games, listed in the order given.
// It panics on a duplicate or empty id: that is a programming error in the
// one line that registers games.
func NewRegistry(games ...Game) *Registry {
	r := &Registry{byID: make(map[string]Game, len(games))}
	for _, g := range games {
		id := g.ID()
		if id == "" {
			panic("game: empty game id")
		}
		if _, dup := r.byID[id]; dup {
			panic(fmt.Sprintf("game: %q registered twice", id))
		}
		r.byID[id] = g
		r.order = append(r.order, g)
	}
	return r
}

// Lookup returns the game with the given id.
func (r *Registry) Lookup(id string) (Game, bool) {
	g, ok := r.byID[id]
	return g, ok
}

// All returns the games in registration order. The slice is a copy.
func (r *Registry) All() []Game {
	return append([]Game(nil), r.order...)
}

// Replay applies moves in order from the start state and returns the final
// state. It is how a match is rebuilt from its stored moves.
func Replay(g Game, moves []Move) (State, error) {
	s := g.Start()
	for i, mv := range moves {
		next, err := s.Apply(mv.Seat, mv.Move)
		if err != nil {
			return nil, fmt.Errorf("replay move %d of %s: %w", i+1, g.ID(), err)
		}
		s = next
	}
	return s, nil
}

// Move is one accepted move as it is stored and replayed.
type Move struct {
	Seat int
	Move json.RawMessage
}
