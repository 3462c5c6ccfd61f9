package main

// Cluster-wide views: every node answers the live list, a match's
// summary, the spectator and online counts, ranks and bans alike.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// viewWait bounds a wait for the nodes to agree: a node writes its view
// once a second and a read serves for a second.
const viewWait = 8 * time.Second

// agree polls GET path on every node until all answer the same body and
// ok holds for it, and returns it.
func agree(t *testing.T, servers []*server, path string, ok func(body string) bool) string {
	t.Helper()
	deadline := time.Now().Add(viewWait)
	for {
		bodies := make([]string, len(servers))
		for i, s := range servers {
			bodies[i] = s.get(path)
		}
		same := true
		for _, b := range bodies[1:] {
			same = same && b == bodies[0]
		}
		if same && ok(bodies[0]) {
			return bodies[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: the nodes do not agree after %s:\n%s", path, viewWait, strings.Join(bodies, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gameCounts reads GET /api/games as game -> [queued, playing, online].
func gameCounts(t *testing.T, body string) map[string][3]int {
	t.Helper()
	var games []struct {
		ID      string `json:"id"`
		Queued  int    `json:"queued"`
		Playing int    `json:"playing"`
		Online  int    `json:"online"`
	}
	if err := json.Unmarshal([]byte(body), &games); err != nil {
		t.Fatal(err)
	}
	out := map[string][3]int{}
	for _, g := range games {
		out[g.ID] = [3]int{g.Queued, g.Playing, g.Online}
	}
	return out
}

// TestClusterViews: a match runs on node 0, its spectator is on node 2,
// a player queues on node 1. Every node lists the match with its
// spectator, shows its summary, and counts who is around the same; when
// the spectator leaves and the match ends, every node shows that.
func TestClusterViews(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs three of it")
	}
	c := startCluster(t, 3, nil)
	servers := []*server{c.nodes[0].proc.server(), c.nodes[1].proc.server(), c.nodes[2].proc.server()}
	x, _, id := pair(t, servers[0], "tictactoe")
	spec := servers[2].dial("spectator on node 2", "")
	spec.send(frame{"type": "match.watch", "match": id})
	spec.expect("match.state", func(f frame) bool { return num(f["spectators"]) == 1 })
	tc, _ := servers[1].guest("carol")
	carol := servers[1].dial("carol on node 1", tc)
	carol.send(frame{"type": "queue.join", "game": "rps", "id": "q"})
	carol.expect("queue.joined", nil)

	start := time.Now()
	list := agree(t, servers, "/api/matches", func(b string) bool {
		return strings.Contains(b, id) && strings.Contains(b, `"spectators":1`)
	})
	t.Logf("live list the same on 3 nodes %s after the spectator came: %s", time.Since(start).Round(time.Millisecond), list)
	agree(t, servers, "/api/matches?game=tictactoe&limit=1", func(b string) bool { return strings.Contains(b, id) })
	agree(t, servers, "/api/matches?game=rps", func(b string) bool { return b == "[]\n" })
	agree(t, servers, "/api/matches/"+id, func(b string) bool {
		return strings.Contains(b, `"status":"live"`) && strings.Contains(b, `"spectators":1`)
	})
	agree(t, servers, "/api/games", func(b string) bool {
		g := gameCounts(t, b)
		return g["tictactoe"] == [3]int{0, 2, 2} && g["rps"] == [3]int{1, 0, 1}
	})

	// The spectator leaves; the match ends.
	spec.close()
	agree(t, servers, "/api/matches/"+id, func(b string) bool { return strings.Contains(b, `"spectators":0`) })
	x.send(frame{"type": "match.resign", "match": id})
	x.expect("match.over", nil)
	agree(t, servers, "/api/matches", func(b string) bool { return b == "[]\n" })
	agree(t, servers, "/api/games", func(b string) bool {
		g := gameCounts(t, b)
		return g["tictactoe"] == [3]int{0, 0, 0} && g["rps"] == [3]int{1, 0, 1}
	})
}

// me reads the ranks of GET /api/me with token on s.
func me(t *testing.T, s *server, token string) map[string]int {
	t.Helper()
	code, b := opsCall(t, "GET", s.base+"/api/me", token, "")
	if code != 200 {
		t.Fatalf("GET /api/me: %d %s", code, b)
	}
	var body struct {
		Ranks map[string]int `json:"ranks"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	return body.Ranks
}

// waitRank polls every node until the player's rank in tictactoe is want
// on all, and returns how long that took.
func waitRank(t *testing.T, servers []*server, token, who string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var got []int
		for _, s := range servers {
			got = append(got, me(t, s, token)["tictactoe"])
		}
		all := true
		for _, r := range got {
			all = all && r == want
		}
		if all {
			return time.Since(start)
		}
		if time.Since(start) > viewWait {
			t.Fatalf("%s's rank by node: %v, want %d everywhere", who, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterRanksAndBans: two nodes. A rated result, whichever node's
// rater rates it, moves the ranks every node shows within about a second
// (not at the next reload, a minute later); an operator's reset on node 0
// does too. An operator on node 0 bans a player whose sockets are on both
// nodes and whose match runs on node 1: every socket closes with 4001,
// the match is aborted on node 1, and the operators' overview counts the
// same on both nodes.
func TestClusterRanksAndBans(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs two of it")
	}
	c := startCluster(t, 2, nil)
	servers := []*server{c.nodes[0].proc.server(), c.nodes[1].proc.server()}
	s0, s1 := servers[0], servers[1]
	conn := c.db()
	ctx := context.Background()

	s0.account("/api/auth/register", "opal")
	if out, err := cli(t, c.dsn, "grant", "opal"); err != nil {
		t.Fatalf("grant: %s %v", out, err)
	}
	opToken, _ := s0.account("/api/auth/login", "opal")
	ops := func(path, body string) []byte {
		t.Helper()
		code, b := opsCall(t, "POST", s0.base+path, opToken, body)
		if code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, b)
		}
		return b
	}

	// x and o play on node 0; z stands just above them, w is a spare.
	x, o, id := pair(t, s0, "tictactoe")
	playerID := func(cl *client) string {
		return cl.welcome["player"].(map[string]any)["id"].(string)
	}
	_, zID := s0.guest("zed")
	_, wID := s0.guest("wanda")
	for _, r := range []struct {
		id     string
		rating float64
	}{{playerID(x), 1500}, {playerID(o), 1500}, {zID, 1503}, {wID, 1510}} {
		if _, err := conn.Exec(ctx, `INSERT INTO ratings (player_id, game, rating, rd) VALUES ($1, 'tictactoe', $2, 50)`, r.id, r.rating); err != nil {
			t.Fatal(err)
		}
	}
	// An operator's reset (w leaves the ranks: provisional again) makes
	// every node count again, with the rows above.
	ops("/api/ops/players/"+wID+"/reset", `{"game":"tictactoe","reason":"views test"}`)
	took := waitRank(t, servers, x.token, "x", 2)
	t.Logf("ranks after a reset on node 0: the same on both nodes after %s", took.Round(time.Millisecond))
	waitRank(t, servers, o.token, "o", 2)

	// x wins: x passes z, o falls behind z.
	for i, cell := range lineCells {
		cl := x
		if i%2 == 1 {
			cl = o
		}
		cl.send(frame{"type": "match.move", "match": id, "move": frame{"cell": int(cell - '0')}})
		x.expect("match.state", func(f frame) bool { return stateMoves(f) == i+1 })
	}
	over := x.expect("match.over", nil)
	if len(over["ratings"].([]any)) != 2 {
		t.Fatalf("over = %v", over)
	}
	took = waitRank(t, servers, x.token, "x", 1)
	// Within viewWait, far below the periodic reload (a minute): the
	// rater's note did it.
	t.Logf("x's new rank shown by both nodes %s after match.over", took.Round(time.Millisecond))
	waitRank(t, servers, o.token, "o", 3)

	// p and q play on node 1; q has a second socket on node 0.
	p, q, id2 := pair(t, s1, "connectfour")
	qID := playerID(q)
	q0 := s0.dial("q on node 0", q.token)
	ov := agree(t, servers, "/api/matches?game=connectfour", func(b string) bool { return strings.Contains(b, id2) })
	t.Logf("connectfour on both nodes: %s", ov)
	overview := func(s *server) string {
		code, b := opsCall(t, "GET", s.base+"/api/ops/overview", opToken, "")
		if code != 200 {
			t.Fatalf("overview: %d %s", code, b)
		}
		var body struct {
			Now struct {
				Players     int `json:"players"`
				Spectators  int `json:"spectators"`
				LiveMatches int `json:"live_matches"`
				Queued      int `json:"queued"`
			} `json:"now"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%+v", body.Now)
	}
	// x, o, q0 on node 0; p, q on node 1; one live match.
	want := fmt.Sprintf("%+v", struct{ Players, Spectators, LiveMatches, Queued int }{5, 0, 1, 0})
	deadline := time.Now().Add(viewWait)
	for {
		a, b := overview(s0), overview(s1)
		if a == b && a == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview: node 0 %s, node 1 %s, want %s on both", a, b, want)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The ban, on node 0.
	b := ops("/api/ops/players/"+qID+"/ban", `{"reason":"views test"}`)
	t.Logf("ban: %s", b)
	for _, cl := range []*client{q, q0} {
		if code := cl.closeCodeWait(t); code != 4001 {
			t.Errorf("%s closed with %d, want 4001 as a ban on one node", cl.name, code)
		}
	}
	ab := p.expect("match.over", func(f frame) bool { return f["match"] == id2 })
	if ab["result"] != "aborted" || ab["reason"] != "operator" {
		t.Errorf("the banned player's match on node 1: %v, want aborted by the operator", ab)
	}
	var status, reason string
	conn.QueryRow(ctx, `SELECT status, coalesce(reason, '') FROM matches WHERE id = $1`, id2).Scan(&status, &reason)
	if status != "aborted" || reason != "operator" {
		t.Errorf("stored: %s %s", status, reason)
	}
	// A banned player's hello is refused on either node.
	for _, s := range servers {
		cl := s.dialRaw("q again")
		cl.send(frame{"type": "hello", "v": 1, "token": q.token})
		if code := cl.closeCodeWait(t); code != 4001 {
			t.Errorf("banned hello on %s: close %d", s.base, code)
		}
	}
}
