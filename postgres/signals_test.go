package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/turnbase/turnbase/leaderboard"
)

// TestSignalsFindAFarmer: a player who won 12 rated games today against
// one opponent who resigned before move 2 is flagged by same_opponent,
// win_rate, early_end and rating_gain, above the opponent; a dismissed flag
// stays away until its evidence changes; a void clears the evidence.
func TestSignalsFindAFarmer(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "farmer", "feeder", "honest")
	rtExec(t, db, `UPDATE players SET first_addr_block = '203.0.113.0/24'`)
	base := time.Now().Add(-time.Hour)
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("f%02d", i)
		ids = append(ids, id)
		at := base.Add(time.Duration(i) * time.Minute)
		rtExec(t, db, `INSERT INTO matches (id, game, seat0, seat1, rated, started_at, status, ended_at, winner, reason)
			VALUES ($1, 'tictactoe', 'farmer', 'feeder', true, $2, 'finished', $3, 0, 'resign')`, id, at, at.Add(time.Second))
	}
	rtMatch(t, db, rtMatchRow{id: "h1", seat0: "honest", seat1: "feeder", winner: 0, started: base, ended: base.Add(time.Minute)})
	if _, err := r.RatePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	ops := NewOps(db, nil, r, SignalsConfig{AddrBlockAccounts: 3})
	flagged, err := ops.Flags(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(flagged) < 2 || flagged[0].Player.ID != "farmer" {
		t.Fatalf("review queue %+v", flagged)
	}
	got := map[string]leaderboard.Flag{}
	for _, f := range flagged[0].Flags {
		got[f.Signal] = f
	}
	for _, s := range []string{"same_opponent", "win_rate", "early_end", "rating_gain", "addr_block"} {
		if _, ok := got[s]; !ok {
			t.Errorf("farmer lacks signal %s: %+v", s, flagged[0].Flags)
		}
	}
	if !strings.Contains(got["early_end"].Summary, "12 games won") {
		t.Errorf("early_end evidence: %s", got["early_end"].Summary)
	}

	// Dismissed: gone while the evidence stays the same.
	f := got["same_opponent"]
	if err := ops.Decide(t.Context(), opActor, "farmer", f.Signal, f.Key, "dismissed", "known friends"); err != nil {
		t.Fatal(err)
	}
	if err := ops.Decide(t.Context(), opActor, "farmer", "win_rate", got["win_rate"].Key, "bogus", "x"); err == nil {
		t.Fatal("a bogus status was accepted")
	}
	flagged, _ = ops.Flags(t.Context())
	for _, fl := range flagged[0].Flags {
		if fl.Signal == "same_opponent" {
			t.Fatal("a dismissed flag came back without new evidence")
		}
	}
	// New evidence: one more game brings it back.
	rtMatch(t, db, rtMatchRow{id: "f99", seat0: "farmer", seat1: "feeder", winner: 0, started: base.Add(30 * time.Minute), ended: base.Add(31 * time.Minute)})
	if _, err := r.RatePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	flagged, _ = ops.Flags(t.Context())
	back := false
	for _, fl := range flagged[0].Flags {
		back = back || fl.Signal == "same_opponent"
	}
	if !back {
		t.Fatal("a dismissed flag did not come back with new evidence")
	}

	// Voided games are no evidence.
	if _, err := ops.Void(t.Context(), opActor, append(ids, "f99"), "farming"); err != nil {
		t.Fatal(err)
	}
	flagged, _ = ops.Flags(t.Context())
	for _, fp := range flagged {
		for _, fl := range fp.Flags {
			if fl.Signal != "addr_block" {
				t.Errorf("after the void %s still has %s", fp.Player.ID, fl.Signal)
			}
		}
	}
}

