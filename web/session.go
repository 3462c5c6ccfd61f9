package web

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/time/rate"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

// hello handles the first frame. A malformed or unexpected one is answered
// with bad_request and closes the connection with 4001, as an invalid or
// expired token does, or one whose player no longer exists or is banned;
// otherwise it sends welcome and, for a player, connects it to the
// registry.
func (c *conn) hello(ctx context.Context, data []byte, text bool) {
	req, err := decodeHello(data, text)
	if err != nil {
		c.replyError(req.re(), err)
		c.closeWith(closeBadToken, "bad hello", true)
		return
	}
	if req.Token != "" {
		if err := c.authenticate(ctx, req.Token); err != nil {
			c.closeWith(closeBadToken, truncate(err.Error(), 100), false)
			return
		}
	}
	c.admit()
	welcomed := c.sendWelcome(req.re())
	if c.player == nil {
		return
	}
	c.connectPlayer(welcomed)
	c.log.Info("connection opened", "spectator", c.player == nil)
}

// decodeHello decodes the first frame, which must be a hello of this
// protocol version.
func decodeHello(data []byte, text bool) (request, error) {
	req, err := decodeData(data, text)
	switch {
	case err != nil:
	case req.Type != typeHello:
		err = fmt.Errorf("%w: the first frame must be a hello", ErrBadRequest)
	case req.V != protocolVersion:
		err = fmt.Errorf("%w: protocol version %d is not supported; use %d", ErrBadRequest, req.V, protocolVersion)
	}
	return req, err
}

// decodeData decodes a client frame; binary frames are refused.
func decodeData(data []byte, text bool) (request, error) {
	if !text {
		return request{}, fmt.Errorf("%w: binary frames are not supported", ErrBadRequest)
	}
	return decodeFrame(data)
}

// authenticate makes the connection speak for the player of token, as
// the database has that player now.
func (c *conn) authenticate(ctx context.Context, token string) error {
	id, err := c.srv.tokens.Verify(token)
	if err == nil {
		id, err = c.srv.checkPlayer(ctx, id)
	}
	if err != nil {
		return err
	}
	c.id = id
	c.player = c.srv.joinPlayer(c, id.ID)
	c.log = c.log.With("player_id", id.ID)
	return nil
}

// admit ends the hello: frames are rate-limited from now on, and the
// socket keeps the connection alive while the client answers pings.
func (c *conn) admit() {
	var playerLimiter *rate.Limiter
	if c.player != nil {
		playerLimiter = c.player.limiter
	}
	if c.limiter == nil {
		c.limiter = newFrameLimiter(&c.srv.cfg, nil)
	}
	c.limiter.player = playerLimiter // control frames before the hello count too
	c.welcomed = true
	c.sock.Welcome()
	if c.player != nil {
		c.srv.stats.players.Add(1)
	} else {
		c.srv.stats.spectators.Add(1)
	}
}

// sendWelcome sends the welcome answering re and returns it.
func (c *conn) sendWelcome(re *string) welcomeFrame {
	w := welcomeFrame{Type: "welcome", Re: re, V: protocolVersion, ServerMS: c.srv.now().UnixMilli(), Active: []string{}}
	if c.player != nil {
		w.Player = &wireIdentity{ID: c.id.ID, Name: c.id.Name}
		if active := c.srv.deps.Matches.Active(c.id.ID); active != nil {
			w.Active = active
		}
	}
	c.Send(encodeFrame(w))
	return w
}

// connectPlayer hands the player's connection to the registry, after
// welcome w.
func (c *conn) connectPlayer(w welcomeFrame) {
	c.srv.deps.Matches.Connect(c)
	// A match that started between Active and Connect reached neither
	// the welcome nor this connection: watch it.
	for _, id := range c.srv.deps.Matches.Active(c.id.ID) {
		if !slices.Contains(w.Active, id) {
			c.srv.deps.Matches.Watch(c, id, c.replyFunc(nil))
		}
	}
}

// handle runs one frame after the hello.
func (c *conn) handle(ctx context.Context, data []byte, text bool) {
	req, err := decodeData(data, text)
	if ok, closeIt := c.limiter.check(c.srv.now()); !ok {
		c.srv.stats.framesLimited.Add(1)
		if closeIt {
			c.log.Info("closing connection over its rate limit")
			c.closeWith(closeRateLimit, "rate limit exceeded", true)
			return
		}
		c.replyError(req.re(), fmt.Errorf("%w: slow down", ErrRateLimited))
		return
	}
	if err == nil {
		err = c.dispatch(ctx, req)
	}
	if err != nil {
		c.replyError(req.re(), err)
	}
	if errors.Is(err, errPlayerBanned) {
		c.log.Info("closing the connections of a banned player")
		c.srv.closePlayer(c.id.ID, closeBadToken, "player is banned")
	}
}

