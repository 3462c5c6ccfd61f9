package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/postgres"
)

// startStackWith is startStack with the matches' timing given: the
// defence tests need deadlines a loaded machine cannot run out, or short
// grace periods. The wiring is startStack's (stack_test.go), which fixes
// the match configuration.
func startStackWith(t *testing.T, cfg Config, mcfg match.Config) (*testServer, *match.Registry) {
	t.Helper()
	logger := testLogger(t)
	db := newTestDB(t)
	var matches *match.Registry
	games := game.NewRegistry(tictactoe.Game{}, rps.Game{})
	rater := postgres.NewRatings(db.pool, logger, postgres.RatingsConfig{Games: games,
		OnRated: func(id string, changes []match.RatingChange) { matches.Rated(id, changes) },
	})
	journal, err := postgres.NewJournal(db.pool, logger, postgres.JournalConfig{
		Owner:     "web-test",
		SpoolPath: filepath.Join(t.TempDir(), "spool.jsonl"),
		OnEnded:   rater.Kick,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := journal.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	journalCtx, stopJournal := context.WithCancel(context.Background())
	journalDone := make(chan error, 1)
	go func() { journalDone <- journal.Run(journalCtx) }()

	matches = match.NewRegistry(logger, games, match.Deps{Journal: journal, Rated: true}, mcfg)
	raterDone := make(chan error, 1)
	go func() { raterDone <- rater.Run(journalCtx) }()
	start := func(ctx context.Context, p lobby.Pair) error {
		var players [2]match.Player
		for i, tk := range p.Players {
			players[i] = match.Player{ID: tk.PlayerID, Name: tk.Name, Rating: tk.Rating}
		}
		_, err := matches.Start(ctx, p.Game, players)
		return err
	}
	hasGame := func(id string) bool { _, ok := games.Lookup(id); return ok }
	lb := lobby.New(logger, start, hasGame, matches.InMatch, lobby.Config{PairEvery: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	lobbyDone := make(chan struct{})
	go func() {
		defer close(lobbyDone)
		lb.Run(ctx)
	}()
	ts := startServerDB(t, db, cfg, Deps{Games: games, Matches: matches, Lobby: lb, Ratings: db.ratings, ReadyFunc: journal.Ready})
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		cancel()
		<-lobbyDone
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := matches.Shutdown(sctx); err != nil {
			t.Errorf("matches.Shutdown: %v", err)
		}
		stopJournal()
		if err := <-journalDone; err != nil {
			t.Errorf("journal.Run: %v", err)
		}
		if err := <-raterDone; err != nil {
			t.Errorf("rater.Run: %v", err)
		}
	})
	return ts, matches
}

// seated is a player of a match a test started.
type seated struct {
	c     *websocket.Conn
	id    string // player id
	token string
}

// startMatch has two new guests start a match of game by challenge. It
// returns them in seat order, after each has read match.found and the
// first match.state, and the match id.
func startMatch(t *testing.T, ts *testServer, gameID, nameA, nameB string) ([2]seated, string) {
	t.Helper()
	a, aID, aTok := ts.guest(t, nameA)
	b, bID, bTok := ts.guest(t, nameB)
	writeText(t, a, `{"type":"challenge.create","id":"cc","game":"`+gameID+`"}`)
	created := readType(t, a, "challenge.created")
	writeText(t, b, `{"type":"challenge.accept","id":"ca","code":"`+created["code"].(string)+`"}`)
	fa := readAll(t, a, "match.found", "match.state")
	fb := readAll(t, b, "match.found", "match.state")
	id := fa["match.found"]["match"].(string)
	if fb["match.found"]["match"] != id {
		t.Fatalf("found %v / %v", fa["match.found"], fb["match.found"])
	}
	seats := [2]seated{{a, aID, aTok}, {b, bID, bTok}}
	if fa["match.found"]["you"] != float64(0) {
		seats[0], seats[1] = seats[1], seats[0]
	}
	return seats, id
}

// stateOf decodes the parts of a match.state the defence tests look at.
type stateOf struct {
	Type       string `json:"type"`
	Match      string `json:"match"`
	Version    int64  `json:"version"`
	Status     string `json:"status"`
	Turn       *int   `json:"turn"`
	DeadlineMS *int64 `json:"deadline_ms"`
	ServerMS   int64  `json:"server_ms"`
	Spectators int    `json:"spectators"`
	Players    []struct {
		ID        string `json:"id"`
		Connected bool   `json:"connected"`
		GraceMS   *int64 `json:"grace_ms"`
	} `json:"players"`
	State struct {
		Board []string `json:"board"`
		Moves int      `json:"moves"`
	} `json:"state"`
}

// frameHead is what a follower decodes of every frame; the rest of the
// last one is decoded on demand (decoding every frame in full doubles the
// flood's time under the race detector).
type frameHead struct {
	Type       string `json:"type"`
	Re         string `json:"re"`
	Match      string `json:"match"`
	Version    int64  `json:"version"`
	Spectators int    `json:"spectators"`
	State      struct {
		Moves int `json:"moves"`
	} `json:"state"`
}

// follower reads a connection on a goroutine of its own, as a client that
// keeps up does, and records the match.state frames of one match.
type follower struct {
	c     *websocket.Conn
	match string
	kick  chan struct{} // signalled after each frame; one waiter at a time
	done  chan struct{} // closed when the reader returns

	mu       sync.Mutex // guards the fields below
	versions []int64    // of every match.state, in arrival order
	last     frameHead  // of the last match.state
	lastRaw  []byte
	arrived  map[int]time.Time    // first arrival of each move count
	pongs    map[string]time.Time // arrival of each pong, by its re
	err      error                // the first thing that went wrong
	stopping bool
}

// follow starts reading c; the test's end stops it.
func follow(t *testing.T, c *websocket.Conn, matchID string) *follower {
	f := &follower{c: c, match: matchID, kick: make(chan struct{}, 1), done: make(chan struct{}), arrived: map[int]time.Time{}}
	go f.run()
	t.Cleanup(f.stop)
	return f
}

func (f *follower) run() {
	defer close(f.done)
	for {
		f.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, data, err := f.c.ReadMessage()
		now := time.Now()
		f.mu.Lock()
		switch {
		case err != nil:
			if !f.stopping && f.err == nil {
				f.err = fmt.Errorf("read: %w", err)
			}
			f.mu.Unlock()
			f.signal()
			return
		default:
			var st frameHead
			if err := json.Unmarshal(data, &st); err != nil {
				f.err = fmt.Errorf("frame %q: %w", data, err)
			} else if st.Type == "error" && f.err == nil {
				f.err = fmt.Errorf("error frame %s", data)
			} else if st.Type == "pong" && f.pongs != nil {
				f.pongs[st.Re] = now
			} else if st.Type == "match.state" && st.Match == f.match {
				f.versions = append(f.versions, st.Version)
				f.last, f.lastRaw = st, data
				if _, ok := f.arrived[st.State.Moves]; !ok {
					f.arrived[st.State.Moves] = now
				}
			}
		}
		f.mu.Unlock()
		f.signal()
	}
}

func (f *follower) signal() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *follower) stop() {
	f.mu.Lock()
	f.stopping = true
	f.mu.Unlock()
	f.c.Close()
	<-f.done
}

// lastState decodes the last match.state read in full.
func (f *follower) lastState(t *testing.T) stateOf {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var st stateOf
	if err := json.Unmarshal(f.lastRaw, &st); err != nil {
		t.Fatalf("last state %q: %v", f.lastRaw, err)
	}
	return st
}

// await waits until cond holds of the follower (called with its lock
// held), failing the test after timeout or when the reader has failed.
func (f *follower) await(t *testing.T, timeout time.Duration, what string, cond func(*follower) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, err := cond(f), f.err
		f.mu.Unlock()
		switch {
		case ok:
			return
		case err != nil:
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case <-f.kick:
		case <-deadline.C:
			f.mu.Lock()
			last := f.last
			f.mu.Unlock()
			t.Fatalf("timed out after %v waiting for %s; last state %+v", timeout, what, last)
		}
	}
}

