package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/turnbase/turnbase/leaderboard"
)

// Accounts stores players and checks their passwords;
// *leaderboard.Accounts satisfies it. Its errors wrap leaderboard's
// sentinels (ErrBadRequest, ErrNameTaken, ErrBadCredentials, ErrNotFound,
// ErrNotGuest, ErrBanned), which errors.go maps to codes.
type Accounts interface {
	CreateGuest(ctx context.Context, name string) (leaderboard.Player, error)
	Register(ctx context.Context, name, password string) (leaderboard.Player, error)
	Login(ctx context.Context, name, password string) (leaderboard.Player, error)
	Upgrade(ctx context.Context, playerID, password string) (leaderboard.Player, error)
	Get(ctx context.Context, playerID string) (leaderboard.Player, error)
}

// credentials is the body of register and login; upgrade reads only the
// password.
type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// dbContext bounds the database calls made for r.
func (s *Server) dbContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.DatabaseTimeout)
}

// handleGuest is POST /api/auth/guest {"name"}: a new guest player.
func (s *Server) handleGuest(w http.ResponseWriter, r *http.Request) {
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.deps.Accounts.CreateGuest(ctx, body.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.noteSignup(ctx, r, p.ID)
	s.issue(w, r, http.StatusCreated, p)
}

// handleRegister is POST /api/auth/register {"name", "password"}: a new
// registered player.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.deps.Accounts.Register(ctx, body.Name, body.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.noteSignup(ctx, r, p.ID)
	s.issue(w, r, http.StatusCreated, p)
}

// handleLogin is POST /api/auth/login {"name", "password"}. Attempts are
// limited per client address and per name, before the password is
// looked at.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allowLogin(w, r, body.Name) {
		return
	}
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.deps.Accounts.Login(ctx, body.Name, body.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.issue(w, r, http.StatusOK, p)
}

// allowLogin takes one login attempt from the client address's budget and
// one from the name's (ignoring case), or answers 429 and returns false.
// A malformed name has no budget of its own: Login refuses it unread.
func (s *Server) allowLogin(w http.ResponseWriter, r *http.Request, name string) bool {
	now := s.now()
	ok, wait := s.loginIPs.allow(s.clientIP(r), now)
	why := "from your address"
	if ok && leaderboard.ValidName(name) == nil {
		ok, wait = s.loginNames.allow(strings.ToLower(name), now)
		why = "for this name"
	}
	if !ok {
		writeRetryAfter(w, wait)
		s.writeError(w, r, fmt.Errorf("%w: too many login attempts %s", ErrRateLimited, why))
	}
	return ok
}

// handleUpgrade is POST /api/auth/upgrade {"password"} with a guest's
// bearer token: the guest becomes a registered player with the same id
// and name.
func (s *Server) handleUpgrade(w http.ResponseWriter, r *http.Request) {
	id, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.deps.Accounts.Upgrade(ctx, id.ID, body.Password)
	if err != nil {
		s.writeError(w, r, goneIsUnauthorized(err))
		return
	}
	s.issue(w, r, http.StatusOK, p)
}

// handleRefresh is POST /api/auth/refresh: a new token for the bearer, as
// the database has the player now (a banned player gets none; an upgraded
// guest's says guest:false).
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.bearerPlayer(ctx, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.issue(w, r, http.StatusOK, p)
}

// meReply is GET /api/me. Ranks is an addition to PROTOCOL.md: the
// player's rank by game, for the games where the player is ranked
// (established and not banned).
type meReply struct {
	Player  authPlayer                          `json:"player"`
	Ratings map[string]leaderboard.RankedRating `json:"ratings"`
	Ranks   map[string]int                      `json:"ranks"`
}

// handleMe is GET /api/me: the bearer's player and ratings.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.bearerPlayer(ctx, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ratings, err := s.deps.Records.RankedRatings(ctx, p.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ranks := make(map[string]int)
	for g, rr := range ratings {
		if rr.Rank > 0 {
			ranks[g] = rr.Rank
		}
	}
	writeJSON(w, http.StatusOK, meReply{
		Player:  authPlayer{ID: p.ID, Name: p.Name, Guest: p.Guest, Operator: s.isOperator(r, p.ID)},
		Ratings: ratings,
		Ranks:   ranks,
	})
}

// bearerPlayer returns the player that the request's bearer token names,
// as stored now. A token whose player does not exist (any more) is
// refused as unauthorized; a banned player's error wraps
// leaderboard.ErrBanned.
func (s *Server) bearerPlayer(ctx context.Context, r *http.Request) (leaderboard.Player, error) {
	id, err := s.authenticate(r)
	if err != nil {
		return leaderboard.Player{}, err
	}
	p, err := s.deps.Accounts.Get(ctx, id.ID)
	if err != nil {
		return leaderboard.Player{}, goneIsUnauthorized(err)
	}
	return p, nil
}

// goneIsUnauthorized turns the accounts' "no such player", for the player
// a valid token names, into a refusal of the token.
func goneIsUnauthorized(err error) error {
	if errors.Is(err, leaderboard.ErrNotFound) {
		return fmt.Errorf("%w: the token's player does not exist", ErrUnauthorized)
	}
	return err
}
