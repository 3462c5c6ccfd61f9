package tictactoe

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/turnbase/turnbase/game"
)

func cellMove(c int) json.RawMessage {
	return json.RawMessage(`{"cell":` + string(rune('0'+c)) + `}`)
}

// TestPerfectNeverLoses walks the whole game tree with the perfect bot in
// either seat: every reply of the opponent is tried, and every cell the bot
// may choose (it picks at random among its best) is followed. No leaf may
// be a loss for the bot.
func TestPerfectNeverLoses(t *testing.T) {
	for botSeat := range 2 {
		var leaves, wins, draws int
		var walk func(s *State)
		walk = func(s *State) {
			if out := s.Outcome(); out.Done {
				leaves++
				switch out.Winner {
				case botSeat:
					wins++
				case game.NoSeat:
					draws++
				default:
					t.Fatalf("bot in seat %d lost: %v", botSeat, s.board)
				}
				return
			}
			choices := s.free()
			if s.Turn() == botSeat {
				choices = s.best()
			}
			for _, c := range choices {
				next, err := s.Apply(s.Turn(), cellMove(c))
				if err != nil {
					t.Fatalf("apply %d: %v", c, err)
				}
				walk(next.(*State))
			}
		}
		walk(&State{})
		t.Logf("perfect bot as seat %d: %d games against every opponent strategy: %d won, %d drawn, 0 lost", botSeat, leaves, wins, draws)
		if leaves == 0 || wins == 0 {
			t.Fatalf("walked %d games, %d wins", leaves, wins)
		}
	}
}

// TestBotMovesAreLegal plays every level against random play through the
// public interface.
func TestBotMovesAreLegal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := Game{}
	for _, l := range g.BotLevels() {
		b, ok := g.NewBot(l.ID)
		if !ok {
			t.Fatalf("no bot %q", l.ID)
		}
		for range 200 {
			var s game.State = g.Start()
			for !s.Outcome().Done {
				seat := s.Turn()
				var mv json.RawMessage
				if seat == 0 {
					var err error
					if mv, err = b.Move(s, seat, r); err != nil {
						t.Fatal(err)
					}
				} else {
					mv = cellMove(pick(s.(*State).free(), r))
				}
				next, err := s.Apply(seat, mv)
				if err != nil {
					t.Fatalf("%s: %s: %v", l.ID, mv, err)
				}
				s = next
			}
		}
	}
	if _, ok := g.NewBot("nope"); ok {
		t.Fatal("unknown level accepted")
	}
}

func TestMediumWinsAndBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tests := map[string]struct {
		board []mark
		want  []int
	}{
		// X to move (4 marks): X has 0,1 and O has 3,4: X wins at 2.
		"wins": {[]mark{markX, markX, 0, markO, markO, 0, 0, 0, 0}, []int{2}},
		// X to move: O threatens 3,4,5; X has no line: block at 5.
		"blocks": {[]mark{markX, 0, 0, markO, markO, 0, 0, 0, markX}, []int{5}},
	}
	for name, tt := range tests {
		s := &State{}
		for c, m := range tt.board {
			s.board[c] = m
			if m != empty {
				s.moves++
			}
		}
		for range 20 {
			if c := s.medium(r); !slices.Contains(tt.want, c) {
				t.Errorf("%s: medium played %d, want one of %v", name, c, tt.want)
			}
		}
	}
}

// BenchmarkPerfectReply times the perfect bot's dearest search: the
// answer to the first move (the first move itself needs none).
func BenchmarkPerfectReply(b *testing.B) {
	bot, _ := Game{}.NewBot(LevelPerfect)
	r := rand.New(rand.NewPCG(1, 1))
	s, err := Game{}.Start().Apply(0, cellMove(1))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := bot.Move(s, 1, r); err != nil {
			b.Fatal(err)
		}
	}
}