// smallReceiveBuffer is a net.Dialer Control function that shrinks the
// socket's receive buffer before it connects, so that a client that does
// not read makes the server's writes block sooner. (This package's tests
// run on Unix only: pgtest starts PostgreSQL there.)
func smallReceiveBuffer(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
	}); err != nil {
		return err
	}
	return serr
}

// A spectator that never reads is dropped; then a connection floods
// match.watch and match.unwatch as fast as it is answered. The players and
// a spectator that reads see the spectator count change at most once per
// second (match.Config.SpectatorEvery), every version in order, the final
// count, and a move made during the flood at once, with its deadline
// counted from then; nobody but the stuck spectator is dropped. (Before
// the count was coalesced, each of the 10,000 changes was a version to
// every subscriber, and a player's send queue overflowed under CPU load.)
func TestStuckSpectatorFlood(t *testing.T) {
	cfg := testConfig()
	// The floods come from one spectator connection each: lift their
	// limit. Pings are rare and the pong wait long, so that the stuck
	// spectator is dropped for not reading, not for not answering pings.
	cfg.ConnRate, cfg.ConnBurst = 1e6, 1e6
	cfg.PingPeriod, cfg.PongWait = 30*time.Second, time.Minute
	const moveTimeout = time.Minute
	ts, _ := startStackWith(t, cfg, match.Config{MoveTimeout: moveTimeout, Grace: time.Minute, Linger: time.Minute})
	seats, id := startMatch(t, ts, "tictactoe", "flood_x", "flood_o")
	x, o := seats[0].c, seats[1].c
	watch := `{"type":"match.watch","match":"` + id + `"}`
	unwatch := `{"type":"match.unwatch","match":"` + id + `"}`

	// x moves first, so that o's move can come during the flood.
	writeText(t, x, `{"type":"match.move","match":"`+id+`","move":{"cell":0}}`)
	stateWhere(t, x, func(f frameMap) bool { return f["version"] == float64(2) })
	stateWhere(t, o, func(f frameMap) bool { return f["version"] == float64(2) })
	fx, fo := follow(t, x, id), follow(t, o, id)

	normalConn, _ := ts.connect(t, "")
	writeText(t, normalConn, watch)
	normal := follow(t, normalConn, id)
	normal.await(t, 10*time.Second, "the spectator", func(f *follower) bool { return f.last.Spectators == 1 })

	// The stuck spectator: a small receive buffer, so that the server's
	// writes to it block soon; it reads its welcome, then asks for the
	// state again and again (each watch of a match it watches sends it
	// the state) and never reads: its send queue fills and it is dropped.
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	stuck, _, err := d.Dial(ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	writeText(t, stuck, `{"type":"hello","v":1}`)
	if w := readFrame(t, stuck); w["type"] != "welcome" {
		t.Fatalf("stuck: %v", w)
	}
	var stuckWrote int
	for ; stuckWrote < 100_000 && ts.Stats().ClosedSlow == 0; stuckWrote++ {
		stuck.SetWriteDeadline(time.Now().Add(time.Second))
		if stuck.WriteMessage(websocket.TextMessage, []byte(watch)) != nil {
			break
		}
	}
	waitFor(t, "the stuck spectator to be dropped", func() bool { return ts.Stats().ClosedSlow == 1 })
	t.Logf("stuck spectator dropped after %d watches", stuckWrote)

	floodConn, _ := ts.connect(t, "")
	flooder := follow(t, floodConn, id)
	readers := []*follower{normal, fx, fo}
	normal.mu.Lock()
	first := normal.last.Version
	normal.mu.Unlock()

	// Each watch gets the flooder the state: it is paced by those, at
	// most `window` watches (and as many unwatches) ahead, within the
	// half of a match's inbox (64 requests) that watches may fill.
	const cycles, window = 5000, 8
	var moveSent time.Time
	floodStart := time.Now()
	for i := range cycles {
		if i == cycles/2 {
			moveSent = time.Now()
			writeText(t, o, `{"type":"match.move","id":"mid","match":"`+id+`","move":{"cell":4}}`)
		}
		writeText(t, floodConn, watch)
		writeText(t, floodConn, unwatch)
		if target := i + 1 - window; target > 0 {
			flooder.await(t, 10*time.Second, "the flooder's states", func(f *follower) bool { return len(f.versions) >= target })
		}
	}
	floodTime := time.Since(floodStart)
	// The flooder is gone; the count shows one spectator within a second.
	floodConn.Close()
	for _, r := range readers {
		r.await(t, 5*time.Second, "the final count", func(f *follower) bool {
			return f.last.Spectators == 1 && f.last.State.Moves == 2
		})
	}
	t.Logf("%d watches and unwatches in %v", 2*cycles, floodTime)

	normal.mu.Lock()
	versions := append([]int64(nil), normal.versions...)
	normal.mu.Unlock()
	last := normal.lastState(t)
	for i := 1; i < len(versions); i++ {
		if versions[i] != versions[i-1]+1 {
			t.Fatalf("normal spectator: version %d after %d (frame %d of %d)", versions[i], versions[i-1], i, len(versions))
		}
	}
	// One version per second of flood for the count, o's move, the
	// flooder's leaving, and slack for the seconds' edges.
	if n, most := versions[len(versions)-1]-first, int64(floodTime/time.Second)+4; n > most {
		t.Errorf("the flood made %d versions in %v, want at most %d", n, floodTime, most)
	}
	if last.Status != match.StatusLive || last.Turn == nil || *last.Turn != 0 || last.State.Moves != 2 {
		t.Fatalf("final state %+v, want live with x to move after two moves", last)
	}
	if !last.Players[0].Connected || !last.Players[1].Connected {
		t.Fatalf("a player was dropped by the flood: %+v", last.Players)
	}
	if st := ts.Stats(); st.ClosedSlow != 1 {
		t.Fatalf("connections dropped as too slow: %d, want 1 (the stuck spectator)", st.ClosedSlow)
	}

	// o's move was answered while the flood went on, and its deadline runs
	// from when it was applied.
	fo.mu.Lock()
	arrived, ok := fo.arrived[2]
	fo.mu.Unlock()
	if !ok {
		t.Fatal("o never saw its move")
	}
	if lag := arrived.Sub(moveSent); lag > time.Second {
		t.Fatalf("o's move was answered after %v, want within 1s", lag)
	} else {
		t.Logf("move answered in %v during the flood", lag)
	}
	if last.DeadlineMS == nil {
		t.Fatal("no deadline")
	}
	lo, hi := moveSent.Add(moveTimeout).UnixMilli()-1, arrived.Add(moveTimeout).UnixMilli()+1
	if dl := *last.DeadlineMS; dl < lo || dl > hi {
		t.Fatalf("deadline_ms %d, want between %d and %d (MoveTimeout from the move)", dl, lo, hi)
	}

	// The stuck spectator finds its connection closed: what had reached
	// its buffers, then 1013 or the end of the stream.
	stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got int
	for {
		_, _, err := stuck.ReadMessage()
		if err == nil {
			got++
			continue
		}
		var ce *websocket.CloseError
		var ne net.Error
		switch {
		case errors.As(err, &ce) && ce.Code != websocket.CloseTryAgainLater && ce.Code != websocket.CloseAbnormalClosure:
			t.Fatalf("stuck spectator: close %d, want 1013 or a dropped connection", ce.Code)
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("stuck spectator still connected after %d frames", got)
		}
		t.Logf("stuck spectator read %d frames, then %v", got, err)
		break
	}
	waitFor(t, "the flooding and stuck connections to go", func() bool { return ts.openConns() == 3 })
}
