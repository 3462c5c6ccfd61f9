package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/match"
)

func newNodes(t *testing.T, j *Journal, deadAfter time.Duration) *Nodes {
	t.Helper()
	n, err := NewNodes(j.pool, discard(), NodesConfig{ID: j.cfg.Owner, DeadAfter: deadAfter})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// upFor makes n as if it had beaten steadily for d up to now.
func upFor(n *Nodes, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.steady = time.Now().Add(-d)
	n.lastBeat = time.Now()
}

// TestNodesHeartbeatAndDeath: a node that stops beating counts as dead
// after DeadAfter, one that beats stays alive, and Forget deletes a dead
// node only once it owns no live match.
func TestNodesHeartbeatAndDeath(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	ja := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	jb := startJournal(t, pool, JournalConfig{Owner: "node-b"})
	a := newNodes(t, ja, 300*time.Millisecond)
	b := newNodes(t, jb, 300*time.Millisecond)
	bctx, stopB := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(bctx) }()
	defer func() { stopB(); <-done }()

	if err := ja.CreateMatch(ctx, testRecord("m1")); err != nil {
		t.Fatal(err)
	}
	m, err := b.Scan(ctx)
	if err != nil || !slices.Equal(m.Alive, []string{"node-a", "node-b"}) || len(m.Dead) != 0 {
		t.Fatalf("at start: %+v, %v", m, err)
	}
	time.Sleep(500 * time.Millisecond) // a is silent, b beats
	m, err = b.Scan(ctx)
	if err != nil || !slices.Equal(m.Alive, []string{"node-b"}) || !slices.Equal(m.Dead, []string{"node-a"}) {
		t.Fatalf("after a's silence: %+v, %v", m, err)
	}
	// a owns a live match: its row stays.
	if err := b.Forget(ctx, m.Dead); err != nil {
		t.Fatal(err)
	}
	if m, _ = b.Scan(ctx); !slices.Equal(m.Dead, []string{"node-a"}) {
		t.Fatalf("a forgotten while it owns a match: %+v", m)
	}
	got, err := jb.TakeOver(ctx, m.Dead, len(m.Alive))
	if err != nil || len(got) != 1 || got[0].Record.ID != "m1" {
		t.Fatalf("take over: %v, %v", got, err)
	}
	if err := b.Forget(ctx, m.Dead); err != nil {
		t.Fatal(err)
	}
	if m, _ = b.Scan(ctx); len(m.Dead) != 0 || !slices.Equal(m.Alive, []string{"node-b"}) {
		t.Fatalf("after forget: %+v", m)
	}
	// a comes back (same id): alive again, and owns nothing now.
	if err := a.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ = b.Scan(ctx); !slices.Equal(m.Alive, []string{"node-a", "node-b"}) {
		t.Fatalf("after a's return: %+v", m)
	}
	if err := ja.AppendMove(ctx, "m1", mv(1, 0, `{"cell":4}`)); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a's move on a match taken over: %v, want ErrNotOwner", err)
	}
}

