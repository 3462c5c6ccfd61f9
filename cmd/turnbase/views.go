package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/turnbase/turnbase/cluster"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/postgres"
	"github.com/turnbase/turnbase/web"
)

// Views that are the same whichever node of a cluster answers (the live
// list, spectator and online counts, ranks, ticket ratings, bans): each
// node writes what it alone knows of itself into its nodes row once a
// second when it changed (publishViews), and reads the others' through
// cluster.Views; rating batches and operators' actions tell every node
// what they changed over NOTIFY (postgres/notes.go), which each node
// takes in here.

const (
	// viewEvery is how often a node writes its view when it changed.
	viewEvery = time.Second
	// viewRefresh: a node writes its view this often even unchanged (its
	// row may have been deleted and made again meanwhile).
	viewRefresh = 10 * time.Second
	// noteWork bounds what a node does for another node's note (close a
	// banned player's sockets, abort a match).
	noteWork = 5 * time.Second
)

// clusterID is this node's id when it is part of a cluster, else "".
func clusterID(db *database, owner string) string {
	if db.embedded != nil {
		return ""
	}
	return owner
}

// watchViews makes the cluster's views over the router, and listens for
// the notes of other nodes' raters and operators.
func (n *node) watchViews(logger *slog.Logger, st *stops) {
	c := n.cluster
	logger = logger.With("component", "views")
	c.views = cluster.NewViews(c.router, c.members, logger, cluster.ViewsConfig{
		Local: n.nodeView, // asked once the web server runs
		Abort: func(ctx context.Context, matchID string) error {
			note := postgres.OpsNote{Op: postgres.OpsAbort, Node: c.self, Match: matchID}
			return postgres.Notify(ctx, c.pool, postgres.ChannelOps, note.Encode())
		},
	})
	listener := postgres.NewListener(c.pool, logger, map[string]func(string){
		postgres.ChannelRanks: func(payload string) {
			if err := n.ratings.ApplyRanksNote(payload); err != nil {
				logger.Warn("undecodable ranks note", "err", err)
			}
		},
		postgres.ChannelOps: func(payload string) {
			note, err := postgres.ParseOpsNote(payload)
			if err != nil {
				logger.Warn("undecodable operator note", "err", err)
				return
			}
			n.onOpsNote(note, logger)
		},
	})
	st.push(goRun(listener.Run))
}

// onOpsNote acts on another node's operator action. It never blocks: what
// waits runs on a goroutine of its own, for noteWork at most.
func (n *node) onOpsNote(note postgres.OpsNote, logger *slog.Logger) {
	if note.Node == n.cluster.self {
		return // done where it was decided
	}
	n.ratings.ApplyOpsNote(note)
	switch note.Op {
	case postgres.OpsBan:
		srv := n.offerTo.Load()
		if srv == nil {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), noteWork)
			defer cancel()
			for _, p := range note.Players {
				if closed := srv.Banned(ctx, p); closed > 0 {
					logger.Info("banned on another node: sockets closed", "player_id", p, "count", closed, "by_node", note.Node)
				}
			}
		}()
	case postgres.OpsAbort:
		views := n.cluster.views
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), noteWork)
			defer cancel()
			if here, err := views.AbortHere(ctx, note.Match); here && err != nil {
				logger.Warn("abort for another node's operator", "match_id", note.Match, "err", err)
			} else if here {
				logger.Info("match aborted for another node's operator", "match_id", note.Match, "by_node", note.Node)
			}
		}()
	}
}

// startViews writes this node's view into its row while it runs: once
// the web server and the lobby, whose counts it holds, exist.
func (n *node) startViews(st *stops, logger *slog.Logger) {
	if n.cluster == nil {
		return
	}
	st.push(goRun(func(ctx context.Context) error { return n.publishViews(ctx, logger) }))
}

func (n *node) publishViews(ctx context.Context, logger *slog.Logger) error {
	t := time.NewTicker(viewEvery)
	defer t.Stop()
	var last []byte
	var lastAt time.Time
	failing := false
	for {
		b, err := json.Marshal(n.nodeView())
		if err != nil {
			return err // plain maps and numbers
		}
		if !bytes.Equal(b, last) || time.Since(lastAt) >= viewRefresh {
			wctx, cancel := context.WithTimeout(ctx, viewEvery)
			var ok bool
			ok, err = n.cluster.members.PublishView(wctx, b)
			cancel()
			switch {
			case err == nil && !ok: // no row until the next heartbeat: again next time
			case err == nil:
				last, lastAt, failing = b, time.Now(), false
			case ctx.Err() == nil && !failing:
				logger.Warn("publish this node's view", "err", err)
				failing = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// nodeView is what this node knows only of itself.
func (n *node) nodeView() cluster.NodeView {
	v := cluster.NodeView{Playing: map[string]int{}, Watchers: map[string]int{}}
	if n.queues != nil {
		// The queues this node runs (the cluster's while it leads the
		// lobby, else none): summed over the nodes, each ticket counts once.
		v.Queued = n.queues()
	}
	if srv := n.offerTo.Load(); srv != nil {
		st := srv.Stats()
		v.Players, v.Spectators = st.Players, st.Spectators
	}
	for _, m := range n.matches.List(match.StatusLive) {
		v.Live++
		v.Playing[m.Game] += len(m.Players)
		if m.Spectators > 0 {
			v.Watchers[m.ID] = m.Spectators
		}
	}
	for _, m := range n.matches.List(match.StatusFinished) { // lingering
		if m.Spectators > 0 {
			v.Watchers[m.ID] = m.Spectators
		}
	}
	return v
}

// webViews is the cluster's views as the web server asks for them.
type webViews struct{ v *cluster.Views }

func (w webViews) LiveMatches(ctx context.Context, game string, limit int) ([]match.Summary, error) {
	return w.v.LiveMatches(ctx, game, limit)
}

func (w webViews) Counts(ctx context.Context) (web.Counts, error) {
	c, err := w.v.Counts(ctx)
	return web.Counts{Players: c.Players, Spectators: c.Spectators, LiveMatches: c.LiveMatches, Queued: c.Queued, Playing: c.Playing}, err
}