// errPlayerBanned refuses a request of a player banned since its hello;
// the player's connections are closed after the answer.
var errPlayerBanned = fmt.Errorf("%w: player is banned", ErrUnauthorized)

// dispatch runs a decoded request. Requests that the registry answers
// later get a reply function; the rest answer here.
func (c *conn) dispatch(ctx context.Context, req request) error {
	m := c.srv.deps.Matches
	switch req.Type {
	case typePing:
		c.Send(encodeFrame(pongFrame{Type: "pong", Re: req.re(), ServerMS: c.srv.now().UnixMilli()}))
		return nil
	case typeHello:
		return fmt.Errorf("%w: hello was already said", ErrBadRequest)
	case typeMatchWatch:
		m.Watch(c, req.Match, c.replyFunc(req.re()))
		return nil
	case typeMatchUnwatch:
		m.Unwatch(c, req.Match)
		return nil
	}
	if c.player == nil {
		return fmt.Errorf("%w: spectator connections may only watch; send a token in hello to play", ErrUnauthorized)
	}
	switch req.Type {
	case typeMatchMove:
		m.Move(c, req.Match, req.Move, c.replyFunc(req.re()))
		return nil
	case typeMatchResign:
		m.Resign(c, req.Match, c.replyFunc(req.re()))
		return nil
	case typeMatchRematch:
		if err := c.srv.checkReady(ctx); err != nil {
			return err
		}
		if err := c.checkStanding(ctx); err != nil {
			return err
		}
		m.Rematch(c, req.Match, c.replyFunc(req.re()))
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.LobbyTimeout)
	defer cancel()
	ctx = match.WithConn(ctx, c) // a cluster's lobby sends match.found to this socket
	switch req.Type {
	case typeQueueJoin, typeChallengeCreate, typeChallengeAccept, typeMatchComputer:
		// Each of these may start a match.
		if err := c.srv.checkReady(ctx); err != nil {
			return err
		}
		if err := c.checkStanding(ctx); err != nil {
			return err
		}
	}
	switch req.Type {
	case typeQueueJoin:
		return c.queueJoin(ctx, req)
	case typeQueueLeave:
		if _, err := c.srv.deps.Lobby.Leave(ctx, c.id.ID); err != nil {
			return err
		}
		c.srv.setQueued(c.player, nil)
		c.Send(encodeFrame(queueLeftFrame{Type: "queue.left", Re: req.re()}))
		return nil
	case typeChallengeCreate:
		if err := c.checkGame(req.Game); err != nil {
			return err
		}
		ch, err := c.srv.deps.Lobby.CreateChallenge(ctx, c.ticket(ctx, req.Game))
		if err != nil {
			return err
		}
		c.Send(encodeFrame(challengeCreatedFrame{Type: "challenge.created", Re: req.re(), Code: ch.Code, Game: ch.Game, ExpiresMS: ch.Expires.UnixMilli()}))
		return nil
	case typeMatchComputer:
		return c.matchComputer(ctx, req)
	case typeChallengeAccept:
		if m.InMatch(c.id.ID) {
			return match.ErrInMatch
		}
		// The acceptor's ticket carries their rating in the challenge's
		// game, as the player cards show it. Success is the match.found
		// that the match sends.
		ch, err := c.srv.deps.Lobby.Challenge(ctx, req.Code)
		if err != nil {
			return err
		}
		return c.srv.deps.Lobby.AcceptChallenge(ctx, req.Code, c.ticket(ctx, ch.Game))
	}
	return fmt.Errorf("dispatch %q: no handler", req.Type) // decodeFrame knows no more types
}

func (c *conn) queueJoin(ctx context.Context, req request) error {
	if err := c.checkGame(req.Game); err != nil {
		return err
	}
	if c.srv.deps.Matches.InMatch(c.id.ID) {
		return match.ErrInMatch
	}
	t, err := c.srv.deps.Lobby.Join(ctx, c.ticket(ctx, req.Game))
	if err != nil {
		return err
	}
	c.srv.setQueued(c.player, c)
	c.Send(encodeFrame(queueJoinedFrame{Type: "queue.joined", Re: req.re(), Game: t.Game, SinceMS: t.Since.UnixMilli()}))
	return nil
}

