package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/turnbase/turnbase/match"
)

// Views that are the same whichever node answers: the live match list and
// a match's summary with its spectators, and the online counts. A node
// knows its own sockets, queues and matches (and every spectator of the
// matches it runs: remote ones are proxies there); each node writes that
// into the database (a NodeView, at most once a second), and every node
// reads the other living nodes' views and the live matches from it, each
// read serving its callers for a TTL (a second by default), and adds its
// own as they are now. A cluster of one node answers exactly as a node
// alone.

// NodeView is what one node knows only of itself.
type NodeView struct {
	Players    int64          `json:"players"`    // open player sockets
	Spectators int64          `json:"spectators"` // open spectator sockets
	Live       int            `json:"live"`       // live matches it runs
	Queued     map[string]int `json:"queued,omitempty"`
	Playing    map[string]int `json:"playing,omitempty"`  // players seated in its live matches, per game
	Watchers   map[string]int `json:"watchers,omitempty"` // spectators per match it holds (live or lingering), those with any
}

// Counts are the cluster's totals: the sum of the living nodes' views.
type Counts struct {
	Players     int64
	Spectators  int64
	LiveMatches int
	Queued      map[string]int
	Playing     map[string]int
}

// ViewStore reads what the views are made of (*postgres.Nodes).
type ViewStore interface {
	// Views are the NodeViews (JSON) the living nodes last wrote, by node.
	Views(ctx context.Context) (map[string][]byte, error)
	// LiveMatches lists live matches newest first, of one game ("" all),
	// at most limit, without spectators, and the node running each.
	LiveMatches(ctx context.Context, game string, limit int) ([]match.Summary, []string, error)
	// MatchSummary is a stored match's summary, without spectators;
	// false when there is no such match.
	MatchSummary(ctx context.Context, id string) (match.Summary, bool, error)
}

// ViewsConfig tunes Views. Zero fields take the defaults.
type ViewsConfig struct {
	// TTL is how long one read of the store serves. Default 1s.
	TTL time.Duration
	// ListLimit is the most matches a live list gives. Default 100.
	ListLimit int
	// Abort asks the node that runs a live match to abort it (an
	// operator's abort of another node's match). nil: refused.
	Abort func(ctx context.Context, matchID string) error
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Local is this node's own view as it is now (its matches come from
	// its registry). nil: this node counts as the store has it.
	Local func() NodeView
}

// maxListKeys bounds the live lists kept (one per game filter).
const maxListKeys = 64

// Views is the Router with the views of the whole cluster: Get, List and
// Abort reach every node's matches, and LiveMatches and Counts answer
// the lists and counts. Safe for concurrent use.
type Views struct {
	*Router
	store  ViewStore    // immutable
	cfg    ViewsConfig  // immutable
	logger *slog.Logger // immutable

	nodes cached[merged]

	mu    sync.Mutex
	lists map[string]*cached[liveRows] // by game filter
}

// liveRows are live matches as the store lists them, with their nodes.
type liveRows struct {
	list   []match.Summary
	owners []string
}

// merged is the living nodes' views summed up.
type merged struct {
	counts   Counts
	watchers map[string]int
}

// NewViews returns the cluster's views over r.
func NewViews(r *Router, store ViewStore, logger *slog.Logger, cfg ViewsConfig) *Views {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Second
	}
	if cfg.ListLimit <= 0 {
		cfg.ListLimit = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Views{Router: r, store: store, cfg: cfg, logger: logger, lists: map[string]*cached[liveRows]{}}
	v.nodes.ttl = cfg.TTL
	return v
}

// Counts are the cluster's online counts: the other nodes' at most TTL
// old, this node's as they are now.
func (v *Views) Counts(ctx context.Context) (Counts, error) {
	m, err := v.sums(ctx)
	if err != nil {
		return Counts{}, err
	}
	c := Counts{Players: m.counts.Players, Spectators: m.counts.Spectators, LiveMatches: m.counts.LiveMatches,
		Queued: map[string]int{}, Playing: map[string]int{}}
	for g, n := range m.counts.Queued {
		c.Queued[g] += n
	}
	for g, n := range m.counts.Playing {
		c.Playing[g] += n
	}
	if v.cfg.Local != nil {
		own := v.cfg.Local()
		c.Players += own.Players
		c.Spectators += own.Spectators
		c.LiveMatches += own.Live
		for g, n := range own.Queued {
			c.Queued[g] += n
		}
		for g, n := range own.Playing {
			c.Playing[g] += n
		}
	}
	return c, nil
}

