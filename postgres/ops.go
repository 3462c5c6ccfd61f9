package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/leaderboard"
)

// Ops is what operators do to the stored game: roles, bans, renames,
// voided matches, reset ratings, the review queue (signals.go) and the
// audit log. Every action writes its audit_log line in the transaction
// that makes it. Safe for concurrent use.
type Ops struct {
	// Immutable after NewOps.
	pool    *pgxpool.Pool
	logger  *slog.Logger
	ratings *Ratings // the rater: voids serialize with it and reload its rank counts
	signals SignalsConfig
}

// NewOps returns the operators' store; ratings is the server's rater.
func NewOps(pool *pgxpool.Pool, logger *slog.Logger, ratings *Ratings, signals SignalsConfig) *Ops {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Ops{pool: pool, logger: logger, ratings: ratings, signals: signals.withDefaults()}
}

// cliActor is the audit log's name for the command line.
var cliActor = leaderboard.Actor{Name: "cli"}

// audit appends one line to the audit log in tx.
func audit(ctx context.Context, tx pgx.Tx, a leaderboard.Actor, action, kind, target, reason string, before, after any) error {
	var opID *string
	if a.ID != "" {
		opID = &a.ID
	}
	name := a.Name
	if name == "" {
		name = "server"
	}
	b, err := json.Marshal(before)
	if err != nil {
		return err
	}
	af, err := json.Marshal(after)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO audit_log (operator_id, operator_name, action, target_kind, target_id, reason, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, opID, name, action, kind, target, reason, b, af)
	if err != nil {
		return fmt.Errorf("append audit log: %w", err)
	}
	return nil
}

// checkReason refuses an empty or overlong reason: every action takes one.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return "", fmt.Errorf("%w: a reason of 1 to 500 characters is required", leaderboard.ErrBadRequest)
	}
	return reason, nil
}

// Grant makes the registered player with that name (ignoring case) an
// operator. A guest cannot be one.
func (o *Ops) Grant(ctx context.Context, name string) (leaderboard.Operator, error) {
	return o.setOperator(ctx, name, true)
}

// Revoke takes the operator role from the player with that name.
func (o *Ops) Revoke(ctx context.Context, name string) (leaderboard.Operator, error) {
	return o.setOperator(ctx, name, false)
}

func (o *Ops) setOperator(ctx context.Context, name string, grant bool) (leaderboard.Operator, error) {
	if err := leaderboard.ValidName(name); err != nil {
		return leaderboard.Operator{}, err
	}
	var op leaderboard.Operator
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var since *time.Time
		err := tx.QueryRow(ctx, `
			SELECT id, name, operator_since FROM players
			WHERE name_key = lower($1) AND NOT guest FOR UPDATE`, name).Scan(&op.ID, &op.Name, &since)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: no registered player is named %s", leaderboard.ErrNotFound, name)
		case err != nil:
			return err
		}
		action, reason := "operator.grant", "granted on the command line"
		if !grant {
			action, reason = "operator.revoke", "revoked on the command line"
		}
		if err := tx.QueryRow(ctx, `
			UPDATE players SET operator_since = CASE WHEN $2 THEN coalesce(operator_since, now()) END
			WHERE id = $1 RETURNING coalesce(operator_since, now())`, op.ID, grant).Scan(&op.Since); err != nil {
			return err
		}
		if (since != nil) == grant {
			return nil // nothing changed: nothing to log
		}
		return audit(ctx, tx, cliActor, action, "operator", op.ID, reason,
			map[string]bool{"operator": since != nil}, map[string]bool{"operator": grant})
	})
	if err != nil {
		return leaderboard.Operator{}, fmt.Errorf("set operator %s: %w", name, err)
	}
	return op, nil
}

// Operators lists the operators, by name.
func (o *Ops) Operators(ctx context.Context) ([]leaderboard.Operator, error) {
	rows, err := o.pool.Query(ctx, `
		SELECT id, name, operator_since FROM players WHERE operator_since IS NOT NULL ORDER BY name_key`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[leaderboard.Operator])
}

// IsOperator reports whether the player is an operator now (and not
// banned). Operator requests ask on every call.
func (o *Ops) IsOperator(ctx context.Context, playerID string) (bool, error) {
	var ok bool
	err := o.pool.QueryRow(ctx, `
		SELECT operator_since IS NOT NULL AND banned_at IS NULL FROM players WHERE id = $1`, playerID).Scan(&ok)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check operator %s: %w", playerID, err)
	}
	return ok, nil
}

