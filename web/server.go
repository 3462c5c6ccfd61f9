// Package web is the HTTP server and the WebSocket transport of turnbase
// (PROTOCOL.md). It owns no game state: it authenticates clients, decodes
// their frames, rate-limits them and hands requests to the match registry
// and the lobby, which it is given. Package web/socket, below it, moves
// the WebSocket frames (pumps, workers, pings, deadlines, close codes).
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/web/socket"
)

// Matches is the match registry as the transport uses it; *match.Registry
// satisfies it. Starting matches (the lobby's StartFunc) and shutting the
// registry down are cmd's business, not the transport's.
type Matches interface {
	Connect(c match.Conn)
	Disconnect(c match.Conn)
	Watch(c match.Conn, matchID string, reply match.ReplyFunc)
	Unwatch(c match.Conn, matchID string)
	Move(c match.Conn, matchID string, move json.RawMessage, reply match.ReplyFunc)
	Resign(c match.Conn, matchID string, reply match.ReplyFunc)
	Rematch(c match.Conn, matchID string, reply match.ReplyFunc)
	StartComputer(ctx context.Context, gameID, level string, person match.Player) (string, error)
	Active(playerID string) []string
	InMatch(playerID string) bool
	Get(matchID string) (match.Summary, bool)
	List(status string) []match.Summary
}

// Lobby is the matchmaking queue and the challenges as the transport uses
// them; *lobby.Lobby satisfies it.
type Lobby interface {
	Join(ctx context.Context, t lobby.Ticket) (lobby.Ticket, error)
	Leave(ctx context.Context, playerID string) (bool, error)
	CreateChallenge(ctx context.Context, creator lobby.Ticket) (lobby.Challenge, error)
	Challenge(ctx context.Context, code string) (lobby.Challenge, error)
	AcceptChallenge(ctx context.Context, code string, acceptor lobby.Ticket) error
	CancelChallenges(ctx context.Context, playerID string)
	Stats() map[string]int // players waiting per game
}

// Ratings gives a player's rating in a game, for queue tickets.
type Ratings interface {
	Rating(ctx context.Context, playerID, game string) (float64, error)
}

// Deps are the server's collaborators. Games, Matches, Lobby, Accounts and
// Records are required; the rest are optional.
type Deps struct {
	Games    *game.Registry
	Matches  Matches
	Lobby    Lobby
	Accounts Accounts // *leaderboard.Accounts
	Records  Records  // *leaderboard.Ratings
	// Ratings rates queue tickets (*leaderboard.Ratings); nil: every
	// player has DefaultRating.
	Ratings Ratings
	// ReadyFunc reports whether the server can take players (GET /readyz);
	// while it fails, requests that would start a match are refused with
	// server_busy, and running matches go on. nil: always ready.
	ReadyFunc func(ctx context.Context) error
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time
	// Ops, when set, serves the operators' API under /api/ops (ops.go),
	// and Monitor its overview's history.
	Ops     Operations
	Monitor *Monitor
	// Views, when set, are a cluster's: the live list and the counts
	// come from every node (views.go).
	Views Views
}

// Server serves the HTTP API, the static client and the WebSocket endpoint.
type Server struct {
	// Immutable after New; never nil unless noted.
	logger     *slog.Logger
	cfg        Config // with defaults
	deps       Deps   // its optional fields may be nil
	now        func() time.Time
	tokens     *Tokens
	origins    map[string]bool // normalized AllowedOrigins
	public     string          // normalized PublicOrigin; "" when not set
	sockets    *socket.Server  // runs the WebSockets; safe for concurrent use
	handler    http.Handler
	handshakes *keyLimiters  // WebSocket upgrades per IP; safe for concurrent use
	apiCalls   *keyLimiters  // /api/ requests per IP; safe for concurrent use
	loginIPs   *keyLimiters  // login attempts per IP; safe for concurrent use
	loginNames *loginLimiter // login attempts per name; likewise
	signups    *keyLimiters  // registrations and upgrades per IP; likewise
	proxies    []netip.Prefix

	conns sync.WaitGroup // one per registered connection until its cleanup
	stats serverStats    // safe for concurrent use

	mu       sync.Mutex // guards the fields below
	draining bool       // set once by shutdown: no new connections
	open     map[*conn]struct{}
	perIP    map[string]int          // open (or upgrading) connections per addrKey
	players  map[string]*playerState // players with at least one connection
}

