// Package tictactoe is the rules of tic-tac-toe, as PROTOCOL.md describes
// them: seat 0 plays X and moves first, a move is {"cell": 0..8} with cells
// numbered row by row, and the wire state is {"board": [9 marks], "moves": n}.
package tictactoe

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/turnbase/turnbase/game"
)

// Wire reasons at the end of a game.
const (
	ReasonLine      = "line"       // the last mover completed a line and won
	ReasonBoardFull = "board_full" // nine moves and no line: a draw
)

const cells = 9

// Game is tic-tac-toe. The zero value is ready to register.
type Game struct{}

// ID returns "tictactoe".
func (Game) ID() string { return "tictactoe" }

// Name returns "Tic-tac-toe".
func (Game) Name() string { return "Tic-tac-toe" }

// Players returns 2.
func (Game) Players() int { return 2 }

// Start returns the empty board, X to move.
func (Game) Start() game.State { return &State{} }

// mark is what a cell holds. The zero mark is an empty cell.
type mark uint8

const (
	empty mark = iota
	markX      // seat 0
	markO      // seat 1
)

// String returns the wire form of m: "", "X" or "O".
func (m mark) String() string {
	switch m {
	case markX:
		return "X"
	case markO:
		return "O"
	}
	return ""
}

// State is one position. It is immutable: Apply returns a new State and
// leaves its receiver alone. The zero State is the empty board.
type State struct {
	board [cells]mark // row by row
	moves int         // marks on the board; seat moves%2 is to move
	line  bool        // the last move completed a line; only set when it did
}

// Apply returns the position after seat plays move, a JSON {"cell": n}.
// Checks run from cheap to dear: a finished game (ErrGameOver), then the
// seat (ErrNotYourTurn, also for a seat that is not 0 or 1), then decoding
// (ErrBadMove: not JSON, not an object, "cell" missing or not an integer),
// then the cell (ErrIllegalMove: off the board or occupied).
func (s *State) Apply(seat int, move json.RawMessage) (game.State, error) {
	if s.over() {
		return nil, game.ErrGameOver
	}
	if turn := s.Turn(); seat != turn {
		return nil, fmt.Errorf("%w: seat %d moves, not seat %d", game.ErrNotYourTurn, turn, seat)
	}
	c, err := parseCell(move)
	if err != nil {
		return nil, err
	}
	if c < 0 || c >= cells {
		return nil, fmt.Errorf("%w: cell %d is off the board", game.ErrIllegalMove, c)
	}
	if s.board[c] != empty {
		return nil, fmt.Errorf("%w: cell %d is taken", game.ErrIllegalMove, c)
	}

	next := *s // board is an array: this copies it
	next.board[c] = markX + mark(seat)
	next.moves++
	next.line = next.completesLine(c)
	return &next, nil
}

// ParseMove returns the canonical form of a move, {"cell":n}. Any integer
// n parses: a cell off the board is Apply's illegal move.
func (Game) ParseMove(move json.RawMessage) (json.RawMessage, error) {
	c, err := parseCell(move)
	if err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, 16), `{"cell":`...)
	b = strconv.AppendInt(b, int64(c), 10)
	return append(b, '}'), nil
}

// PublicMoves returns len(moves): nothing in tic-tac-toe is hidden.
func (Game) PublicMoves(moves []game.Move, _ bool) int { return len(moves) }

var moveKeys = []string{"cell"}

