package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterMeasure measures, on two nodes of a plain (not -race) build,
// the round trip of a move and the CPU it costs the nodes and PostgreSQL,
// with both players on the match's node and with the mover on the other
// node. It is a measurement, not a check: run it with TURNBASE_MEASURE=1
// (docs/scaling.md quotes it).
func TestClusterMeasure(t *testing.T) {
	if os.Getenv("TURNBASE_MEASURE") == "" {
		t.Skip("set TURNBASE_MEASURE=1 to measure")
	}
	bin := filepath.Join(t.TempDir(), "turnbase")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	c := &testCluster{t: t, bin: bin, dsn: testDatabase(t)}
	for range 2 {
		env := faultEnv(c.dsn, t.TempDir())
		env["TURNBASE_JWT_SECRET"] = strings.Repeat("cluster-secret-", 3)
		n := &testNode{addr: freeAddr(t), env: env}
		n.proc = startProcess(t, bin, n.addr, env)
		c.nodes = append(c.nodes, n)
	}
	pairs := 50
	if v, err := strconv.Atoi(os.Getenv("TURNBASE_MEASURE_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	conn := c.db()
	for _, cross := range []bool{false, true} {
		l := newLoad(t, c.nodes[0].proc.server(), pairs)
		if cross {
			// Seat 1 of every match moves to node 1.
			err := parallel(len(l.matches), 16, func(i int) error {
				m := l.matches[i]
				p := m.seats[1]
				p.conn.close()
				pc, err := dialLoad(c.nodes[1].proc.server().ws, p.name, p.token)
				if err != nil {
					return err
				}
				p.conn = pc
				if err := pc.send(frame{"type": "match.watch", "match": m.id}); err != nil {
					return err
				}
				return pc.wait("state", func() bool { return pc.states[m.id] != nil })
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		before := cpuOf(t, c.nodes[0].proc.cmd.Process.Pid, c.nodes[1].proc.cmd.Process.Pid)
		pgBefore := cpuByPID(postgresPIDs(t, conn))
		var mu sync.Mutex
		var rtts []time.Duration // of seat 1's moves
		start := time.Now()
		l.mustRun(l.matches, func(m *loadMatch) error {
			for k := 0; k < 9; k++ {
				pc := m.seats[k%2].conn
				sent := time.Now()
				if err := pc.send(frame{"type": "match.move", "match": m.id, "move": frame{"cell": cellAt(drawCells, k)}}); err != nil {
					return err
				}
				if err := pc.wait("move", func() bool { return pc.moves[m.id] >= k+1 }); err != nil {
					return err
				}
				if k%2 == 1 {
					mu.Lock()
					rtts = append(rtts, time.Since(sent))
					mu.Unlock()
				}
			}
			return nil
		})
		wall := time.Since(start)
		cpu := cpuOf(t, c.nodes[0].proc.cmd.Process.Pid, c.nodes[1].proc.cmd.Process.Pid) - before
		var pgCPU time.Duration
		for pid, d := range cpuByPID(postgresPIDs(t, conn)) {
			pgCPU += d - pgBefore[pid]
		}
		moves := 9 * len(l.matches)
		slices.Sort(rtts)
		what := "same node"
		if cross {
			what = "cross node"
		}
		t.Logf("%s: %d moves in %s (%d matches at once); seat 1's move round trip p50 %s p90 %s p99 %s; nodes' CPU %s per move, PostgreSQL's %s per move",
			what, moves, wall.Round(time.Millisecond), len(l.matches),
			rtts[len(rtts)/2].Round(time.Microsecond), rtts[len(rtts)*9/10].Round(time.Microsecond), rtts[len(rtts)*99/100].Round(time.Microsecond),
			(cpu / time.Duration(moves)).Round(time.Microsecond), (pgCPU / time.Duration(moves)).Round(time.Microsecond))
		for _, p := range l.players {
			p.conn.close()
			p.conn = nil
		}
		l.players = nil
		time.Sleep(500 * time.Millisecond)
	}
}

// postgresPIDs are the server processes of the test's PostgreSQL (the
// postmaster and its children).
func postgresPIDs(t *testing.T, conn *pgx.Conn) []int {
	t.Helper()
	var backend int
	if err := conn.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	parent := func(pid int) int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		pp, _ := strconv.Atoi(f[1])
		return pp
	}
	post := parent(backend)
	pids := []int{post}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && parent(pid) == post {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuByPID is each process's user and system CPU.
func cpuByPID(pids []int) map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, pid := range pids {
		out[pid] = cpuOf(nil, pid)
	}
	return out
}

// cpuOf sums the user and system CPU of processes (gone ones count 0).
func cpuOf(t *testing.T, pids ...int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}
