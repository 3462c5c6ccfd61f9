package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strings"
	"time"

	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/web"
)

// serve runs the server until ctx is done, then shuts down in order: no
// new sockets, sockets closed with 1001, lobby, matches (their moves are
// already stored), the journal, the database.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, logger, help, err := loadConfig("turnbase serve", args, getenv, stdout)
	if help || err != nil {
		return err
	}

	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	secret, err := jwtSecret(cfg.JWTSecret, cfg.DataDir)
	if err != nil {
		return err
	}
	owner, err := nodeID(cfg.DataDir)
	if err != nil {
		return err
	}
	wcfg := webConfig(cfg, secret)
	if err := wcfg.Validate(); err != nil {
		return err
	}
	ln, scheme, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	db, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.close(logger)
	games := catalog.New() // the games this server offers
	var (
		srv     *web.Server // set below, before anything is served
		matches *match.Registry
		lob     *lobby.Lobby
		journal *leaderboard.Journal
	)
	met := newMetrics(sources{
		web:     func() web.Stats { return srv.Stats() },
		journal: func() leaderboard.JournalStats { return journal.Stats() },
		queues:  func() map[string]int { return lob.Stats() },
		live:    func() (int, int) { return matches.Counts() },
		games:   games,
	})
	accounts := leaderboard.NewAccounts(db.pool, logger.With("component", "accounts"), leaderboard.AccountsConfig{})
	ratings := leaderboard.NewRatings(db.pool, logger.With("component", "ratings"), leaderboard.RatingsConfig{})
	stopRatings := goRun(ratings.Run)
	defer func() { err = errors.Join(err, stopRatings()) }()
	ratePending := func(ctx context.Context) {
		if n, err := ratings.RatePending(ctx); err != nil {
			logger.Error("rate pending results", "err", err)
		} else if n > 0 {
			logger.Info("pending results rated", "count", n)
		}
	}
	// Results that waited in the spool are rated once it is replayed: the
	// journal kicks, this goroutine rates.
	kick := make(chan struct{}, 1)
	stopRater := goRun(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-kick:
				ratePending(ctx)
			}
		}
	})
	defer func() { err = errors.Join(err, stopRater()) }()

	journal, err = leaderboard.NewJournal(db.pool, logger.With("component", "journal"), leaderboard.JournalConfig{
		Owner:        owner,
		SpoolPath:    filepath.Join(cfg.DataDir, "spool.jsonl"),
		ObserveBatch: met.observeBatch,
		OnReplayed: func() {
			select {
			case kick <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	if err := journal.Recover(ctx); err != nil {
		return err
	}
	ratePending(ctx)
	stopJournal := goRun(journal.Run)
	defer func() { err = errors.Join(err, stopJournal()) }()

	matches = match.NewRegistry(logger, games, match.Deps{Journal: journal, Recorder: ratings, Observer: matchObserver{met}}, match.Config{
		MoveTimeout: cfg.MoveTimeout,
		Grace:       cfg.Grace,
		Linger:      cfg.Linger,
	})
	defer func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, matches.Shutdown(shutCtx))
	}()
	if err := resumeMatches(ctx, journal, matches, logger); err != nil {
		return err
	}

	start := func(ctx context.Context, p lobby.Pair) error {
		var players [2]match.Player
		for i, t := range p.Players {
			players[i] = match.Player{ID: t.PlayerID, Name: t.Name, Rating: t.Rating}
			if p.Challenge == "" {
				met.queueWait.WithLabelValues(p.Game).Observe(time.Since(t.Since).Seconds())
			}
		}
		_, err := matches.Start(ctx, p.Game, players)
		return err
	}
	hasGame := func(id string) bool { _, ok := games.Lookup(id); return ok }
	lob = lobby.New(logger, start, hasGame, matches.InMatch, lobby.Config{ChallengeTTL: cfg.ChallengeTTL})
	stopLobby := goRun(lob.Run)
	defer func() { err = errors.Join(err, stopLobby()) }()

	srv = web.New(logger, web.Deps{
		Games:     games,
		Matches:   matches,
		Lobby:     lob,
		Accounts:  accounts,
		Records:   ratings,
		Ratings:   ratings,
		ReadyFunc: journal.Ready,
		Metrics:   met.handler(),
	}, wcfg)
	logger.Info("turnbase listening", "addr", ln.Addr().String(), "url", scheme+"://"+browseAddr(ln.Addr()))
	defer logger.Info("turnbase stopped")
	return srv.Serve(ctx, ln) // returns after ctx is done and sockets are closed
}

// resumeMatches takes back the live matches this server owned before a
// restart (or crash) and runs them again from their stored moves.
func resumeMatches(ctx context.Context, journal *leaderboard.Journal, matches *match.Registry, logger *slog.Logger) error {
	claimed, err := journal.Claim(ctx)
	if err != nil {
		return err
	}
	for _, c := range claimed {
		if err := matches.Resume(c.Record, c.Moves); err != nil {
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

// servePprof serves the runtime profiles on their own listener, never on
// the public one.
func servePprof(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return func() {
		hs.Close()
		<-done
	}, nil
}
