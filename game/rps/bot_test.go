package rps

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/turnbase/turnbase/game"
)

// opponent picks a human's hand from the rounds revealed so far in its own
// view (mine = the opponent's hand).
type opponent func(h []Round, r *rand.Rand) Choice

// rock60 plays rock 60% of the time, paper and scissors 20% each.
func rock60(_ []Round, r *rand.Rand) Choice {
	switch x := r.Float64(); {
	case x < 0.6:
		return Rock
	case x < 0.8:
		return Paper
	}
	return Scissors
}

// copycat plays the bot's last hand (rock to start).
func copycat(h []Round, _ *rand.Rand) Choice {
	if len(h) == 0 {
		return Rock
	}
	return h[len(h)-1].Theirs
}

type tally struct{ rounds, botWins, botLosses int }

func (t tally) share() float64 { return float64(t.botWins) / float64(t.botWins+t.botLosses) }

// sigmas is how far share lies from 1/2 in standard deviations of a fair
// coin over the decided rounds.
func (t tally) sigmas() float64 {
	n := float64(t.botWins + t.botLosses)
	return (t.share() - 0.5) / math.Sqrt(0.25/n)
}

// play runs whole rps matches (first to 2, at most 9 rounds) between level
// in seat 0 and opp in seat 1, through Apply, until rounds rounds have been
// revealed. The bot sees only what a match shows it: the rounds of the
// match in progress.
func play(t *testing.T, level string, opp opponent, rounds int, seed uint64) tally {
	t.Helper()
	b, ok := Game{}.NewBot(level)
	if !ok {
		t.Fatalf("no bot %q", level)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	var tl tally
	for tl.rounds < rounds {
		var s game.State = Game{}.Start()
		for !s.Outcome().Done && tl.rounds < rounds {
			mv, err := b.Move(s, 0, r)
			if err != nil {
				t.Fatal(err)
			}
			st := s.(*State)
			theirs := opp(History(st.rounds, 1), r)
			if s, err = s.Apply(0, mv); err != nil {
				t.Fatal(err)
			}
			if s, err = s.Apply(1, json.RawMessage(`{"choice":"`+string(theirs)+`"}`)); err != nil {
				t.Fatal(err)
			}
			rs := s.(*State).rounds
			switch w := rs[len(rs)-1].Winner; {
			case w == nil:
			case *w == 0:
				tl.botWins++
			default:
				tl.botLosses++
			}
			tl.rounds++
		}
	}
	return tl
}

// TestReaderBeatsRock60: over 300 rounds, the reader wins at least 55% of
// the decided rounds against a player who plays rock 60% of the time, for
// each of 20 seeds (the figures are logged).
func TestReaderBeatsRock60(t *testing.T) {
	worst, sum := 1.0, 0.0
	const seeds = 20
	for seed := range uint64(seeds) {
		tl := play(t, LevelReader, rock60, 300, seed)
		worst = min(worst, tl.share())
		sum += tl.share()
		if tl.share() < 0.55 {
			t.Errorf("seed %d: reader won %d of %d decided rounds (%.1f%%), want at least 55%%", seed, tl.botWins, tl.botWins+tl.botLosses, 100*tl.share())
		}
	}
	t.Logf("reader vs rock-60%%: 300 rounds x %d seeds: mean %.1f%%, worst %.1f%% of decided rounds won", seeds, 100*sum/seeds, 100*worst)
}

// TestFairWithinChance: fair wins about half the decided rounds against
// the rock-60% player and against a player who copies its last hand:
// within 3 standard deviations of a fair coin over 30,000 rounds.
func TestFairWithinChance(t *testing.T) {
	for name, opp := range map[string]opponent{"rock60": rock60, "copycat": copycat} {
		tl := play(t, LevelFair, opp, 30000, 11)
		t.Logf("fair vs %s: %d rounds, %d won, %d lost: %.2f%% of decided rounds, %+.2f sigma from 50%%", name, tl.rounds, tl.botWins, tl.botLosses, 100*tl.share(), tl.sigmas())
		if math.Abs(tl.sigmas()) > 3 {
			t.Errorf("fair vs %s: %.2f sigma from chance", name, tl.sigmas())
		}
	}
}

// TestReaderBeatsCopycat: the reader also reads a player who copies it.
func TestReaderBeatsCopycat(t *testing.T) {
	tl := play(t, LevelReader, copycat, 300, 5)
	t.Logf("reader vs copycat: %d won, %d lost (%.1f%%)", tl.botWins, tl.botLosses, 100*tl.share())
	if tl.share() < 0.55 {
		t.Errorf("reader won %.1f%% against a copycat", 100*tl.share())
	}
}

// TestBotIgnoresHiddenChoice: the opponent's open choice never changes the
// bot's move.
func TestBotIgnoresHiddenChoice(t *testing.T) {
	for _, l := range (Game{}).BotLevels() {
		b, _ := Game{}.NewBot(l.ID)
		base := &State{rounds: []round{{Choices: [2]Choice{Rock, Paper}}, {Choices: [2]Choice{Rock, Rock}}}}
		for seed := range uint64(50) {
			var got []string
			for _, h := range []Choice{"", Rock, Paper, Scissors} {
				s := *base
				s.hand[1] = h
				mv, err := b.Move(&s, 0, rand.New(rand.NewPCG(seed, 1)))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(mv))
			}
			for _, g := range got[1:] {
				if g != got[0] {
					t.Fatalf("%s: moves differ with the hidden choice: %v", l.ID, got)
				}
			}
		}
	}
}

// BenchmarkReaderNinthRound times the reader's dearest move in a match:
// the ninth round, with eight rounds to read.
func BenchmarkReaderNinthRound(b *testing.B) {
	bot, _ := Game{}.NewBot(LevelReader)
	r := rand.New(rand.NewPCG(1, 1))
	s := &State{}
	for i := range 8 {
		s.rounds = append(s.rounds, round{Choices: [2]Choice{hands()[i%3], Rock}})
	}
	for b.Loop() {
		if _, err := bot.Move(s, 0, r); err != nil {
			b.Fatal(err)
		}
	}
}
