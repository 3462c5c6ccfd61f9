package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// Records is the read side of stored ratings and matches;
// *leaderboard.Ratings satisfies it. Bad arguments are errors wrapping
// leaderboard.ErrBadRequest, unknown players and matches
// leaderboard.ErrNotFound.
type Records interface {
	Leaderboard(ctx context.Context, game string, limit, offset int, includeProvisional bool) (leaderboard.Board, error)
	RankedRatings(ctx context.Context, playerID string) (map[string]leaderboard.RankedRating, error)
	PlayerPage(ctx context.Context, playerID string) (leaderboard.PlayerPage, error)
	Matches(ctx context.Context, status, game string, limit int) ([]match.Summary, error)
	Match(ctx context.Context, id string) (leaderboard.MatchDetail, error)
}

// Bounds of the query parameters of lists.
const (
	defaultListLimit = 50
	maxListLimit     = 100
)

// handleLeaderboard is GET /api/leaderboard/{game}?limit=&offset=&provisional=.
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request) {
	gameID := r.PathValue("game")
	if _, ok := s.deps.Games.Lookup(gameID); !ok {
		s.writeError(w, r, fmt.Errorf("%w: %q", ErrUnknownGame, truncate(gameID, 40)))
		return
	}
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	offset := 0
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			s.writeError(w, r, fmt.Errorf("%w: offset is an integer from 0", ErrBadRequest))
			return
		}
	}
	var provisional bool
	switch v := q.Get("provisional"); v {
	case "", "false":
	case "true":
		provisional = true
	default:
		s.writeError(w, r, fmt.Errorf("%w: provisional is true or false", ErrBadRequest))
		return
	}
	ctx, cancel := s.dbContext(r)
	defer cancel()
	board, err := s.deps.Records.Leaderboard(ctx, gameID, limit, offset, provisional)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, board)
}

// handlePlayer is GET /api/players/{id}: a player, their ratings and
// their latest matches. Live ones show the registry's summary, with its
// spectators.
func (s *Server) handlePlayer(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.dbContext(r)
	defer cancel()
	page, err := s.deps.Records.PlayerPage(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for i, m := range page.Recent {
		if m.Status != match.StatusLive {
			continue
		}
		if live, ok := s.deps.Matches.Get(m.ID); ok {
			page.Recent[i] = live
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// handleMatches is GET /api/matches?status=live|finished&game=&limit=.
// Live matches are this process's, from the registry, or in a cluster
// every node's (Views); finished (and aborted) ones come from the
// database.
func (s *Server) handleMatches(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "":
		status = match.StatusLive
	case match.StatusLive, match.StatusFinished:
	default:
		s.writeError(w, r, fmt.Errorf("%w: status is %q or %q", ErrBadRequest, match.StatusLive, match.StatusFinished))
		return
	}
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	gameID := q.Get("game")
	if status == match.StatusFinished {
		ctx, cancel := s.dbContext(r)
		defer cancel()
		list, err := s.deps.Records.Matches(ctx, status, gameID, limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, list)
		return
	}
	if s.deps.Views != nil {
		// A cluster's, from every node; while its database does not
		// answer, this node's.
		ctx, cancel := s.dbContext(r)
		defer cancel()
		list, err := s.deps.Views.LiveMatches(ctx, gameID, limit)
		if err == nil {
			writeJSON(w, http.StatusOK, list)
			return
		}
		s.logger.Warn("read the cluster's live matches", "err", err)
	}
	out := make([]match.Summary, 0)
	for _, m := range s.deps.Matches.List(status) {
		if len(out) == limit {
			break
		}
		if gameID == "" || m.Game == gameID {
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleMatch is GET /api/matches/{id}: a match's summary and the moves
// anyone may see, which the database gives (an open rps round's choices
// are left out there). While the registry runs the match, its summary is
// the one shown: the database's may lag, and it counts no spectators.
func (s *Server) handleMatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	running, inMemory := s.deps.Matches.Get(id)
	ctx, cancel := s.dbContext(r)
	defer cancel()
	d, err := s.deps.Records.Match(ctx, id)
	switch {
	case err == nil && inMemory && (running.Status == match.StatusLive || d.Status == match.StatusLive):
		d.Summary = running
	case err == nil && inMemory:
		d.Spectators = running.Spectators // a finished match lingers for its watchers
	case errors.Is(err, leaderboard.ErrNotFound) && inMemory:
		// Only a registry without a journal runs matches the database
		// does not hold: there are no stored moves to show.
		d = leaderboard.MatchDetail{Summary: running, Moves: []leaderboard.MoveEntry{}}
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func listLimit(v string) (int, error) {
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, fmt.Errorf("%w: limit is an integer from 1 to %d", ErrBadRequest, maxListLimit)
	}
	return n, nil
}
