package web

import (
	"context"

	"github.com/turnbase/turnbase/match"
)

// Views are the lists and counts of a cluster of nodes, the same
// whichever node answers (cluster.Views, through cmd). Without them (one
// node), the server shows its own registry, lobby and sockets.
type Views interface {
	// LiveMatches lists the live matches of every node, newest first, of
	// one game ("" for all), at most limit, with their spectators.
	LiveMatches(ctx context.Context, game string, limit int) ([]match.Summary, error)
	// Counts are the online counts of every node together.
	Counts(ctx context.Context) (Counts, error)
}

// Counts are who is around: open sockets, live matches, and per game the
// players waiting in the queue and seated in live matches.
type Counts struct {
	Players     int64
	Spectators  int64
	LiveMatches int
	Queued      map[string]int
	Playing     map[string]int
}

// localCounts are this server's own counts.
func (s *Server) localCounts() Counts {
	st := s.Stats()
	c := Counts{Players: st.Players, Spectators: st.Spectators, Queued: s.deps.Lobby.Stats(), Playing: map[string]int{}}
	for _, m := range s.deps.Matches.List(match.StatusLive) {
		c.LiveMatches++
		c.Playing[m.Game] += len(m.Players)
	}
	return c
}

// counts are the cluster's counts when there are Views, else this
// server's. A cluster whose database does not answer shows this node's.
func (s *Server) counts(ctx context.Context) Counts {
	if s.deps.Views != nil {
		c, err := s.deps.Views.Counts(ctx)
		if err == nil {
			return c
		}
		s.logger.Warn("read the cluster's counts", "err", err)
	}
	return s.localCounts()
}

// Banned closes the connections of a player banned on another node, with
// the close code a ban gives here (4001), and withdraws their queue
// ticket and challenges on this node. It returns how many connections it
// closed.
func (s *Server) Banned(ctx context.Context, playerID string) int {
	closed := len(s.closePlayer(playerID, closeBadToken, "banned"))
	if _, err := s.deps.Lobby.Leave(ctx, playerID); err != nil {
		s.logger.Warn("banned player: leave queue", "player_id", playerID, "err", err)
	}
	s.deps.Lobby.CancelChallenges(ctx, playerID)
	return closed
}
