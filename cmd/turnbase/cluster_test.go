package main

// Cluster tests: three real binaries on one PostgreSQL (DATABASE_URL),
// under the fault tests' load, spread over the nodes.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testCluster is n nodes on one database.
type testCluster struct {
	t     *testing.T
	bin   string
	dsn   string
	nodes []*testNode
}

type testNode struct {
	id   string // its node id (matches.owner)
	addr string
	env  map[string]string
	proc *process
}

// startCluster starts n nodes on a fresh database, each with a data
// folder of its own and the same token secret.
func startCluster(t *testing.T, n int, extra map[string]string) *testCluster {
	t.Helper()
	return startClusterOn(t, testDatabase(t), n, extra)
}

// startClusterOn starts n nodes on the database at dsn.
func startClusterOn(t *testing.T, dsn string, n int, extra map[string]string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, bin: buildBinary(t), dsn: dsn}
	for i := range n {
		env := faultEnv(c.dsn, t.TempDir())
		env["TURNBASE_JWT_SECRET"] = strings.Repeat("cluster-secret-", 3)
		for k, v := range extra {
			env[k] = v
		}
		node := &testNode{addr: freeAddr(t), env: env}
		node.proc = c.start(node)
		b, err := os.ReadFile(filepath.Join(env["TURNBASE_DATA"], "node-id"))
		if err != nil {
			t.Fatal(err)
		}
		node.id = strings.TrimSpace(string(b))
		c.nodes = append(c.nodes, node)
		t.Logf("node %d: %s on %s", i, node.id, node.addr)
	}
	return c
}

// restart starts node i again on its data folder (its id).
func (c *testCluster) restart(i int) {
	c.t.Helper()
	n := c.nodes[i]
	n.proc = c.start(n)
}

// start runs a node's binary; the test fails if the race detector spoke.
func (c *testCluster) start(n *testNode) *process {
	c.t.Helper()
	p := startProcess(c.t, c.bin, n.addr, n.env)
	c.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if out := p.out.String(); strings.Contains(out, "DATA RACE") {
			c.t.Errorf("node %s: data race:\n%s", n.addr, out)
		}
	})
	return p
}

