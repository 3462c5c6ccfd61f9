// Package connectfour is the rules of Connect Four on 7 columns and 6 rows:
// seat 0 plays R (red) and moves first, seat 1 plays Y (yellow). A move is
// {"column": 0..6}; the piece falls to the lowest free cell of that column.
// Four in a row, across, up or diagonally, wins; a full board without one
// is a draw.
//
// The wire state is {"board": [42 cells], "moves": n}, each cell "", "R"
// or "Y", row by row from the top row: cell row*7+column. Nothing is
// hidden: every viewer gets the same state.
package connectfour

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/turnbase/turnbase/game"
)

// Wire reasons at the end of a game.
const (
	ReasonLine      = "line"       // the last mover completed four in a row and won
	ReasonBoardFull = "board_full" // 42 pieces and no four in a row: a draw
)

// The board's size.
const (
	Columns = 7
	Rows    = 6
	cells   = Columns * Rows
)

// Game is Connect Four. The zero value is ready to register.
type Game struct{}

// ID returns "connectfour".
func (Game) ID() string { return "connectfour" }

// Name returns "Connect Four".
func (Game) Name() string { return "Connect Four" }

// Players returns 2.
func (Game) Players() int { return 2 }

// Start returns the empty board, red to move.
func (Game) Start() game.State { return &State{} }

// piece is what a cell holds. The zero piece is an empty cell.
type piece uint8

const (
	empty  piece = iota
	red          // seat 0
	yellow       // seat 1
)

// String returns the wire form of p: "", "R" or "Y".
func (p piece) String() string {
	switch p {
	case red:
		return "R"
	case yellow:
		return "Y"
	}
	return ""
}

// State is one position. It is immutable: Apply returns a new State and
// leaves its receiver alone. The zero State is the empty board.
type State struct {
	board [cells]piece // row by row from the top: cell row*Columns+column
	moves int          // pieces on the board; seat moves%2 is to move
	line  bool         // the last move made four in a row; only set when it did
}

// Apply returns the position after seat plays move, a JSON {"column": n}.
// Checks run from cheap to dear: a finished game (ErrGameOver), then the
// seat (ErrNotYourTurn, also for a seat that is not 0 or 1), then decoding
// (ErrBadMove, see ParseMove), then the column (ErrIllegalMove: off the
// board or full).
func (s *State) Apply(seat int, move json.RawMessage) (game.State, error) {
	if s.over() {
		return nil, game.ErrGameOver
	}
	if turn := s.Turn(); seat != turn {
		return nil, fmt.Errorf("%w: seat %d moves, not seat %d", game.ErrNotYourTurn, turn, seat)
	}
	col, err := parseColumn(move)
	if err != nil {
		return nil, err
	}
	if col < 0 || col >= Columns {
		return nil, fmt.Errorf("%w: column %d is off the board", game.ErrIllegalMove, col)
	}
	row := s.free(col)
	if row < 0 {
		return nil, fmt.Errorf("%w: column %d is full", game.ErrIllegalMove, col)
	}

	next := *s // board is an array: this copies it
	c := row*Columns + col
	next.board[c] = red + piece(seat)
	next.moves++
	next.line = next.completesLine(c)
	return &next, nil
}

// free returns the lowest empty row of col, or -1 if the column is full.
func (s *State) free(col int) int {
	for row := Rows - 1; row >= 0; row-- {
		if s.board[row*Columns+col] == empty {
			return row
		}
	}
	return -1
}

// ParseMove returns the canonical form of a move, {"column":n}. Any
// integer n parses: a column off the board is Apply's illegal move.
func (Game) ParseMove(move json.RawMessage) (json.RawMessage, error) {
	col, err := parseColumn(move)
	if err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, 24), `{"column":`...)
	b = strconv.AppendInt(b, int64(col), 10)
	return append(b, '}'), nil
}

// PublicMoves returns len(moves): nothing in Connect Four is hidden.
func (Game) PublicMoves(moves []game.Move, _ bool) int { return len(moves) }

var moveKeys = []string{"column"}

