package tictactoe

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/turnbase/turnbase/game"
)

// The computer player's levels.
const (
	LevelEasy    = "easy"    // a random legal cell
	LevelMedium  = "medium"  // wins when it can, blocks when it must, else random
	LevelPerfect = "perfect" // minimax over the whole game tree: never loses
)

// BotLevels lists the levels, weakest first.
func (Game) BotLevels() []game.BotLevel {
	return []game.BotLevel{
		{ID: LevelEasy, Name: "Easy"},
		{ID: LevelMedium, Name: "Medium"},
		{ID: LevelPerfect, Name: "Perfect"},
	}
}

// NewBot returns the bot of level.
func (Game) NewBot(level string) (game.Bot, bool) {
	switch level {
	case LevelEasy, LevelMedium, LevelPerfect:
		return bot(level), true
	}
	return nil, false
}

// bot is a level; it keeps no state.
type bot string

// lines returns the eight lines of three.
func lines() [8][3]int {
	return [8][3]int{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {0, 3, 6}, {1, 4, 7}, {2, 5, 8}, {0, 4, 8}, {2, 4, 6}}
}

// Move returns a {"cell":n} for seat.
func (b bot) Move(gs game.State, seat int, r *rand.Rand) (json.RawMessage, error) {
	s, ok := gs.(*State)
	if !ok {
		return nil, fmt.Errorf("tictactoe bot: state is %T", gs)
	}
	if !s.Awaiting(seat) {
		return nil, fmt.Errorf("tictactoe bot: seat %d owes no move", seat)
	}
	var cell int
	switch b {
	case LevelEasy:
		cell = pick(s.free(), r)
	case LevelMedium:
		cell = s.medium(r)
	default:
		cell = pick(s.best(), r)
	}
	return json.RawMessage(`{"cell":` + string(rune('0'+cell)) + `}`), nil
}

func pick(cells []int, r *rand.Rand) int { return cells[r.IntN(len(cells))] }

func (s *State) free() []int {
	out := make([]int, 0, cells)
	for c, m := range s.board {
		if m == empty {
			out = append(out, c)
		}
	}
	return out
}

// medium completes its own line if it can, else blocks the opponent's,
// else plays at random.
func (s *State) medium(r *rand.Rand) int {
	me := markX + mark(s.moves%2)
	for _, who := range []mark{me, 3 - me} {
		var wins []int
		for _, l := range lines() {
			n, gap := 0, -1
			for _, c := range l {
				switch s.board[c] {
				case who:
					n++
				case empty:
					gap = c
				}
			}
			if n == 2 && gap >= 0 {
				wins = append(wins, gap)
			}
		}
		if len(wins) > 0 {
			return pick(wins, r)
		}
	}
	return pick(s.free(), r)
}

// best returns every cell whose minimax value is the highest for the side
// to move (a quicker win scores higher, a later loss less low).
func (s *State) best() []int {
	if s.moves == 0 {
		// Every first move draws with best play on both sides (the tree
		// walk in the tests checks this bot in both seats): skip the
		// dearest search of the game.
		return s.free()
	}
	b := s.board
	me := markX + mark(s.moves%2)
	top, out := -100, []int(nil)
	for c := range b {
		if b[c] != empty {
			continue
		}
		b[c] = me
		// A window just below the best so far: a cell that cannot reach
		// it is cut short, one that can is valued exactly.
		v := -negamax(&b, 3-me, s.moves+1, lineAt(&b, c), -100, -(top - 1))
		b[c] = empty
		switch {
		case v > top:
			top, out = v, append(out[:0], c)
		case v == top:
			out = append(out, c)
		}
	}
	return out
}

// negamax returns the value of board for who, to move after moves marks,
// exactly if it lies within (alpha, beta) (alpha-beta pruning); lost says
// the previous move completed a line.
func negamax(b *[cells]mark, who mark, moves int, lost bool, alpha, beta int) int {
	if lost {
		return -(10 - moves) // the sooner the loss, the worse
	}
	if moves == cells {
		return 0
	}
	top := -100
	for c := range b {
		if b[c] != empty {
			continue
		}
		b[c] = who
		v := -negamax(b, 3-who, moves+1, lineAt(b, c), -beta, -alpha)
		b[c] = empty
		top = max(top, v)
		alpha = max(alpha, v)
		if alpha >= beta {
			break
		}
	}
	return top
}

// lineAt reports whether the mark in c completes a line.
func lineAt(b *[cells]mark, c int) bool {
	m := b[c]
	for _, l := range lines() {
		if (l[0] == c || l[1] == c || l[2] == c) && b[l[0]] == m && b[l[1]] == m && b[l[2]] == m {
			return true
		}
	}
	return false
}