// TestBanRenameResetAndOperators: the actions change what they say, each
// with its audit line, and refuse what they must.
func TestBanRenameResetAndOperators(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "a", "b")
	rtExec(t, db, `UPDATE players SET guest = false, password_hash = 'x', name = 'Alice' WHERE id = 'a'`)
	rtMatch(t, db, rtMatchRow{id: "m1", seat0: "a", seat1: "b", winner: 0})
	if _, err := r.RatePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	ops := NewOps(db, nil, r, SignalsConfig{})
	ctx := t.Context()

	if _, err := ops.Grant(ctx, "n-b"); err == nil {
		t.Error("a guest was made an operator")
	}
	if op, err := ops.Grant(ctx, "alice"); err != nil || op.ID != "a" {
		t.Fatalf("grant: %+v %v", op, err)
	}
	if ok, _ := ops.IsOperator(ctx, "a"); !ok {
		t.Fatal("not an operator after grant")
	}
	if _, err := ops.Revoke(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := ops.IsOperator(ctx, "a"); ok {
		t.Fatal("still an operator after revoke")
	}

	until := time.Now().Add(time.Hour)
	if err := ops.Ban(ctx, opActor, "b", "spam", &until); err != nil {
		t.Fatal(err)
	}
	if err := ops.Ban(ctx, opActor, "b", "", nil); err == nil {
		t.Error("a ban without a reason")
	}
	if err := ops.Unban(ctx, opActor, "b", "appeal"); err != nil {
		t.Fatal(err)
	}
	if err := ops.Unban(ctx, opActor, "b", "again"); err == nil {
		t.Error("unbanned a player who is not banned")
	}
	past := time.Now().Add(-time.Minute)
	if err := ops.Ban(ctx, opActor, "b", "spam", &past); err == nil {
		t.Error("a ban ending in the past")
	}
	// A timed ban that ran out is lifted by the sweep.
	rtExec(t, db, `UPDATE players SET banned_at = now() - interval '2 hours', banned_until = now() - interval '1 hour', ban_reason = 'x' WHERE id = 'b'`)
	if n, err := ops.LiftExpiredBans(ctx); err != nil || n != 1 {
		t.Fatalf("lifted %d, %v", n, err)
	}

	if err := ops.Rename(ctx, opActor, "b", "Alice", "clash"); err == nil {
		t.Error("renamed onto a registered name")
	}
	if err := ops.Rename(ctx, opActor, "b", "nice_name", "offensive"); err != nil {
		t.Fatal(err)
	}
	if err := ops.Rename(ctx, opActor, "b", "bad name!", "x"); err == nil {
		t.Error("an invalid name was accepted")
	}
	if err := ops.ResetRating(ctx, opActor, "a", "tictactoe", "fresh start"); err != nil {
		t.Fatal(err)
	}
	if s, _ := readRating(t, db, "a", "tictactoe"); s.Rating != leaderboard.NewRating() || s.Wins != 1 {
		t.Fatalf("after reset: %+v", s)
	}
	if err := ops.ResetRating(ctx, opActor, "a", "rps", "x"); err == nil {
		t.Error("reset a rating that does not exist")
	}
	log, err := ops.Audit(ctx, leaderboard.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	want := "rating.reset player.rename player.unban player.unban player.ban operator.revoke operator.grant"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit actions %v, want %s", actions, want)
	}
	if log[2].OperatorName != "server" || log[6].OperatorName != "cli" {
		t.Errorf("actors: %q, %q", log[2].OperatorName, log[6].OperatorName)
	}
	p, err := ops.OpsPlayer(ctx, "a")
	if err != nil || len(p.Recent) != 1 || p.Recent[0].Result != "win" || len(p.History["tictactoe"]) != 1 {
		t.Fatalf("player file %+v %v", p, err)
	}
	board, err := ops.OpsBoard(ctx, "tictactoe", leaderboard.FilterAll, "nice", 0, 0, nil)
	if err != nil || len(board) != 1 || board[0].Player.ID != "b" {
		t.Fatalf("board %+v %v", board, err)
	}
}
