package main

// Failure tests under load: 400 guests play 200 tic-tac-toe matches over
// real WebSockets while the server is SIGKILLed, its database is stopped,
// both at once, or the server is asked to stop with SIGTERM. Each checks
// against the database that no acknowledged move and no result is lost and
// that none is counted twice, then plays every surviving match to its end.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/internal/pgcluster"
)

const (
	// faultPairs is the load: this many matches, twice as many players.
	faultPairs = 200

	// drawCells is a tic-tac-toe game that is over only at its ninth move
	// (a draw, board_full): a match playing it can stop after any move and
	// go on later.
	drawCells = "402635178"
	// lineCells starts as drawCells does and has X win on the 2-4-6
	// diagonal at the fifth move.
	lineCells = "40216"

	// faultWait bounds every single wait for the server.
	faultWait = 30 * time.Second
)

// faultEnv is the server's environment for a load test: limits raised so
// that 400 players from one address are not throttled, and clocks long
// enough that nobody times out or is abandoned while the server or its
// database is down.
func faultEnv(dsn, dataDir string) map[string]string {
	return map[string]string{
		"DATABASE_URL":              dsn,
		"TURNBASE_DATA":             dataDir,
		"TURNBASE_MOVE_TIMEOUT":     "3m",
		"TURNBASE_GRACE":            "3m",
		"TURNBASE_LOG_LEVEL":        "warn",
		"TURNBASE_MAX_CONNS_PER_IP": "5000",
		"TURNBASE_HANDSHAKE_RATE":   "10000",
		"TURNBASE_HANDSHAKE_BURST":  "10000",
		"TURNBASE_HTTP_RATE":        "10000",
		"TURNBASE_HTTP_BURST":       "10000",
		"TURNBASE_CONN_RATE":        "1000",
		"TURNBASE_CONN_BURST":       "1000",
		"TURNBASE_PLAYER_RATE":      "1000",
		"TURNBASE_PLAYER_BURST":     "1000",
	}
}

// TestFaultSIGKILLUnderLoad kills the real binary with SIGKILL while 150
// matches have moves in flight and 50 have just finished, then restarts it
// on the same data folder and database.
func TestFaultSIGKILLUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and loads it with 400 players")
	}
	bin := buildBinary(t)
	dsn := testDatabase(t)
	addr := freeAddr(t)
	env := faultEnv(dsn, t.TempDir())
	p1 := startProcess(t, bin, addr, env)

	l := newLoad(t, p1.server(), faultPairs)
	l.mustRun(l.matches, func(m *loadMatch) error { return l.playTo(m, 2) })
	finished, resigning, live := l.matches[:50], l.matches[50:70], l.matches[70:]
	// 50 matches end before the kill: 25 resign, 25 play out to a line.
	l.mustRun(finished, func(m *loadMatch) error { return l.finishOne(m) })
	l.phase("50 matches finished")

	// The others keep playing, 20 of them resign along the way, and the
	// server is killed while their moves are in flight.
	base := l.acks.Load()
	busy := l.start(append(append([]*loadMatch{}, resigning...), live...), func(m *loadMatch) error {
		if m.index < 70 {
			if err := l.playTo(m, 3); err != nil {
				return err
			}
			return l.resign(m, m.index%2)
		}
		return l.playTo(m, 8)
	})
	l.waitAcks(base + int64(len(live)))
	p1.kill()
	busy.wait() // they fail now: their connections are gone
	l.phase("killed with %d moves in flight", l.inFlight())

	p2 := startProcess(t, bin, addr, env)
	l.phase("restarted")
	st := readStored(t, dsn, l.matches)
	checkMoves(t, l.matches, st)
	for _, m := range finished {
		if s := st[m.id]; s.status != "finished" || s.reason != m.wantReason() {
			t.Errorf("match %s finished before the kill (%s) is %s (%s) in the database", m.id, m.wantReason(), s.status, s.reason)
		}
	}
	l.waitRatedOnce(dsn, finished)
	for _, m := range live {
		if s := st[m.id]; s.status != "live" {
			t.Errorf("match %s live at the kill is %s (%s) in the database", m.id, s.status, s.reason)
		}
	}
	for _, m := range resigning { // its resign may or may not have been stored
		if s := st[m.id]; s.status != "live" && (s.status != "finished" || s.reason != "resign") {
			t.Errorf("match %s resigning at the kill is %s (%s) in the database", m.id, s.status, s.reason)
		}
	}
	l.resumeAndPlayOut(p2.server(), st)
	l.checkAllRatedOnce(dsn)
}

