package main

// One matchmaking across the nodes of a cluster: the queue, challenges
// and rematches span the nodes (real binaries, one PostgreSQL).

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// lobbyHolder is the node whose connection holds the lobby lock now ("" none).
func lobbyHolder(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var name string
	err := conn.QueryRow(context.Background(), `
		SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1::bigint::oid AND l.objsubid = 1
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(0x6c6f6279)).Scan(&name)
	if err == pgx.ErrNoRows {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "turnbase-lobby "
	if len(name) <= len(prefix) {
		t.Fatalf("lobby lock held by %q", name)
	}
	return name[len(prefix):]
}

// playWin plays a quick win for seat 0 (cells 0, 1, 2 against 3, 4) and
// waits for match.over on both.
func playWin(t *testing.T, id string, x, o *client) {
	t.Helper()
	for k, cell := range []int{0, 3, 1, 4, 2} {
		mover := x
		if k%2 == 1 {
			mover = o
		}
		mover.send(frame{"type": "match.move", "match": id, "move": frame{"cell": cell}})
		for _, cl := range []*client{x, o} {
			cl.expect("match.state", func(f frame) bool { return f["match"] == id && stateMoves(f) == k+1 })
		}
	}
	for _, cl := range []*client{x, o} {
		over := cl.expect("match.over", func(f frame) bool { return f["match"] == id })
		if over["result"] != "win" || over["winner"] != 0.0 {
			t.Fatalf("%s: over = %v", cl.name, over)
		}
	}
}

// ratedOnce waits until the match's result is rated: two rating changes.
func ratedOnce(t *testing.T, conn *pgx.Conn, id string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM rating_changes WHERE match_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			return
		}
		if n > 2 || time.Now().After(deadline) {
			t.Fatalf("match %s: %d rating changes, want 2", id, n)
		}
	}
}

// queuePair queues a on its node, then b on its own, and returns them in
// seat order with the match id and how long b waited for match.found.
func queuePair(t *testing.T, a, b *client) (x, o *client, id string, took time.Duration) {
	t.Helper()
	a.send(frame{"type": "queue.join", "game": "tictactoe", "id": "qa"})
	a.expect("queue.joined", func(f frame) bool { return f["re"] == "qa" })
	start := time.Now()
	b.send(frame{"type": "queue.join", "game": "tictactoe", "id": "qb"})
	fb := b.expect("match.found", nil)
	took = time.Since(start)
	fa := a.expect("match.found", nil)
	if fa["match"] != fb["match"] || fa["you"] == fb["you"] {
		t.Fatalf("match.found mismatch: %v / %v", fa, fb)
	}
	id = fa["match"].(string)
	if num(fa["you"]) == 0 {
		return a, b, id, took
	}
	return b, a, id, took
}

// TestClusterQueueAcrossNodes: two players on different nodes queue for
// the same game and are paired at once (within 2 s), play to the end, and
// the result is rated once. A player queued through one node cannot queue
// again through another (already_queued), nor while seated (in_match),
// and the offer of a computer game reaches the socket that queued, on a
// node that is not the lobby's. Then they rematch across the nodes.
func TestClusterQueueAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs three of it")
	}
	c := startCluster(t, 3, map[string]string{"TURNBASE_BOT_OFFER_AFTER": "500ms"})
	conn := c.db()
	leader := lobbyHolder(t, conn)
	// s[0] is the lobby node, s[1] and s[2] the others.
	var s []*server
	for _, n := range c.nodes {
		if n.id == leader {
			s = append([]*server{n.proc.server()}, s...)
		} else {
			s = append(s, n.proc.server())
		}
	}
	if len(s) != 3 || leader == "" {
		t.Fatalf("lobby node %q", leader)
	}

	// carol queues through node 1, then tries again through node 2; the
	// offer of a computer game reaches her socket on node 1.
	tc, _ := s[1].guest("carol")
	carol, carol2 := s[1].dial("carol", tc), s[2].dial("carol again", tc)
	carol.send(frame{"type": "queue.join", "game": "tictactoe", "id": "q"})
	carol.expect("queue.joined", nil)
	carol2.expectError(frame{"type": "queue.join", "game": "tictactoe"}, "already_queued")
	if offer := carol.expect("queue.bot_offer", nil); offer["game"] != "tictactoe" {
		t.Fatalf("offer = %v", offer)
	}
	carol.send(frame{"type": "queue.leave", "id": "l"})
	carol.expect("queue.left", nil)

	ta, _ := s[1].guest("alice")
	tb, _ := s[2].guest("bob")
	alice, bob := s[1].dial("alice", ta), s[2].dial("bob", tb)
	x, o, id, took := queuePair(t, alice, bob)
	t.Logf("paired across nodes 1 and 2 (neither the lobby node) in %s", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("pairing across nodes took %s, want at most 2 s", took)
	}
	x.expect("match.state", func(f frame) bool { return f["match"] == id })
	o.expect("match.state", func(f frame) bool { return f["match"] == id })
	// Seated: no queueing anywhere.
	alice0 := s[0].dial("alice on node 0", ta)
	alice0.expectError(frame{"type": "queue.join", "game": "tictactoe"}, "in_match")
	playWin(t, id, x, o)
	ratedOnce(t, conn, id)

	// Rematch, each from their own node.
	x.send(frame{"type": "match.rematch", "match": id})
	o.expect("match.rematch_offered", nil)
	o.send(frame{"type": "match.rematch", "match": id})
	fx := x.expect("match.found", func(f frame) bool { return f["match"] != id })
	fo := o.expect("match.found", func(f frame) bool { return f["match"] != id })
	id2 := fx["match"].(string)
	if fo["match"] != id2 || fx["you"] != 1.0 {
		t.Fatalf("rematch found %v / %v", fx, fo)
	}
	playWin(t, id2, o, x) // seats swap
	ratedOnce(t, conn, id2)
}

// TestClusterChallengeAcrossNodes: a challenge made on node 0 is
// accepted on node 1; the match is played to its end and rated once.
func TestClusterChallengeAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs two of it")
	}
	c := startCluster(t, 2, nil)
	conn := c.db()
	s0, s1 := c.nodes[0].proc.server(), c.nodes[1].proc.server()
	ta, _ := s0.guest("alice")
	tb, _ := s1.guest("bob")
	alice, bob := s0.dial("alice", ta), s1.dial("bob", tb)
	alice.send(frame{"type": "challenge.create", "game": "tictactoe", "id": "c"})
	code := alice.expect("challenge.created", nil)["code"].(string)
	bob.expectError(frame{"type": "challenge.accept", "code": "NOSUCHCD"}, "not_found")
	alice.expectError(frame{"type": "challenge.accept", "code": code}, "bad_request")
	bob.send(frame{"type": "challenge.accept", "code": code})
	fa, fb := alice.expect("match.found", nil), bob.expect("match.found", nil)
	if fa["match"] != fb["match"] {
		t.Fatalf("match.found mismatch: %v / %v", fa, fb)
	}
	id := fa["match"].(string)
	x, o := alice, bob
	if num(fa["you"]) == 1 {
		x, o = bob, alice
	}
	playWin(t, id, x, o)
	ratedOnce(t, conn, id)
}

// TestClusterLobbyNodeDies: the lobby node is killed (SIGKILL) while a
// player waits in its queue through another node; a survivor takes the
// lobby over, the waiting ticket is handed to it, and a player queueing
// through the third node is paired with the one who waited.
func TestClusterLobbyNodeDies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs three of it")
	}
	c := startCluster(t, 3, nil)
	conn := c.db()
	leader := lobbyHolder(t, conn)
	var dead *testNode
	var alive []*testNode
	for _, n := range c.nodes {
		if n.id == leader {
			dead = n
		} else {
			alive = append(alive, n)
		}
	}
	if dead == nil {
		t.Fatalf("no node holds the lobby (%q)", leader)
	}
	sp, sq := alive[0].proc.server(), alive[1].proc.server()
	ta, _ := sp.guest("alice")
	tb, _ := sq.guest("bob")
	alice, bob := sp.dial("alice", ta), sq.dial("bob", tb)
	alice.send(frame{"type": "queue.join", "game": "tictactoe", "id": "qa"})
	alice.expect("queue.joined", nil)

	dead.proc.kill()
	killed := time.Now()
	var next string
	for next = lobbyHolder(t, conn); next == "" || next == leader; next = lobbyHolder(t, conn) {
		if time.Since(killed) > 10*time.Second {
			t.Fatal("no node took the lobby over")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("lobby moved from %s to %s %s after SIGKILL", leader, next, time.Since(killed).Round(time.Millisecond))
	// Alice's ticket reaches the new lobby node (she does not queue
	// again); bob queues through the other survivor.
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	bob.send(frame{"type": "queue.join", "game": "tictactoe", "id": "qb"})
	fb := bob.expect("match.found", nil)
	fa := alice.expect("match.found", nil)
	t.Logf("paired %s after bob queued, %s after the kill", time.Since(start).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if fa["match"] != fb["match"] {
		t.Fatalf("match.found mismatch: %v / %v", fa, fb)
	}
	id := fa["match"].(string)
	x, o := alice, bob
	if num(fa["you"]) == 1 {
		x, o = bob, alice
	}
	playWin(t, id, x, o)
	ratedOnce(t, conn, id)
}
