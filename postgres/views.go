package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/match"
)

// Views that are the same whichever node answers (migration 0010): each
// node writes what only it knows of itself (its sockets, queues, and the
// spectators of the matches it runs) into its nodes row, and every node
// reads the living nodes' rows; the live list comes from the matches
// table. The package does not read what a view holds: cluster does.

// PublishView writes this node's view (a JSON document) into its row;
// false when the row is not there (another node deleted it as dead, and
// the next heartbeat puts it back).
func (n *Nodes) PublishView(ctx context.Context, view []byte) (bool, error) {
	tag, err := n.pool.Exec(ctx, `UPDATE nodes SET views = $2 WHERE id = $1`, n.cfg.ID, view)
	if err != nil {
		return false, fmt.Errorf("publish the view of node %s: %w", n.cfg.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Views returns the views the living nodes (heartbeat within DeadAfter)
// last wrote, by node, this one's included.
func (n *Nodes) Views(ctx context.Context) (map[string][]byte, error) {
	rows, err := n.pool.Query(ctx, `
		SELECT id, views FROM nodes WHERE views IS NOT NULL AND heartbeat_at >= now() - $1::interval`, n.cfg.DeadAfter)
	if err != nil {
		return nil, fmt.Errorf("read the nodes' views: %w", err)
	}
	out := map[string][]byte{}
	var id string
	var view []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &view}, func() error {
		out[id] = append([]byte(nil), view...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the nodes' views: %w", err)
	}
	return out, nil
}

// liveSQL and liveGameSQL list live matches newest first, with their
// owners, through matches_live_started and matches_listing.
const (
	liveSQL = `
		SELECT l.*, coalesce(o.owner, '') FROM (
			WITH m AS (
				SELECT * FROM matches WHERE status = 'live'
				ORDER BY started_at DESC, id LIMIT $1
			)` + summaryFromM + `
		) l JOIN matches o ON o.id = l.id
		ORDER BY l.started_at DESC, l.id`
	liveGameSQL = `
		SELECT l.*, coalesce(o.owner, '') FROM (
			WITH m AS (
				SELECT * FROM matches WHERE status = 'live' AND game = $2
				ORDER BY started_at DESC, id LIMIT $1
			)` + summaryFromM + `
		) l JOIN matches o ON o.id = l.id
		ORDER BY l.started_at DESC, l.id`
)

// LiveMatches lists the live matches of every node, newest first, of one
// game ("" for all), at most limit, as the node running each shows it
// (a computer seat with its level and no rating) but without spectators
// (those are in the owners' views), and the node running each ("" while
// released).
func (n *Nodes) LiveMatches(ctx context.Context, gameID string, limit int) ([]match.Summary, []string, error) {
	sql, args := liveSQL, []any{limit}
	if gameID != "" {
		sql, args = liveGameSQL, []any{limit, gameID}
	}
	rows, err := n.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list live matches: %w", err)
	}
	var owner string
	var owners []string
	out, err := scanSummariesWith(rows, []any{&owner}, func() { owners = append(owners, owner) })
	if err != nil {
		return nil, nil, fmt.Errorf("list live matches: %w", err)
	}
	for i := range out {
		asRunning(&out[i])
	}
	return out, owners, nil
}

// MatchSummary is one stored match's summary, a live one as LiveMatches
// gives it; false when there is no such match.
func (n *Nodes) MatchSummary(ctx context.Context, id string) (match.Summary, bool, error) {
	rows, err := n.pool.Query(ctx, matchSQL, id)
	if err != nil {
		return match.Summary{}, false, fmt.Errorf("read match %s: %w", id, err)
	}
	out, err := scanSummaries(rows)
	if err != nil {
		return match.Summary{}, false, fmt.Errorf("read match %s: %w", id, err)
	}
	if len(out) == 0 {
		return match.Summary{}, false, nil
	}
	if out[0].Status == match.StatusLive {
		asRunning(&out[0])
	}
	return out[0], true, nil
}

// asRunning shows a stored live match's computer seats as the match
// itself does (match.Player: the level, no rating).
func asRunning(s *match.Summary) {
	for i, p := range s.Players {
		if _, level, ok := game.ParseBotID(p.ID); ok {
			s.Players[i].Bot, s.Players[i].Rating = level, 0
		}
	}
}