// TestFaultDatabaseOutageUnderLoad stops the server's PostgreSQL for 20
// seconds while 200 matches play (in-process server).
func TestFaultDatabaseOutageUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a PostgreSQL of its own for 20 s under a load of 400 players")
	}
	pg := startOwnPostgres(t)
	s := startServer(t, faultEnv(pg.dsn(), t.TempDir()))
	l := newLoad(t, s, faultPairs)
	spare := l.extraPlayer(s, "spare")
	l.mustRun(l.matches, func(m *loadMatch) error { return l.playTo(m, 2) })
	finishing, live := l.matches[:50], l.matches[50:]

	const outage = 20 * time.Second
	pg.stop(t)
	down := time.Now()
	l.phase("PostgreSQL stopped")
	// Moves go on all through the outage, spread over it; 50 matches end.
	busy := l.start(l.matches, func(m *loadMatch) error {
		if m.index < 50 {
			sleepJitter(3 * time.Second)
			return l.finishOne(m)
		}
		for n := 3; n <= 6; n++ {
			sleepJitter(outage / 5)
			if err := l.playTo(m, n); err != nil {
				return err
			}
		}
		return nil
	})
	waitReady(t, s, http.StatusServiceUnavailable)
	l.phase("/readyz 503")
	if code := l.queueJoinError(spare); code != "server_busy" {
		t.Errorf("queue.join while the database is down answered %q, want server_busy", code)
	}
	for time.Since(down) < outage {
		if code := readyz(t, s); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d %s into the outage, want 503", code, time.Since(down).Round(time.Millisecond))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if errs := busy.wait(); len(errs) > 0 {
		t.Fatalf("%d matches failed to play through the outage, e.g. %v", len(errs), errs[0])
	}
	if n := l.inFlight(); n != 0 {
		t.Errorf("%d moves sent during the outage were never acknowledged", n)
	}
	pg.start(t)
	l.phase("PostgreSQL started again")
	waitReady(t, s, http.StatusOK)
	l.phase("/readyz 200")
	if code := l.queueJoinError(spare); code != "" {
		t.Errorf("queue.join after the outage answered %q", code)
	}

	st := readStored(t, pg.dsn(), l.matches)
	checkMoves(t, l.matches, st)
	for _, m := range finishing {
		if s := st[m.id]; s.status != "finished" || s.reason != m.wantReason() {
			t.Errorf("match %s finished during the outage (%s) is %s (%s) in the database", m.id, m.wantReason(), s.status, s.reason)
		}
	}
	l.waitRatedOnce(pg.dsn(), finishing)
	for _, m := range live {
		if s := st[m.id]; s.status != "live" || len(s.cells) != 6 {
			t.Errorf("match %s: %s with %d moves in the database, want live with 6", m.id, s.status, len(s.cells))
		}
	}
	l.mustRun(live, func(m *loadMatch) error { return l.playTo(m, 9) })
	l.checkAllRatedOnce(pg.dsn())
}

// TestFaultReadyzWhileDatabaseDownAndIdle stops PostgreSQL under a server
// with no match in progress, so no write runs into the outage: /readyz must
// still turn 503 within seconds and stay 503 until the database is back,
// and queue.join must answer server_busy meanwhile.
func TestFaultReadyzWhileDatabaseDownAndIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a PostgreSQL of its own")
	}
	pg := startOwnPostgres(t)
	s := startServer(t, faultEnv(pg.dsn(), t.TempDir()))
	l := newLoad(t, s, 0)
	p := l.extraPlayer(s, "idle")
	pg.stop(t)
	down := time.Now()
	for readyz(t, s) != http.StatusServiceUnavailable {
		if time.Since(down) > 8*time.Second {
			t.Fatal("/readyz still 200 8 s after PostgreSQL stopped (no match in progress)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("/readyz 503 %s after PostgreSQL stopped", time.Since(down).Round(time.Millisecond))
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if code := readyz(t, s); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz went back to %d while PostgreSQL is still down", code)
		}
	}
	if code := l.queueJoinError(p); code != "server_busy" {
		t.Errorf("queue.join while PostgreSQL is down answered %q, want server_busy", code)
	}
	pg.start(t)
	waitReady(t, s, http.StatusOK)
	if code := l.queueJoinError(p); code != "" {
		t.Errorf("queue.join after PostgreSQL came back answered %q", code)
	}
}

