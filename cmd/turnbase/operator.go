package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/turnbase/turnbase/postgres"
	"github.com/turnbase/turnbase/web"
)

// operatorCmd is "turnbase operator grant NAME | revoke NAME | list
// [flags]": it makes a registered account an operator, or not, on the
// database serve would use (DATABASE_URL, or the embedded one in the data
// folder, which needs the server stopped: one process at a time uses it).
func operatorCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	const usage = "usage: turnbase operator grant NAME | revoke NAME | list [flags]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	var name string
	switch sub {
	case "grant", "revoke":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("operator %s: which player? %s", sub, usage)
		}
		name, args = args[0], args[1:]
	case "list":
	default:
		return fmt.Errorf("unknown operator command %q; %s", sub, usage)
	}
	cfg, _, help, err := parseConfigQuiet("turnbase operator "+sub, args, getenv, stdout)
	if help || err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if cfg.DatabaseURL == "" {
		release, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("%w (stop the server, or give -database-url)", err)
		}
		defer release()
	}
	db, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.close(logger)
	ops := postgres.NewOps(db.pool, logger, nil, postgres.SignalsConfig{})
	switch sub {
	case "grant":
		op, err := ops.Grant(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) is an operator since %s; they get the role at their next login or token refresh\n",
			op.Name, op.ID, op.Since.UTC().Format(time.RFC3339))
	case "revoke":
		op, err := ops.Revoke(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) is no operator now; their operator requests are refused at once\n", op.Name, op.ID)
	case "list":
		list, err := ops.Operators(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no operators")
		}
		for _, op := range list {
			fmt.Fprintf(stdout, "%-20s %-28s since %s\n", op.Name, op.ID, op.Since.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// parseConfigQuiet parses the settings without printing them; help
// reports that -h was answered.
func parseConfigQuiet(name string, args []string, getenv func(string) string, stdout io.Writer) (cfg config, logger *slog.Logger, help bool, err error) {
	cfg, _, _, err = parseConfig(name, args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, nil, true, nil
	}
	return cfg, nil, false, err
}

// signalsConfig is the review queue's thresholds from the settings.
func signalsConfig(cfg config) postgres.SignalsConfig {
	return postgres.SignalsConfig{
		SameOpponentGames: cfg.SignalSameOpponent,
		WinRateGames:      cfg.SignalWinRateGames,
		WinRate:           cfg.SignalWinRate,
		EarlyEnds:         cfg.SignalEarlyEnds,
		AddrBlockAccounts: cfg.SignalAddrBlock,
		RatingGain:        cfg.SignalRatingGain,
	}
}

// opsObserver counts accepted moves for the operators' overview too.
type opsObserver struct {
	matchObserver
	mon *web.Monitor
}

func (o opsObserver) MoveAccepted(g string, d time.Duration) {
	o.matchObserver.MoveAccepted(g, d)
	o.mon.MoveAccepted()
}

// startOps opens the operators' store, samples the overview, lifts timed
// bans as they run out, and serves /metrics and the profiles on the
// operator listener (never the public one).
func (n *node) startOps(cfg config, db *database, logger *slog.Logger, st *stops) error {
	n.ops = postgres.NewOps(db.pool, logger.With("component", "ops"), n.ratings, signalsConfig(cfg))
	if cfg.OpsAddr != "" {
		stop, err := serveOps(cfg.OpsAddr, n.met.handler(), logger)
		if err != nil {
			return err
		}
		st.push(func() error { stop(); return nil })
	}
	st.push(goRun(func(ctx context.Context) error {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				lifted, err := n.ops.LiftExpiredBans(ctx)
				if err != nil && ctx.Err() == nil {
					logger.Warn("lift expired bans", "err", err)
				} else if lifted > 0 {
					logger.Info("timed bans ended", "count", lifted)
				}
			}
		}
	}))
	return nil
}

// startMonitor samples the overview once the web server exists.
func (n *node) startMonitor(st *stops) {
	st.push(goRun(func(ctx context.Context) error { return n.mon.Run(ctx, n.srv.Probe) }))
}

// serveOps serves the operator listener: /metrics and net/http/pprof.
func serveOps(addr string, metrics http.Handler, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("operator listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	logger.Info("operator listener (metrics, pprof)", "addr", ln.Addr().String())
	return func() {
		hs.Close()
		<-done
	}, nil
}