// playerState is shared by one player's connections.
type playerState struct {
	limiter *rate.Limiter // frames of all its connections; safe for concurrent use

	// Guarded by Server.mu.
	conns    map[*conn]struct{} // connections past hello
	queuedBy *conn              // the connection whose queue.join is pending, if any
}

// New returns a Server. It panics if cfg does not pass Validate or a
// required dependency is missing: both are wiring mistakes in cmd.
func New(logger *slog.Logger, deps Deps, cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if deps.Games == nil || deps.Matches == nil || deps.Lobby == nil || deps.Accounts == nil || deps.Records == nil {
		panic("web.New: Games, Matches, Lobby, Accounts and Records are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	now := deps.NowFunc
	if now == nil {
		now = time.Now
	}
	s := &Server{
		logger:     logger,
		cfg:        cfg,
		deps:       deps,
		now:        now,
		tokens:     newTokens(cfg, now),
		origins:    make(map[string]bool),
		handshakes: newAddrLimiters(cfg.HandshakeRate, cfg.HandshakeBurst),
		apiCalls:   newAddrLimiters(cfg.HTTPRate, cfg.HTTPBurst),
		loginIPs:   newAddrLimiters(cfg.LoginIPRate, cfg.LoginIPBurst),
		loginNames: newLoginLimiter(cfg.LoginNameRate, cfg.LoginNameBurst, cfg.LoginFreshAfter),
		signups:    newAddrLimiters(cfg.SignupIPRate, cfg.SignupIPBurst),
		open:       make(map[*conn]struct{}),
		perIP:      make(map[string]int),
		players:    make(map[string]*playerState),
	}
	s.proxies, _ = parsePrefixes(cfg.TrustedProxies) // Validate accepted them
	if cfg.PublicOrigin != "" {
		s.public, _ = normalizeOrigin(cfg.PublicOrigin) // likewise
	}
	for _, o := range cfg.AllowedOrigins {
		n, _ := normalizeOrigin(o) // Validate accepted it
		s.origins[n] = true
	}
	s.sockets = socket.NewServer(socket.Config{
		HelloTimeout:     cfg.HelloTimeout,
		NoHelloCode:      closeBadToken,
		PingPeriod:       cfg.PingPeriod,
		PongWait:         cfg.PongWait,
		WriteWait:        cfg.WriteWait,
		CloseWait:        cfg.CloseWait,
		SendQueue:        cfg.SendQueue,
		ReadLimit:        cfg.ReadLimit,
		HandshakeTimeout: cfg.HandshakeTimeout,
		CheckOrigin:      s.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeErrorBody(w, status, codeForStatus(status), reason.Error())
		},
	})
	s.handler = s.routes()
	return s
}

// Handler returns the server's HTTP handler. WebSocket connections it
// accepts are closed by Serve's shutdown only; a caller that serves the
// handler itself closes them with Shutdown.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// it stops accepting, closes every WebSocket with 1001 and waits for their
// goroutines, bounded by Config.ShutdownTimeout. It returns nil after a
// shutdown for ctx, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	hsDone := make(chan error, 1)
	go func() { hsDone <- hs.Shutdown(sctx) }()
	shutErr := s.Shutdown(sctx)
	if err := <-hsDone; err != nil {
		shutErr = errors.Join(shutErr, fmt.Errorf("shut down http server: %w", err))
	}
	if serveErr == nil {
		<-served // http.ErrServerClosed
	} else if !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(fmt.Errorf("serve: %w", serveErr), shutErr)
	}
	return shutErr
}

// Shutdown refuses new WebSocket connections, closes the open ones with
// 1001 and waits until they are gone or ctx ends. It does not stop an
// http.Server; Serve does that too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()

	// Connections still upgrading are closed as their upgrade ends.
	s.sockets.Shutdown(closeGoingAway, "server shutting down")
	done := make(chan struct{})
	go func() {
		s.conns.Wait()   // no connection is registered or upgrading
		s.sockets.Wait() // and the sockets' goroutines are gone
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close websockets: %w", ctx.Err())
	}
}

// register counts a connection that is about to be upgraded. It refuses
// while draining, when the server holds MaxConns connections, and when the
// client's address (its /64 for IPv6) holds its maximum.
func (s *Server) register(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return ErrShuttingDown
	}
	if len(s.open) >= s.cfg.MaxConns {
		return fmt.Errorf("%w; try again later", ErrServerFull)
	}
	key := addrKey(c.ip)
	if s.perIP[key] >= s.cfg.MaxConnsPerIP {
		return fmt.Errorf("%w: too many connections from your address", ErrRateLimited)
	}
	s.perIP[key]++
	s.open[c] = struct{}{}
	s.conns.Add(1)
	return nil
}