// TestFaultDoubleFault stops PostgreSQL, SIGKILLs the server while it
// spools under load, then starts PostgreSQL and the server again.
func TestFaultDoubleFault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and stops a PostgreSQL of its own under load")
	}
	bin := buildBinary(t)
	pg := startOwnPostgres(t)
	addr := freeAddr(t)
	data := t.TempDir()
	env := faultEnv(pg.dsn(), data)
	p1 := startProcess(t, bin, addr, env)
	s := p1.server()

	l := newLoad(t, s, faultPairs)
	l.mustRun(l.matches, func(m *loadMatch) error { return l.playTo(m, 2) })
	finishing, live := l.matches[:50], l.matches[50:]

	pg.stop(t)
	l.phase("PostgreSQL stopped")
	// 50 matches end while the database is down; the server is killed
	// once they have and while the others' moves are in flight.
	l.mustRun(finishing, func(m *loadMatch) error { return l.finishOne(m) })
	waitReady(t, s, http.StatusServiceUnavailable)
	base := l.acks.Load()
	busy := l.start(live, func(m *loadMatch) error { return l.playTo(m, 8) })
	l.waitAcks(base + int64(len(live)))
	p1.kill()
	busy.wait()
	l.phase("killed while spooling, %d moves in flight", l.inFlight())
	spool := filepath.Join(data, "spool.jsonl")
	if fi, err := os.Stat(spool); err != nil || fi.Size() == 0 {
		t.Fatalf("no spool left by the killed server: %v", err)
	}

	pg.start(t)
	p2 := startProcess(t, bin, addr, env)
	l.phase("PostgreSQL, then the server, started again")
	if fi, err := os.Stat(spool); err != nil {
		t.Error(err)
	} else if fi.Size() != 0 {
		t.Errorf("spool not replayed at start: %d bytes left", fi.Size())
	}
	st := readStored(t, pg.dsn(), l.matches)
	checkMoves(t, l.matches, st)
	for _, m := range finishing {
		if s := st[m.id]; s.status != "finished" || s.reason != m.wantReason() {
			t.Errorf("match %s finished while spooling (%s) is %s (%s) in the database", m.id, m.wantReason(), s.status, s.reason)
		}
	}
	l.waitRatedOnce(pg.dsn(), finishing)
	for _, m := range live {
		if s := st[m.id]; s.status != "live" {
			t.Errorf("match %s live at the kill is %s (%s) in the database", m.id, s.status, s.reason)
		}
	}
	l.resumeAndPlayOut(p2.server(), st)
	l.checkAllRatedOnce(pg.dsn())
}

// TestFaultSIGTERMUnderLoad asks the server to stop while 200 matches play.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary and loads it with 400 players")
	}
	bin := buildBinary(t)
	dsn := testDatabase(t)
	addr := freeAddr(t)
	env := faultEnv(dsn, t.TempDir())
	p1 := startProcess(t, bin, addr, env)
	s := p1.server()

	l := newLoad(t, s, faultPairs)
	l.mustRun(l.matches, func(m *loadMatch) error { return l.playTo(m, 2) })
	base := l.acks.Load()
	busy := l.start(l.matches, func(m *loadMatch) error { return l.playTo(m, 8) })
	l.waitAcks(base + faultPairs)

	if err := p1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	// Once the first socket is closed the server is draining: a new
	// upgrade must fail.
	first := l.firstClosed(15 * time.Second)
	if first == nil {
		t.Fatal("no socket closed within 15 s of SIGTERM")
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if ws, _, err := dialer.Dial(s.ws, nil); err == nil {
		ws.Close()
		t.Errorf("a WebSocket upgrade was accepted after SIGTERM (%s after the signal)", time.Since(signalled).Round(time.Millisecond))
	} else {
		t.Logf("dial after SIGTERM: %v", err)
	}
	select {
	case <-p1.done:
	case <-time.After(25*time.Second - time.Since(signalled)):
		t.Fatalf("server still running 25 s after SIGTERM")
	}
	took := time.Since(signalled)
	if code := p1.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	busy.wait()
	wrong := 0
	for _, p := range l.players {
		if code := p.conn.closeCodeNow(); code != websocket.CloseGoingAway {
			if wrong++; wrong <= 5 {
				t.Errorf("%s: socket closed with %d, want 1001", p.name, code)
			}
		}
	}
	l.phase("SIGTERM: exited in %s, %d moves unanswered", took.Round(time.Millisecond), l.inFlight())

	st := readStored(t, dsn, l.matches)
	checkMoves(t, l.matches, st)
	for _, m := range l.matches {
		if s := st[m.id]; s.status != "live" {
			t.Errorf("match %s is %s (%s) after SIGTERM, want live", m.id, s.status, s.reason)
		}
	}
	p2 := startProcess(t, bin, addr, env)
	l.phase("restarted")
	l.resumeAndPlayOut(p2.server(), st)
	l.checkAllRatedOnce(dsn)
}

// load is many players over real WebSockets, paired into matches.
type load struct {
	t       *testing.T
	http    *http.Client
	begin   time.Time
	players []*loadPlayer
	matches []*loadMatch
	extra   []*loadPlayer // players in no match
	acks    atomic.Int64  // moves acknowledged since the start
}

