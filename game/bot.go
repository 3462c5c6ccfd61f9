package game

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
)

// BotLevel is one level of a game's computer player, as clients list it.
type BotLevel struct {
	ID   string `json:"id"`   // wire name within the game, e.g. "perfect"
	Name string `json:"name"` // human name, e.g. "Perfect"
}

// Bot plays one seat of a game. A Bot keeps no state of its own between
// moves: whatever it learns (the rps reader's habits) it reads again from
// the State, so that a match resumed after a restart plays on alike. It may
// be called from several matches at once.
type Bot interface {
	// Move returns the move seat plays in s, in the wire form Apply
	// takes, when s.Awaiting(seat). It must not read what s hides from
	// seat (an rps opponent's open choice). The match applies the move
	// through the same path as any player's; an error or an illegal move
	// aborts the match.
	Move(s State, seat int, r *rand.Rand) (json.RawMessage, error)
}

// BotPlayer is a Game that offers computer players. It is optional.
type BotPlayer interface {
	Game
	// BotLevels lists the levels, weakest first. Immutable.
	BotLevels() []BotLevel
	// NewBot returns the bot of level, or false for an unknown level.
	NewBot(level string) (Bot, bool)
}

// botPrefix starts the player id of every computer player.
const botPrefix = "bot:"

// BotID returns the player id of a game's computer player at level,
// "bot:<game>:<level>". Such ids are never those of a person: accounts
// make random ids without a colon.
func BotID(gameID, level string) string {
	return botPrefix + gameID + ":" + level
}

// ParseBotID returns the game and level of a computer player's id, or
// false if id is not one (it does not say whether the game has that level).
func ParseBotID(id string) (gameID, level string, ok bool) {
	rest, found := strings.CutPrefix(id, botPrefix)
	if !found {
		return "", "", false
	}
	gameID, level, found = strings.Cut(rest, ":")
	if !found || gameID == "" || level == "" || strings.Contains(level, ":") {
		return "", "", false
	}
	return gameID, level, true
}

// LookupBot returns the bot that plays as player id, or false if id is not
// a computer player of a game in r.
func (r *Registry) LookupBot(id string) (Bot, BotLevel, bool) {
	gameID, level, ok := ParseBotID(id)
	if !ok {
		return nil, BotLevel{}, false
	}
	bp, ok := r.byID[gameID].(BotPlayer)
	if !ok {
		return nil, BotLevel{}, false
	}
	for _, l := range bp.BotLevels() {
		if l.ID == level {
			b, ok := bp.NewBot(level)
			return b, l, ok
		}
	}
	return nil, BotLevel{}, false
}
