package catalog_test

import (
	"math/rand/v2"
	"testing"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/game/gametest"
)

// TestEveryGamePlays: every game in the catalog is a game.RandomPlayer
// (the load generator needs it) and plays random games to their end.
func TestEveryGamePlays(t *testing.T) {
	all := catalog.New().All()
	if len(all) == 0 {
		t.Fatal("the catalog is empty")
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, g := range all {
		t.Run(g.ID(), func(t *testing.T) {
			if _, ok := g.(game.RandomPlayer); !ok {
				t.Fatalf("%s is not a game.RandomPlayer", g.ID())
			}
			for range 50 {
				moves, s := gametest.RandomGame(t, g, r)
				if n := g.PublicMoves(moves, true); n < 0 || n > len(moves) {
					t.Fatalf("PublicMoves of %d moves = %d", len(moves), n)
				}
				if replayed, err := game.Replay(g, moves); err != nil || replayed.Outcome() != s.Outcome() {
					t.Fatalf("replay: %v", err)
				}
			}
		})
	}
}
