package rps

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/turnbase/turnbase/game"
)

// The computer player's levels.
const (
	// LevelFair plays each hand with probability 1/3, whatever happened
	// before: no strategy wins or loses against it over time.
	LevelFair = "fair"
	// LevelReader predicts the opponent's next hand from the rounds
	// revealed so far and plays what beats it (see reader).
	LevelReader = "reader"
)

// BotLevels lists the levels.
func (Game) BotLevels() []game.BotLevel {
	return []game.BotLevel{
		{ID: LevelFair, Name: "Fair"},
		{ID: LevelReader, Name: "Reader"},
	}
}

// NewBot returns the bot of level.
func (Game) NewBot(level string) (game.Bot, bool) {
	switch level {
	case LevelFair, LevelReader:
		return bot(level), true
	}
	return nil, false
}

type bot string

// hands are the three hands in index order.
func hands() [3]Choice { return [3]Choice{Rock, Paper, Scissors} }

// Move returns a {"choice":…} for seat. It reads only the revealed rounds,
// never the opponent's open choice.
func (b bot) Move(gs game.State, seat int, r *rand.Rand) (json.RawMessage, error) {
	s, ok := gs.(*State)
	if !ok {
		return nil, fmt.Errorf("rps bot: state is %T", gs)
	}
	if !s.Awaiting(seat) {
		return nil, fmt.Errorf("rps bot: seat %d owes no move", seat)
	}
	c := hands()[r.IntN(3)]
	if b == LevelReader {
		c = Read(History(s.rounds, seat), r)
	}
	return json.RawMessage(`{"choice":"` + string(c) + `"}`), nil
}

// Round is one revealed round as the reader sees it: its own hand and the
// opponent's.
type Round struct{ Mine, Theirs Choice }

// History returns the revealed rounds of s as seat saw them, oldest first.
func History(rounds []round, seat int) []Round {
	out := make([]Round, len(rounds))
	for i, rd := range rounds {
		out[i] = Round{Mine: rd.Choices[seat], Theirs: rd.Choices[1-seat]}
	}
	return out
}

// index is a hand's place in hands; each hand beats the one before it
// (paper beats rock), cyclically.
func index(c Choice) int {
	switch c {
	case Paper:
		return 1
	case Scissors:
		return 2
	}
	return 0
}

// counter returns the hand that beats c.
func counter(c Choice) Choice { return hands()[(index(c)+1)%3] }

// result of a round for the opponent: 0 tie, 1 they won, 2 they lost.
func result(rd Round) int {
	switch {
	case rd.Theirs == rd.Mine:
		return 0
	case rd.Theirs.beats(rd.Mine):
		return 1
	}
	return 2
}

// A predictor guesses the opponent's next hand from the rounds before it,
// or says it cannot (ok false).
type predictor func(h []Round, r *rand.Rand) (Choice, bool)

// predictors are the habits the reader looks for beyond how often each
// hand comes (which Read counts itself):
//   - what they play after a win, a loss or a tie, as a shift from their
//     last hand (stay, move up, move down);
//   - which hand follows each of their hands;
//   - what they play against the reader's last hand (copy it, beat it…).
func predictors() [3]predictor {
	return [3]predictor{
		func(h []Round, r *rand.Rand) (Choice, bool) {
			if len(h) < 2 {
				return "", false
			}
			last := h[len(h)-1]
			var n [3]int // shifts after a round with last's result
			for i := 1; i < len(h); i++ {
				if result(h[i-1]) == result(last) {
					n[(index(h[i].Theirs)-index(h[i-1].Theirs)+3)%3]++
				}
			}
			shift, ok := argmax(n, r)
			return hands()[(index(last.Theirs)+index(shift))%3], ok
		},
		func(h []Round, r *rand.Rand) (Choice, bool) {
			if len(h) < 2 {
				return "", false
			}
			last := h[len(h)-1].Theirs
			var n [3]int
			for i := 1; i < len(h); i++ {
				if h[i-1].Theirs == last {
					n[index(h[i].Theirs)]++
				}
			}
			return argmax(n, r)
		},
		func(h []Round, r *rand.Rand) (Choice, bool) {
			if len(h) < 2 {
				return "", false
			}
			var n [3]int // their hand relative to the reader's hand before
			for i := 1; i < len(h); i++ {
				n[(index(h[i].Theirs)-index(h[i-1].Mine)+3)%3]++
			}
			shift, ok := argmax(n, r)
			return hands()[(index(h[len(h)-1].Mine)+index(shift))%3], ok
		},
	}
}

// argmax returns the hand counted most (a tie broken at random), or false
// if none was counted.
func argmax(n [3]int, r *rand.Rand) (Choice, bool) {
	top, best := 0, []Choice(nil)
	for i, v := range n {
		switch {
		case v > top:
			top, best = v, []Choice{hands()[i]}
		case v == top && v > 0:
			best = append(best, hands()[i])
		}
	}
	if top == 0 {
		return "", false
	}
	return best[r.IntN(len(best))], true
}

// Read returns the reader's hand after history h. Each predictor is scored
// on how it would have done over h (it predicts each round from the rounds
// before); the guess of the best one that has guessed better than chance
// is countered. Failing that, the reader counters the opponent's most
// frequent hand, counting a prior of how people play (rock most often,
// scissors least, as surveys of players find): with no history it opens
// with paper.
func Read(h []Round, r *rand.Rand) Choice {
	bestScore, guess := 1.0/3, Choice("")
	for _, p := range predictors() {
		hits, tries := 0, 0
		for i := 1; i < len(h); i++ {
			if c, ok := p(h[:i], r); ok {
				tries++
				if c == h[i].Theirs {
					hits++
				}
			}
		}
		c, ok := p(h, r)
		if !ok || tries < 3 {
			continue
		}
		// Laplace-smoothed hit rate: a lucky hit or two is not a habit.
		if score := (float64(hits) + 1) / (float64(tries) + 3); score > bestScore+0.1 {
			bestScore, guess = score, c
		}
	}
	if guess == "" {
		n := [3]float64{0.5, 0.3, 0.2} // the prior, in hands order
		for _, rd := range h {
			n[index(rd.Theirs)]++
		}
		guess = hands()[0]
		for i := range n {
			if n[i] > n[index(guess)] {
				guess = hands()[i]
			}
		}
	}
	return counter(guess)
}
