package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// process is the real turnbase binary, run as a child the test can kill.
type process struct {
	t    *testing.T
	bin  string
	addr string
	env  []string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// buildBinary builds cmd/turnbase once per test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "turnbase")
	cmd := exec.Command("go", "build", "-race", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin, addr string, env map[string]string) *process {
	t.Helper()
	p := &process{t: t, bin: bin, addr: addr, out: &lockedBuffer{}, done: make(chan struct{})}
	p.env = os.Environ()
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	p.cmd = exec.Command(bin, "serve", "-addr", addr, "-ops-addr=")
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("server output:\n%s", p.out.String())
		}
	})
	s := &server{t: t, base: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for !s.ready() {
		select {
		case <-p.done:
			t.Fatalf("server exited: %s", p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up:\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

func (p *process) server() *server {
	return &server{t: p.t, base: "http://" + p.addr, ws: "ws://" + p.addr + "/ws"}
}

func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func TestSIGKILLMidGameResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	dsn := testDatabase(t)
	addr := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL":          dsn,
		"TURNBASE_DATA":         t.TempDir(),
		"TURNBASE_MOVE_TIMEOUT": "20s",
		"TURNBASE_GRACE":        "20s",
		"TURNBASE_LOG_LEVEL":    "warn",
	}
	p1 := startProcess(t, bin, addr, env)
	s := p1.server()
	x, o, id := pair(t, s, "tictactoe")
	play := func(c *client, cell int, moves int) {
		t.Helper()
		c.send(frame{"type": "match.move", "match": id, "move": frame{"cell": cell}})
		c.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == moves })
	}
	play(x, 4, 1)
	play(o, 0, 2)
	play(x, 2, 3)
	p1.kill()
	x.closeCodeWait(t)
	o.closeCodeWait(t)

	p2 := startProcess(t, bin, addr, env)
	s = p2.server()
	// Both players come back with their old tokens.
	x2 := s.dial("x again", x.token)
	o2 := s.dial("o again", o.token)
	for _, c := range []*client{x2, o2} {
		if c.welcome["active"] == nil || len(c.welcome["active"].([]any)) != 1 || c.welcome["active"].([]any)[0] != id {
			t.Fatalf("%s: welcome.active = %v, want [%s]", c.name, c.welcome["active"], id)
		}
		c.send(frame{"type": "match.watch", "match": id})
		st := c.expect("match.state", nil)
		board := st["state"].(map[string]any)["board"].([]any)
		if board[4] != "X" || board[0] != "O" || board[2] != "X" || st["turn"] != 1.0 || st["status"] != "live" {
			t.Fatalf("%s: resumed state = %v", c.name, st)
		}
	}
	// Each blocks the other's threat until the board is full.
	o2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 6}})
	x2.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 4 })
	x2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 3}})
	o2.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 5 })
	o2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 5}})
	x2.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 6 })
	x2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 1}})
	x2.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 7 })
	o2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 7}})
	x2.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 8 })
	x2.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 8}})
	over := o2.expect("match.over", nil)
	if over["result"] != "draw" || over["reason"] != "board_full" {
		t.Fatalf("over = %v", over)
	}

	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var matches, moves int
	var status string
	conn.QueryRow(context.Background(), `SELECT count(*), min(status) FROM matches`).Scan(&matches, &status)
	conn.QueryRow(context.Background(), `SELECT count(*) FROM match_moves WHERE match_id = $1`, id).Scan(&moves)
	if matches != 1 || status != "finished" || moves != 9 {
		t.Fatalf("database: %d matches (%s), %d moves", matches, status, moves)
	}
	// Exactly one result: one rating change per player.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var changes int
		conn.QueryRow(context.Background(), `SELECT count(*) FROM rating_changes WHERE match_id = $1`, id).Scan(&changes)
		if changes == 2 {
			break
		}
		if changes > 2 || time.Now().After(deadline) {
			t.Fatalf("rating changes for the match = %d, want 2", changes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEmbeddedDefaultKeepsGamesAcrossRestart runs the server as the README
// does, with no DATABASE_URL: it starts its own PostgreSQL in the data
// folder. A game played there is on the leaderboard after a restart.
func TestEmbeddedDefaultKeepsGamesAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded PostgreSQL twice")
	}
	data := t.TempDir()
	env := map[string]string{"TURNBASE_DATA": data, "TURNBASE_LOG_LEVEL": "warn"}
	// `turnbase migrate` on the embedded database first, as an operator would.
	var out lockedBuffer
	if err := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}

	s := startServer(t, map[string]string{"DATABASE_URL": "", "TURNBASE_DATA": data})
	x, o, id := pair(t, s, "tictactoe")
	x.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 4}})
	o.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 1 })
	// o moves once: a resign before one's own first move is an unrated abort.
	o.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}})
	x.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == 2 })
	o.send(frame{"type": "match.resign", "match": id})
	over := x.expect("match.over", nil)
	if len(over["ratings"].([]any)) != 2 {
		t.Fatalf("over = %v", over)
	}
	xName := x.name
	s.stop()

	s2 := startServer(t, map[string]string{"DATABASE_URL": "", "TURNBASE_DATA": data})
	var board struct {
		Entries []struct {
			Player struct{ Name string } `json:"player"`
			Wins   int                   `json:"wins"`
			Losses int                   `json:"losses"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(s2.get("/api/leaderboard/tictactoe?provisional=true")), &board); err != nil {
		t.Fatal(err)
	}
	if len(board.Entries) != 2 || board.Entries[0].Player.Name != xName || board.Entries[0].Wins != 1 || board.Entries[1].Losses != 1 {
		t.Fatalf("leaderboard after restart = %+v", board)
	}
}

// TestSIGKILLResumedVersionAboveAllSent: the versions a player saw before
// a SIGKILL, including changes after the last move (a spectator coming
// and going), are all below the first state of the resumed match, so a
// client that keeps the newest version (web/static/js/conn.js) takes it.
// The turn keeps the deadline it was shown, and both players finish.
func TestSIGKILLResumedVersionAboveAllSent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	dsn := testDatabase(t)
	addr := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL":          dsn,
		"TURNBASE_DATA":         t.TempDir(),
		"TURNBASE_MOVE_TIMEOUT": "2m",
		"TURNBASE_GRACE":        "1m",
		"TURNBASE_LOG_LEVEL":    "warn",
	}
	p1 := startProcess(t, bin, addr, env)
	s := p1.server()
	x, o, id := pair(t, s, "tictactoe")
	seen := 0 // the highest version x saw
	var deadline any
	state := func(c *client, ok func(frame) bool) frame {
		t.Helper()
		f := c.expect("match.state", ok)
		if c == x {
			seen = max(seen, num(f["version"]))
			deadline = f["deadline_ms"]
		}
		return f
	}
	moves := func(n int) func(frame) bool {
		return func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == n }
	}
	x.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 4}})
	state(x, moves(1))
	o.send(frame{"type": "match.move", "match": id, "move": frame{"cell": 0}})
	state(x, moves(2))
	// Changes after the last move: spectators come and go.
	for range 3 {
		spec := s.dial("spectator", "")
		spec.send(frame{"type": "match.watch", "match": id})
		state(x, func(f frame) bool { return num(f["spectators"]) == 1 })
		spec.close()
		state(x, func(f frame) bool { return num(f["spectators"]) == 0 })
	}
	if seen < 9 {
		t.Fatalf("x saw version %d only", seen)
	}
	p1.kill()
	x.closeCodeWait(t)
	o.closeCodeWait(t)

	p2 := startProcess(t, bin, addr, env)
	s = p2.server()
	x2 := s.dial("x again", x.token)
	o2 := s.dial("o again", o.token)
	for _, c := range []*client{x2, o2} {
		c.send(frame{"type": "match.watch", "match": id})
	}
	st := x2.expect("match.state", nil)
	if v := num(st["version"]); v <= seen {
		t.Fatalf("resumed match.state version %d, not above %d seen before the kill", v, seen)
	}
	if st["deadline_ms"] != deadline || st["status"] != "live" || st["turn"] != 0.0 {
		t.Fatalf("resumed state %v; deadline shown before the kill %v", st, deadline)
	}
	o2.expect("match.state", nil)
	// x wins on the diagonal 4-8 after 2; o plays elsewhere.
	for i, mv := range []struct {
		c    *client
		cell int
	}{{x2, 2}, {o2, 3}, {x2, 6}} {
		last := num(st["version"])
		mv.c.send(frame{"type": "match.move", "match": id, "move": frame{"cell": mv.cell}})
		st = x2.expect("match.state", moves(3+i))
		if num(st["version"]) <= last {
			t.Fatalf("version went from %d to %d", last, num(st["version"]))
		}
	}
	for _, c := range []*client{x2, o2} {
		over := c.expect("match.over", nil)
		if over["result"] != "win" || over["winner"] != 0.0 || over["reason"] != "line" {
			t.Fatalf("%s: over = %v", c.name, over)
		}
	}
}
