package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/game"
)

const (
	writeWait  = 10 * time.Second // bound on one frame write
	helloWait  = 10 * time.Second // bound on the welcome after hello
	closeWait  = 3 * time.Second  // bound on the server's answer to our close
	maxRetries = 5                // signups and handshakes refused with 429/503
	requeueGap = time.Second      // pause after a refused queue.join
)

// phase is where a player stands, as the swarm's stop needs to know it.
type phase int

const (
	phaseConnecting phase = iota
	phaseIdle             // welcomed, not queued nor playing (-idle, or after a refused join)
	phaseQueued           // queue.join sent
	phasePlaying          // match.found received
	phaseLeaving          // queue.leave sent at the stop
	phaseClosing          // our close frame is sent: only its answer matters now
)

// player is one simulated player: one WebSocket, one goroutine (run) that
// reads every frame and decides, thinks and moves in turn. Writes to the
// socket happen under mu, from run or from the swarm's stop and forceClose.
type player struct {
	n    int
	name string
	sw   *swarm

	conn atomic.Pointer[websocket.Conn] // for kill, which must not wait for mu

	mu       sync.Mutex // guards the fields below and every write to ws
	ws       *websocket.Conn
	phase    phase
	stopping bool // set by stop: leave the queue, close after the match under way

	// Owned by run, not thread-safe.
	seq      int               // last request id number
	queuedAt time.Time         // when the last queue.join went out; zero once found
	match    string            // the match being played; "" between matches
	game     string            // its game's id
	rules    game.RandomPlayer // its game's rules; nil for a game loadgen cannot play
	seat     int
	pending  string     // id of the move waiting for its match.state; "" if none
	sentAt   time.Time  // when pending went out
	made     int        // our moves in the match before pending, as the game counts them
	rng      *rand.Rand // picks the moves
}