// TestTakeOverSharesADeadNodesMatches: two survivors claim a dead node's
// 40 matches at once; each match goes to exactly one, with its moves, in
// shares of about half, and nothing of a living node is touched.
func TestTakeOverSharesADeadNodesMatches(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	dead := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	jb := startJournal(t, pool, JournalConfig{Owner: "node-b"})
	jc := startJournal(t, pool, JournalConfig{Owner: "node-c"})
	newNodes(t, dead, time.Minute)
	nb := newNodes(t, jb, time.Minute)
	newNodes(t, jc, time.Minute)
	const n = 40
	for i := range n {
		id := fmt.Sprintf("a%02d", i)
		if err := dead.CreateMatch(ctx, testRecord(id)); err != nil {
			t.Fatal(err)
		}
		if err := dead.AppendMove(ctx, id, mv(1, 0, `{"cell":4}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := jc.CreateMatch(ctx, testRecord("c1")); err != nil {
		t.Fatal(err)
	}
	// Living nodes only: nothing to take.
	m, _ := nb.Scan(ctx)
	if got, err := jb.TakeOver(ctx, m.Dead, len(m.Alive)); err != nil || len(got) != 0 {
		t.Fatalf("with every node alive: took %d, %v", len(got), err)
	}
	if _, err := pool.Exec(ctx, `UPDATE nodes SET heartbeat_at = now() - interval '2 minutes' WHERE id = 'node-a'`); err != nil {
		t.Fatal(err)
	}
	m, _ = nb.Scan(ctx)
	if len(m.Dead) != 0 || len(m.Alive) != 3 {
		t.Fatalf("a node up for less than DeadAfter judged %+v", m)
	}
	upFor(nb, 2*time.Minute)
	m, _ = nb.Scan(ctx)
	if !slices.Equal(m.Dead, []string{"node-a"}) || len(m.Alive) != 2 {
		t.Fatalf("membership %+v", m)
	}
	owners := map[string]string{}
	counts := map[string]int{}
	var mu sync.Mutex
	// Rounds in step, as the nodes' ticks are.
	for round := range 4 {
		var wg sync.WaitGroup
		for _, j := range []*Journal{jb, jc} {
			wg.Go(func() {
				got, err := j.TakeOver(ctx, m.Dead, len(m.Alive))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range got {
					if prev, dup := owners[r.Record.ID]; dup {
						t.Errorf("%s taken by %s and %s", r.Record.ID, prev, j.cfg.Owner)
					}
					owners[r.Record.ID] = j.cfg.Owner
					if len(r.Moves) != 1 || string(r.Moves[0].Move) != `{"cell": 4}` || r.Record.Players[1].Name != "olga" {
						t.Errorf("%s loaded as %+v", r.Record.ID, r)
					}
				}
				if round == 0 {
					counts[j.cfg.Owner] += len(got) // the first round shares
				}
			})
		}
		wg.Wait()
	}
	if len(owners) != n {
		t.Fatalf("%d of %d matches taken over", len(owners), n)
	}
	if counts["node-b"] < n/4 || counts["node-c"] < n/4 {
		t.Errorf("first round's shares %v, want about half each", counts)
	}
	var left int
	var c1 string
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM matches WHERE owner = 'node-a'), (SELECT owner FROM matches WHERE id = 'c1')`).Scan(&left, &c1)
	if left != 0 || c1 != "node-c" {
		t.Fatalf("node-a still owns %d; c1 owned by %q", left, c1)
	}
	t.Logf("shares: %v", counts)
}

// TestReleaseHandsOver: a node that stops releases its live matches,
// which a living node then takes at once, with no node counted dead.
func TestReleaseHandsOver(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	ja := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	jb := startJournal(t, pool, JournalConfig{Owner: "node-b"})
	newNodes(t, ja, time.Minute)
	nb := newNodes(t, jb, time.Minute)
	for _, id := range []string{"m1", "m2"} {
		if err := ja.CreateMatch(ctx, testRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ja.FinishMatch(ctx, match.Result{MatchID: "m2", Game: "tictactoe", Status: match.StatusAborted, Winner: -1, Reason: "aborted", Ended: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n, err := ja.Release(ctx)
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	m, _ := nb.Scan(ctx)
	if len(m.Dead) != 0 {
		t.Fatalf("membership %+v", m)
	}
	got, err := jb.TakeOver(ctx, m.Dead, len(m.Alive))
	if err != nil || len(got) != 1 || got[0].Record.ID != "m1" {
		t.Fatalf("took %v, %v", got, err)
	}
}

// TestListenerNotify: a notification reaches every listener, the
// sender's own included.
func TestListenerNotify(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 4)
	var wg sync.WaitGroup
	for i := range 2 {
		l := NewListener(pool, discard(), map[string]func(string){
			ChannelRated: func(p string) { got <- fmt.Sprintf("%d:%s", i, p) },
		})
		wg.Go(func() { l.Run(ctx) })
		<-l.Listening()
	}
	defer func() { cancel(); wg.Wait() }()
	if err := Notify(ctx, pool, ChannelRated, "hello"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 2 {
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("notifications: %v", seen)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"0:hello", "1:hello"}) {
		t.Fatalf("notifications: %v", seen)
	}
	if err := Notify(ctx, pool, ChannelRated, string(make([]byte, 8000))); err == nil {
		t.Fatal("an 8000-byte payload was sent")
	}
}

// TestNodesJudgeOnlyWhenSteady: a node that lost the database for a
// while (an outage everyone shared) counts nobody dead until it has seen
// the database for DeadAfter again, by which time the others have beaten
// again; and a cluster member's match whose lease ran out is not claimed
// on the lease alone (its heartbeat judges it), while the match of an
// owner that is no member still is.
func TestNodesJudgeOnlyWhenSteady(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	ja := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	jb := startJournal(t, pool, JournalConfig{Owner: "node-b"})
	jc := startJournal(t, pool, JournalConfig{Owner: "node-c"}) // no member
	newNodes(t, ja, 300*time.Millisecond)
	b := newNodes(t, jb, 300*time.Millisecond)
	bctx, stopB := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(bctx) }()
	defer func() { stopB(); <-done }()

	time.Sleep(500 * time.Millisecond) // a is silent, b beats
	if m, err := b.Scan(ctx); err != nil || !slices.Equal(m.Dead, []string{"node-a"}) {
		t.Fatalf("after a's silence: %+v, %v", m, err)
	}
	b.observed(time.Now(), errors.New("connection refused")) // b's beat failed
	if m, err := b.Scan(ctx); err != nil || len(m.Dead) != 0 || !slices.Equal(m.Alive, []string{"node-a", "node-b"}) {
		t.Fatalf("just after b's outage: %+v, %v; want nobody dead", m, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := b.Scan(ctx)
		if err == nil && slices.Equal(m.Dead, []string{"node-a"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never judged again: %+v, %v", m, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Leases: a member's (a's) and a non-member's (c's) run out.
	if err := ja.CreateMatch(ctx, testRecord("ma")); err != nil {
		t.Fatal(err)
	}
	if err := jc.CreateMatch(ctx, testRecord("mc")); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE matches SET lease_until = now() - interval '1 second' WHERE id IN ('ma', 'mc')`); err != nil {
		t.Fatal(err)
	}
	got, err := jb.TakeOver(ctx, nil, 1) // nobody counted dead
	if err != nil || len(got) != 1 || got[0].Record.ID != "mc" {
		t.Fatalf("take over on leases: %+v, %v; want mc only", got, err)
	}
	jd := startJournal(t, pool, JournalConfig{Owner: "node-d"})
	if got, err := jd.Claim(ctx); err != nil || len(got) != 0 {
		t.Fatalf("a starting process claimed %+v, %v; want nothing (ma's owner is a member)", got, err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM nodes WHERE id = 'node-a'`); err != nil {
		t.Fatal(err)
	}
	if got, err := jd.Claim(ctx); err != nil || len(got) != 1 || got[0].Record.ID != "ma" {
		t.Fatalf("once a is no member: claimed %+v, %v; want ma", got, err)
	}
}
