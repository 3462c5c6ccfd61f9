// Package tictactoe is the rules of tic-tac-toe, as PROTOCOL.md describes
// them: seat 0 plays X and moves first, a move is {"cell": 0..8} with cells
// numbered row by row, and the wire state is {"board": [9 marks], "moves": n}.
package tictactoe

import (
	"encoding/json"
	"fmt"
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

// parseCell returns the cell of a move. The compact form clients send,
// {"cell":D} with one digit, is read directly; any other input goes
// through encoding/json, so both give the same answer.
func parseCell(move json.RawMessage) (int, error) {
	if len(move) == len(`{"cell":0}`) && string(move[:8]) == `{"cell":` && move[9] == '}' &&
		move[8] >= '0' && move[8] <= '9' {
		return int(move[8] - '0'), nil
	}
	var mv struct {
		Cell *int `json:"cell"`
	}
	if err := json.Unmarshal(move, &mv); err != nil {
		return 0, fmt.Errorf("%w: %w", game.ErrBadMove, err)
	}
	if mv.Cell == nil {
		return 0, fmt.Errorf(`%w: want {"cell": 0..8}`, game.ErrBadMove)
	}
	return *mv.Cell, nil
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
