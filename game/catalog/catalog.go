// Package catalog lists the games this repository offers. The server
// serves them and the load generator plays them, from this one list:
// adding a game is its package under game/ plus one argument to New.
package catalog

import (
	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/connectfour"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
)

// New returns the registry of every game, in the order clients list them.
func New() *game.Registry {
	return game.NewRegistry(
		tictactoe.Game{},
		rps.Game{},
		connectfour.Game{},
	)
}
