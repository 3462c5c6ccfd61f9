package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/turnbase/turnbase/cluster"
	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/postgres"
	"github.com/turnbase/turnbase/web"
)

// serve runs the server until ctx is done, then shuts down in order: no
// new sockets, sockets closed with 1001, lobby, rater, matches (their moves
// are already stored), the journal, the database. Each step below pushes
// its own stop onto st, which runs them last first.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, logger, help, err := loadConfig("turnbase serve", args, getenv, stdout)
	if help || err != nil {
		return err
	}
	var st stops
	defer func() { err = errors.Join(err, st.run()) }()

	host, err := openHost(cfg, logger, &st)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	st.push(func() error { db.close(logger); return nil })

	n := &node{games: catalog.New(), mon: web.NewMonitor(cfg.OpsSample, 360)} // the games this server offers
	n.met = newMetrics(sources{
		web:     func() web.Stats { return n.srv.Stats() },
		journal: func() postgres.JournalStats { return n.journal.Stats() },
		queues:  func() map[string]int { return n.queues() },
		live:    func() (int, int) { return n.matches.Counts() },
		games:   n.games,
	})
	if err := n.openStores(ctx, cfg, db, host.owner, logger, &st); err != nil {
		return err
	}
	if err := n.joinCluster(ctx, cfg, db, host.owner, logger, &st); err != nil {
		return err
	}
	if err := n.startMatches(ctx, cfg, logger, &st); err != nil {
		return err
	}
	n.watchCluster(logger, &st)
	if err := n.startLobby(ctx, cfg, logger, &st); err != nil {
		return err
	}
	if err := n.startOps(cfg, db, logger, &st); err != nil {
		return err
	}
	var matches web.Matches = n.matches
	if n.cluster != nil {
		matches = n.cluster.router // requests about other nodes' matches go there
	}
	n.srv = web.New(logger, web.Deps{
		Games:     n.games,
		Matches:   matches,
		Lobby:     n.lobby,
		Accounts:  n.accounts,
		Records:   n.ratings,
		Ratings:   n.ratings,
		ReadyFunc: n.journal.Ready,
		Ops:       n.ops,
		Monitor:   n.mon,
	}, host.web)
	n.startMonitor(&st)
	n.offerTo.Store(n.srv)
	ln := host.ln
	logger.Info("turnbase listening", "addr", ln.Addr().String(), "url", host.scheme+"://"+browseAddr(ln.Addr()))
	defer logger.Info("turnbase stopped")
	return n.srv.Serve(ctx, ln) // returns after ctx is done and sockets are closed
}

// stops is a stack of shutdown steps.
type stops []func() error

func (s *stops) push(f func() error) { *s = append(*s, f) }

// run runs the steps last pushed first and joins their errors.
func (s *stops) run() error {
	var err error
	for i := len(*s) - 1; i >= 0; i-- {
		err = errors.Join(err, (*s)[i]())
	}
	*s = nil
	return err
}

// host is what serve takes from the machine before any database: the
// data folder (locked), the secrets and node id kept there, and the
// listeners.
type host struct {
	owner  string // this process's node id, owner of its matches
	web    web.Config
	ln     net.Listener
	scheme string // http or https
}

func openHost(cfg config, logger *slog.Logger, st *stops) (host, error) {
	var h host
	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return h, err
	}
	st.push(func() error { release(); return nil })
	secret, err := jwtSecret(cfg.JWTSecret, cfg.DataDir)
	if err != nil {
		return h, err
	}
	if h.owner, err = nodeID(cfg.DataDir); err != nil {
		return h, err
	}
	h.web = webConfig(cfg, secret)
	if err := h.web.Validate(); err != nil {
		return h, err
	}
	if h.ln, h.scheme, err = listen(cfg); err != nil {
		return h, err
	}
	st.push(func() error { h.ln.Close(); return nil })
	return h, nil
}