// parseCell returns the cell of a move, decoded by game.DecodeObject. The
// compact form clients send, {"cell":D} with one digit, is read directly:
// it is strictly valid, and gives what the decoder gives.
func parseCell(move json.RawMessage) (int, error) {
	if len(move) == len(`{"cell":0}`) && string(move[:8]) == `{"cell":` && move[9] == '}' &&
		move[8] >= '0' && move[8] <= '9' {
		return int(move[8] - '0'), nil
	}
	cell, found := 0, false
	err := game.DecodeObject(move, moveKeys, func(key string, v json.Token) (err error) {
		cell, err = game.IntValue(key, v)
		found = true
		return err
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf(`%w: want {"cell": 0..8}`, game.ErrBadMove)
	}
	return cell, nil
}

// completesLine reports whether the mark in cell c sits on a full line.
// Only lines through the last move can be new, so only those are checked.
func (s *State) completesLine(c int) bool {
	m := s.board[c]
	row, col := c/3, c%3
	same := func(a, b, d int) bool {
		return s.board[a] == m && s.board[b] == m && s.board[d] == m
	}
	switch {
	case same(row*3, row*3+1, row*3+2):
		return true
	case same(col, col+3, col+6):
		return true
	case row == col && same(0, 4, 8):
		return true
	case row+col == 2 && same(2, 4, 6):
		return true
	}
	return false
}

func (s *State) over() bool { return s.line || s.moves == cells }

// Turn returns the seat to move, or game.NoSeat once the game is over.
func (s *State) Turn() int {
	if s.over() {
		return game.NoSeat
	}
	return s.moves % 2
}

// Awaiting reports whether seat is the one to move.
func (s *State) Awaiting(seat int) bool {
	return !s.over() && seat == s.moves%2
}

// Phase returns the number of moves made.
func (s *State) Phase() int { return s.moves }

// Outcome returns the result: the last mover wins on a line, a full board
// without one is a draw.
func (s *State) Outcome() game.Outcome {
	switch {
	case s.line:
		return game.Outcome{Done: true, Winner: (s.moves - 1) % 2, Reason: ReasonLine}
	case s.moves == cells:
		return game.Outcome{Done: true, Winner: game.NoSeat, Reason: ReasonBoardFull}
	}
	return game.Outcome{Winner: game.NoSeat}
}

// view is the wire state. Nothing is hidden in tic-tac-toe, so every viewer
// gets the same one.
type view struct {
	Board [cells]string `json:"board"`
	Moves int           `json:"moves"`
}

// View returns the wire state; it is the same for every viewer.
func (s *State) View(int) any {
	v := view{Moves: s.moves}
	for i, m := range s.board {
		v.Board[i] = m.String()
	}
	return v
}

// AppendView appends the JSON of View: {"board":["X","",...],"moves":n}.
func (s *State) AppendView(dst []byte, _ int) []byte {
	dst = append(dst, `{"board":[`...)
	for i, m := range s.board {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, m.String()...) // "", "X" or "O": nothing to escape
		dst = append(dst, '"')
	}
	dst = append(dst, `],"moves":`...)
	dst = strconv.AppendInt(dst, int64(s.moves), 10)
	return append(dst, '}')
}

// RandomMove returns {"cell":n} for a random empty cell when view, the
// wire state, shows seat to move in a game not yet over.
func (Game) RandomMove(view json.RawMessage, seat int, r *rand.Rand) (json.RawMessage, bool) {
	s, ok := fromView(view)
	if !ok || !s.Awaiting(seat) {
		return nil, false
	}
	var free []int
	for c, m := range s.board {
		if m == empty {
			free = append(free, c)
		}
	}
	return json.RawMessage(`{"cell":` + strconv.Itoa(free[r.IntN(len(free))]) + `}`), true
}

// MovesMade returns the marks seat has on the board view shows: seat 0
// made the odd-numbered moves, seat 1 the even ones.
func (Game) MovesMade(view json.RawMessage, seat int) int {
	s, ok := fromView(view)
	if !ok || seat != 0 && seat != 1 {
		return 0
	}
	return (s.moves + 1 - seat) / 2
}

// fromView rebuilds the State a wire state shows, or false if it does not
// parse as one (wrong length, unknown marks, a count that cannot be).
func fromView(b json.RawMessage) (*State, bool) {
	var v view
	if json.Unmarshal(b, &v) != nil {
		return nil, false
	}
	var s State
	var n [3]int
	for i, m := range v.Board {
		switch m {
		case "":
		case "X":
			s.board[i] = markX
		case "O":
			s.board[i] = markO
		default:
			return nil, false
		}
		n[s.board[i]]++
	}
	s.moves = n[markX] + n[markO]
	if d := n[markX] - n[markO]; d != 0 && d != 1 {
		return nil, false
	}
	// The last move made the line, if any: any line of the last mover's
	// mark ends the game, wherever it is.
	if s.moves > 0 {
		last := markX + mark((s.moves-1)%2)
		for c, m := range s.board {
			if m == last && s.completesLine(c) {
				s.line = true
				break
			}
		}
	}
	return &s, true
}