// loadPlayer is a guest and its current connection.
type loadPlayer struct {
	name, token, id string
	conn            *loadConn // replaced by connect
}

// loadMatch is one match of the load, with its players by seat.
type loadMatch struct {
	index int
	id    string
	seats [2]*loadPlayer
	cells string // the moves it plays, one cell per move: drawCells or lineCells

	// Written by the one goroutine that plays the match at a time.
	sent int // moves sent; the last may not have reached the server
}

// newLoad signs up 2*pairs guests on s, connects them and pairs them
// through challenges, so the test knows who plays whom.
func newLoad(t *testing.T, s *server, pairs int) *load {
	t.Helper()
	l := &load{
		t:       t,
		http:    &http.Client{Timeout: faultWait, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		begin:   time.Now(),
		players: make([]*loadPlayer, 2*pairs),
		matches: make([]*loadMatch, pairs),
	}
	t.Cleanup(func() {
		for _, p := range append(l.players, l.extra...) {
			if p != nil && p.conn != nil {
				p.conn.close()
			}
		}
		l.http.CloseIdleConnections()
	})
	err := parallel(len(l.players), 16, func(i int) error {
		p := &loadPlayer{name: fmt.Sprintf("p%03d", i)}
		var err error
		p.token, p.id, err = l.guest(s.base, p.name)
		l.players[i] = p
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	l.connect(s, l.players)
	err = parallel(pairs, 32, func(i int) error {
		m, err := pairByChallenge(l.players[2*i], l.players[2*i+1])
		if m != nil {
			m.index = i
		}
		l.matches[i] = m
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if pairs > 0 {
		l.phase("%d players paired into %d matches", len(l.players), pairs)
	}
	return l
}

// phase logs a step with the time since the load began.
func (l *load) phase(format string, args ...any) {
	l.t.Helper()
	l.t.Logf("%6.1fs  %s", time.Since(l.begin).Seconds(), fmt.Sprintf(format, args...))
}

func (l *load) guest(base, name string) (token, id string, err error) {
	resp, err := l.http.Post(base+"/api/auth/guest", "application/json", strings.NewReader(`{"name":"`+name+`"}`))
	if err != nil {
		return "", "", fmt.Errorf("guest %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return "", "", fmt.Errorf("guest %s: %d %s", name, resp.StatusCode, b)
	}
	var body struct {
		Token  string `json:"token"`
		Player struct {
			ID string `json:"id"`
		} `json:"player"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", "", fmt.Errorf("guest %s: %w", name, err)
	}
	return body.Token, body.Player.ID, nil
}

// connect gives each player a new connection to s, closing its old one.
func (l *load) connect(s *server, players []*loadPlayer) {
	l.t.Helper()
	err := parallel(len(players), 16, func(i int) error {
		p := players[i]
		if p.conn != nil {
			p.conn.close()
		}
		c, err := dialLoad(s.ws, p.name, p.token)
		p.conn = c // nil on error
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
}

// extraPlayer signs up and connects a player who plays in no match.
func (l *load) extraPlayer(s *server, name string) *loadPlayer {
	l.t.Helper()
	p := &loadPlayer{name: name}
	var err error
	if p.token, p.id, err = l.guest(s.base, name); err != nil {
		l.t.Fatal(err)
	}
	l.extra = append(l.extra, p)
	l.connect(s, []*loadPlayer{p})
	return p
}

// queueJoinError sends queue.join for p and returns the error code that
// answers it, or "" if it was accepted (p then leaves the queue again).
func (l *load) queueJoinError(p *loadPlayer) string {
	l.t.Helper()
	_, err := p.conn.request(frame{"type": "queue.join", "game": "tictactoe"}, "queue.joined")
	var re *replyError
	if errors.As(err, &re) {
		return re.code
	}
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := p.conn.request(frame{"type": "queue.leave"}, "queue.left"); err != nil {
		l.t.Fatal(err)
	}
	return ""
}

// pairByChallenge has a create a challenge and b accept it, and returns
// their match once both have its first state.
func pairByChallenge(a, b *loadPlayer) (*loadMatch, error) {
	created, err := a.conn.request(frame{"type": "challenge.create", "game": "tictactoe"}, "challenge.created")
	if err != nil {
		return nil, err
	}
	code, _ := created["code"].(string)
	if err := b.conn.send(frame{"type": "challenge.accept", "code": code, "id": "accept"}); err != nil {
		return nil, err
	}
	m := &loadMatch{cells: drawCells}
	for _, p := range []*loadPlayer{a, b} {
		c := p.conn
		var found frame
		err := c.wait("match.found and its first state", func() bool {
			found = c.found
			if e := c.replies["accept"]; e != nil {
				return true
			}
			return found != nil && c.states[found["match"].(string)] != nil
		})
		if err != nil {
			return nil, err
		}
		if e := c.replies["accept"]; e != nil {
			return nil, fmt.Errorf("%s: challenge.accept answered %v", b.name, e)
		}
		id, _ := found["match"].(string)
		if m.id != "" && m.id != id {
			return nil, fmt.Errorf("%s and %s were put in different matches: %s and %s", a.name, b.name, m.id, id)
		}
		m.id = id
		seat := num(found["you"])
		if m.seats[seat] != nil {
			return nil, fmt.Errorf("match %s: both players in seat %d", id, seat)
		}
		m.seats[seat] = p
	}
	return m, nil
}

// playTo plays m's moves until it has n (a no-op if it has them), each
// from the seat whose turn it is, waiting for the match.state that shows
// each one.
func (l *load) playTo(m *loadMatch, n int) error {
	for k := m.sent; k < n; k++ {
		c := m.seats[k%2].conn
		id := fmt.Sprintf("mv%d", k+1)
		m.sent = k + 1
		if err := c.send(frame{"type": "match.move", "match": m.id, "move": frame{"cell": cellAt(m.cells, k)}, "id": id}); err != nil {
			return err
		}
		var refused frame
		err := c.wait(fmt.Sprintf("move %d of %s", k+1, m.id), func() bool {
			refused = c.replies[id]
			return refused != nil || c.moves[m.id] >= k+1
		})
		if err != nil {
			return err
		}
		if refused != nil {
			return fmt.Errorf("%s: move %d of %s refused: %v", c.name, k+1, m.id, refused)
		}
		l.acks.Add(1)
	}
	return nil
}

// resign concedes m for seat and waits for the final state.
func (l *load) resign(m *loadMatch, seat int) error {
	c := m.seats[seat].conn
	if err := c.send(frame{"type": "match.resign", "match": m.id, "id": "resign"}); err != nil {
		return err
	}
	var refused frame
	err := c.wait("the end of "+m.id, func() bool {
		refused = c.replies["resign"]
		return refused != nil || c.status[m.id] == "finished"
	})
	if err == nil && refused != nil {
		err = fmt.Errorf("%s: resign of %s refused: %v", c.name, m.id, refused)
	}
	return err
}

// finishOne ends a match that has its first two moves: even ones resign,
// odd ones play on to a line.
func (l *load) finishOne(m *loadMatch) error {
	if m.index%2 == 0 {
		return l.resign(m, 1)
	}
	m.cells = lineCells
	if err := l.playTo(m, len(lineCells)); err != nil {
		return err
	}
	c := m.seats[0].conn
	return c.wait("the end of "+m.id, func() bool { return c.status[m.id] == "finished" })
}

// wantReason is how a match ended by finishOne ends.
func (m *loadMatch) wantReason() string {
	if m.cells == lineCells {
		return "line"
	}
	return "resign"
}

// acked is how many of m's moves its players saw accepted: the highest
// move count in a match.state either of them received.
func (m *loadMatch) acked() int {
	return max(m.seats[0].conn.movesSeen(m.id), m.seats[1].conn.movesSeen(m.id))
}

// inFlight counts the moves sent that no player saw accepted.
func (l *load) inFlight() int {
	n := 0
	for _, m := range l.matches {
		n += m.sent - m.acked()
	}
	return n
}

// mustRun runs f for every match at once and fails the test on errors.
func (l *load) mustRun(ms []*loadMatch, f func(*loadMatch) error) {
	l.t.Helper()
	if errs := l.start(ms, f).wait(); len(errs) > 0 {
		l.t.Fatalf("%d of %d matches failed, e.g.: %v", len(errs), len(ms), errors.Join(errs[:min(3, len(errs))]...))
	}
}

// busy is a goroutine per match running a plan.
type busy struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (l *load) start(ms []*loadMatch, f func(*loadMatch) error) *busy {
	b := &busy{}
	for _, m := range ms {
		b.wg.Go(func() {
			if err := f(m); err != nil {
				b.mu.Lock()
				b.errs = append(b.errs, err)
				b.mu.Unlock()
			}
		})
	}
	return b
}

// wait waits for every goroutine and returns their errors.
func (b *busy) wait() []error {
	b.wg.Wait()
	return b.errs
}

// waitAcks waits until n moves have been acknowledged since the start.
func (l *load) waitAcks(n int64) {
	l.t.Helper()
	deadline := time.Now().Add(faultWait)
	for l.acks.Load() < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("only %d of %d moves acknowledged in %s", l.acks.Load(), n, faultWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// firstClosed returns the first player whose connection closes, or nil.
func (l *load) firstClosed(timeout time.Duration) *loadPlayer {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, p := range l.players {
			select {
			case <-p.conn.done:
				return p
			default:
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// resumeAndPlayOut reconnects every player to s and checks what each is
// told: players of a match stored as live find it in welcome.active and,
// watching it, the state of its stored moves, at a version above any they
// saw before; they then play it to its end. Players whose match is over
// find nothing active.
func (l *load) resumeAndPlayOut(s *server, st map[string]*storedMatch) {
	l.t.Helper()
	l.resumeAndPlayOutOn(func(*loadMatch) *server { return s }, st)
}

// resumeAndPlayOutOn is resumeAndPlayOut with each match's players
// reconnecting to the server on(match) (in a cluster, the node that runs
// it now).
func (l *load) resumeAndPlayOutOn(on func(*loadMatch) *server, st map[string]*storedMatch) {
	l.t.Helper()
	seen := map[*loadPlayer]int{} // the highest version each saw of its match
	for _, m := range l.matches {
		for _, p := range m.seats {
			p.conn.mu.Lock()
			seen[p] = num(p.conn.states[m.id]["version"])
			p.conn.mu.Unlock()
		}
	}
	err := parallel(len(l.matches), 16, func(i int) error {
		m := l.matches[i]
		s := on(m)
		for _, p := range m.seats {
			if p.conn != nil {
				p.conn.close()
			}
			c, err := dialLoad(s.ws, p.name, p.token)
			p.conn = c // nil on error
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.phase("%d players reconnected", len(l.players))
	var resumable []*loadMatch
	wrong := 0
	for _, m := range l.matches {
		live := st[m.id].status == "live"
		for _, p := range m.seats {
			active, _ := p.conn.welcome["active"].([]any)
			if live && (len(active) != 1 || active[0] != m.id) || !live && len(active) != 0 {
				if wrong++; wrong <= 10 {
					l.t.Errorf("%s: welcome.active = %v; match %s is %s", p.name, active, m.id, st[m.id].status)
				}
			}
		}
		if live {
			resumable = append(resumable, m)
		}
	}
	if wrong > 0 {
		l.t.Fatalf("%d players were told wrong active matches", wrong)
	}
	l.mustRun(resumable, func(m *loadMatch) error {
		stored := len(st[m.id].cells)
		for _, p := range m.seats {
			c := p.conn
			if err := c.send(frame{"type": "match.watch", "match": m.id, "id": "watch"}); err != nil {
				return err
			}
			var state frame
			err := c.wait("the state of "+m.id, func() bool {
				state = c.states[m.id]
				return state != nil || c.replies["watch"] != nil
			})
			if err != nil {
				return err
			}
			if state == nil {
				return fmt.Errorf("%s: match.watch %s answered %v", c.name, m.id, c.replies["watch"])
			}
			if got := stateMoves(state); got != stored || state["status"] != "live" {
				return fmt.Errorf("%s: resumed %s is %v with %d moves; %d stored", c.name, m.id, state["status"], got, stored)
			}
			if v := num(state["version"]); v <= seen[p] {
				return fmt.Errorf("%s: resumed %s at version %d, not above the %d seen before", c.name, m.id, v, seen[p])
			}
		}
		// Play on from what is stored, whatever the players had seen.
		if m.cells != drawCells {
			return fmt.Errorf("match %s: %d moves of %s stored, yet live", m.id, stored, m.cells)
		}
		m.sent = stored
		if err := l.playTo(m, 9); err != nil {
			return err
		}
		c := m.seats[0].conn
		return c.wait("the end of "+m.id, func() bool { return c.status[m.id] == "finished" })
	})
	l.phase("%d resumed matches played to the end", len(resumable))
}

// waitRatedOnce waits until each of ms is finished in the database and has
// exactly two rating changes (one per player), failing at once if one has
// more.
func (l *load) waitRatedOnce(dsn string, ms []*loadMatch) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		l.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.id
	}
	for {
		var finished, unrated, doubled int
		err := conn.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE m.status = 'finished'),
				count(*) FILTER (WHERE (SELECT count(*) FROM rating_changes c WHERE c.match_id = m.id) < 2),
				count(*) FILTER (WHERE (SELECT count(*) FROM rating_changes c WHERE c.match_id = m.id) > 2)
			FROM matches m WHERE m.id = ANY($1)`, ids).Scan(&finished, &unrated, &doubled)
		if err != nil {
			l.t.Fatal(err)
		}
		if doubled > 0 {
			l.t.Fatalf("%d matches have more than two rating changes", doubled)
		}
		if finished == len(ids) && unrated == 0 {
			return
		}
		if ctx.Err() != nil {
			l.t.Fatalf("of %d matches, %d finished and %d not rated after %s", len(ids), finished, unrated, faultWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkAllRatedOnce checks, once the server has rated them, that every
// match is finished with exactly one rating change per player, and that
// each player (each played one match) has exactly one game counted.
func (l *load) checkAllRatedOnce(dsn string) {
	l.t.Helper()
	l.waitRatedOnce(dsn, l.matches)
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		l.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	pids := make([]string, len(l.players))
	for i, p := range l.players {
		pids[i] = p.id
	}
	var rows, once, changes int
	err = conn.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE games = 1 AND wins + losses + draws = 1),
			(SELECT count(*) FROM rating_changes WHERE player_id = ANY($1))
		FROM ratings WHERE game = 'tictactoe' AND player_id = ANY($1)`, pids).Scan(&rows, &once, &changes)
	if err != nil {
		l.t.Fatal(err)
	}
	if rows != len(pids) || once != len(pids) || changes != len(pids) {
		l.t.Errorf("%d players, each in one match: %d ratings rows, %d with one game counted, %d rating changes", len(pids), rows, once, changes)
	}
	l.phase("all %d matches finished and rated once", len(l.matches))
}

// storedMatch is a match as the database has it.
type storedMatch struct {
	status, reason string
	cells          []int // its moves' cells by seq
}

// readStored reads the matches from the database, failing on a gap or a
// duplicate in a match's moves.
func readStored(t *testing.T, dsn string, ms []*loadMatch) map[string]*storedMatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.id
	}
	out := make(map[string]*storedMatch, len(ms))
	rows, err := conn.Query(ctx, `SELECT id, status, coalesce(reason, '') FROM matches WHERE id = ANY($1)`, ids)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	var s storedMatch
	if _, err := pgx.ForEachRow(rows, []any{&id, &s.status, &s.reason}, func() error {
		out[id] = &storedMatch{status: s.status, reason: s.reason}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(ms) {
		t.Fatalf("%d of %d matches in the database", len(out), len(ms))
	}
	rows, err = conn.Query(ctx, `SELECT match_id, seq, (move->>'cell')::int FROM match_moves WHERE match_id = ANY($1) ORDER BY match_id, seq`, ids)
	if err != nil {
		t.Fatal(err)
	}
	var seq, cell int
	if _, err := pgx.ForEachRow(rows, []any{&id, &seq, &cell}, func() error {
		m := out[id]
		if seq != len(m.cells)+1 {
			return fmt.Errorf("match %s: move seq %d after %d moves", id, seq, len(m.cells))
		}
		m.cells = append(m.cells, cell)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMoves checks that every acknowledged move is stored, that nothing
// is stored that was not sent, and that each stored move is the one sent.
func checkMoves(t *testing.T, ms []*loadMatch, st map[string]*storedMatch) {
	t.Helper()
	bad, stored, acks, sent := 0, 0, 0, 0
	for _, m := range ms {
		s := st[m.id]
		n, acked := len(s.cells), m.acked()
		stored, acks, sent = stored+n, acks+acked, sent+m.sent
		var problem string
		switch {
		case n < acked:
			problem = fmt.Sprintf("%d moves stored, %d acknowledged: an acknowledged move is lost", n, acked)
		case n > m.sent:
			problem = fmt.Sprintf("%d moves stored, only %d sent", n, m.sent)
		}
		for k, c := range s.cells {
			if problem == "" && c != cellAt(m.cells, k) {
				problem = fmt.Sprintf("move %d stored as cell %d, sent as %d", k+1, c, cellAt(m.cells, k))
			}
		}
		if problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("match %s: %s", m.id, problem)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d matches in all", bad)
	}
	t.Logf("moves: %d sent, %d acknowledged, %d stored", sent, acks, stored)
}

// cellAt is the cell of move k (from 0) of a game written as cells.
func cellAt(cells string, k int) int { return int(cells[k] - '0') }

func stateMoves(f frame) int {
	st, _ := f["state"].(map[string]any)
	return num(st["moves"])
}

// sleepJitter sleeps a random time up to d.
func sleepJitter(d time.Duration) { time.Sleep(rand.N(d)) }

// parallel runs f(0) ... f(n-1) on up to workers goroutines and returns
// the errors joined (at most a few, and how many there were).
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next atomic.Int64
	)
	for range min(n, workers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d failed: %w", len(errs), n, errors.Join(errs[:min(3, len(errs))]...))
}

// loadConn is one player's WebSocket in a load test. Unlike client, it is
// safe to use from many goroutines and reports failures as errors rather
// than failing the test, so hundreds run at once off the test goroutine.
type loadConn struct {
	name string
	ws   *websocket.Conn
	wmu  sync.Mutex    // serializes writes
	done chan struct{} // closed when the read loop returns
	ids  atomic.Int64

	mu        sync.Mutex    // guards the fields below
	changed   chan struct{} // closed and replaced at each frame and at the end
	welcome   frame
	found     frame            // the last match.found
	states    map[string]frame // the last match.state by match
	moves     map[string]int   // the most moves a match.state showed, by match
	status    map[string]string
	replies   map[string]frame // direct replies and errors by "re"
	closeCode int              // of the close frame received; 0 for none
	readErr   error
}

// dialLoad connects, says hello with token and waits for the welcome.
func dialLoad(url, name, token string) (*loadConn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", name, err)
	}
	c := &loadConn{
		name: name, ws: ws, done: make(chan struct{}), changed: make(chan struct{}),
		states: map[string]frame{}, moves: map[string]int{}, status: map[string]string{}, replies: map[string]frame{},
	}
	go c.readLoop()
	if err := c.send(frame{"type": "hello", "v": 1, "token": token}); err != nil {
		c.close()
		return nil, err
	}
	if err := c.wait("welcome", func() bool { return c.welcome != nil }); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *loadConn) readLoop() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode = ce.Code
			}
			c.readErr = err
			close(c.changed)
			c.mu.Unlock()
			return
		}
		var f frame
		if json.Unmarshal(data, &f) == nil {
			c.takeLocked(f)
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// takeLocked records a frame. c.mu is held.
func (c *loadConn) takeLocked(f frame) {
	id, _ := f["match"].(string)
	switch f["type"] {
	case "welcome":
		c.welcome = f
	case "match.found":
		c.found = f
	case "match.state":
		c.states[id] = f
		c.moves[id] = max(c.moves[id], stateMoves(f))
		c.status[id], _ = f["status"].(string)
	}
	if re, ok := f["re"].(string); ok {
		c.replies[re] = f
	}
}

func (c *loadConn) send(f frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("%s: send %s: %w", c.name, f["type"], err)
	}
	return nil
}

// wait waits until ok, called with c.mu held, holds.
func (c *loadConn) wait(what string, ok func() bool) error {
	timeout := time.NewTimer(faultWait)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		done, changed, readErr, code := ok(), c.changed, c.readErr, c.closeCode
		c.mu.Unlock()
		switch {
		case done:
			return nil
		case readErr != nil:
			return fmt.Errorf("%s: connection closed (code %d) waiting for %s: %w", c.name, code, what, readErr)
		}
		select {
		case <-changed:
		case <-timeout.C:
			return fmt.Errorf("%s: no %s in %s", c.name, what, faultWait)
		}
	}
}

// replyError is an error frame answering a request.
type replyError struct{ code, message string }

func (e *replyError) Error() string { return e.code + ": " + e.message }

// request sends f with a fresh id and waits for the reply of type typ,
// or the error answering it (a *replyError).
func (c *loadConn) request(f frame, typ string) (frame, error) {
	id := fmt.Sprintf("r%d", c.ids.Add(1))
	f["id"] = id
	if err := c.send(f); err != nil {
		return nil, err
	}
	var reply frame
	if err := c.wait(typ, func() bool { reply = c.replies[id]; return reply != nil }); err != nil {
		return nil, err
	}
	switch reply["type"] {
	case typ:
		return reply, nil
	case "error":
		code, _ := reply["code"].(string)
		msg, _ := reply["message"].(string)
		return nil, &replyError{code, msg}
	}
	return nil, fmt.Errorf("%s: %s answered with %v", c.name, f["type"], reply)
}

func (c *loadConn) movesSeen(matchID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moves[matchID]
}

// closeCodeNow is the close code received, once the connection is closed.
func (c *loadConn) closeCodeNow() int {
	select {
	case <-c.done:
	case <-time.After(faultWait):
		return -1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

func (c *loadConn) close() {
	c.ws.Close()
	<-c.done
}

// ownPostgres is a PostgreSQL of the test's own, on a fixed port so that
// it comes back at the same address after a stop.
type ownPostgres struct {
	cfg pgcluster.Config
	url string            // set by the first start
	srv *pgcluster.Server // nil while stopped
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	pg := &ownPostgres{cfg: pgcluster.Config{
		DataDir: t.TempDir(),
		Port:    freePort(t),
		NoSync:  true,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
	pg.start(t)
	t.Cleanup(func() {
		if pg.srv != nil {
			pg.stop(t)
		}
	})
	return pg
}

func (pg *ownPostgres) dsn() string { return pg.url }

func (pg *ownPostgres) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := pgcluster.Start(ctx, pg.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pg.url == "" {
		pg.url = srv.DSN()
	}
	pg.srv = srv
}

func (pg *ownPostgres) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.srv.Stop(ctx); err != nil {
		t.Error(err)
	}
	pg.srv = nil
}