// node is the running server's parts, wired to one another. The metrics'
// sources read them at scrape time, once set.
type node struct {
	games    *game.Registry
	met      *metrics
	accounts *postgres.Accounts
	ratings  *postgres.Ratings
	journal  *postgres.Journal
	pairs    *postgres.PairLimit // decides which new matches are rated
	matches  *match.Registry
	lobby    web.Lobby             // *lobby.Lobby, or in a cluster the cluster's (*cluster.Lobby)
	queues   func() map[string]int // the queues this node runs, for metrics
	srv      *web.Server
	ops      *postgres.Ops
	mon      *web.Monitor               // the operators' overview, fed by the matches and the lobby
	offerTo  atomic.Pointer[web.Server] // srv, once made, for the lobby's OfferFunc
	cluster  *clusterNode               // nil: one node (embedded database)
}

// openStores opens the accounts, the rater and the journal, and replays
// what the journal spooled before a crash.
func (n *node) openStores(ctx context.Context, cfg config, db *database, owner string, logger *slog.Logger, st *stops) error {
	n.accounts = postgres.NewAccounts(db.pool, logger.With("component", "accounts"), postgres.AccountsConfig{
		QueryTimeout: web.DefaultDatabaseTimeout, // as the server's other database calls
		HashSlots:    cfg.HashSlots,
		HashQueue:    cfg.HashQueue,
	})
	limit := cfg.RatedPairLimit
	if limit == 0 {
		limit = -1 // the setting's 0 is no limit; the adapter's is its default
	}
	n.pairs = postgres.NewPairLimit(db.pool, postgres.PairLimitConfig{Limit: limit, Window: cfg.RatedPairWindow})
	n.ratings = postgres.NewRatings(db.pool, logger.With("component", "ratings"), postgres.RatingsConfig{
		Games: n.games,
		// The one way a rating reaches a match (startMatches sets matches
		// before the rater runs).
		OnRated: n.onRated,
	})
	var err error
	n.journal, err = postgres.NewJournal(db.pool, logger.With("component", "journal"), postgres.JournalConfig{
		Owner:        owner,
		SpoolPath:    filepath.Join(cfg.DataDir, "spool.jsonl"),
		ObserveBatch: n.met.observeBatch,
		OnEnded:      n.ratings.Kick,
	})
	if err != nil {
		return err
	}
	if err := n.journal.Recover(ctx); err != nil {
		return err
	}
	st.push(goRun(n.journal.Run))
	return nil
}

// startMatches makes the match registry, takes back the matches this node
// owned before a restart, and starts the rater, which drains the results
// waiting to be rated at once, then whenever the journal stores an end.
func (n *node) startMatches(ctx context.Context, cfg config, logger *slog.Logger, st *stops) error {
	n.matches = match.NewRegistry(logger, n.games, match.Deps{
		Journal: n.journal, Rated: true, Observer: opsObserver{matchObserver{n.met}, n.mon}, RatedFunc: n.pairs.Rated,
	}, match.Config{
		MoveTimeout:    cfg.MoveTimeout,
		Grace:          cfg.Grace,
		Linger:         cfg.Linger,
		SpectatorEvery: cfg.SpectatorEvery,
		MaxWatched:     cfg.MaxWatched,
		BotDelayMin:    cfg.BotDelayMin,
		BotDelayMax:    max(cfg.BotDelayMax, time.Nanosecond), // 0/0 is "at once", not the defaults
	})
	st.push(func() error {
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return n.matches.Shutdown(shutCtx)
	})
	if err := resumeMatches(ctx, n.journal, n.matches, logger); err != nil {
		return err
	}
	st.push(goRun(n.ratings.Run))
	return nil
}

