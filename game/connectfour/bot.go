package connectfour

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strconv"

	"github.com/turnbase/turnbase/game"
)

// The computer player's levels.
const (
	LevelEasy   = "easy"   // a random legal column
	LevelMedium = "medium" // wins when it can, blocks when it must, avoids handing a win over, else random
	LevelStrong = "strong" // alpha-beta search, StrongDepth plies deep
)

// StrongDepth is how many plies the strong bot searches (fewer near the
// end of the game, where the tree is small anyway).
const StrongDepth = 8

// BotLevels lists the levels, weakest first.
func (Game) BotLevels() []game.BotLevel {
	return []game.BotLevel{
		{ID: LevelEasy, Name: "Easy"},
		{ID: LevelMedium, Name: "Medium"},
		{ID: LevelStrong, Name: "Strong"},
	}
}

// NewBot returns the bot of level.
func (Game) NewBot(level string) (game.Bot, bool) {
	switch level {
	case LevelEasy, LevelMedium, LevelStrong:
		return bot{level: level, depth: StrongDepth}, true
	}
	return nil, false
}

// bot is a level; it keeps no state between moves.
type bot struct {
	level string
	depth int // strong only
}

// Move returns a {"column":n} for seat.
func (b bot) Move(gs game.State, seat int, r *rand.Rand) (json.RawMessage, error) {
	s, ok := gs.(*State)
	if !ok {
		return nil, fmt.Errorf("connectfour bot: state is %T", gs)
	}
	if !s.Awaiting(seat) {
		return nil, fmt.Errorf("connectfour bot: seat %d owes no move", seat)
	}
	p := s.position()
	var col int
	switch b.level {
	case LevelEasy:
		col = pick(p.legal(nil), r)
	case LevelMedium:
		col = p.medium(r)
	default:
		col = p.strong(b.depth, r)
	}
	return json.RawMessage(`{"column":` + strconv.Itoa(col) + `}`), nil
}

func pick(cols []int, r *rand.Rand) int { return cols[r.IntN(len(cols))] }

// position is a board as two bitboards, for search. Bit col*7+row holds
// the cell of column col, row counted from the bottom; the seventh bit of
// each column stays empty, so that lines never wrap from one column into
// the next.
type position struct {
	me, all uint64 // the side to move's pieces; every piece
	moves   int
}

const (
	colBits   = Rows + 1
	bottomRow = 0x40810204081 // the lowest bit of each column
	boardMask = bottomRow * ((1 << Rows) - 1)
	winScore  = 1 << 20
	inf       = 1 << 30
)

func (s *State) position() position {
	var p position
	mine := red + piece(s.moves%2)
	for row := range Rows {
		for col := range Columns {
			pc := s.board[row*Columns+col]
			if pc == empty {
				continue
			}
			bit := uint64(1) << (col*colBits + (Rows - 1 - row))
			p.all |= bit
			if pc == mine {
				p.me |= bit
			}
		}
	}
	p.moves = s.moves
	return p
}

func topBit(col int) uint64    { return 1 << (col*colBits + Rows - 1) }
func bottomBit(col int) uint64 { return 1 << (col * colBits) }
func columnMask(col int) uint64 {
	return ((1 << Rows) - 1) << (col * colBits)
}

func (p position) canPlay(col int) bool { return p.all&topBit(col) == 0 }

// play returns the position after the side to move drops in col, seen
// from the other side.
func (p position) play(col int) position {
	all := p.all | (p.all + bottomBit(col))
	return position{me: p.me ^ p.all, all: all, moves: p.moves + 1}
}

// legal appends the playable columns, centre first.
func (p position) legal(out []int) []int {
	for _, c := range order() {
		if p.canPlay(c) {
			out = append(out, c)
		}
	}
	return out
}

// order is the columns, centre first: good moves come early.
func order() [Columns]int { return [Columns]int{3, 2, 4, 1, 5, 0, 6} }

// fourIn reports whether b holds four in a row.
func fourIn(b uint64) bool {
	for _, d := range [4]uint{1, colBits, colBits - 1, colBits + 1} {
		m := b & (b >> d)
		if m&(m>>(2*d)) != 0 {
			return true
		}
	}
	return false
}

// winsAt reports whether the side to move wins by playing col.
func (p position) winsAt(col int) bool {
	move := (p.all + bottomBit(col)) & columnMask(col)
	return fourIn(p.me | move)
}

