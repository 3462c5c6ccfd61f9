package match

import (
	"context"

	"github.com/turnbase/turnbase/game"
)

// ReasonOperator is the reason of a match an operator aborted: it ends
// aborted and unrated, and both players get match.over saying so.
const ReasonOperator = "operator"

// Abort ends a live match as aborted (unrated) with reason "operator",
// and waits until the match has done so or ctx ends. A match that is
// over already gives ErrMatchOver; an unknown one ErrNotFound.
func (r *Registry) Abort(ctx context.Context, matchID string) error {
	done := make(chan error, 1)
	r.submit(matchID, request{kind: reqAbort, reply: func(err error) { done <- err }})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// abort handles reqAbort on the match's goroutine (or under mu once it
// lingers, when it is over already).
func (m *Match) abort(ctx context.Context) error {
	if m.status != StatusLive {
		return ErrMatchOver
	}
	m.finish(ctx, StatusAborted, game.Outcome{Done: true, Winner: game.NoSeat, Reason: ReasonOperator})
	return nil
}
