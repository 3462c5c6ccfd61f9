package catalog

import (
	"math/rand/v2"
	"testing"

	"github.com/turnbase/turnbase/game"
)

// TestEveryGameHasBots: each game offers computer players, each level's id
// round-trips, and every level plays whole games to the end against itself.
func TestEveryGameHasBots(t *testing.T) {
	reg := New()
	r := rand.New(rand.NewPCG(1, 1))
	for _, g := range reg.All() {
		bp, ok := g.(game.BotPlayer)
		if !ok {
			t.Errorf("%s has no bots", g.ID())
			continue
		}
		for _, l := range bp.BotLevels() {
			id := game.BotID(g.ID(), l.ID)
			b, lvl, ok := reg.LookupBot(id)
			if !ok || lvl != l {
				t.Fatalf("LookupBot(%q) = %v, %v", id, lvl, ok)
			}
			s := g.Start()
			for n := 0; !s.Outcome().Done; n++ {
				if n > 1000 {
					t.Fatalf("%s: game does not end", id)
				}
				for seat := range 2 {
					if !s.Awaiting(seat) {
						continue
					}
					mv, err := b.Move(s, seat, r)
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					if s, err = s.Apply(seat, mv); err != nil {
						t.Fatalf("%s: %s: %v", id, mv, err)
					}
				}
			}
		}
	}
}

func TestParseBotID(t *testing.T) {
	tests := map[string]struct {
		game, level string
		ok          bool
	}{
		"bot:tictactoe:perfect": {"tictactoe", "perfect", true},
		"bot:rps:reader":        {"rps", "reader", true},
		"bot:rps":               {"", "", false},
		"bot::x":                {"", "", false},
		"bot:rps:":              {"", "", false},
		"bot:rps:a:b":           {"", "", false},
		"abcdef":                {"", "", false},
		"":                      {"", "", false},
	}
	for id, tt := range tests {
		g, l, ok := game.ParseBotID(id)
		if g != tt.game || l != tt.level || ok != tt.ok {
			t.Errorf("ParseBotID(%q) = %q, %q, %v", id, g, l, ok)
		}
	}
	reg := New()
	for _, id := range []string{"bot:chess:easy", "bot:rps:perfect", "player1"} {
		if _, _, ok := reg.LookupBot(id); ok {
			t.Errorf("LookupBot(%q) found a bot", id)
		}
	}
}
