package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NodesConfig tunes a node's membership of the cluster. Zero fields take
// the defaults.
type NodesConfig struct {
	// ID names this node: its row in nodes, and matches.owner of the
	// matches it runs (the journal's Owner). Required.
	ID string
	// DeadAfter is how long a node may go without a heartbeat before the
	// others count it dead and take over its matches. Every node of a
	// cluster should use the same. Default 5s.
	DeadAfter time.Duration
	// Beat is how often the node beats its heartbeat. Default DeadAfter/5.
	Beat time.Duration
}

func (c NodesConfig) withDefaults() NodesConfig {
	if c.DeadAfter <= 0 {
		c.DeadAfter = 5 * time.Second
	}
	if c.Beat <= 0 {
		c.Beat = c.DeadAfter / 5
	}
	return c
}

// Nodes is this node's membership of the cluster: the servers sharing one
// database find each other in the nodes table (migration 0009), each
// beating its heartbeat there. It does not move matches: Journal.TakeOver
// and Journal.Release do, using what Scan finds.
type Nodes struct {
	pool   *pgxpool.Pool // immutable
	logger *slog.Logger  // immutable
	cfg    NodesConfig   // immutable

	mu       sync.Mutex
	steady   time.Time // since when this node's beats have gone through without a gap; zero while they fail
	lastBeat time.Time // when the last beat that went through ended
}

// NewNodes returns this node's membership; Join it, then Run its heartbeat.
func NewNodes(pool *pgxpool.Pool, logger *slog.Logger, cfg NodesConfig) (*Nodes, error) {
	if cfg.ID == "" {
		return nil, errors.New("nodes: ID is required")
	}
	return &Nodes{pool: pool, logger: logger, cfg: cfg.withDefaults()}, nil
}

// DeadAfter is the silence after which a node counts as dead.
func (n *Nodes) DeadAfter() time.Duration { return n.cfg.DeadAfter }

// Join records this node as alive (a restarted node keeps its id: its row
// comes back to life, without the view its last run wrote).
func (n *Nodes) Join(ctx context.Context) error {
	start := time.Now()
	_, err := n.pool.Exec(ctx, `
		INSERT INTO nodes (id) VALUES ($1)
		ON CONFLICT (id) DO UPDATE SET started_at = now(), heartbeat_at = now(), views = NULL`, n.cfg.ID)
	if err != nil {
		n.observed(start, err)
		return fmt.Errorf("join cluster as %s: %w", n.cfg.ID, err)
	}
	n.observed(start, nil)
	return nil
}

// observed records how a beat (or Join) that started at start went. A
// failed beat, one that took long, or a long gap since the last one, means
// this node did not see the database for a while: it may have missed other
// nodes' beats too, so its judgement of who is dead starts over (steady).
func (n *Nodes) observed(start time.Time, err error) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.steady = time.Time{}
		return
	}
	limit := n.cfg.DeadAfter / 2
	if n.steady.IsZero() || now.Sub(start) > limit || start.Sub(n.lastBeat) > limit {
		n.steady = now
	}
	n.lastBeat = now
}

// judges reports whether this node may count other nodes dead: it has
// seen the database answer its beats, without a gap, for DeadAfter. A
// node back from an outage (the database's, or its own connection's)
// waits that long first, so that the others, cut off just as long, beat
// again before anyone counts them dead: nobody takes over the matches of
// a node whose moves wait in its spool after an outage they all shared.
func (n *Nodes) judges() bool {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.steady.IsZero() && now.Sub(n.steady) >= n.cfg.DeadAfter && now.Sub(n.lastBeat) <= n.cfg.DeadAfter/2
}

// beat records that this node is alive now. A row deleted by another node
// (it counted this one dead and owned nothing of it) is put back.
func (n *Nodes) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DeadAfter)
	defer cancel()
	start := time.Now()
	tag, err := n.pool.Exec(ctx, `UPDATE nodes SET heartbeat_at = now() WHERE id = $1`, n.cfg.ID)
	if err == nil && tag.RowsAffected() == 0 {
		return n.Join(ctx)
	}
	n.observed(start, err)
	return err
}

