package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/leaderboard"
)

// orphaned is the condition, on matches m, of a live match no living node
// runs: released by a node that stopped (owner NULL), owned by a node
// counted dead ($dead), or its lease run out while its owner is not a
// member of the cluster (a cluster member's lease may run out during an
// outage while its moves wait in its spool: it is judged by its
// heartbeat). The claim re-checks it on the row it locks, so a match
// another node claimed a moment ago is skipped.
const orphaned = `m.status = 'live' AND m.owner IS DISTINCT FROM $1
	AND (m.owner IS NULL OR m.owner = ANY($2::text[]) OR (` + leaseLost + `))`

// leaseLost is the condition, on matches m, of a lease run out whose owner
// has no row in nodes (no heartbeat to judge it by).
const leaseLost = `m.lease_until < now() AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = m.owner)`

// TakeOver claims this node's share of the live matches no living node
// runs (see orphaned; dead is Membership.Dead, alive how many nodes share
// the work) and loads them for match.Registry.Resume. Each call takes at
// most ceil(orphans/alive), so the survivors of a death share its matches;
// what is left (another node was quicker to count, or slower to claim) is
// taken on the next call. Two nodes never claim the same match: the claim
// locks the rows it takes (SKIP LOCKED) and re-checks the condition on
// them. A dead node's batch still holding a row (FOR SHARE) is skipped
// until PostgreSQL has ended its session.
func (j *Journal) TakeOver(ctx context.Context, dead []string, alive int) ([]Resumable, error) {
	if dead == nil {
		dead = []string{}
	}
	var orphans int
	if err := j.pool.QueryRow(ctx, `SELECT count(*) FROM matches m WHERE `+orphaned,
		j.cfg.Owner, dead).Scan(&orphans); err != nil {
		return nil, fmt.Errorf("count orphaned matches: %w", err)
	}
	if orphans == 0 {
		return nil, nil
	}
	share := (orphans + max(alive, 1) - 1) / max(alive, 1)
	rows, err := j.pool.Query(ctx, `
		WITH pick AS (
			SELECT m.id FROM matches m WHERE `+orphaned+`
			ORDER BY m.id LIMIT $4
			FOR UPDATE SKIP LOCKED
		)
		UPDATE matches m SET owner = $1, lease_until = now() + $3::interval
		FROM pick, players p0, players p1
		WHERE m.id = pick.id AND p0.id = m.seat0 AND p1.id = m.seat1
		RETURNING m.id, m.game, m.started_at, coalesce(m.rematch_of, ''), m.version,
			p0.id, p0.name, p1.id, p1.name`, j.cfg.Owner, dead, j.cfg.Lease, share)
	if err != nil {
		return nil, fmt.Errorf("take over matches: %w", err)
	}
	var out []Resumable
	for rows.Next() {
		var r Resumable
		rec := &r.Record
		if err := rows.Scan(&rec.ID, &rec.Game, &rec.Started, &rec.RematchOf, &rec.Version,
			&rec.Players[0].ID, &rec.Players[0].Name, &rec.Players[1].ID, &rec.Players[1].Name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("take over matches: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("take over matches: %w", err)
	}
	// The matches are this node's now: loading them may fail (they are
	// then resumed on the next start, or taken over when this node dies),
	// but they must not be lost from the answer.
	for i := range out {
		if err := j.loadResumable(ctx, &out[i]); err != nil {
			return out[:i], err
		}
	}
	return out, nil
}

// loadResumable fills in a claimed match's ratings and stored moves.
func (j *Journal) loadResumable(ctx context.Context, r *Resumable) error {
	rec := &r.Record
	rows, err := j.pool.Query(ctx, `SELECT player_id, rating FROM ratings WHERE game = $1 AND player_id = ANY($2)`,
		rec.Game, []string{rec.Players[0].ID, rec.Players[1].ID})
	if err != nil {
		return fmt.Errorf("claim match %s: ratings: %w", rec.ID, err)
	}
	ratings := map[string]float64{}
	var pid string
	var rating float64
	if _, err := pgx.ForEachRow(rows, []any{&pid, &rating}, func() error {
		ratings[pid] = rating
		return nil
	}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("claim match %s: ratings: %w", rec.ID, err)
	}
	for s := range rec.Players {
		rec.Players[s].Rating = leaderboard.DefaultRating
		if r, ok := ratings[rec.Players[s].ID]; ok {
			rec.Players[s].Rating = r
		}
	}
	r.Moves, err = j.loadMoves(ctx, rec.ID)
	return err
}

// Release gives up this node's live matches (owner NULL), so that the
// other nodes take them over at once rather than after DeadAfter: the last
// step of a clean stop, once the matches have stopped and their writes are
// stored. It refuses while writes wait in the spool (the database was
// down): those must be replayed by this node before anyone else runs its
// matches, so they wait for this node's restart, or its death.
func (j *Journal) Release(ctx context.Context) (int, error) {
	if !j.Healthy() || j.stats.pending.Load() > 0 {
		return 0, errors.New("release matches: writes wait in the spool")
	}
	tag, err := j.pool.Exec(ctx, `
		UPDATE matches SET owner = NULL, lease_until = NULL
		WHERE owner = $1 AND status = 'live'`, j.cfg.Owner)
	if err != nil {
		return 0, fmt.Errorf("release matches: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