// banState is a player's ban as the audit log records it.
type banState struct {
	Name   string     `json:"name"`
	Banned bool       `json:"banned"`
	Until  *time.Time `json:"until,omitempty"`
	Reason *string    `json:"reason,omitempty"`
}

// lockPlayer reads a player's ban state under a row lock.
func lockPlayer(ctx context.Context, tx pgx.Tx, playerID string) (banState, error) {
	var b banState
	var at *time.Time
	err := tx.QueryRow(ctx, `
		SELECT name, banned_at, banned_until, ban_reason FROM players WHERE id = $1 FOR UPDATE`, playerID).
		Scan(&b.Name, &at, &b.Until, &b.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("player %s: %w", playerID, leaderboard.ErrNotFound)
	}
	b.Banned = at != nil
	return b, err
}

// Ban bans a player, for good (until nil) or until then. The caller
// closes the player's sockets and aborts their live matches.
func (o *Ops) Ban(ctx context.Context, a leaderboard.Actor, playerID, reason string, until *time.Time) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	if until != nil && !until.After(time.Now()) {
		return fmt.Errorf("%w: a ban's end must be in the future", leaderboard.ErrBadRequest)
	}
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		before, err := lockPlayer(ctx, tx, playerID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE players SET banned_at = coalesce(banned_at, now()), banned_until = $2, ban_reason = $3
			WHERE id = $1`, playerID, until, reason); err != nil {
			return err
		}
		after := banState{Name: before.Name, Banned: true, Until: until, Reason: &reason}
		if err := o.notifyOps(ctx, tx, OpsNote{Op: OpsBan, Players: []string{playerID}}); err != nil {
			return err
		}
		return audit(ctx, tx, a, "player.ban", "player", playerID, reason, before, after)
	})
	if err != nil {
		return fmt.Errorf("ban %s: %w", playerID, err)
	}
	o.reloadRanks(ctx)
	return nil
}

// Unban lifts a player's ban.
func (o *Ops) Unban(ctx context.Context, a leaderboard.Actor, playerID, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		before, err := lockPlayer(ctx, tx, playerID)
		if err != nil {
			return err
		}
		if !before.Banned {
			return fmt.Errorf("%w: the player is not banned", leaderboard.ErrBadRequest)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE players SET banned_at = NULL, banned_until = NULL, ban_reason = NULL WHERE id = $1`, playerID); err != nil {
			return err
		}
		if err := o.notifyOps(ctx, tx, OpsNote{Op: OpsRanks, Players: []string{playerID}}); err != nil {
			return err
		}
		return audit(ctx, tx, a, "player.unban", "player", playerID, reason, before, banState{Name: before.Name})
	})
	if err != nil {
		return fmt.Errorf("unban %s: %w", playerID, err)
	}
	o.reloadRanks(ctx)
	return nil
}

// LiftExpiredBans lifts the timed bans whose end has passed, logging each
// as the server's action, and returns how many.
func (o *Ops) LiftExpiredBans(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE players p SET banned_at = NULL, banned_until = NULL, ban_reason = NULL
			FROM (SELECT id, banned_until, ban_reason FROM players
				WHERE banned_until IS NOT NULL AND banned_until <= now() FOR UPDATE) old
			WHERE p.id = old.id
			RETURNING p.id, p.name, old.banned_until, old.ban_reason`)
		if err != nil {
			return err
		}
		type lifted struct {
			id     string
			before banState
		}
		var ls []lifted
		var l lifted
		if _, err := pgx.ForEachRow(rows, []any{&l.id, &l.before.Name, &l.before.Until, &l.before.Reason}, func() error {
			l.before.Banned = true
			ls = append(ls, l)
			return nil
		}); err != nil {
			return err
		}
		for _, l := range ls {
			if err := audit(ctx, tx, leaderboard.Actor{}, "player.unban", "player", l.id, "timed ban ended",
				l.before, banState{Name: l.before.Name}); err != nil {
				return err
			}
		}
		n = len(ls)
		if n == 0 {
			return nil
		}
		note := OpsNote{Op: OpsRanks}
		for _, l := range ls {
			note.Players = append(note.Players, l.id)
		}
		return o.notifyOps(ctx, tx, note)
	})
	if err != nil {
		return 0, fmt.Errorf("lift expired bans: %w", err)
	}
	if n > 0 {
		o.reloadRanks(ctx)
	}
	return n, nil
}

// Rename gives a player a new name (an offensive one replaced). The
// name follows the usual rules; a registered player's must be free.
func (o *Ops) Rename(ctx context.Context, a leaderboard.Actor, playerID, name, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	if err := leaderboard.ValidName(name); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var old string
		var guest bool
		err := tx.QueryRow(ctx, `SELECT name, guest FROM players WHERE id = $1 FOR UPDATE`, playerID).Scan(&old, &guest)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("player %s: %w", playerID, leaderboard.ErrNotFound)
		} else if err != nil {
			return err
		}
		if err := lockName(ctx, tx, name); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT FROM players WHERE name_key = lower($1) AND NOT guest AND id <> $2)`,
			name, playerID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: %s", leaderboard.ErrNameTaken, name)
		}
		if _, err := tx.Exec(ctx, `UPDATE players SET name = $2 WHERE id = $1`, playerID, name); err != nil {
			return err
		}
		return audit(ctx, tx, a, "player.rename", "player", playerID, reason,
			map[string]string{"name": old}, map[string]string{"name": name})
	})
	if isNameTaken(err) {
		return fmt.Errorf("%w: %s", leaderboard.ErrNameTaken, name)
	}
	if err != nil {
		return fmt.Errorf("rename %s: %w", playerID, err)
	}
	return nil
}