// Run beats the heartbeat every Beat until ctx is done. A beat that fails
// (the database is down) is logged once per outage; the node keeps running
// its matches (through the journal's spool), and the others cannot take
// them over while they cannot reach the database either.
func (n *Nodes) Run(ctx context.Context) error {
	t := time.NewTicker(n.cfg.Beat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := n.beat(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			n.logger.Warn("cluster heartbeat failed", "node", n.cfg.ID, "err", err)
			failing = true
		case err == nil && failing:
			n.logger.Info("cluster heartbeat back", "node", n.cfg.ID)
			failing = false
		}
	}
}

// Leave deletes this node's row, for a clean stop (after its matches were
// released: a row-less owner's matches wait for their leases).
func (n *Nodes) Leave(ctx context.Context) error {
	if _, err := n.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, n.cfg.ID); err != nil {
		return fmt.Errorf("leave cluster: %w", err)
	}
	return nil
}

// Membership is the cluster as one Scan saw it.
type Membership struct {
	Alive []string // nodes whose heartbeat is recent, this one included
	Dead  []string // nodes silent for DeadAfter or more
}

// Scan reads the cluster's members, judged by the database's clock. Until
// this node has seen the database steadily for DeadAfter (at start, and
// after an outage), nobody is dead: a silent node counts as alive, its
// matches stay its own and requests still go to it.
func (n *Nodes) Scan(ctx context.Context) (Membership, error) {
	var m Membership
	judges := n.judges()
	rows, err := n.pool.Query(ctx, `SELECT id, heartbeat_at < now() - $1::interval FROM nodes ORDER BY id`, n.cfg.DeadAfter)
	if err != nil {
		return m, fmt.Errorf("scan cluster: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var dead bool
		if err := rows.Scan(&id, &dead); err != nil {
			return m, fmt.Errorf("scan cluster: %w", err)
		}
		if dead && judges {
			m.Dead = append(m.Dead, id)
		} else {
			m.Alive = append(m.Alive, id)
		}
	}
	if err := rows.Err(); err != nil {
		return m, fmt.Errorf("scan cluster: %w", err)
	}
	return m, nil
}

// Forget deletes the rows of dead nodes that own no live match any more
// (their matches were all taken over), so the table holds the living and
// the recently dead only.
func (n *Nodes) Forget(ctx context.Context, dead []string) error {
	if len(dead) == 0 {
		return nil
	}
	_, err := n.pool.Exec(ctx, `
		DELETE FROM nodes n WHERE n.id = ANY($1) AND n.heartbeat_at < now() - $2::interval
			AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.status = 'live' AND m.owner = n.id)`,
		dead, n.cfg.DeadAfter)
	if err != nil {
		return fmt.Errorf("forget dead nodes: %w", err)
	}
	return nil
}

// Owner returns the node running a live match (cluster.Directory).
func (n *Nodes) Owner(ctx context.Context, matchID string) (node string, live bool, err error) {
	var owner *string
	err = n.pool.QueryRow(ctx, `SELECT owner FROM matches WHERE id = $1 AND status = 'live'`, matchID).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("owner of match %s: %w", matchID, err)
	case owner == nil: // released, not taken over yet
		return "", true, nil
	}
	return *owner, true, nil
}

// Active returns the live matches a player sits in, on any node
// (cluster.Directory).
func (n *Nodes) Active(ctx context.Context, playerID string) ([]string, error) {
	rows, err := n.pool.Query(ctx, `SELECT id FROM matches WHERE status = 'live' AND (seat0 = $1 OR seat1 = $1) ORDER BY started_at DESC`, playerID)
	if err != nil {
		return nil, fmt.Errorf("live matches of %s: %w", playerID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("live matches of %s: %w", playerID, err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}