// medium wins if it can, else blocks, else plays a random column that
// does not let the opponent win on top of it (if there is one).
func (p position) medium(r *rand.Rand) int {
	cols := p.legal(nil)
	for _, c := range cols {
		if p.winsAt(c) {
			return c
		}
	}
	them := position{me: p.me ^ p.all, all: p.all}
	for _, c := range cols {
		if them.winsAt(c) {
			return c
		}
	}
	var safe []int
	for _, c := range cols {
		next := p.play(c)
		gives := false
		for _, d := range next.legal(nil) {
			if next.winsAt(d) {
				gives = true
				break
			}
		}
		if !gives {
			safe = append(safe, c)
		}
	}
	if len(safe) > 0 {
		return pick(safe, r)
	}
	return pick(cols, r)
}

// StrongNodes bounds the positions one move of the strong bot visits: it
// deepens its search one ply at a time, up to its depth, and plays the
// deepest search that finished within the bound: a few ms of one core,
// fewer plies in the middle game than near the end. A bound of 250,000
// won no more games against medium (198 of 200, against 199 with this
// one) at several times the CPU, which 1,000 games at once cannot afford.
const StrongNodes = 20_000

// strong searches up to depth plies with alpha-beta, deepening one ply at
// a time within StrongNodes, and plays one of the best columns (at random
// among equals, so games differ).
func (p position) strong(depth int, r *rand.Rand) int {
	cols := p.legal(nil)
	for _, c := range cols {
		if p.winsAt(c) {
			return c
		}
	}
	s := searcher{limit: StrongNodes}
	best := cols
	for d := 1; d <= depth; d++ {
		found, top := []int(nil), -inf
		for _, c := range cols {
			v := -s.negamax(p.play(c), d-1, -inf, -top+1)
			if s.nodes > s.limit {
				break
			}
			switch {
			case v > top:
				top, found = v, append(found[:0], c)
			case v == top:
				found = append(found, c)
			}
		}
		if s.nodes > s.limit {
			break // keep the last finished depth
		}
		best = found
		if top > winScore/2 || top < -winScore/2 {
			break // a forced result: deeper will not change it
		}
	}
	return pick(best, r)
}

// searcher counts the positions a search visits.
type searcher struct {
	nodes int
	limit int // past it, negamax returns at once; the caller drops the result
}

// negamax returns the value of p for the side to move: above winScore/2 a
// forced win (sooner is higher), below -winScore/2 a forced loss, else the
// heuristic after depth plies.
func (s *searcher) negamax(p position, depth, alpha, beta int) int {
	s.nodes++
	if s.nodes > s.limit {
		return 0
	}
	them := p.me ^ p.all
	if fourIn(them) { // the move that led here won
		return -(winScore - p.moves)
	}
	if p.moves == cells {
		return 0
	}
	if depth == 0 {
		return eval(p.me, them, p.all)
	}
	top := -inf
	for _, c := range order() {
		if !p.canPlay(c) {
			continue
		}
		v := -s.negamax(p.play(c), depth-1, -beta, -alpha)
		if v > top {
			top = v
		}
		if v > alpha {
			alpha = v
		}
		if alpha >= beta {
			break
		}
	}
	return top
}

// eval scores a quiet position for the side whose pieces are me: each
// empty cell that would complete a four counts for that side (more when it
// can be played at once), and so does each piece in the centre column.
func eval(me, them, all uint64) int {
	free := boardMask &^ all
	playable := (all + bottomRow) & boardMask
	mine, theirs := threats(me)&free, threats(them)&free
	center := columnMask(3)
	return 16*(bits.OnesCount64(mine)-bits.OnesCount64(theirs)) +
		32*(bits.OnesCount64(mine&playable)-bits.OnesCount64(theirs&playable)) +
		3*(bits.OnesCount64(me&center)-bits.OnesCount64(them&center)) +
		2*(bits.OnesCount64(pairs(me)&free)-bits.OnesCount64(pairs(them)&free))
}

// threats returns the cells (empty or not) that would complete a four
// with the pieces of b.
func threats(b uint64) uint64 {
	r := (b << 1) & (b << 2) & (b << 3) // vertical: three below
	for _, d := range [3]uint{colBits, colBits - 1, colBits + 1} {
		p := (b << d) & (b << (2 * d))
		r |= p & (b << (3 * d))
		r |= p & (b >> d)
		p = (b >> d) & (b >> (2 * d))
		r |= p & (b << d)
		r |= p & (b >> (3 * d))
	}
	return r & boardMask
}

// pairs returns the cells next to two pieces of b in a row, in any
// direction: where a line of three could grow.
func pairs(b uint64) uint64 {
	var r uint64
	for _, d := range [4]uint{1, colBits, colBits - 1, colBits + 1} {
		p := b & (b >> d) // lower end of a pair
		r |= (p >> d) | (p << (2 * d))
	}
	return r & boardMask
}