// sums are the other nodes' views summed up (this one's too without
// Local), at most TTL old. Callers must not change them.
func (v *Views) sums(ctx context.Context) (merged, error) {
	return v.nodes.get(ctx, v.cfg.Now, func(ctx context.Context) (merged, error) {
		raw, err := v.store.Views(ctx)
		if err != nil {
			return merged{}, err
		}
		if v.cfg.Local != nil {
			delete(raw, v.Router.cfg.Self)
		}
		return mergeViews(raw, v.logger), nil
	})
}

// mergeViews sums the nodes' views; an undecodable one counts for nothing.
func mergeViews(raw map[string][]byte, logger *slog.Logger) merged {
	m := merged{counts: Counts{Queued: map[string]int{}, Playing: map[string]int{}}, watchers: map[string]int{}}
	for node, b := range raw {
		var nv NodeView
		if err := json.Unmarshal(b, &nv); err != nil {
			if logger != nil {
				logger.Warn("undecodable node view", "node", node, "err", err)
			}
			continue
		}
		m.counts.Players += nv.Players
		m.counts.Spectators += nv.Spectators
		m.counts.LiveMatches += nv.Live
		for g, n := range nv.Queued {
			m.counts.Queued[g] += n
		}
		for g, n := range nv.Playing {
			m.counts.Playing[g] += n
		}
		for id, n := range nv.Watchers {
			m.watchers[id] += n // one owner each; a match between owners counts at both a moment
		}
	}
	return m
}

// LiveMatches lists the live matches of every node, newest first, of one
// game ("" for all), at most limit (up to ListLimit), each with the
// spectators its node counts: this node's as its registry has them now,
// the others' at most TTL old.
func (v *Views) LiveMatches(ctx context.Context, game string, limit int) ([]match.Summary, error) {
	limit = min(limit, v.cfg.ListLimit)
	load := func(ctx context.Context) (liveRows, error) {
		list, owners, err := v.store.LiveMatches(ctx, game, v.cfg.ListLimit)
		return liveRows{list, owners}, err
	}
	v.mu.Lock()
	c := v.lists[game]
	if c == nil && len(v.lists) < maxListKeys {
		c = &cached[liveRows]{ttl: v.cfg.TTL}
		v.lists[game] = c
	}
	v.mu.Unlock()
	var rows liveRows
	var err error
	if c != nil {
		rows, err = c.get(ctx, v.cfg.Now, load)
	} else {
		rows, err = load(ctx)
	}
	if err != nil {
		return nil, err
	}
	return v.merge(ctx, game, rows, limit)
}

// merge makes a live list of the store's rows and this node's registry:
// a match this node runs (or ran, and ended since the rows were read)
// shows as the registry has it; the others with their nodes' spectators.
func (v *Views) merge(ctx context.Context, game string, rows liveRows, limit int) ([]match.Summary, error) {
	m, err := v.sums(ctx)
	if err != nil {
		return nil, err
	}
	var out []match.Summary
	own := v.cfg.Local != nil
	if own {
		for _, s := range v.local.List(match.StatusLive) {
			if game == "" || s.Game == game {
				out = append(out, s)
			}
		}
	}
	for i, s := range rows.list {
		if own {
			if rows.owners[i] == v.Router.cfg.Self {
				continue
			}
			if _, here := v.local.Get(s.ID); here {
				continue
			}
		}
		s.Spectators = m.watchers[s.ID]
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].StartedMS != out[j].StartedMS {
			return out[i].StartedMS > out[j].StartedMS
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []match.Summary{}
	}
	return out, nil
}

