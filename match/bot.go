package match

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/turnbase/turnbase/game"
)

// Computer seats. A computer player sits in an ordinary match: its player
// id names the game and the level (game.BotID), so a match resumed after a
// restart finds its bot again from the stored seats. The match's own
// goroutine plays for it: when the bot owes a move, the match sets botAt
// a human-like pause ahead, its one timer wakes it then (no goroutine of
// the bot's own), and the bot's move goes through play like anyone's. A
// bot that errs or plays an illegal move aborts the match (server_error);
// one that panics crashes only its match, as any match panic does.
//
// A computer seat is always shown connected, never has a grace period,
// accepts every rematch, and makes the match unrated.

// ErrNoBot: the game has no computer player of that level.
var ErrNoBot = errors.New("no such computer player")

// seatBots finds the computer seats among the players and marks them
// (Player.Bot); a match with one is unrated (UnratedComputer). Called by
// newMatch.
func (m *Match) seatBots() {
	for seat, p := range m.players {
		gameID, _, ok := game.ParseBotID(p.ID)
		if !ok || gameID != m.game.ID() {
			continue
		}
		b, lvl, ok := m.reg.games.LookupBot(p.ID)
		if !ok {
			continue // a level since removed: the seat can only time out
		}
		m.bots[seat] = b
		m.players[seat].Bot = lvl.ID
		m.unrated = UnratedComputer
		if m.rng == nil {
			m.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		}
	}
}

// hasBot reports whether a computer player is among players.
func hasBot(players [2]Player) bool {
	for _, p := range players {
		if _, _, ok := game.ParseBotID(p.ID); ok {
			return true
		}
	}
	return false
}

// scheduleBot sets botAt if a computer seat owes a move and none is
// pending. Called by run after every change of the game state.
func (m *Match) scheduleBot(now time.Time) {
	if m.rng == nil || m.status != StatusLive || !m.botAt.IsZero() {
		return
	}
	for seat, b := range m.bots {
		if b != nil && m.state.Awaiting(seat) {
			d := m.cfg.BotDelayMin
			if spread := m.cfg.BotDelayMax - m.cfg.BotDelayMin; spread > 0 {
				d += time.Duration(m.rng.Int64N(int64(spread) + 1))
			}
			m.botAt = now.Add(d)
			return
		}
	}
}

// playBot plays the moves the computer seats owe, once botAt has come.
func (m *Match) playBot(ctx context.Context, now time.Time) {
	if m.botAt.IsZero() || now.Before(m.botAt) || m.status != StatusLive {
		return
	}
	m.botAt = time.Time{}
	for seat, b := range m.bots {
		if b == nil || m.status != StatusLive || !m.state.Awaiting(seat) {
			continue
		}
		start := time.Now()
		mv, err := b.Move(m.state, seat, m.rng)
		if err == nil {
			mv, err = m.game.ParseMove(mv)
		}
		if err == nil {
			err = m.play(ctx, seat, mv)
		}
		if err != nil {
			m.logger().Error("computer player failed; aborting the match", "seat", seat, "level", m.players[seat].Bot, "err", err)
			m.finish(ctx, StatusAborted, game.Outcome{Done: true, Winner: game.NoSeat, Reason: "server_error"})
			return
		}
		m.reg.observer.MoveAccepted(m.game.ID(), time.Since(start))
	}
	m.scheduleBot(now)
}

// BotName is the name a computer player goes by: "<game>-<level>", e.g.
// "tictactoe-perfect". Names of people cannot take it (migration 0008
// registers it).
func BotName(gameID, level string) string { return gameID + "-" + level }

// StartComputer creates and runs a match between a person and the
// computer player of game at level, seats drawn at random. It is never
// rated. Errors: ErrUnsupported, ErrNoBot, and Start's.
func (r *Registry) StartComputer(ctx context.Context, gameID, level string, person Player) (string, error) {
	if _, ok := r.games.Lookup(gameID); !ok {
		return "", fmt.Errorf("start %q: %w", gameID, ErrUnsupported)
	}
	id := game.BotID(gameID, level)
	if _, _, ok := r.games.LookupBot(id); !ok {
		return "", fmt.Errorf("start %s against %q: %w", gameID, level, ErrNoBot)
	}
	if _, _, isBot := game.ParseBotID(person.ID); isBot {
		return "", fmt.Errorf("start %s: %w", gameID, ErrNotAPlayer)
	}
	computer := Player{ID: id, Name: BotName(gameID, level), Bot: level}
	players := [2]Player{person, computer}
	if rand.IntN(2) == 0 {
		players = [2]Player{computer, person}
	}
	return r.start(ctx, gameID, players, "")
}
