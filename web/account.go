package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/turnbase/turnbase/leaderboard"
)

// Accounts stores players and checks their passwords;
// *postgres.Accounts satisfies it. Its errors wrap leaderboard's
// sentinels (ErrBadRequest, ErrNameTaken, ErrBadCredentials, ErrNotFound,
// ErrNotGuest, ErrBanned, ErrBusy), which errors.go maps to codes.
//
// Register, Login, Upgrade and ChangePassword hash passwords: they bound
// their database calls themselves, after the hashing, and are given the
// request's context, not one that would run out while they wait to hash.
type Accounts interface {
	// CreateGuest and Register store from, the client's address block
	// (see addrBlock; "" when unknown), with the new account.
	CreateGuest(ctx context.Context, name, from string) (leaderboard.Player, error)
	Register(ctx context.Context, name, password, from string) (leaderboard.Player, error)
	Login(ctx context.Context, name, password string) (leaderboard.Player, error)
	Upgrade(ctx context.Context, playerID, password string) (leaderboard.Player, error)
	ChangePassword(ctx context.Context, playerID, current, next string) (leaderboard.Player, error)
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
	p, err := s.deps.Accounts.CreateGuest(ctx, body.Name, addrBlock(s.clientIP(r)))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.issue(w, r, http.StatusCreated, p)
}

// handleRegister is POST /api/auth/register {"name", "password"}: a new
// registered player. Sign-ups (this and upgrade) have their own budget
// per client address, tighter than the API's: each costs a password hash.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allowSignup(w, r) {
		return
	}
	p, err := s.deps.Accounts.Register(r.Context(), body.Name, body.Password, addrBlock(s.clientIP(r)))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.issue(w, r, http.StatusCreated, p)
}

// handleLogin is POST /api/auth/login {"name", "password"}. Attempts are
// limited per client address and per name (see loginLimiter), before the
// password is looked at.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	attempt, ok := s.allowLogin(w, r, body.Name)
	if !ok {
		return
	}
	p, err := s.deps.Accounts.Login(r.Context(), body.Name, body.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if attempt != nil {
		s.loginNames.succeeded(*attempt, s.now())
	}
	s.issue(w, r, http.StatusOK, p)
}

// allowLogin takes one login attempt from the client address's budget and
// admits it on the name (ignoring case), or answers 429 and returns false.
// A malformed name has no budget of its own: Login refuses it unread, and
// the attempt returned is nil.
func (s *Server) allowLogin(w http.ResponseWriter, r *http.Request, name string) (*loginAttempt, bool) {
	now := s.now()
	ip := s.clientIP(r)
	ok, wait := s.loginIPs.allow(ip, now)
	why := "from your address"
	var attempt *loginAttempt
	if ok && leaderboard.ValidName(name) == nil {
		var a loginAttempt
		a, ok, wait = s.loginNames.admit(ip, name, now)
		attempt = &a
		why = "for this name"
	}
	if !ok {
		writeRetryAfter(w, wait)
		s.writeError(w, r, fmt.Errorf("%w: too many login attempts %s", ErrRateLimited, why))
	}
	return attempt, ok
}

// allowSignup takes one sign-up (register, upgrade) from the client
// address's budget, or answers 429 and returns false.
func (s *Server) allowSignup(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := s.signups.allow(s.clientIP(r), s.now())
	if !ok {
		writeRetryAfter(w, wait)
		s.writeError(w, r, fmt.Errorf("%w: too many sign-ups from your address", ErrRateLimited))
	}
	return ok
}

// handleUpgrade is POST /api/auth/upgrade {"password"} with a guest's
// bearer token: the guest becomes a registered player with the same id
// and name. The answer's token is the only one that works from then on:
// the upgrade revokes the guest's tokens.
func (s *Server) handleUpgrade(w http.ResponseWriter, r *http.Request) {
	id, err := s.currentBearer(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body credentials
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allowSignup(w, r) {
		return
	}
	p, err := s.deps.Accounts.Upgrade(r.Context(), id.ID, body.Password)
	if err != nil {
		s.writeError(w, r, goneIsUnauthorized(err))
		return
	}
	s.issue(w, r, http.StatusOK, p)
}

// passwordChange is the body of POST /api/auth/password.
type passwordChange struct {
	Password    string `json:"password"`     // the current one
	NewPassword string `json:"new_password"` // 8 to 128 characters
}

// handlePassword is POST /api/auth/password {"password", "new_password"}
// with a registered player's bearer token (an addition to PROTOCOL.md):
// it replaces the password and answers 200 with a new token, as login
// does; every token issued before stops working. A wrong current password
// is 401 bad_credentials, and counts as a login attempt on the name.
func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request) {
	id, err := s.currentBearer(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body passwordChange
	if err := s.readJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	attempt, ok := s.allowLogin(w, r, id.Name)
	if !ok {
		return
	}
	p, err := s.deps.Accounts.ChangePassword(r.Context(), id.ID, body.Password, body.NewPassword)
	if err != nil {
		s.writeError(w, r, goneIsUnauthorized(err))
		return
	}
	if attempt != nil {
		s.loginNames.succeeded(*attempt, s.now())
	}
	s.issue(w, r, http.StatusOK, p)
}

// currentBearer returns the identity of the request's bearer token, as
// the database has the player now, if the token is not revoked.
func (s *Server) currentBearer(r *http.Request) (Identity, error) {
	ctx, cancel := s.dbContext(r)
	defer cancel()
	p, err := s.bearerPlayer(ctx, r)
	if err != nil {
		return Identity{}, err
	}
	return identityOf(p), nil
}

// handleRefresh is POST /api/auth/refresh: a new token for the bearer, as
// the database has the player now. A banned player gets none (403), nor
// does a revoked token (401): one issued before an upgrade, a password
// change or a ban.
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
// as stored now. A token whose player does not exist (any more), or that
// was revoked (an older token generation), is refused as unauthorized; a
// banned player's error wraps leaderboard.ErrBanned.
func (s *Server) bearerPlayer(ctx context.Context, r *http.Request) (leaderboard.Player, error) {
	id, err := s.authenticate(r)
	if err != nil {
		return leaderboard.Player{}, err
	}
	p, err := s.deps.Accounts.Get(ctx, id.ID)
	if err != nil {
		return leaderboard.Player{}, goneIsUnauthorized(err)
	}
	if err := checkGen(id, p); err != nil {
		return leaderboard.Player{}, err
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