// parseColumn returns the column of a move, decoded by game.DecodeObject.
// The compact form clients send, {"column":D} with one digit, is read
// directly: it is strictly valid, and gives what the decoder gives.
func parseColumn(move json.RawMessage) (int, error) {
	const prefix = `{"column":`
	if len(move) == len(prefix)+2 && string(move[:len(prefix)]) == prefix && move[len(prefix)+1] == '}' &&
		move[len(prefix)] >= '0' && move[len(prefix)] <= '9' {
		return int(move[len(prefix)] - '0'), nil
	}
	col, found := 0, false
	err := game.DecodeObject(move, moveKeys, func(key string, v json.Token) (err error) {
		col, err = game.IntValue(key, v)
		found = true
		return err
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf(`%w: want {"column": 0..6}`, game.ErrBadMove)
	}
	return col, nil
}

// directions are the four ways a line runs, as (row, column) steps:
// across, down, down-right and down-left. Each is walked both ways.
var directions = [4][2]int{{0, 1}, {1, 0}, {1, 1}, {1, -1}}

// completesLine reports whether the piece in cell c is one of four or
// more in a row. Only lines through the last move can be new, so only
// those are checked.
func (s *State) completesLine(c int) bool {
	p := s.board[c]
	row, col := c/Columns, c%Columns
	for _, d := range directions {
		n := 1 + s.run(p, row, col, d[0], d[1]) + s.run(p, row, col, -d[0], -d[1])
		if n >= 4 {
			return true
		}
	}
	return false
}

// run counts the cells holding p from (row, col), excluded, stepping by
// (dr, dc) until the first other cell or the edge.
func (s *State) run(p piece, row, col, dr, dc int) int {
	n := 0
	for {
		row, col = row+dr, col+dc
		if row < 0 || row >= Rows || col < 0 || col >= Columns || s.board[row*Columns+col] != p {
			return n
		}
		n++
	}
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

// view is the wire state. Nothing is hidden in Connect Four, so every
// viewer gets the same one.
type view struct {
	Board [cells]string `json:"board"` // "", "R" or "Y"; row by row from the top
	Moves int           `json:"moves"`
}

// View returns the wire state; it is the same for every viewer.
func (s *State) View(int) any {
	v := view{Moves: s.moves}
	for i, p := range s.board {
		v.Board[i] = p.String()
	}
	return v
}

// AppendView appends the JSON of View: {"board":["","R",...],"moves":n}.
func (s *State) AppendView(dst []byte, _ int) []byte {
	dst = append(dst, `{"board":[`...)
	for i, p := range s.board {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, p.String()...) // "", "R" or "Y": nothing to escape
		dst = append(dst, '"')
	}
	dst = append(dst, `],"moves":`...)
	dst = strconv.AppendInt(dst, int64(s.moves), 10)
	return append(dst, '}')
}

// RandomMove returns {"column":n} for a random column that is not full
// when view, the wire state, shows seat to move in a game not yet over.
func (Game) RandomMove(view json.RawMessage, seat int, r *rand.Rand) (json.RawMessage, bool) {
	s, ok := fromView(view)
	if !ok || !s.Awaiting(seat) {
		return nil, false
	}
	var open []int
	for col := range Columns {
		if s.board[col] == empty { // the top row
			open = append(open, col)
		}
	}
	return json.RawMessage(`{"column":` + strconv.Itoa(open[r.IntN(len(open))]) + `}`), true
}

// MovesMade returns the pieces seat has on the board view shows: seat 0
// made the odd-numbered moves, seat 1 the even ones.
func (Game) MovesMade(view json.RawMessage, seat int) int {
	s, ok := fromView(view)
	if !ok || seat != 0 && seat != 1 {
		return 0
	}
	return (s.moves + 1 - seat) / 2
}

// fromView rebuilds the State a wire state shows, or false if it does not
// parse as one (unknown pieces, counts that cannot be).
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
		case "R":
			s.board[i] = red
		case "Y":
			s.board[i] = yellow
		default:
			return nil, false
		}
		n[s.board[i]]++
	}
	s.moves = n[red] + n[yellow]
	if d := n[red] - n[yellow]; d != 0 && d != 1 {
		return nil, false
	}
	for c, p := range s.board {
		if p != empty && s.completesLine(c) {
			s.line = true
			break
		}
	}
	return &s, true
}
