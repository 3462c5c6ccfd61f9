package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// listenNotes runs a listener that hands ChannelRanks and ChannelOps to
// r, as a cluster node does, and reports the operators' notes on ops.
func listenNotes(t *testing.T, pool *pgxpool.Pool, r *Ratings, ops chan<- OpsNote) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := NewListener(pool, discard(), map[string]func(string){
		ChannelRanks: func(p string) {
			if err := r.ApplyRanksNote(p); err != nil {
				t.Errorf("ranks note %q: %v", p, err)
			}
		},
		ChannelOps: func(p string) {
			n, err := ParseOpsNote(p)
			if err != nil {
				t.Errorf("ops note %q: %v", p, err)
				return
			}
			r.ApplyOpsNote(n)
			if ops != nil {
				ops <- n
			}
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	<-l.Listening()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// eventually polls cond for a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5 s", what)
		}
	}
}

// TestRankNotesReachTheOtherNodes: two nodes' raters on one database. A
// result node a rates moves node b's rank counts and ticket ratings at
// once (not at its next reload, nor when its cache entry expires), and
// both nodes' counts equal a fresh load: a's own note is not counted
// twice. An operator's ban and reset on a reach b too.
func TestRankNotesReachTheOtherNodes(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	cfg := func(node string) RatingsConfig {
		return RatingsConfig{Games: catalog.New(), Node: node, RatingCacheTTL: time.Hour, RankRefresh: time.Hour}
	}
	a := NewRatings(db, discard(), cfg("a"))
	b := NewRatings(db, discard(), cfg("b"))
	opsNotes := make(chan OpsNote, 8)
	listenNotes(t, db, a, nil)
	listenNotes(t, db, b, opsNotes)
	ctx := t.Context()
	rtPlayers(t, db, "alice", "bob", "carol")
	for p, r := range map[string]float64{"alice": 1500, "bob": 1500, "carol": 1503} {
		rtExec(t, db, `INSERT INTO ratings (player_id, game, rating, rd) VALUES ($1, 'tictactoe', $2, 50)`, p, r)
	}
	rankOf := func(r *Ratings, p string) int {
		n, ok, err := r.rank(ctx, "tictactoe", p)
		if err != nil || !ok {
			t.Fatalf("rank of %s: %v %v", p, ok, err)
		}
		return n
	}
	for _, r := range []*Ratings{a, b} {
		if got := rankOf(r, "alice"); got != 2 {
			t.Fatalf("alice's rank before: %d", got)
		}
	}
	if got, _ := b.Rating(ctx, "alice", "tictactoe"); got != 1500 {
		t.Fatalf("b's ticket rating of alice: %v", got)
	}

	rtMatch(t, db, rtMatchRow{id: "m1", seat0: "alice", seat1: "bob", winner: 0})
	changes, err := rateMatch(ctx, a, "m1")
	if err != nil || len(changes) != 2 {
		t.Fatalf("rate: %v %v", changes, err)
	}
	eventually(t, "alice first on b", func() bool { return rankOf(b, "alice") == 1 })
	eventually(t, "alice's new rating in b's ticket cache", func() bool {
		got, _ := b.Rating(ctx, "alice", "tictactoe")
		return got == changes[0].After
	})
	if got := rankOf(b, "bob"); got != 3 {
		t.Errorf("bob's rank on b: %d", got)
	}
	time.Sleep(100 * time.Millisecond) // a's own note, had it counted it
	checkRankCounts(t, a)
	checkRankCounts(t, b)

	// An operator on a bans carol and resets alice: b counts again, and
	// reads alice's rating again.
	ops := NewOps(db, discard(), a, SignalsConfig{})
	if err := ops.Ban(ctx, leaderboard.Actor{Name: "op"}, "carol", "test", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-opsNotes:
		if n.Op != OpsBan || n.Node != "a" || len(n.Players) != 1 || n.Players[0] != "carol" {
			t.Fatalf("ban note %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ban note")
	}
	if got := rankOf(b, "bob"); got != 2 {
		t.Errorf("bob's rank on b after carol's ban: %d", got)
	}
	checkRankCounts(t, b)
	if err := ops.ResetRating(ctx, leaderboard.Actor{Name: "op"}, "alice", "tictactoe", "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice's reset rating on b", func() bool {
		got, _ := b.Rating(ctx, "alice", "tictactoe")
		return got == leaderboard.DefaultRating
	})
	if got := rankOf(b, "bob"); got != 1 { // alice is provisional again
		t.Errorf("bob's rank on b after alice's reset: %d", got)
	}
	checkRankCounts(t, b)
}

// TestRankNotesFitNotify: a full batch's notes are split under NOTIFY's
// limit and carry every delta and rating.
func TestRankNotesFitNotify(t *testing.T) {
	r := NewRatings(nil, discard(), RatingsConfig{Node: "some-node-id"})
	var b ratedBatch
	b.changes, b.games = map[string][]match.RatingChange{}, map[string]string{}
	for i := range 300 {
		id := fmt.Sprintf("match-%04d", i)
		b.ids = append(b.ids, id)
		b.games[id] = "connectfour"
		for seat := range 2 {
			p := fmt.Sprintf("player-%036d", 2*i+seat)
			b.changes[id] = append(b.changes[id], match.RatingChange{PlayerID: p, Before: 1500.123456789, After: 1512.987654321})
			b.deltas = append(b.deltas, leaderboard.RankDelta{Game: "connectfour",
				From: leaderboard.RankPos{Counted: true, Established: true, Bucket: 1500}, To: leaderboard.RankPos{Counted: true, Established: true, Bucket: 1513}})
		}
	}
	notes := r.rankNotes(b)
	deltas, tickets := 0, 0
	for _, n := range notes {
		if len(n)+21 >= 8000 {
			t.Fatalf("a note of %d bytes", len(n))
		}
		c := rankNote{}
		if err := json.Unmarshal([]byte(n), &c); err != nil {
			t.Fatal(err)
		}
		deltas += len(c.Deltas)
		tickets += len(c.Tickets)
	}
	if deltas != 600 || tickets != 600 || len(notes) < 2 {
		t.Fatalf("%d notes with %d deltas and %d ratings", len(notes), deltas, tickets)
	}
	if one := NewRatings(nil, discard(), RatingsConfig{}); one.rankNotes(b) != nil {
		t.Fatal("one node alone sent notes")
	}
	// Notes that are not ours are refused, not applied.
	for _, bad := range []string{"", "x {}", "12 not json", "12"} {
		if err := r.ApplyRanksNote(bad); err == nil {
			t.Errorf("applied %q", bad)
		}
	}
	big := OpsNote{Op: OpsRanks, Node: "a"}
	for i := range 1000 {
		big.Players = append(big.Players, fmt.Sprintf("player-%d", i))
	}
	if p := big.Encode(); len(p) >= 8000 || !strings.Contains(p, `"all":true`) {
		t.Fatalf("a note for 1000 players: %d bytes, %.60s", len(p), p)
	}
}

// TestTicketCacheKeepsTheNewest: a late note about an older rating does
// not overwrite a newer one while it is fresh.
func TestTicketCacheKeepsTheNewest(t *testing.T) {
	now := time.Now()
	c := newRatingCache(time.Minute, 10)
	c.putAt("a", "g", 1600, now, 20)
	c.putAt("a", "g", 1550, now, 10) // older transaction, came late
	if got, _ := c.get("a", "g", now); got != 1600 {
		t.Fatalf("late note overwrote: %v", got)
	}
	c.putAt("a", "g", 1650, now, 30)
	if got, _ := c.get("a", "g", now); got != 1650 {
		t.Fatalf("newer note: %v", got)
	}
	c.put("a", "g", 1640, now.Add(2*time.Minute)) // a read after expiry
	if got, _ := c.get("a", "g", now.Add(2*time.Minute)); got != 1640 {
		t.Fatalf("read after expiry: %v", got)
	}
	c.put("b", "g", 1, now)
	c.forget("a")
	if _, ok := c.get("a", "g", now); ok {
		t.Fatal("forgotten a still cached")
	}
	c.forgetAll()
	if _, ok := c.get("b", "g", now); ok {
		t.Fatal("b survived forgetAll")
	}
}

// TestNodesViews: a node's view is read back while it lives; the live
// list is newest first, by game, limited, with computer seats as the
// match shows them.
func TestNodesViews(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	ctx := t.Context()
	n1, _ := NewNodes(db, discard(), NodesConfig{ID: "n1", DeadAfter: 5 * time.Second})
	n2, _ := NewNodes(db, discard(), NodesConfig{ID: "n2", DeadAfter: 5 * time.Second})
	for _, n := range []*Nodes{n1, n2} {
		if err := n.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := n1.Views(ctx); err != nil || len(v) != 0 {
		t.Fatalf("views before any: %q %v", v, err)
	}
	if ok, err := n1.PublishView(ctx, []byte(`{"players":1}`)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := n2.PublishView(ctx, []byte(`{"players":2}`)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if v, _ := n1.Views(ctx); len(v) != 2 || string(v["n2"]) != `{"players": 2}` {
		t.Fatalf("views of two living nodes: %q", v)
	}
	rtExec(t, db, `UPDATE nodes SET heartbeat_at = now() - interval '1 minute' WHERE id = 'n2'`)
	if v, _ := n1.Views(ctx); len(v) != 1 || string(v["n1"]) != `{"players": 1}` {
		t.Fatalf("views with n2 dead: %q", v)
	}
	// A node that starts again starts without its last run's view; one
	// whose row is gone is told.
	if err := n1.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := n1.Views(ctx); len(v) != 0 {
		t.Fatalf("views after joining again: %q", v)
	}
	rtExec(t, db, `DELETE FROM nodes WHERE id = 'n2'`)
	if ok, err := n2.PublishView(ctx, []byte(`{}`)); ok || err != nil {
		t.Fatalf("publish without a row: %v %v", ok, err)
	}

	rtPlayers(t, db, "p1", "p2", "p3", "p4")
	now := time.Now()
	rtMatch(t, db, rtMatchRow{id: "old", seat0: "p1", seat1: "p2", status: match.StatusLive, started: now.Add(-time.Minute)})
	rtMatch(t, db, rtMatchRow{id: "rps", game: "rps", seat0: "p3", seat1: "p4", status: match.StatusLive, started: now.Add(-30 * time.Second)})
	rtMatch(t, db, rtMatchRow{id: "done", seat0: "p3", seat1: "p4", started: now.Add(-20 * time.Second)})
	rtMatch(t, db, rtMatchRow{id: "bot", seat0: "bot:tictactoe:easy", seat1: "p4", status: match.StatusLive, started: now.Add(-10 * time.Second)})
	ids := func(ms []match.Summary) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return strings.Join(out, ",")
	}
	rtExec(t, db, `UPDATE matches SET owner = NULL, lease_until = NULL WHERE id = 'rps'`) // released
	all, owners, err := n1.LiveMatches(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); got != "bot,rps,old" || strings.Join(owners, ",") != "p1,,p1" {
		t.Fatalf("live list %s, owners %q", got, owners)
	}
	if p := all[0].Players[0]; p.Bot != "easy" || p.Rating != 0 || p.Name != "tictactoe-easy" {
		t.Errorf("computer seat %+v", p)
	}
	if p := all[0].Players[1]; p.Rating != leaderboard.DefaultRating || p.Bot != "" {
		t.Errorf("person seat %+v", p)
	}
	if got, owners, _ := n1.LiveMatches(ctx, "tictactoe", 1); ids(got) != "bot" || len(owners) != 1 {
		t.Fatalf("tictactoe, 1: %s %q", ids(got), owners)
	}
	if got, _, _ := n1.LiveMatches(ctx, "connectfour", 10); len(got) != 0 || got == nil {
		t.Fatalf("connectfour: %#v", got)
	}
	if s, ok, err := n1.MatchSummary(ctx, "done"); !ok || err != nil || s.Status != match.StatusFinished {
		t.Fatalf("finished match: %+v %v %v", s, ok, err)
	}
	if s, ok, _ := n1.MatchSummary(ctx, "bot"); !ok || s.Players[0].Bot != "easy" {
		t.Fatalf("live computer match: %+v %v", s, ok)
	}
	if _, ok, err := n1.MatchSummary(ctx, "nope"); ok || err != nil {
		t.Fatalf("unknown match: %v %v", ok, err)
	}
}
