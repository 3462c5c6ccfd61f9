package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/web"
)

// newGames is the list of games this server offers: adding a game is one
// more argument here.
func newGames() *game.Registry {
	return game.NewRegistry(tictactoe.Game{}, rps.Game{})
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, settings, fs, err := parseConfig("turnbase serve", args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger, err := newLogger(stdout, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	printConfig(stdout, fs, settings)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	secret, err := jwtSecret(cfg.JWTSecret, cfg.DataDir)
	if err != nil {
		return err
	}

	games := newGames()
	matches := match.NewRegistry(logger, games, match.Deps{}, match.Config{
		MoveTimeout: cfg.MoveTimeout,
		Grace:       cfg.Grace,
		Linger:      cfg.Linger,
	})
	start := func(ctx context.Context, p lobby.Pair) error {
		var players [2]match.Player
		for i, t := range p.Players {
			players[i] = match.Player{ID: t.PlayerID, Name: t.Name, Rating: t.Rating}
		}
		_, err := matches.Start(ctx, p.Game, players)
		return err
	}
	hasGame := func(id string) bool { _, ok := games.Lookup(id); return ok }
	lob := lobby.New(logger, start, hasGame, matches.InMatch, lobby.Config{ChallengeTTL: cfg.ChallengeTTL})

	srv := web.New(logger, web.Deps{Games: games, Matches: matches, Lobby: lob}, web.Config{
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
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("turnbase listening", "addr", ln.Addr().String(), "url", "http://"+browseAddr(ln.Addr()))

	lobbyCtx, stopLobby := context.WithCancel(context.Background())
	lobbyDone := make(chan error, 1)
	go func() { lobbyDone <- lob.Run(lobbyCtx) }()

	serveErr := srv.Serve(ctx, ln) // returns after ctx is done and sockets are closed
	stopLobby()
	lobbyErr := <-lobbyDone
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	matchErr := matches.Shutdown(shutCtx)
	logger.Info("turnbase stopped")
	return errors.Join(serveErr, lobbyErr, matchErr)
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