// Get is a match's summary: this node's own, or, for a match another
// node runs (or holds after its end, watched), the database's with the
// spectators its node counts.
func (v *Views) Get(matchID string) (match.Summary, bool) {
	if s, ok := v.local.Get(matchID); ok {
		return s, true
	}
	ctx, cancel := context.WithTimeout(v.ctx, v.Router.cfg.LookupTimeout)
	defer cancel()
	s, found, err := v.store.MatchSummary(ctx, matchID)
	if err != nil {
		v.logger.Warn("look up a match in the cluster", "match_id", matchID, "err", err)
		return match.Summary{}, false
	}
	if !found {
		return match.Summary{}, false
	}
	m, err := v.sums(ctx)
	if err != nil {
		v.logger.Warn("read the cluster's views", "err", err)
	}
	s.Spectators = m.watchers[matchID]
	// A finished match is held only while it lingers on its node, which
	// counts its watchers then.
	return s, s.Status == match.StatusLive || s.Spectators > 0
}

// maxListed bounds List's live matches (the operators' list).
const maxListed = 1000

// List lists the cluster's live matches (the newest maxListed, each with
// its spectators), or this node's lingering finished ones. While the
// database does not answer, this node's live ones.
func (v *Views) List(status string) []match.Summary {
	if status != match.StatusLive {
		return v.local.List(status)
	}
	ctx, cancel := context.WithTimeout(v.ctx, v.Router.cfg.LookupTimeout)
	defer cancel()
	list, owners, err := v.store.LiveMatches(ctx, "", maxListed)
	var out []match.Summary
	if err == nil {
		out, err = v.merge(ctx, "", liveRows{list, owners}, maxListed)
	}
	if err != nil {
		v.logger.Warn("list the cluster's live matches", "err", err)
		return v.local.List(status)
	}
	return out
}

// localAborter is the registry's operator abort (*match.Registry).
type localAborter interface {
	Abort(ctx context.Context, matchID string) error
}

// Abort ends a live match as an operator's abort: here, or by asking the
// node that runs it (which does so at once; the answer does not wait for
// it).
func (v *Views) Abort(ctx context.Context, matchID string) error {
	if _, here := v.local.Get(matchID); here {
		ab, ok := v.local.(localAborter)
		if !ok {
			return match.ErrNotFound
		}
		return ab.Abort(ctx, matchID)
	}
	node, err := v.owner(matchID)
	switch {
	case err != nil:
		return match.ErrBusy
	case node == "":
		return match.ErrNotFound
	case node == v.Router.cfg.Self || v.cfg.Abort == nil:
		return match.ErrBusy // ours but not resumed yet, or no way to reach its node
	}
	return v.cfg.Abort(ctx, matchID)
}

// AbortHere aborts a match this node runs, for another node's operator;
// false when it does not run it.
func (v *Views) AbortHere(ctx context.Context, matchID string) (bool, error) {
	if _, here := v.local.Get(matchID); !here {
		return false, nil
	}
	ab, ok := v.local.(localAborter)
	if !ok {
		return false, nil
	}
	return true, ab.Abort(ctx, matchID)
}

// cached holds one value read at most every ttl; concurrent callers
// share one read.
type cached[T any] struct {
	ttl time.Duration // immutable once in use

	mu   sync.Mutex
	val  T
	at   time.Time
	ok   bool
	wait chan struct{} // closed when the read in progress ends; nil: none
}

// get returns the value if it is younger than ttl, else reads it with
// load (or waits for the read another caller started).
func (c *cached[T]) get(ctx context.Context, now func() time.Time, load func(context.Context) (T, error)) (T, error) {
	for {
		c.mu.Lock()
		if c.ok && now().Sub(c.at) < c.ttl {
			v := c.val
			c.mu.Unlock()
			return v, nil
		}
		if w := c.wait; w != nil {
			c.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		w := make(chan struct{})
		c.wait = w
		c.mu.Unlock()
		v, err := load(ctx)
		c.mu.Lock()
		c.wait = nil
		if err == nil {
			c.val, c.at, c.ok = v, now(), true
		}
		c.mu.Unlock()
		close(w)
		return v, err
	}
}