func (c *testCluster) db() *pgx.Conn {
	c.t.Helper()
	conn, err := pgx.Connect(context.Background(), c.dsn)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// owners reads who runs each of the given matches now ("" once ended).
func (c *testCluster) owners(conn *pgx.Conn, ids []string) map[string]string {
	c.t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT id, coalesce(owner, '') FROM matches WHERE id = ANY($1)`, ids)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]string{}
	var id, owner string
	if _, err := pgx.ForEachRow(rows, []any{&id, &owner}, func() error { out[id] = owner; return nil }); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// byID is the node with the given id.
func (c *testCluster) byID(id string) *testNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// waitMoved waits until none of ids is owned (live) by a node in gone,
// and returns how long that took from since.
func (c *testCluster) waitMoved(conn *pgx.Conn, ids []string, gone map[string]bool, since time.Time, limit time.Duration) time.Duration {
	c.t.Helper()
	for {
		left := 0
		for _, owner := range c.owners(conn, ids) {
			if owner == "" || gone[owner] || c.byID(owner) == nil {
				left++
			}
		}
		if left == 0 {
			return time.Since(since)
		}
		if time.Since(since) > limit {
			c.t.Fatalf("%d of %d matches still not run by a living node %s after the event", left, len(ids), limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func liveIDs(ms []*loadMatch, st map[string]*storedMatch) []string {
	var ids []string
	for _, m := range ms {
		if st == nil || st[m.id].status == "live" {
			ids = append(ids, m.id)
		}
	}
	return ids
}

// TestClusterSIGKILLOneOfThree: three nodes share one database; 200
// matches play, a third on each node; one node is killed with SIGKILL
// while moves are in flight. The two survivors take its matches over
// (dead after the default 5 s), from the journal; its players reconnect
// to the node that runs their match now and find it where the database
// has it, at versions above any they saw; every match of all three nodes
// is played to its end and rated exactly once.
func TestClusterSIGKILLOneOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs three of it under load")
	}
	c := startCluster(t, 3, nil)
	conn := c.db()
	loads := make([]*load, 3)
	for i, n := range c.nodes {
		loads[i] = newLoad(t, n.proc.server(), (faultPairs+2-i)/3)
	}
	for _, l := range loads {
		l.mustRun(l.matches, func(m *loadMatch) error { return l.playTo(m, 2) })
	}
	// All play on; node 0 is killed while its matches have moves in flight.
	busy := make([]*busy, 3)
	for i, l := range loads {
		busy[i] = l.start(l.matches, func(m *loadMatch) error { return l.playTo(m, 8) })
	}
	dead := loads[0]
	dead.waitAcks(dead.acks.Load() + int64(len(dead.matches)))
	c.nodes[0].proc.kill()
	killed := time.Now()
	busy[0].wait() // they fail now: their connections are gone
	dead.phase("node 0 killed with %d moves in flight", dead.inFlight())

	took := c.waitMoved(conn, liveIDs(dead.matches, nil), map[string]bool{c.nodes[0].id: true}, killed, 15*time.Second)
	owners := c.owners(conn, liveIDs(dead.matches, nil))
	share := map[string]int{}
	for _, o := range owners {
		share[o]++
	}
	t.Logf("takeover: %d matches of the killed node run by survivors %s after SIGKILL (dead after 5 s); shares %v", len(owners), took.Round(time.Millisecond), share)
	if took > 7*time.Second {
		t.Errorf("takeover took %s, want at most 5 s of silence plus a little", took)
	}

	// The survivors' matches never stopped.
	for i := 1; i < 3; i++ {
		if errs := busy[i].wait(); len(errs) > 0 {
			t.Fatalf("node %d: %d matches failed while node 0 died, e.g. %v", i, len(errs), errs[0])
		}
	}
	st := readStored(t, c.dsn, dead.matches)
	checkMoves(t, dead.matches, st)
	dead.resumeAndPlayOutOn(func(m *loadMatch) *server {
		if n := c.byID(owners[m.id]); n != nil {
			return n.proc.server()
		}
		return c.nodes[1].proc.server()
	}, st)
	for _, l := range loads[1:] {
		l.mustRun(l.matches, func(m *loadMatch) error {
			if err := l.playTo(m, 9); err != nil {
				return err
			}
			pc := m.seats[0].conn
			return pc.wait("the end of "+m.id, func() bool { return pc.status[m.id] == "finished" })
		})
	}
	for _, l := range loads {
		l.checkAllRatedOnce(c.dsn)
	}
	var nodes []string
	rows, _ := conn.Query(context.Background(), `SELECT id FROM nodes ORDER BY id`)
	nodes, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if len(nodes) != 2 {
		t.Errorf("nodes table after the death: %v, want the two survivors", nodes)
	}
}

// TestClusterRollingRestart: three nodes under load; each in turn is
// stopped with SIGTERM and started again. A stopping node hands its live
// matches over to the others at once (no death to wait for); none is
// aborted, no acknowledged move is lost, each player reconnects once per
// stop of its node, and every match is played to its end and rated once.
func TestClusterRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs three of it under load")
	}
	c := startCluster(t, 3, nil)
	conn := c.db()
	loads := make([]*load, 3)
	var all []*loadMatch
	for i, n := range c.nodes {
		loads[i] = newLoad(t, n.proc.server(), 20)
		all = append(all, loads[i].matches...)
	}
	for _, l := range loads {
		l.mustRun(l.matches, func(m *loadMatch) error { return l.playTo(m, 1) })
	}
	// where each match's players are connected now
	at := map[*loadMatch]int{}
	for i, l := range loads {
		for _, m := range l.matches {
			at[m] = i
		}
	}
	reconnects := 0
	var atMu sync.Mutex // at, written by the reconnecting goroutines
	for i := range c.nodes {
		var here []*loadMatch
		for _, m := range all {
			if at[m] == i {
				here = append(here, m)
			}
		}
		// Play one more move everywhere, then stop node i.
		for _, l := range loads {
			var mine []*loadMatch
			for _, m := range l.matches {
				if at[m] != i {
					mine = append(mine, m)
				}
			}
			l.mustRun(mine, func(m *loadMatch) error { return l.playTo(m, m.sent+1) })
		}
		ids := make([]string, len(here))
		for k, m := range here {
			ids[k] = m.id
		}
		if err := c.nodes[i].proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		<-c.nodes[i].proc.done
		if code := c.nodes[i].proc.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("node %d exited with %d after SIGTERM", i, code)
		}
		took := c.waitMoved(conn, ids, map[string]bool{c.nodes[i].id: true}, stopped, 10*time.Second)
		t.Logf("node %d stopped: %d matches handed over %s after SIGTERM", i, len(ids), took.Round(time.Millisecond))
		owners := c.owners(conn, ids)
		for _, l := range loads {
			st := readStored(t, c.dsn, l.matches)
			checkMoves(t, l.matches, st)
		}
		// Its players reconnect, once, to the node running their match.
		err := parallel(len(here), 16, func(k int) error {
			m := here[k]
			n := c.byID(owners[m.id])
			if n == nil {
				return fmt.Errorf("match %s owned by %q", m.id, owners[m.id])
			}
			for _, p := range m.seats {
				p.conn.close()
				pc, err := dialLoad(n.proc.server().ws, p.name, p.token)
				if err != nil {
					return err
				}
				p.conn = pc
				if active, _ := pc.welcome["active"].([]any); len(active) != 1 || active[0] != m.id {
					return fmt.Errorf("%s: welcome.active = %v, want [%s]", p.name, active, m.id)
				}
				if err := pc.send(frame{"type": "match.watch", "match": m.id}); err != nil {
					return err
				}
				var state frame
				if err := pc.wait("the state of "+m.id, func() bool { state = pc.states[m.id]; return state != nil }); err != nil {
					return err
				}
				if stateMoves(state) != m.acked() || state["status"] != "live" {
					return fmt.Errorf("%s: %s handed over as %v with %d moves, %d acknowledged", p.name, m.id, state["status"], stateMoves(state), m.acked())
				}
			}
			for idx, node := range c.nodes {
				if node == n {
					atMu.Lock()
					at[m] = idx
					atMu.Unlock()
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		reconnects += 2 * len(here)
		c.restart(i)
		t.Logf("node %d restarted", i)
	}
	// Every match plays to its end wherever it runs now.
	for _, l := range loads {
		l.mustRun(l.matches, func(m *loadMatch) error {
			if err := l.playTo(m, 9); err != nil {
				return err
			}
			pc := m.seats[0].conn
			return pc.wait("the end of "+m.id, func() bool { return pc.status[m.id] == "finished" })
		})
	}
	for _, l := range loads {
		l.checkAllRatedOnce(c.dsn)
	}
	t.Logf("%d reconnects for %d players over 3 stops", reconnects, 2*len(all))
}

// rrProxy is a round-robin TCP proxy in front of the nodes, as a load
// balancer would be: each new connection goes to the next node that
// accepts it.
type rrProxy struct {
	ln    net.Listener
	addrs []string
	next  atomic.Int64
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, addrs []string) *rrProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rrProxy{ln: ln, addrs: addrs}
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			var out net.Conn
			for range len(p.addrs) {
				addr := p.addrs[int(p.next.Add(1)-1)%len(p.addrs)]
				if out, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
					break
				}
			}
			if out == nil {
				in.Close()
				continue
			}
			mu.Lock()
			open[in], open[out] = true, true
			mu.Unlock()
			pipe := func(dst, src net.Conn) {
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			p.wg.Go(func() { pipe(out, in) })
			p.wg.Go(func() { pipe(in, out) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *rrProxy) server(t *testing.T) *server {
	a := p.ln.Addr().String()
	return &server{t: t, base: "http://" + a, ws: "ws://" + a + "/ws"}
}

// TestClusterCrossNodePlay: two players paired on node 0; one of them,
// and a spectator, come back through a round-robin proxy and land on
// other nodes. Moves from a socket on node 1 reach the match on node 0,
// are validated there (not_your_turn, illegal_move come back with their
// codes), and the states come back to every socket with the same
// versions. Then node 0 is killed: a survivor takes the match over, the
// sockets on the survivors are subscribed to it again without a
// reconnect, at a higher version; the player who was on node 0 comes
// back through the proxy, and the match is finished and rated once.
func TestClusterCrossNodePlay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and runs three of it")
	}
	c := startCluster(t, 3, nil)
	s0 := c.nodes[0].proc.server()
	x, o, id := pair(t, s0, "tictactoe")
	move := func(cl *client, cell, moves int, watchers ...*client) {
		t.Helper()
		cl.send(frame{"type": "match.move", "match": id, "move": frame{"cell": cell}})
		var v int
		for _, w := range append([]*client{cl}, watchers...) {
			st := w.expect("match.state", func(f frame) bool { return stateMoves(f) == moves })
			if v != 0 && num(st["version"]) != v {
				t.Fatalf("%s saw version %v of move %d, another socket %d", w.name, st["version"], moves, v)
			}
			v = num(st["version"])
		}
	}
	move(x, 4, 1, o)
	// o comes back through the proxy, which sends it to another node.
	proxy := startProxy(t, []string{c.nodes[1].addr, c.nodes[2].addr})
	ps := proxy.server(t)
	o.close()
	o2 := ps.dial("o on node 1", o.token)
	if a, _ := o2.welcome["active"].([]any); len(a) != 1 || a[0] != id {
		t.Fatalf("welcome on another node: active = %v, want [%s]", o2.welcome["active"], id)
	}
	o2.send(frame{"type": "match.watch", "match": id})
	st := o2.expect("match.state", nil)
	if stateMoves(st) != 1 || st["turn"] != 1.0 {
		t.Fatalf("state through another node: %v", st)
	}
	spec := ps.dial("spectator on node 2", "")
	spec.send(frame{"type": "match.watch", "match": id})
	spec.expect("match.state", func(f frame) bool { return stateMoves(f) == 1 })
	// The owner validates: errors come back with their codes.
	o2.expectError(frame{"type": "match.move", "match": id, "move": frame{"cell": 4}}, "illegal_move")
	x.expectError(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}, "not_your_turn")
	spec.expectError(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}}, "unauthorized")
	o2.expectError(frame{"type": "match.watch", "match": "nosuchmatch"}, "not_found")
	move(o2, 0, 2, x, spec)
	move(x, 2, 3, o2, spec)
	// Round trips across nodes, for the record.
	const rounds = 20
	start := time.Now()
	for range rounds {
		o2.send(frame{"type": "ping", "id": "p"})
		o2.expect("pong", nil)
	}
	ping := time.Since(start) / rounds
	start = time.Now()
	for range rounds {
		o2.expectError(frame{"type": "match.move", "match": id, "move": frame{"cell": 4}}, "illegal_move")
	}
	t.Logf("round trip from a socket on node 1: ping %s, refused move on node 0 %s", ping.Round(time.Microsecond), (time.Since(start) / rounds).Round(time.Microsecond))

	// The owner dies.
	c.nodes[0].proc.kill()
	killed := time.Now()
	x.closeCodeWait(t)
	// o2 and the spectator are on survivors: they are subscribed again to
	// the match where it runs now, with no reconnect.
	st = o2.expect("match.state", func(f frame) bool { return num(f["version"]) > 3 && stateMoves(f) == 3 })
	t.Logf("socket on a survivor: state of the taken-over match %s after SIGKILL, version %v", time.Since(killed).Round(time.Millisecond), st["version"])
	spec.expect("match.state", func(f frame) bool { return num(f["version"]) > 3 })
	x2 := ps.dial("x back", x.token)
	if a, _ := x2.welcome["active"].([]any); len(a) != 1 || a[0] != id {
		t.Fatalf("x back: active = %v", x2.welcome["active"])
	}
	x2.send(frame{"type": "match.watch", "match": id})
	x2.expect("match.state", func(f frame) bool { return stateMoves(f) == 3 })
	move(o2, 6, 4, x2, spec)
	move(x2, 3, 5, o2, spec)
	move(o2, 5, 6, x2, spec)
	move(x2, 1, 7, o2, spec)
	move(o2, 7, 8, x2, spec)
	x2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 8}})
	for _, cl := range []*client{x2, o2, spec} {
		over := cl.expect("match.over", nil)
		if over["result"] != "draw" {
			t.Fatalf("%s: over = %v", cl.name, over)
		}
		if cl != spec && len(over["ratings"].([]any)) != 2 {
			t.Errorf("%s: match.over without the rating changes: %v", cl.name, over)
		}
	}
	conn := c.db()
	var changes int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM rating_changes WHERE match_id = $1`, id).Scan(&changes)
	if changes != 2 {
		t.Errorf("rating changes = %d, want 2", changes)
	}
}
