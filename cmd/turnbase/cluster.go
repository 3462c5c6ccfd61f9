package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/cluster"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/postgres"
	"github.com/turnbase/turnbase/web"
)

// cluster is this node's part in a cluster: the servers started with the
// same DATABASE_URL find each other in its nodes table, take over the
// matches of a node that dies, are handed the matches of one that stops,
// and carry rating changes to the node that runs the match. An embedded
// database is one node's alone: no cluster then.
type clusterNode struct {
	pool    *pgxpool.Pool
	self    string
	members *postgres.Nodes
	rated   chan ratedNote  // to the publisher; full: dropped (the match waits RatingWait)
	router  *cluster.Router // what web sees of the matches: any node's
	views   *cluster.Views  // the router with the cluster's lists and counts (views.go)
}

// nodeChannel is the NOTIFY channel a node listens on for requests from
// other nodes' sockets and frames for its own.
func nodeChannel(node string) string { return "turnbase_node_" + node }

// bus sends router payloads with NOTIFY.
type bus struct{ pool *pgxpool.Pool }

func (b bus) Send(ctx context.Context, node string, payload []byte) error {
	return postgres.Notify(ctx, b.pool, nodeChannel(node), string(payload))
}

// ratedNote is a ChannelRated payload.
type ratedNote struct {
	Match   string               `json:"m"`
	Changes []match.RatingChange `json:"c"`
}

// joinCluster records this node in the cluster and beats its heartbeat,
// before it claims its matches. Its stop, which runs once the matches
// have stopped, hands this node's live matches to the others and leaves.
func (n *node) joinCluster(ctx context.Context, cfg config, db *database, owner string, logger *slog.Logger, st *stops) error {
	if db.embedded != nil {
		return nil
	}
	members, err := postgres.NewNodes(db.pool, logger.With("component", "cluster"), postgres.NodesConfig{ID: owner, DeadAfter: cfg.DeadAfter})
	if err != nil {
		return err
	}
	if err := members.Join(ctx); err != nil {
		return err
	}
	n.cluster = &clusterNode{pool: db.pool, self: owner, members: members, rated: make(chan ratedNote, 1024)}
	stopBeat := goRun(members.Run)
	st.push(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		released, err := n.journal.Release(ctx)
		if err != nil {
			// Its spool waits: this node's matches are taken over once
			// it counts as dead, or taken back when it restarts.
			logger.Warn("matches not handed over", "err", err)
			return stopBeat()
		}
		err = stopBeat()
		if lerr := members.Leave(ctx); lerr != nil {
			logger.Warn("leave cluster", "err", lerr)
		}
		logger.Info("matches handed over to the cluster", "count", released)
		return err
	})
	return nil
}

// watchCluster takes over the matches of dead nodes and of nodes that
// stopped, and carries rating changes between nodes.
func (n *node) watchCluster(logger *slog.Logger, st *stops) {
	c := n.cluster
	if c == nil {
		return
	}
	c.router = cluster.New(n.matches, bus{c.pool}, c.members, logger.With("component", "router"), cluster.Config{Self: c.self, Code: web.Code})
	st.push(func() error { c.router.Close(); return nil })
	listener := postgres.NewListener(c.pool, logger.With("component", "cluster"), map[string]func(string){
		nodeChannel(c.self): func(payload string) { c.router.Deliver([]byte(payload)) },
		postgres.ChannelRated: func(payload string) {
			var note ratedNote
			if err := json.Unmarshal([]byte(payload), &note); err == nil {
				n.matches.Rated(note.Match, note.Changes) // ignored unless it waits here
			}
		},
	})
	st.push(goRun(listener.Run))
	n.watchViews(logger, st)
	st.push(goRun(func(ctx context.Context) error { return n.publishRated(ctx, logger) }))
	st.push(goRun(func(ctx context.Context) error { return n.takeOver(ctx, logger) }))
}

// onRated hands a rated match's changes to the match: here, or through
// the cluster to the node that runs it. It never blocks.
func (n *node) onRated(id string, changes []match.RatingChange) {
	if _, here := n.matches.Get(id); here || n.cluster == nil {
		n.matches.Rated(id, changes)
		return
	}
	select {
	case n.cluster.rated <- ratedNote{Match: id, Changes: changes}:
	default:
	}
}

// publishRated sends rating changes to the other nodes.
func (n *node) publishRated(ctx context.Context, logger *slog.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case note := <-n.cluster.rated:
			b, err := json.Marshal(note)
			if err == nil {
				err = postgres.Notify(ctx, n.cluster.pool, postgres.ChannelRated, string(b))
			}
			if err != nil && ctx.Err() == nil {
				logger.Debug("publish rating changes", "match_id", note.Match, "err", err)
			}
		}
	}
}

// takeOver claims, every tenth of DeadAfter, this node's share of the
// matches no living node runs, and resumes them from the journal.
func (n *node) takeOver(ctx context.Context, logger *slog.Logger) error {
	c := n.cluster
	t := time.NewTicker(max(c.members.DeadAfter()/10, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		m, err := c.members.Scan(ctx)
		if err != nil {
			continue // the database is down: so is every claim
		}
		c.router.SetAlive(m.Alive)
		claimed, err := n.journal.TakeOver(ctx, m.Dead, len(m.Alive))
		if err != nil && ctx.Err() == nil {
			logger.Warn("take over matches", "err", err)
		}
		for _, r := range claimed {
			if err := n.matches.Resume(r.Record, r.Moves); err != nil {
				logger.Error("could not resume a match taken over", "match_id", r.Record.ID, "err", err)
			}
		}
		if len(claimed) > 0 {
			logger.Info("matches taken over", "count", len(claimed), "dead_nodes", m.Dead)
			n.met.takenOver.Add(float64(len(claimed)))
		} else if len(m.Dead) > 0 && err == nil {
			if err := c.members.Forget(ctx, m.Dead); err != nil && ctx.Err() == nil {
				logger.Warn("forget dead nodes", "err", err)
			}
		}
	}
}