// ratingState is a ratings row as the audit log records it.
type ratingState struct {
	Game       string  `json:"game"`
	Rating     float64 `json:"rating"`
	RD         float64 `json:"rd"`
	Volatility float64 `json:"volatility"`
}

// ResetRating puts a player's rating in game back to a new player's
// (1500, RD 350); their win, loss and draw counts stay. It takes the
// rater's lock, so no result is rated meanwhile.
func (o *Ops) ResetRating(ctx context.Context, a leaderboard.Actor, playerID, game, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	fresh := leaderboard.NewRating()
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(raterLock)); err != nil {
			return err
		}
		before := ratingState{Game: game}
		err := tx.QueryRow(ctx, `
			SELECT rating, rd, volatility FROM ratings WHERE player_id = $1 AND game = $2 FOR UPDATE`,
			playerID, game).Scan(&before.Rating, &before.RD, &before.Volatility)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: player %s has no rating in %s", leaderboard.ErrNotFound, playerID, game)
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE ratings SET rating = $3, rd = $4, volatility = $5, updated_at = now()
			WHERE player_id = $1 AND game = $2`, playerID, game, fresh.Rating, fresh.RD, fresh.Volatility); err != nil {
			return err
		}
		if err := o.notifyOps(ctx, tx, OpsNote{Op: OpsRanks, Players: []string{playerID}}); err != nil {
			return err
		}
		return audit(ctx, tx, a, "rating.reset", "player", playerID, reason, before,
			ratingState{Game: game, Rating: fresh.Rating, RD: fresh.RD, Volatility: fresh.Volatility})
	})
	if err != nil {
		return fmt.Errorf("reset rating of %s in %s: %w", playerID, game, err)
	}
	o.ratings.tickets.put(playerID, game, fresh.Rating, time.Now())
	o.reloadRanks(ctx)
	return nil
}

// RecordAbort logs an operator's abort of a live match (the match
// registry ends it).
func (o *Ops) RecordAbort(ctx context.Context, a leaderboard.Actor, matchID, reason string, before any) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		return audit(ctx, tx, a, "match.abort", "match", matchID, reason, before,
			map[string]string{"status": "aborted", "reason": "operator"})
	})
}

// reloadRanks makes the rank counts follow a ban or a rating change now
// rather than at the next RankRefresh.
func (o *Ops) reloadRanks(ctx context.Context) {
	o.ratings.ranks.Invalidate()
	if err := o.ratings.RefreshRanks(ctx); err != nil && ctx.Err() == nil {
		o.logger.Warn("reload rank counts", "err", err)
	}
}

// Audit returns audit log lines, newest first.
func (o *Ops) Audit(ctx context.Context, f leaderboard.AuditFilter) ([]leaderboard.AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	rows, err := o.pool.Query(ctx, `
		SELECT id, at, operator_id, operator_name, action, target_kind, target_id, reason,
			coalesce(before, 'null'::jsonb), coalesce(after, 'null'::jsonb)
		FROM audit_log
		WHERE ($1 = '' OR action = $1) AND ($2 = '' OR lower(operator_name) = lower($2)) AND ($3 = '' OR target_id = $3)
		ORDER BY at DESC, id DESC LIMIT $4`, f.Action, f.Operator, f.Target, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[leaderboard.AuditEntry])
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// isForeignKey reports a foreign key violation.
func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