// matchComputer starts a game against a computer player. A player waiting
// in the queue leaves it first (the computer game is what the queue's
// offer leads to); one whom the queue paired meanwhile is in_match.
// Success is the match.found that the match sends.
func (c *conn) matchComputer(ctx context.Context, req request) error {
	if err := c.checkGame(req.Game); err != nil {
		return err
	}
	if c.srv.deps.Matches.InMatch(c.id.ID) {
		return match.ErrInMatch
	}
	if c.srv.queuedConn(c.player) != nil {
		removed, err := c.srv.deps.Lobby.Leave(ctx, c.id.ID)
		if err != nil {
			return err
		}
		c.srv.setQueued(c.player, nil)
		if !removed {
			return fmt.Errorf("%w: the queue paired you meanwhile", match.ErrInMatch)
		}
	}
	person := match.Player{ID: c.id.ID, Name: c.id.Name, Rating: c.rating(ctx, req.Game)}
	_, err := c.srv.deps.Matches.StartComputer(ctx, req.Game, req.Level, person)
	return err
}

func (c *conn) checkGame(id string) error {
	if _, ok := c.srv.deps.Games.Lookup(id); !ok {
		return fmt.Errorf("%w: %q", match.ErrUnsupported, truncate(id, 40))
	}
	return nil
}

// ticket is this connection's player waiting for game ("" when the lobby
// knows the game, as for an accepted challenge).
func (c *conn) ticket(ctx context.Context, game string) lobby.Ticket {
	return lobby.Ticket{PlayerID: c.id.ID, Name: c.id.Name, Rating: c.rating(ctx, game), Game: game}
}

func (c *conn) rating(ctx context.Context, game string) float64 {
	if c.srv.deps.Ratings == nil || game == "" {
		return DefaultRating
	}
	r, err := c.srv.deps.Ratings.Rating(ctx, c.id.ID, game)
	if err != nil {
		c.log.Warn("rating for ticket", "game", game, "err", err)
		return DefaultRating
	}
	return r
}

// checkPlayer returns id as the database has its player now (the name and
// guest flag may have changed since the token was issued). A player who
// does not exist or is banned is refused (ErrUnauthorized). When the
// database cannot tell, the token is trusted: players must be able to
// come back to their running matches while it is unreachable.
func (s *Server) checkPlayer(ctx context.Context, id Identity) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DatabaseTimeout)
	defer cancel()
	p, err := s.deps.Accounts.Get(ctx, id.ID)
	switch {
	case errors.Is(err, leaderboard.ErrNotFound):
		return Identity{}, fmt.Errorf("%w: unknown player", ErrUnauthorized)
	case errors.Is(err, leaderboard.ErrBanned):
		return Identity{}, fmt.Errorf("%w: player is banned", ErrUnauthorized)
	case err != nil:
		s.logger.Warn("check player at hello; trusting the token", "player_id", id.ID, "err", err)
		return id, nil
	}
	if err := checkGen(id, p); err != nil {
		return Identity{}, err
	}
	return identityOf(p), nil
}

// checkStanding refuses a request that may start a match when the
// connection's player has been banned (or deleted) since its hello,
// perhaps by another process or by hand in the database (errPlayerBanned;
// handle then closes all of the player's connections here with 4001). The token generation is
// not compared: a player's open connections outlive an upgrade or a
// password change made from one of them. When the database cannot tell,
// the player is let through, as at hello (checkReady refuses new matches
// while it is down anyway).
func (c *conn) checkStanding(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.DatabaseTimeout)
	defer cancel()
	_, err := c.srv.deps.Accounts.Get(ctx, c.id.ID)
	switch {
	case errors.Is(err, leaderboard.ErrBanned), errors.Is(err, leaderboard.ErrNotFound):
		c.log.Info("refusing a banned or deleted player", "err", err)
		return errPlayerBanned
	case err != nil:
		c.log.Warn("check player standing; letting it through", "err", err)
	}
	return nil
}

// checkReady refuses, while the server is not ready (the database is
// unreachable), what would start a new match.
func (s *Server) checkReady(ctx context.Context) error {
	if s.deps.ReadyFunc == nil {
		return nil
	}
	if err := s.deps.ReadyFunc(ctx); err != nil {
		s.logger.Debug("refusing a new match: not ready", "err", err)
		return fmt.Errorf("%w; try again shortly", ErrNoNewMatches)
	}
	return nil
}

// replyFunc answers a registry request: nothing when it was accepted, an
// error frame when it was refused.
func (c *conn) replyFunc(re *string) match.ReplyFunc {
	return func(err error) {
		if err != nil {
			c.replyError(re, err)
		}
	}
}

// replyError sends err as an error frame answering re. Safe from any
// goroutine.
func (c *conn) replyError(re *string, err error) {
	code, msg, _, known := publicError(err)
	if !known {
		c.log.Error("request failed", "err", err)
	}
	c.Send(encodeFrame(errorFrame{Type: "error", Re: re, Code: code, Message: msg}))
}