// unregister undoes register once the connection is gone.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
	key := addrKey(c.ip)
	if s.perIP[key]--; s.perIP[key] <= 0 {
		delete(s.perIP, key)
	}
	s.conns.Done()
}

// joinPlayer records that c speaks for playerID and returns the state its
// connections share.
func (s *Server) joinPlayer(c *conn, playerID string) *playerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.players[playerID]
	if p == nil {
		p = &playerState{
			limiter: rate.NewLimiter(rate.Limit(s.cfg.PlayerRate), s.cfg.PlayerBurst),
			conns:   make(map[*conn]struct{}),
		}
		s.players[playerID] = p
	}
	p.conns[c] = struct{}{}
	return p
}

// leavePlayer forgets c as one of playerID's connections. It reports
// whether c had queued the player and the queue ticket is still its, and
// whether c was the player's last connection.
func (s *Server) leavePlayer(c *conn, playerID string) (queued, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.players[playerID]
	if p == nil {
		return false, false
	}
	if p.queuedBy == c {
		p.queuedBy = nil
		queued = true
	}
	delete(p.conns, c)
	if len(p.conns) == 0 {
		delete(s.players, playerID)
		last = true
	}
	return queued, last
}

// KickPlayer closes every WebSocket connection of playerID in this process
// with close code 4003 ("kicked"), and waits until they are gone or ctx
// ends. It returns how many it closed. An operator who bans a player calls
// it after storing the ban: the client reconnects, and its hello is
// refused (4001) for the ban. Other processes notice a ban made elsewhere
// when the player next asks for a match or a token (queue.join,
// challenge.create, challenge.accept, match.rematch, refresh): they close
// its connections with 4001.
func (s *Server) KickPlayer(ctx context.Context, playerID string) (int, error) {
	conns := s.closePlayer(playerID, closeKicked, "kicked by the server")
	for _, c := range conns {
		select {
		case <-c.gone:
		case <-ctx.Done():
			return len(conns), fmt.Errorf("kick player %s: %w", playerID, ctx.Err())
		}
	}
	return len(conns), nil
}

// closePlayer starts closing every connection of playerID with code and
// returns them.
func (s *Server) closePlayer(playerID string, code int, text string) []*conn {
	s.mu.Lock()
	var conns []*conn
	if p := s.players[playerID]; p != nil {
		for c := range p.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(code, text, true)
	}
	return conns
}

// queuedConn returns the connection of p that holds its queue ticket, or
// nil.
func (s *Server) queuedConn(p *playerState) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return p.queuedBy
}

// OfferComputer tells a player waiting in the queue for t.Game, through
// the connection that queued them, that a computer game is theirs for one
// click (queue.bot_offer). It is the lobby's OfferFunc: it never blocks.
func (s *Server) OfferComputer(t lobby.Ticket) {
	g, ok := s.deps.Games.Lookup(t.Game)
	bp, hasBots := g.(game.BotPlayer)
	if !ok || !hasBots {
		return
	}
	s.mu.Lock()
	var c *conn
	if p := s.players[t.PlayerID]; p != nil {
		c = p.queuedBy
	}
	s.mu.Unlock()
	if c != nil {
		c.Send(encodeFrame(queueBotOfferFrame{Type: "queue.bot_offer", Game: t.Game, Levels: bp.BotLevels()}))
	}
}

// setQueued records which of the player's connections holds its queue
// ticket (nil: none).
func (s *Server) setQueued(p *playerState, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.queuedBy = c
}

// serverStats are the transport's counters; safe for concurrent use.
type serverStats struct {
	players       atomic.Int64 // player connections past hello
	spectators    atomic.Int64 // spectator connections past hello
	framesLimited atomic.Int64 // frames refused by a rate limit
	closedSlow    atomic.Int64 // connections dropped for a full send queue
}

// Stats is a snapshot of the transport's counters, for metrics.
type Stats struct {
	Players       int64 // open player connections
	Spectators    int64 // open spectator connections
	FramesLimited int64 // frames refused by a rate limit, since start
	ClosedSlow    int64 // connections dropped as too slow, since start
}

// Stats returns the transport's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Players:       s.stats.players.Load(),
		Spectators:    s.stats.spectators.Load(),
		FramesLimited: s.stats.framesLimited.Load(),
		ClosedSlow:    s.stats.closedSlow.Load(),
	}
}