func newPlayer(n int, sw *swarm) *player {
	return &player{n: n, name: sw.cfg.names + strconv.Itoa(n), sw: sw, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Frames from the server: one struct for all the types the player reads.
type inFrame struct {
	Type    string `json:"type"`
	Re      string `json:"re"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Match   string `json:"match"`
	Game    string `json:"game"`
	You     *int   `json:"you"`
	Status  string `json:"status"`
	Turn    *int   `json:"turn"`
	Players []struct {
		Connected *bool `json:"connected"`
	} `json:"players"`
	State  json.RawMessage `json:"state"` // read by the game's rules only
	Result string          `json:"result"`
	Reason string          `json:"reason"`
}

// outFrame is every request the player sends.
type outFrame struct {
	Type  string          `json:"type"`
	ID    string          `json:"id,omitempty"`
	V     int             `json:"v,omitempty"`
	Token string          `json:"token,omitempty"`
	Game  string          `json:"game,omitempty"`
	Level string          `json:"level,omitempty"`
	Match string          `json:"match,omitempty"`
	Move  json.RawMessage `json:"move,omitempty"`
}

// run connects, then plays (or idles) until the connection closes.
func (p *player) run(ctx context.Context) {
	st := p.sw.stats
	ws, err := p.connect(ctx)
	if err != nil {
		var f *failure
		switch {
		case ctx.Err() != nil:
			st.canceled.Add(1)
		case errors.As(err, &f):
			st.connFailed(f.kind, f.err)
		default:
			st.connFailed("other", err)
		}
		if ws != nil {
			ws.Close()
		}
		return
	}
	defer ws.Close()
	st.connected.Add(1)
	p.sw.open.Add(1)
	defer p.sw.open.Add(-1)

	p.mu.Lock()
	if p.phase != phaseClosing {
		ws.SetReadDeadline(time.Time{})
		p.phase = phaseIdle
		switch {
		case p.stopping:
			p.closeLocked()
		case !p.sw.cfg.idle:
			p.joinLocked()
		}
	}
	p.mu.Unlock()

	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			p.readFailed(err)
			return
		}
		var f inFrame
		if err := json.Unmarshal(data, &f); err != nil {
			st.badFrames.Add(1)
			continue
		}
		if p.closing() {
			continue
		}
		p.handle(&f)
	}
}

// connect signs up, dials and says hello; it returns once welcomed. The
// socket it returns with an error, if any, is still to be closed.
func (p *player) connect(ctx context.Context) (*websocket.Conn, error) {
	start := time.Now()
	token, err := p.sw.signup(ctx, p.base(), p.name)
	if err != nil {
		return nil, err
	}
	p.sw.stats.signupTime.Record(time.Since(start))
	start = time.Now()
	ws, err := p.sw.dial(ctx, p.wsURL())
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.ws = ws
	p.conn.Store(ws)
	ws.SetReadDeadline(time.Now().Add(helloWait))
	err = p.writeLocked(outFrame{Type: "hello", ID: "hello", V: 1, Token: token})
	p.mu.Unlock()
	if err != nil {
		return ws, classify("hello", err)
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return ws, classify("hello", err)
		}
		var f inFrame
		if json.Unmarshal(data, &f) != nil {
			p.sw.stats.badFrames.Add(1)
			continue
		}
		switch f.Type {
		case "welcome":
			p.sw.stats.connectTime.Record(time.Since(start))
			return ws, nil
		case "error":
			p.sw.stats.errorFrame(f.Code)
			return ws, &failure{"hello: error " + f.Code, fmt.Errorf("hello: %s: %s", f.Code, f.Message)}
		}
	}
}

// base and wsURL are the player's server: the -url list, in turn.
func (p *player) base() string  { return p.sw.bases[(p.n-1)%len(p.sw.bases)] }
func (p *player) wsURL() string { return p.sw.wsURLs[(p.n-1)%len(p.sw.wsURLs)] }

func (p *player) closing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase == phaseClosing
}

// readFailed counts how the connection ended: after our close frame, a
// close frame back is a clean close; otherwise the server (or the network)
// closed it, which is an unexpected disconnect (1006 without a frame).
func (p *player) readFailed(err error) {
	st := p.sw.stats
	var ce *websocket.CloseError
	isClose := errors.As(err, &ce)
	switch {
	case p.closing() && isClose && ce.Code == websocket.CloseNormalClosure:
		st.cleanCloses.Add(1)
	case p.closing():
		st.uncleanCloses.Add(1)
	case isClose:
		st.disconnect(ce.Code)
	default:
		st.disconnect(websocket.CloseAbnormalClosure)
	}
}

func (p *player) handle(f *inFrame) {
	switch f.Type {
	case "match.found":
		p.onFound(f)
	case "match.state":
		p.onState(f)
	case "match.over":
		p.onOver(f)
	case "queue.left":
		p.mu.Lock()
		if p.phase == phaseLeaving {
			p.closeLocked()
		}
		p.mu.Unlock()
	case "error":
		p.onError(f)
	}
}

func (p *player) onFound(f *inFrame) {
	if f.You == nil || *f.You < 0 || *f.You > 1 {
		p.sw.stats.badFrames.Add(1)
		return
	}
	if !p.queuedAt.IsZero() {
		p.sw.stats.queueWait.Record(time.Since(p.queuedAt))
		p.queuedAt = time.Time{}
	}
	p.match, p.pending = f.Match, ""
	p.setGame(f.Game, *f.You)
	p.mu.Lock()
	if p.phase != phaseClosing {
		p.phase = phasePlaying
	}
	p.mu.Unlock()
}

// setGame takes the game and seat of a new match. A game loadgen
// cannot play (one the server added since) gets nil rules: the player
// never moves and loses on time.
func (p *player) setGame(g string, seat int) {
	p.game, p.seat, p.rules = g, seat, p.sw.cfg.rules[g]
}

// onState answers a match.state of the match under way: it times the
// pending move if the state holds it, and moves when the player owes one.
func (p *player) onState(f *inFrame) {
	if p.match == "" || f.Match != p.match {
		return // a finished match lingering, or a stray
	}
	st := p.sw.stats
	if p.pending != "" && p.holds(f) {
		rtt := time.Since(p.sentAt)
		st.moveRTT.Record(rtt)
		st.window.move(rtt)
		st.movesAccepted.Add(1)
		p.pending = ""
	}
	if f.Status != "live" || p.pending != "" {
		return
	}
	if p.stoppingNow() && p.opponentGone(f) {
		p.close() // the opponent left at the stop: do not wait for its grace
		return
	}
	move, made := p.pick(f)
	if move == nil || !p.think() {
		return
	}
	p.seq++
	id := "m" + strconv.Itoa(p.seq)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase == phaseClosing {
		return
	}
	sent := time.Now()
	if p.writeLocked(outFrame{Type: "match.move", ID: id, Match: p.match, Move: move}) != nil {
		return // the read will fail and count it
	}
	st.movesSent.Add(1)
	p.pending, p.sentAt, p.made = id, sent, made
}

// holds reports whether a state of the match includes the pending move:
// the game counts one more move of ours in it than when we sent it. A
// state that other events caused (the opponent's move, a connection
// change) does not.
func (p *player) holds(f *inFrame) bool {
	if f.Status != "live" || p.rules == nil {
		return true
	}
	return p.rules.MovesMade(f.State, p.seat) > p.made
}

// pick returns a random legal move if the player owes one, and the count
// of the player's moves that the state shows.
func (p *player) pick(f *inFrame) (move json.RawMessage, made int) {
	if p.rules == nil {
		return nil, 0
	}
	move, ok := p.rules.RandomMove(f.State, p.seat, p.rng)
	if !ok {
		return nil, 0
	}
	return move, p.rules.MovesMade(f.State, p.seat)
}

func (p *player) opponentGone(f *inFrame) bool {
	if len(f.Players) != 2 {
		return false
	}
	c := f.Players[1-p.seat].Connected
	return c != nil && !*c
}

// think waits the think time; false means the run is closing everything.
func (p *player) think() bool {
	d := p.sw.cfg.think.pick()
	if d <= 0 {
		select {
		case <-p.sw.force:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.sw.force:
		return false
	}
}

func (p *player) onOver(f *inFrame) {
	if p.match == "" || f.Match != p.match {
		return
	}
	done := p.sw.stats.matchOver(f.Match, p.game, f.Result, f.Reason)
	if m := p.sw.cfg.matches; m > 0 && done >= m {
		p.sw.matchesReached()
	}
	id := p.match
	p.match, p.pending = "", ""

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase == phaseClosing {
		return
	}
	// A finished match lingers for rematches; a client done with it stops
	// watching, which spares the server the frames.
	if p.writeLocked(outFrame{Type: "match.unwatch", Match: id}) != nil {
		return
	}
	p.phase = phaseIdle
	if p.stopping {
		p.closeLocked()
		return
	}
	p.joinLocked()
}

func (p *player) onError(f *inFrame) {
	st := p.sw.stats
	st.errorFrame(f.Code)
	switch {
	case f.Re != "" && f.Re == p.pending:
		st.movesRefused.Add(1)
		p.pending = "" // move again at the next state
	case strings.HasPrefix(f.Re, "q"):
		// queue.join refused: wait a little and try again.
		p.queuedAt = time.Time{}
		p.mu.Lock()
		if p.phase == phaseQueued {
			p.phase = phaseIdle
		}
		p.mu.Unlock()
		t := time.NewTimer(requeueGap)
		select {
		case <-t.C:
		case <-p.sw.force:
		}
		t.Stop()
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case p.phase != phaseIdle:
		case p.stopping:
			p.closeLocked()
		default:
			p.joinLocked()
		}
	}
}

// joinLocked queues for a random game of the mix, or with -computer
// asks for a game against the computer. Called by run only.
func (p *player) joinLocked() {
	p.seq++
	games := p.sw.cfg.games
	f := outFrame{Type: "queue.join", ID: "q" + strconv.Itoa(p.seq), Game: games[rand.IntN(len(games))]}
	if level := p.sw.cfg.computer[f.Game]; level != "" {
		f.Type, f.Level = "match.computer", level
	}
	if p.writeLocked(f) != nil {
		return
	}
	p.phase = phaseQueued
	p.queuedAt = time.Now()
	p.sw.stats.queueJoins.Add(1)
}

func (p *player) stoppingNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// stop asks the player to start no new match: a queued player leaves the
// queue (and closes once the server confirms, unless a match.found came
// first), an idle one closes, a playing one closes after its match.
// Called by the swarm.
func (p *player) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	switch p.phase {
	case phaseIdle:
		p.closeLocked()
	case phaseQueued:
		if p.writeLocked(outFrame{Type: "queue.leave", ID: "leave"}) != nil {
			p.closeLocked()
			return
		}
		p.phase = phaseLeaving
	}
}

// forceClose starts the close handshake whatever the player is doing.
// Called by the swarm when the drain time is over.
func (p *player) forceClose() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	p.closeLocked()
}

func (p *player) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

// closeLocked sends our close frame; the read loop then waits (closeWait at
// most) for the server's. A player still dialing closes once welcomed.
func (p *player) closeLocked() {
	if p.ws == nil || p.phase == phaseClosing {
		return
	}
	p.phase = phaseClosing
	deadline := time.Now().Add(closeWait)
	p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
	p.ws.SetReadDeadline(deadline)
}

// kill drops the TCP connection: the last resort at the end of a run.
func (p *player) kill() {
	if ws := p.conn.Load(); ws != nil {
		ws.NetConn().Close()
	}
}

func (p *player) writeLocked(f outFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s: %w", f.Type, err)
	}
	p.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return p.ws.WriteMessage(websocket.TextMessage, b)
}

// failure is a connection that could not be made, with a short kind for
// the report ("dial: HTTP 429", "signup: connection refused").
type failure struct {
	kind string
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// classify names the kind of a network error met at stage.
func classify(stage string, err error) *failure {
	var ce *websocket.CloseError
	var ne net.Error
	kind := "other"
	switch {
	case errors.As(err, &ce):
		kind = "closed " + strconv.Itoa(ce.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		kind = "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		kind = "no free local port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		kind = "too many open files"
	case errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "eof"
	}
	return &failure{stage + ": " + kind, fmt.Errorf("%s: %w", stage, err)}
}

// signup creates guest name on the server at base and returns its token.
func (sw *swarm) signup(ctx context.Context, base, name string) (string, error) {
	body := `{"name":"` + name + `"}` // names are [a-z0-9_]: nothing to escape
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/auth/guest", strings.NewReader(body))
		if err != nil {
			return "", fmt.Errorf("signup request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := sw.client.Do(req)
		if err != nil {
			return "", classify("signup", err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return "", classify("signup", err)
		}
		if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK {
			var out struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(data, &out); err != nil || out.Token == "" {
				return "", &failure{"signup: bad answer", fmt.Errorf("signup %s: no token in %.100q", name, data)}
			}
			return out.Token, nil
		}
		if attempt < maxRetries && retryable(resp.StatusCode) {
			sw.stats.retries.Add(1)
			if err := backoff(ctx, resp, attempt); err != nil {
				return "", err
			}
			continue
		}
		return "", &failure{fmt.Sprintf("signup: HTTP %d", resp.StatusCode),
			fmt.Errorf("signup %s: HTTP %d: %.200s", name, resp.StatusCode, data)}
	}
}

// dial opens the WebSocket at wsURL, retrying handshakes refused for load.
func (sw *swarm) dial(ctx context.Context, wsURL string) (*websocket.Conn, error) {
	for attempt := 0; ; attempt++ {
		ws, resp, err := sw.dialer.DialContext(ctx, wsURL, nil)
		if err == nil {
			return ws, nil
		}
		if resp == nil {
			return nil, classify("dial", err)
		}
		if attempt < maxRetries && retryable(resp.StatusCode) {
			sw.stats.retries.Add(1)
			if err := backoff(ctx, resp, attempt); err != nil {
				return nil, err
			}
			continue
		}
		return nil, &failure{fmt.Sprintf("dial: HTTP %d", resp.StatusCode), fmt.Errorf("dial %s: HTTP %d", wsURL, resp.StatusCode)}
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// backoff waits as Retry-After asks (100ms to 5s), or 200ms doubling, with
// jitter so that refused players do not come back together.
func backoff(ctx context.Context, resp *http.Response, attempt int) error {
	d := 200 * time.Millisecond << attempt
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		d = time.Duration(s) * time.Second
	}
	d = min(max(d, 100*time.Millisecond), 5*time.Second)
	d += rand.N(d / 2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
