package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/turnbase/turnbase/web/socket"
)

// Close codes of PROTOCOL.md that web sends; package socket sends the
// transport's own (1007, 1009, 1013).
const (
	closeGoingAway = 1001
	closeBadToken  = 4001
	// closeKicked (an addition to PROTOCOL.md): an operator closed the
	// player's connections (KickPlayer). The client may reconnect; a
	// banned player's hello is then refused with 4001.
	closeKicked    = 4003
	closeRateLimit = 4008
)

// handleWS is GET /ws: it refuses foreign origins (403), address floods
// (429), and a server full or shutting down (503) before upgrading, then
// runs the connection until it closes.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if err := s.checkHost(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.checkOrigin(r) {
		s.writeError(w, r, fmt.Errorf("%w: origin %q may not connect", ErrForbidden, r.Header.Get("Origin")))
		return
	}
	if !s.allowIP(w, r, s.handshakes) {
		return
	}
	c := newConn(s, s.clientIP(r))
	if err := s.register(c); err != nil {
		if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrServerFull) {
			writeRetryAfter(w, s.cfg.HelloTimeout)
		}
		s.writeError(w, r, err)
		return
	}
	sock, err := s.sockets.Upgrade(w, r, c)
	if err != nil {
		s.unregister(c) // the upgrader has answered
		return
	}
	c.sock = sock
	sock.Start() // on goroutines of its own: this handler returns
}

// checkOrigin implements PROTOCOL.md: no Origin, the server's own origin
// (Config.PublicOrigin, or else as the Host header names it) and
// configured origins are allowed.
func (s *Server) checkOrigin(r *http.Request) bool {
	values := r.Header.Values("Origin")
	switch len(values) {
	case 0:
		return true
	case 1:
	default:
		return false
	}
	origin, err := normalizeOrigin(values[0])
	if err != nil {
		return false // "null" among others
	}
	own := s.public
	if own == "" {
		own = originOf(s.ownScheme(r), r.Host)
	}
	return origin == own || s.origins[origin]
}

// checkHost refuses, when Config.PublicOrigin is set, a request for any
// other host: a page of another site whose name an attacker has pointed
// at this server (DNS rebinding) is then no longer the server's own
// origin.
func (s *Server) checkHost(r *http.Request) error {
	if s.public == "" {
		return nil
	}
	scheme, _, _ := strings.Cut(s.public, "://")
	if originOf(scheme, r.Host) != s.public {
		return fmt.Errorf("%w: host %q is not served here", ErrForbidden, truncate(r.Host, 100))
	}
	return nil
}

// conn is one WebSocket connection as the protocol sees it; it implements
// match.Conn, and socket.Handler for the frames of its socket. Its frames
// are handled one at a time, by the socket's read side.
type conn struct {
	// Immutable once the socket starts.
	srv  *Server
	ip   string
	sock *socket.Conn
	gone chan struct{} // closed once Closed has released everything

	// Set by Frame during the hello, before the connection is handed to
	// the registry or the lobby; immutable after that.
	id     Identity // zero for a spectator-only connection
	player *playerState
	log    *slog.Logger

	// Owned by Frame (Closed runs after it).
	welcomed bool // the hello succeeded
	limiter  *frameLimiter
}

func newConn(s *Server, ip string) *conn {
	return &conn{
		srv:  s,
		ip:   ip,
		gone: make(chan struct{}),
		log:  newLazyLogger(s.logger, slog.String("remote", ip)),
	}
}

// PlayerID is the authenticated player, or "" for a spectator connection.
func (c *conn) PlayerID() string { return c.id.ID }

// Send queues one frame without blocking. When the queue is full (frames
// queued or being written, SendQueue of them) the connection is dropped:
// it closes with 1013 and Send returns false, as it does once the
// connection is closing.
func (c *conn) Send(frame []byte) bool {
	err := c.sock.Send(frame)
	if errors.Is(err, socket.ErrTooSlow) {
		c.log.Warn("send queue full: dropping connection")
		c.srv.stats.closedSlow.Add(1)
	}
	return err == nil
}

// closeWith starts closing the connection with code. flush asks for the
// frames queued so far to be written first. Only the first call counts;
// safe from any goroutine.
func (c *conn) closeWith(code int, text string, flush bool) {
	c.sock.Close(code, text, flush)
}

// Frame handles one frame of the client: the hello first, then requests.
func (c *conn) Frame(data []byte, text bool) {
	ctx := context.Background() // the request that opened the connection is long gone
	if !c.welcomed {
		c.hello(ctx, data, text)
		return
	}
	c.handle(ctx, data, text)
}

// Control counts a ping or pong of the client against its frame rate, as
// a data frame: over it, the frame is ignored, and a client that keeps
// going is closed with 4008. Before the hello a connection has a budget of
// its own; the hello keeps it.
func (c *conn) Control() bool {
	if c.limiter == nil {
		c.limiter = newFrameLimiter(&c.srv.cfg, nil)
	}
	ok, closeIt := c.limiter.check(c.srv.now())
	if ok {
		return true
	}
	c.srv.stats.framesLimited.Add(1)
	if closeIt {
		c.log.Info("closing connection over its rate limit (control frames)")
		c.closeWith(closeRateLimit, "rate limit exceeded", false)
	}
	return false
}

// Closed releases what the connection held once its socket is gone:
// registry subscriptions, the player's queue ticket and challenges, and
// the per-IP count.
func (c *conn) Closed(e socket.Ending) {
	if e.ReadErr != nil {
		c.log.Debug("read failed", "err", e.ReadErr)
	}
	c.cleanup(context.Background(), e)
	close(c.gone)
}

func (c *conn) cleanup(ctx context.Context, e socket.Ending) {
	defer c.srv.unregister(c)
	if !c.welcomed {
		return // nobody else knows this connection
	}
	defer c.logClosed(e)
	c.srv.deps.Matches.Disconnect(c)
	if c.player == nil {
		return
	}
	queued, last := c.srv.leavePlayer(c, c.id.ID)
	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.LobbyTimeout)
	defer cancel()
	if queued {
		if _, err := c.srv.deps.Lobby.Leave(ctx, c.id.ID); err != nil {
			c.log.Warn("leave queue on close", "err", err)
		}
	}
	if last {
		c.srv.deps.Lobby.CancelChallenges(ctx, c.id.ID)
	}
}

// logClosed counts a welcomed connection out and logs why it closed.
func (c *conn) logClosed(e socket.Ending) {
	if c.player != nil {
		c.srv.stats.players.Add(-1)
	} else {
		c.srv.stats.spectators.Add(-1)
	}
	c.log.Info("connection closed", "spectator", c.player == nil, "code", e.Code, "reason", e.Text)
}