// startLobby starts matchmaking; its pairs start matches. In a cluster,
// the lobby is the cluster's: one node, elected, runs it, and the others
// hand it their sockets' requests.
func (n *node) startLobby(ctx context.Context, cfg config, logger *slog.Logger, st *stops) error {
	start := func(ctx context.Context, p lobby.Pair) (string, error) {
		var players [2]match.Player
		for i, t := range p.Players {
			players[i] = match.Player{ID: t.PlayerID, Name: t.Name, Rating: t.Rating}
			if p.Challenge == "" {
				n.met.queueWait.WithLabelValues(p.Game).Observe(time.Since(t.Since).Seconds())
				n.mon.QueueWait(time.Since(t.Since))
			}
		}
		return n.matches.Start(ctx, p.Game, players)
	}
	hasGame := func(id string) bool { _, ok := n.games.Lookup(id); return ok }
	// The lobby starts before the web server that tells players of its
	// offers: until that exists, an offer reaches no one.
	offer := func(t lobby.Ticket) {
		if srv := n.offerTo.Load(); srv != nil {
			srv.OfferComputer(t)
		}
	}
	lcfg := lobby.Config{ChallengeTTL: cfg.ChallengeTTL, BotOfferAfter: cfg.BotOfferAfter, OfferFunc: offer}
	if c := n.cluster; c != nil {
		lock, err := postgres.NewLobbyLock(c.pool, c.self)
		if err != nil {
			return err
		}
		cl := cluster.NewLobby(c.router, lock, cluster.LobbyConfig{
			Lobby: lcfg, HasGame: hasGame, Start: start, Offer: offer, Logger: logger.With("component", "lobby"),
		})
		cl.Elect(ctx)
		stop := goRun(cl.Run)
		st.push(func() error {
			err := stop()
			lock.Close() // Run is done with it: the lock goes to another node
			return err
		})
		n.lobby, n.queues = cl, cl.LocalStats
		return nil
	}
	l := lobby.New(logger, func(ctx context.Context, p lobby.Pair) error {
		_, err := start(ctx, p)
		return err
	}, hasGame, n.matches.InMatch, lcfg)
	st.push(goRun(l.Run))
	n.lobby, n.queues = l, l.Stats
	return nil
}

// resumeMatches takes back the live matches this server owned before a
// restart (or crash) and runs them again from their stored moves.
func resumeMatches(ctx context.Context, journal *postgres.Journal, matches *match.Registry, logger *slog.Logger) error {
	claimed, err := journal.Claim(ctx)
	if err != nil {
		return err
	}
	for _, c := range claimed {
		if err := matches.Resume(c.Record, c.Moves); err != nil {
			// An unresumable match was stored aborted (server_error); any
			// other failure leaves it live for the next start.
			logger.Error("could not resume a live match", "match_id", c.Record.ID, "err", err)
		}
	}
	if len(claimed) > 0 {
		logger.Info("live matches resumed", "count", len(claimed))
	}
	return nil
}

// goRun runs f on a goroutine with a context of its own; the returned
// function cancels it and waits for f's error.
func goRun(f func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func webConfig(cfg config, secret []byte) web.Config {
	return web.Config{
		AllowedOrigins: splitList(cfg.AllowedOrigins),
		JWTSecret:      secret,
		MoveTime:       cfg.MoveTimeout,
		HelloTimeout:   cfg.HelloTimeout,
		PingPeriod:     cfg.PingPeriod,
		PongWait:       cfg.PongWait,
		SendQueue:      cfg.SendQueue,
		ConnRate:       cfg.ConnRate,
		ConnBurst:      cfg.ConnBurst,
		PlayerRate:     cfg.PlayerRate,
		PlayerBurst:    cfg.PlayerBurst,
		MaxConnsPerIP:  cfg.MaxConnsPerIP,
		HandshakeRate:  cfg.HandshakeRate,
		HandshakeBurst: cfg.HandshakeBurst,
		HTTPRate:       cfg.HTTPRate,
		HTTPBurst:      cfg.HTTPBurst,
		TrustedProxies: splitList(cfg.TrustedProxies),
		MaxConns:       cfg.MaxConns,
		PublicOrigin:   cfg.PublicOrigin,
		HSTSMaxAge:     cfg.HSTSMaxAge,

		LoginNameRate:   cfg.LoginNamePerHour / 3600,
		LoginNameBurst:  cfg.LoginNameBurst,
		LoginFreshAfter: cfg.LoginFreshAfter,
		SignupIPRate:    cfg.SignupPerHour / 3600,
		SignupIPBurst:   cfg.SignupBurst,
	}
}

// listen opens the server's listener: TLS when a certificate is given (the
// server then speaks HTTPS and WSS itself; behind a reverse proxy that
// terminates TLS, leave it off and set -trusted-proxies).
func listen(cfg config) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	if cfg.TLSCert == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("load TLS certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // WebSocket upgrades are HTTP/1.1
	}), "https", nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// browseAddr is the address a person on this machine would type.
func browseAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return fmt.Sprintf("localhost:%d", tcp.Port)
		}
		return a.String()
	}
	return tcp.String()
}
