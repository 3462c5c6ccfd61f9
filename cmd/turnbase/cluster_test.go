package main

// Cluster tests: three real binaries on one PostgreSQL (DATABASE_URL),
// under the fault tests' load, spread over the nodes.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	nodes []*clusterNode
}

type clusterNode struct {
	id   string // its node id (matches.owner)
	addr string
	env  map[string]string
	proc *process
}

// startCluster starts n nodes on a fresh database, each with a data
// folder of its own and the same token secret.
func startCluster(t *testing.T, n int, extra map[string]string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, bin: buildBinary(t), dsn: testDatabase(t)}
	for i := range n {
		env := faultEnv(c.dsn, t.TempDir())
		env["TURNBASE_JWT_SECRET"] = strings.Repeat("cluster-secret-", 3)
		for k, v := range extra {
			env[k] = v
		}
		node := &clusterNode{addr: freeAddr(t), env: env}
		node.proc = startProcess(t, c.bin, node.addr, env)
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
	n.proc = startProcess(c.t, c.bin, n.addr, n.env)
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
func (c *testCluster) byID(id string) *clusterNode {
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
		loads[i] = newLoad(t, n.proc.server(), 30)
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
					at[m] = idx
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
