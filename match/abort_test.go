package match

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// TestOperatorAbort: an operator's abort ends a live match aborted and
// unrated with reason "operator", both players told; a second abort is
// match_over, an unknown match not found.
func TestOperatorAbort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, "tictactoe", Deps{Rated: true}, testCfg)
		if err := e.move(e.a, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		if err := e.reg.Abort(context.Background(), e.id); err != nil {
			t.Fatalf("abort: %v", err)
		}
		synctest.Wait()
		for _, c := range []*fakeConn{e.a, e.b} {
			over := c.last("match.over")
			if over == nil || over["result"] != "aborted" || over["reason"] != ReasonOperator {
				t.Fatalf("%s got match.over %v", c.player, over)
			}
		}
		if e.reg.InMatch("alice") || e.reg.InMatch("bob") {
			t.Fatal("players still seated after the abort")
		}
		if err := e.reg.Abort(context.Background(), e.id); !errors.Is(err, ErrMatchOver) {
			t.Fatalf("second abort: %v", err)
		}
		if err := e.reg.Abort(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("abort of an unknown match: %v", err)
		}
	})
}
