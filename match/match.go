package match

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnbase/turnbase/game"
)

type requestKind int

const (
	reqWatch requestKind = iota
	reqUnwatch
	reqMove
	reqResign
	reqRematch
	reqRecorded  // the rater reported the rating changes (Registry.Rated)
	reqShowCount // a lingering match's timer: the spectator count is due
	reqAbort     // an operator aborts the match (abort.go)
	reqRematched // the rematch started (askRematch): tell every subscriber where
)

type request struct {
	kind     requestKind
	conn     Conn
	move     json.RawMessage
	reply    ReplyFunc
	ratings  []RatingChange // reqRecorded
	next     string         // reqRematched: the rematch's id
	received time.Time      // reqMove: when the registry got it
}

// sub is one subscribed connection.
type sub struct {
	seat int // the viewer: a seat, or game.Spectator
}

// Match owns one game between two players. While it is live, its
// goroutine (run) owns the game; requests reach run through queue. When the
// match ends, run hands it over and returns: from then on until it is gone,
// whoever brings a request handles it at once under mu, so a lingering
// match costs no goroutine, only its memory.
type Match struct {
	id        string      // immutable
	game      game.Game   // immutable
	players   [2]Player   // immutable
	started   time.Time   // immutable
	rematchOf string      // immutable
	unrated   string      // immutable: why the result will not be rated (Record.Unrated, or UnratedComputer); "": it will
	bots      [2]game.Bot // immutable; nil for a person's seat (see bot.go)
	cfg       Config      // immutable
	reg       *Registry   // immutable
	summary   atomic.Pointer[Summary]

	mu        sync.Mutex    // guards queue, head, lingering and gone; once lingering, also the fields run owned
	queue     []request     // requests for run, oldest first from head
	head      int           // queue[head:] are waiting
	watches   int           // of those, watches and unwatches (see inboxFull)
	lingering bool          // run has handed the ended match over: requests are handled under mu
	gone      bool          // the match stopped (linger over, shutdown, crash): requests get ErrNotFound
	wake      chan struct{} // capacity 1: a token when queue got a request; read only by run

	// Owned by run while it runs; guarded by mu once the match lingers.
	state      game.State
	status     string
	version    int64
	ceiling    int64 // the highest version the journal lets this match send (VersionHeadroom); math.MaxInt64: no limit
	moves      int
	seatMoves  [2]int // moves made by each seat
	phase      int
	deadline   time.Time    // zero once the match is over
	subs       map[Conn]sub // everyone who receives match.state
	seatConns  [2]int       // subscribed connections per seat
	graceEnd   [2]time.Time // zero while the seat is connected
	spectators int          // subscribers who are not seated
	shown      int          // the spectator count the current version shows
	countDirty bool         // spectators differs from shown: a version is due (coalesced, see showCount)
	countSent  time.Time    // when a version went out for the spectator count alone
	countTimer bool         // lingering: a timer will bring reqShowCount
	outcome    game.Outcome // set when the match ends
	ended      time.Time    // zero while live
	over       []byte       // the match.over frame, once known
	after      [2]float64   // the seats' ratings after the match, once rated (0: unknown)
	rematch    [2]bool      // seats that asked for a rematch
	rematched  []byte       // match.rematch_started, once the rematch runs; sent to later watchers too
	frames     [3][]byte    // match.state encoded per viewer (spectator, seat 0, seat 1) for the current version
	buf        []byte       // scratch for encoding frames; nil once lingering
	pending    ReplyFunc    // the reply of the request being handled, for a panic to answer
	botAt      time.Time    // when a computer seat plays its awaited move; zero: none pending
	rng        *rand.Rand   // the computer seats' dice; nil without one
}

// newMatch returns a match in state, with moves already played (a match
// resumed after a restart has some), at version 1 and its clocks starting
// at now. Resume sets the version and deadline a resumed match continues
// with.
func newMatch(reg *Registry, rec Record, g game.Game, state game.State, moves int, cfg Config, now time.Time) *Match {
	m := &Match{
		id:        rec.ID,
		game:      g,
		players:   rec.Players,
		started:   rec.Started,
		rematchOf: rec.RematchOf,
		unrated:   rec.Unrated,
		cfg:       cfg,
		reg:       reg,
		wake:      make(chan struct{}, 1),
		state:     state,
		status:    StatusLive,
		moves:     moves,
		phase:     state.Phase(),
		deadline:  now.Add(cfg.MoveTimeout),
		subs:      make(map[Conn]sub),
		version:   1,
		ceiling:   math.MaxInt64,
	}
	if reg.journal != nil {
		// What the journal's resume gives a match with no stored move
		// and no RaiseVersion.
		m.ceiling = VersionHeadroom
	}
	m.seatBots()
	for seat := range m.graceEnd {
		if m.bots[seat] == nil {
			m.graceEnd[seat] = now.Add(cfg.Grace)
		}
	}
	m.publishSummary()
	return m
}

// logger is the match's logger. Built when needed: matches log rarely, and
// a lingering match should not keep one.
func (m *Match) logger() *slog.Logger {
	return m.reg.logger.With("match_id", m.id, "game", m.game.ID())
}

// attachLocked subscribes the players' open connections before run
// starts; each will get match.found ("Locked": the caller owns the match
// state, as run does later).
func (m *Match) attachLocked(conns []Conn) {
	for _, c := range conns {
		m.subscribeLocked(c)
	}
}

// ID returns the match id.
func (m *Match) ID() string { return m.id }

// submit hands r to the match without blocking: a full queue is ErrBusy,
// a stopped match ErrNotFound.
func (m *Match) submit(r request) error { return m.deliver(r, true) }

// deliver hands r to run's queue, or handles it at once if the match
// lingers. Only a bounded request is refused when the queue is full; the
// others (an unwatch, the rating changes) must not be lost.
func (m *Match) deliver(r request, bounded bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.gone:
		return ErrNotFound
	case m.lingering:
		m.handleLingeringLocked(r)
		return nil
	case bounded && m.inboxFullLocked(r.kind):
		return ErrBusy
	}
	if r.kind == reqWatch || r.kind == reqUnwatch {
		m.watches++
	}
	m.queue = append(m.queue, r)
	select {
	case m.wake <- struct{}{}:
	default: // run has a token already
	}
	return nil
}

// inboxFullLocked reports whether a request of kind finds the queue full.
// Watches and unwatches (spectators coming and going) and the other
// requests (the players') are bounded apart: a watch is refused once half
// of InboxSize of them wait, the others once InboxSize others wait, so
// that spectators never take the players' room. (An unwatch is never
// refused; its count bounds the watches.)
func (m *Match) inboxFullLocked(kind requestKind) bool {
	if kind == reqWatch {
		return m.watches >= max(1, m.cfg.InboxSize/2)
	}
	return len(m.queue)-m.head-m.watches >= m.cfg.InboxSize
}

// compactAt is how many taken requests next lets pile up at the front of
// the queue before it moves the waiting ones down.
const compactAt = 64

// next takes the oldest queued request. Called by run.
func (m *Match) next() (request, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.queue) {
		m.queue, m.head = m.queue[:0], 0
		return request{}, false
	}
	r := m.queue[m.head]
	m.queue[m.head] = request{} // drop the references
	m.head++
	if r.kind == reqWatch || r.kind == reqUnwatch {
		m.watches--
	}
	if m.head >= compactAt && 2*m.head >= len(m.queue) {
		// A queue that never runs empty would otherwise keep every
		// request it ever held: move the waiting ones to the front.
		n := copy(m.queue, m.queue[m.head:])
		clear(m.queue[n:])
		m.queue, m.head = m.queue[:n], 0
	}
	return r, true
}

// run is the match's goroutine. It returns once the match has ended,
// handing it over to linger, or when ctx is done (server shutdown).
func (m *Match) run(ctx context.Context, initial []Conn) {
	handedOver := false
	defer func() {
		if !handedOver {
			m.stop()
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			m.logger().Error("match panicked; aborting it", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			reply(m.pending, fmt.Errorf("match %s crashed: %v", m.id, p))
			m.crashed()
		}
	}()

	for _, c := range initial {
		if s, ok := m.subs[c]; ok && s.seat != game.Spectator {
			m.send(c, m.foundFrame(s.seat))
		}
	}
	if m.version > m.ceiling && !m.raiseCeiling(m.version) {
		// A resumed match whose new versions could not be made durable.
		// It goes on: stalling it would cost the players more than the
		// small chance that another crash repeats a version.
		m.logger().Warn("resumed match runs above its durable version ceiling", "version", m.version)
	}
	m.broadcast()
	if out := m.state.Outcome(); out.Done {
		// Resumed after a crash between the last move and the end.
		m.finish(ctx, StatusFinished, out)
	}
	m.scheduleBot(time.Now())

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for m.status == StatusLive {
		timer.Reset(time.Until(m.nextWake()))
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
			for m.status == StatusLive {
				r, ok := m.next()
				if !ok {
					break
				}
				m.pending = r.reply
				m.handle(ctx, r)
				m.pending = nil
			}
		case now := <-timer.C:
			m.playBot(ctx, now)
			m.expire(ctx, now)
		}
	}
	handedOver = m.handOver()
}

// handOver makes the ended match linger without its goroutine: what is
// still queued is handled, later requests are handled by their callers
// under mu, and the registry's sweeper stops the match when its linger
// time is over. It reports false if the registry is shutting down.
func (m *Match) handOver() bool {
	m.mu.Lock()
	m.lingering = true
	m.scheduleCount()
	for m.head < len(m.queue) && !m.gone {
		r := m.queue[m.head]
		m.head++
		m.handleLingeringLocked(r)
	}
	var stranded []request
	gone := m.gone // a queued request panicked: the match is dropped
	if gone {
		stranded = m.queue[m.head:]
	}
	m.queue, m.head, m.watches, m.wake = nil, 0, 0, nil
	m.frames, m.buf = [3][]byte{}, nil
	m.mu.Unlock()
	for _, r := range stranded {
		reply(r.reply, ErrNotFound)
	}
	if gone {
		return true // nothing left to linger or stop
	}
	return m.reg.linger(m)
}

// handleLingeringLocked handles r for a match that lingers after its end,
// on the caller's goroutine; m.mu is held. A panic here (a game whose View
// fails) drops the match rather than the caller.
func (m *Match) handleLingeringLocked(r request) {
	defer func() {
		if p := recover(); p != nil {
			m.logger().Error("lingering match panicked; dropping it", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			reply(r.reply, fmt.Errorf("match %s crashed: %v", m.id, p))
			m.gone = true
			m.reg.forget(m, m.subs)
		}
	}()
	m.handle(m.reg.ctx, r)
}

// stop makes the match gone: the registry forgets it, and requests still
// queued are answered ErrNotFound. Called by run when it returns without
// handing over, by the sweeper, and by Shutdown.
func (m *Match) stop() {
	m.mu.Lock()
	if m.gone {
		m.mu.Unlock()
		return
	}
	m.gone = true
	stranded := m.queue[m.head:]
	m.queue, m.head, m.watches = nil, 0, 0
	subs := m.subs
	m.mu.Unlock()
	m.reg.forget(m, subs)
	for _, r := range stranded {
		reply(r.reply, ErrNotFound)
	}
}

// nextWake is the earliest moment something happens on its own in a live
// match.
func (m *Match) nextWake() time.Time {
	wake := m.deadline
	if !m.botAt.IsZero() && m.botAt.Before(wake) {
		wake = m.botAt
	}
	for _, g := range m.graceEnd {
		if !g.IsZero() && g.Before(wake) {
			wake = g
		}
	}
	if m.countDirty {
		if due := m.countSent.Add(m.cfg.SpectatorEvery); due.Before(wake) {
			wake = due
		}
	}
	return wake
}

func (m *Match) handle(ctx context.Context, r request) {
	switch r.kind {
	case reqWatch:
		m.watch(r.conn)
		reply(r.reply, nil)
	case reqUnwatch:
		if _, visible := m.unsubscribe(r.conn); visible {
			m.changed()
		} else {
			m.showCount(time.Now())
		}
	case reqMove:
		m.join(r.conn)
		err := m.move(ctx, r.conn, r.move)
		if err != nil {
			m.reg.observer.MoveRejected(m.game.ID(), err)
		} else {
			m.reg.observer.MoveAccepted(m.game.ID(), time.Since(r.received))
		}
		reply(r.reply, err)
	case reqResign:
		m.join(r.conn)
		reply(r.reply, m.resign(ctx, r.conn))
	case reqRematch:
		m.askRematch(r.conn, r.reply)
	case reqRecorded:
		m.finishOver(r.ratings)
	case reqShowCount:
		m.countTimer = false
		m.showCount(time.Now())
		m.scheduleCount()
	case reqAbort:
		reply(r.reply, m.abort(ctx))
	case reqRematched:
		m.announceRematch(r.next)
	}
}

func reply(f ReplyFunc, err error) {
	if f != nil {
		f(err)
	}
}

func (m *Match) seatOf(playerID string) int {
	if playerID == "" {
		return game.Spectator
	}
	for i, p := range m.players {
		if p.ID == playerID {
			return i
		}
	}
	return game.Spectator
}

func (m *Match) move(ctx context.Context, c Conn, mv json.RawMessage) error {
	seat := m.seatOf(c.PlayerID())
	if seat == game.Spectator {
		return ErrNotAPlayer
	}
	if m.status != StatusLive {
		return ErrMatchOver
	}
	// The game reads the move strictly and gives its canonical form: that
	// is what is applied, stored and replayed, never the client's text, so
	// that a replay plays exactly the move that was played live.
	canon, err := m.game.ParseMove(mv)
	if err != nil {
		return err
	}
	return m.play(ctx, seat, canon)
}

// play applies seat's move (in its canonical form), stores it and shows
// it: the one path of every move, a person's or a computer seat's.
func (m *Match) play(ctx context.Context, seat int, mv json.RawMessage) error {
	next, err := m.state.Apply(seat, mv)
	if err != nil {
		return err
	}
	now := time.Now()
	deadline, phase := m.deadline, next.Phase()
	if phase != m.phase {
		deadline = now.Add(m.cfg.MoveTimeout)
	}
	done := next.Outcome().Done
	if j := m.reg.journal; j != nil {
		// The move is stored with the version it makes (changed or finish
		// takes the next one) and the deadline it shows, so that a match
		// resumed from it continues above that version, with that deadline.
		stored := StoredMove{Seq: m.moves + 1, Seat: seat, Move: mv, At: now, Version: m.version + 1, Deadline: deadline}
		if done {
			stored.Deadline = time.Time{}
		}
		if err := j.AppendMove(ctx, m.id, stored); err != nil {
			return fmt.Errorf("store move %d of match %s: %w", stored.Seq, m.id, err)
		}
		m.ceiling = max(m.ceiling, stored.Version+VersionHeadroom)
	}
	m.state = next
	m.moves++
	m.seatMoves[seat]++
	m.phase, m.deadline = phase, deadline
	if out := next.Outcome(); out.Done {
		m.finish(ctx, StatusFinished, out)
		return nil
	}
	m.changed()
	m.scheduleBot(now)
	return nil
}

func (m *Match) resign(ctx context.Context, c Conn) error {
	seat := m.seatOf(c.PlayerID())
	if seat == game.Spectator {
		return ErrNotAPlayer
	}
	if m.status != StatusLive {
		return ErrMatchOver
	}
	if m.seatMoves[seat] == 0 {
		// A resign before the resigner's own first move is an abort,
		// unrated, as a timeout before the first move is: otherwise two
		// accounts could trade rated wins without playing (rating farming).
		m.finish(ctx, StatusAborted, game.Outcome{Done: true, Winner: game.NoSeat, Reason: "resign"})
		return nil
	}
	m.finish(ctx, StatusFinished, game.Outcome{Done: true, Winner: 1 - seat, Reason: "resign"})
	return nil
}

// expire handles a deadline or grace period that has passed.
func (m *Match) expire(ctx context.Context, now time.Time) {
	if m.status != StatusLive {
		return
	}
	m.showCount(now)
	var gone [2]bool
	for seat, g := range m.graceEnd {
		gone[seat] = !g.IsZero() && !now.Before(g)
	}
	switch {
	case gone[0] && gone[1]:
		m.finish(ctx, StatusFinished, game.Outcome{Done: true, Winner: game.NoSeat, Reason: "abandoned"})
		return
	case gone[0] || gone[1]:
		loser := 0
		if gone[1] {
			loser = 1
		}
		m.finish(ctx, StatusFinished, game.Outcome{Done: true, Winner: 1 - loser, Reason: "abandoned"})
		return
	}
	if now.Before(m.deadline) {
		return
	}
	late := [2]bool{m.state.Awaiting(0), m.state.Awaiting(1)}
	switch {
	case m.moves == 0:
		m.finish(ctx, StatusAborted, game.Outcome{Done: true, Winner: game.NoSeat, Reason: "no_moves"})
	case late[0] && late[1]:
		m.finish(ctx, StatusFinished, game.Outcome{Done: true, Winner: game.NoSeat, Reason: "timeout"})
	case late[0] || late[1]:
		loser := 0
		if late[1] {
			loser = 1
		}
		m.finish(ctx, StatusFinished, game.Outcome{Done: true, Winner: 1 - loser, Reason: "timeout"})
	default:
		// Nobody owes a move, yet the game goes on: a game bug. Give the
		// turn a fresh deadline rather than punish a player for it.
		m.logger().Warn("deadline passed with no seat awaited")
		m.deadline = now.Add(m.cfg.MoveTimeout)
	}
}

// finish ends the match: the end is stored, the final state goes out at
// once, and match.over follows: at once for an unrated end, else when the
// rater reports the rating changes (Registry.Rated).
func (m *Match) finish(ctx context.Context, status string, out game.Outcome) {
	now := time.Now()
	res := Result{
		MatchID: m.id, Game: m.game.ID(), Players: m.players,
		Status: status, Winner: out.Winner, Reason: out.Reason,
		Rated:   status == StatusFinished && m.unrated == "",
		Started: m.started, Ended: now, Moves: m.moves,
	}
	awaitRating := res.Rated && m.reg.rated
	if awaitRating {
		m.reg.awaitRating(m)
	}
	if j := m.reg.journal; j != nil {
		// The end is stored before anyone is told. Should even that fail,
		// the match ends anyway: the store's spool and the restart path
		// bring it back as live, and a result is only ever rated once.
		if err := j.FinishMatch(ctx, res); err != nil {
			m.logger().Error("store match end", "err", err)
		} else {
			m.ceiling = math.MaxInt64 // an ended match is never resumed
		}
	}
	m.status = status
	m.outcome = out
	m.ended = now
	m.deadline = time.Time{}
	m.graceEnd = [2]time.Time{}
	m.botAt = time.Time{}
	m.changed()
	m.reg.ended(m)
	m.reg.observer.MatchEnded(m.game.ID(), status, out.Reason)
	m.logger().Info("match ended", "status", status, "winner", out.Winner, "reason", out.Reason, "moves", m.moves)
	if !awaitRating {
		m.finishOver(nil)
	}
}

// finishOver sends match.over to every subscriber.
func (m *Match) finishOver(ratings []RatingChange) {
	if ratings == nil {
		ratings = []RatingChange{}
	}
	for _, ch := range ratings {
		if seat := m.seatOf(ch.PlayerID); seat != game.Spectator {
			m.after[seat] = ch.After
		}
	}
	result := "win"
	switch {
	case m.status == StatusAborted:
		result = "aborted"
	case m.outcome.Winner == game.NoSeat:
		result = "draw"
	}
	m.over = mustEncode(overFrame{
		Type: "match.over", Match: m.id, Result: result,
		Winner: seatPtr(m.outcome.Winner), Reason: m.outcome.Reason, Ratings: ratings,
	})
	for c := range m.subs {
		m.send(c, m.over)
	}
}

// crashed ends a match whose goroutine panicked: aborted with
// server_error, as far as it can still be told to anyone.
func (m *Match) crashed() {
	defer func() {
		if p := recover(); p != nil {
			m.logger().Error("match panicked again while aborting", "panic", fmt.Sprint(p))
		}
	}()
	if m.status != StatusLive {
		return
	}
	m.status = StatusAborted
	m.outcome = game.Outcome{Done: true, Winner: game.NoSeat, Reason: "server_error"}
	m.ended = time.Now()
	m.deadline = time.Time{}
	m.graceEnd = [2]time.Time{}
	m.reg.ended(m)
	m.reg.observer.MatchEnded(m.game.ID(), StatusAborted, "server_error")
	m.nextVersion() // if it cannot, the state goes out at the version before
	m.publishSummary()
	over := mustEncode(overFrame{Type: "match.over", Match: m.id, Result: "aborted", Winner: nil, Reason: "server_error", Ratings: []RatingChange{}})
	for c, s := range m.subs {
		frame, err := m.safeStateFrame(s.seat)
		if err == nil {
			m.send(c, frame)
		}
		m.send(c, over)
	}
}

func (m *Match) safeStateFrame(viewer int) (frame []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("state frame: %v", p)
		}
	}()
	return m.stateFrame(viewer), nil
}

// askRematch records seat's wish for a rematch and answers through f:
// the first wish is offered to both players, the second starts the new
// match. It only succeeds after the end, so it runs under mu.
func (m *Match) askRematch(c Conn, f ReplyFunc) {
	seat := m.seatOf(c.PlayerID())
	switch {
	case seat == game.Spectator:
		reply(f, ErrNotAPlayer)
		return
	case m.status == StatusLive:
		reply(f, fmt.Errorf("%w: the match is still live", ErrNoRematch))
		return
	case m.status == StatusAborted && m.outcome.Reason == "server_error":
		reply(f, fmt.Errorf("%w: the match was aborted", ErrNoRematch))
		return
	}
	m.rematch[seat] = true
	if m.bots[1-seat] != nil {
		m.rematch[1-seat] = true // a computer seat always plays again
	}
	if !m.rematch[1-seat] {
		frame := mustEncode(rematchFrame{Type: "match.rematch_offered", Match: m.id, By: seat})
		for c, s := range m.subs {
			if s.seat != game.Spectator {
				m.send(c, frame)
			}
		}
		reply(f, nil)
		return
	}
	// Both asked: the same players again, seats swapped, at the ratings
	// this match gave them. Starting waits on the journal, so it runs on a
	// goroutine of its own, not under mu.
	m.rematch = [2]bool{}
	players := [2]Player{m.players[1], m.players[0]}
	for i, seat := range [2]int{1, 0} {
		if m.after[seat] != 0 {
			players[i].Rating = m.after[seat]
		}
	}
	started := m.reg.spawn(func() {
		next, err := m.reg.start(m.reg.ctx, m.game.ID(), players, m.id)
		if err != nil {
			m.mu.Lock()
			m.rematch[1-seat] = true // the other's offer stands
			m.mu.Unlock()
		} else {
			// The match may still be run's or linger by now: deliver handles both.
			_ = m.deliver(request{kind: reqRematched, next: next}, false)
		}
		reply(f, err)
	})
	if !started {
		reply(f, ErrShuttingDown)
	}
}

// announceRematch tells every subscriber, spectators included, the id of
// the rematch that follows this match (match.rematch_started), so that
// spectators can follow the players; later watchers get it too.
func (m *Match) announceRematch(next string) {
	m.rematched = mustEncode(rematchStartedFrame{Type: "match.rematch_started", Match: m.id, Next: next})
	for c := range m.subs {
		m.send(c, m.rematched)
	}
}

// watch subscribes c (again) and sends it the current state: a new
// version to everyone when a seat's connection came, or a spectator count
// is due; else the current version to c alone.
func (m *Match) watch(c Conn) {
	_, had := m.subs[c]
	visible := !had && m.subscribeLocked(c)
	if (visible && m.changed()) || m.showCount(time.Now()) {
		// Everyone saw the new count or connection, c included.
	} else {
		m.send(c, m.stateFrame(m.subs[c].seat))
	}
	if m.over != nil {
		m.send(c, m.over)
	}
	if m.rematched != nil {
		m.send(c, m.rematched)
	}
}

// join subscribes a seated player's connection that moves or resigns in
// the live match without having watched it (Registry.submitJoining counted
// it among its watches): the player is plainly there, so the seat is
// connected (its grace period ends), and the connection gets the
// match.state that answers its move.
func (m *Match) join(c Conn) {
	if m.status != StatusLive || m.seatOf(c.PlayerID()) == game.Spectator {
		return
	}
	if _, had := m.subs[c]; had {
		return
	}
	if m.subscribeLocked(c) {
		m.changed()
	}
}

// subscribeLocked adds c and reports whether that changed what viewers
// see at once: a seat's connected flag. A new spectator changes the count,
// which goes out coalesced (showCount). It is called by
// run, before run starts, or under mu while the match lingers ("Locked":
// the caller owns the match state).
func (m *Match) subscribeLocked(c Conn) (visible bool) {
	seat := m.seatOf(c.PlayerID())
	m.subs[c] = sub{seat: seat}
	if seat == game.Spectator {
		m.spectators++
		m.spectatorsChanged()
		return false
	}
	m.seatConns[seat]++
	m.graceEnd[seat] = time.Time{}
	return m.seatConns[seat] == 1
}

// unsubscribe removes c and reports whether it was subscribed and whether
// its leaving changed what viewers see at once (a spectator's leaving goes
// out coalesced, as its coming does).
func (m *Match) unsubscribe(c Conn) (was, visible bool) {
	s, ok := m.subs[c]
	if !ok {
		return false, false
	}
	delete(m.subs, c)
	if s.seat == game.Spectator {
		m.spectators--
		m.spectatorsChanged()
		return true, false
	}
	m.seatConns[s.seat]--
	if m.seatConns[s.seat] > 0 {
		return true, false
	}
	if m.status == StatusLive && m.bots[s.seat] == nil {
		m.graceEnd[s.seat] = time.Now().Add(m.cfg.Grace)
	}
	return true, true
}

// spectatorsChanged notes a change of the spectator count. The HTTP
// summary shows it at once; match.state shows it with the next version,
// which showCount makes come within SpectatorEvery. Spectators coming and
// going thus cost the players at most one frame per SpectatorEvery, however
// fast they churn, and the journal at most one RaiseVersion per
// VersionHeadroom of those.
func (m *Match) spectatorsChanged() {
	m.countDirty = m.spectators != m.shown
	m.publishSummary()
	m.scheduleCount()
}

// scheduleCount makes sure that a lingering match, which has no goroutine
// to wake, shows a changed spectator count when it is due: a timer brings
// it a reqShowCount then. A live match's run wakes for it (nextWake).
func (m *Match) scheduleCount() {
	if !m.lingering || !m.countDirty || m.countTimer {
		return
	}
	m.countTimer = true
	time.AfterFunc(time.Until(m.countSent.Add(m.cfg.SpectatorEvery)), func() {
		_ = m.deliver(request{kind: reqShowCount}, false) // a match gone needs none
	})
}

// showCount sends a new version for the spectator count if it changed
// since the current version and the last version sent for it alone is
// SpectatorEvery old; it reports whether a version went out. A live match
// calls it when it wakes (nextWake counts the wait), a lingering one when
// its timer says so (scheduleCount): a change shows within SpectatorEvery.
func (m *Match) showCount(now time.Time) bool {
	if !m.countDirty || now.Before(m.countSent.Add(m.cfg.SpectatorEvery)) {
		return false
	}
	m.countSent = now
	return m.changed()
}

// changed records a change every viewer can see: a new version goes out.
// It reports false if no new version could be had (see nextVersion): the
// change then goes out with the next one.
func (m *Match) changed() bool {
	m.publishSummary()
	if !m.nextVersion() {
		return false
	}
	m.broadcast()
	return true
}

// nextVersion moves the match to a new version, first raising the durable
// ceiling if the new version would pass it. It reports false if that
// failed; the version stays as it was, and so do the frames sent for it.
func (m *Match) nextVersion() bool {
	if m.version >= m.ceiling && !m.raiseCeiling(m.version+1) {
		return false
	}
	m.version++
	m.frames = [3][]byte{}
	m.shown, m.countDirty = m.spectators, false
	return true
}

// raiseCeiling makes the journal's version ceiling v + VersionHeadroom,
// so that versions up to it may be sent. It waits for the journal, which
// a lingering match must not do (it runs under mu on a caller's
// goroutine): it reports false then, as when the journal fails. A match
// whose end was stored never needs it (its ceiling has no limit).
func (m *Match) raiseCeiling(v int64) bool {
	if m.lingering {
		m.logger().Warn("lingering match at its version ceiling; change not shown", "version", m.version)
		return false
	}
	ceiling := v + VersionHeadroom
	if err := m.reg.journal.RaiseVersion(m.reg.ctx, m.id, ceiling); err != nil {
		m.logger().Error("store version ceiling; change not shown", "version", ceiling, "err", err)
		return false
	}
	m.ceiling = ceiling
	return true
}

// broadcast sends the current state to every subscriber, encoding it once
// per kind of viewer, the players' connections first. A connection that
// cannot take it is dropped; a seat's last connection dropping changes what
// others see, so broadcast again until no such drop happens (a spectator
// dropped shows with the next coalesced count).
func (m *Match) broadcast() {
	for {
		var dropped []Conn
		for _, players := range []bool{true, false} {
			for c, s := range m.subs {
				if (s.seat != game.Spectator) == players && !c.Send(m.stateFrame(s.seat)) {
					dropped = append(dropped, c)
				}
			}
		}
		visible := false
		for _, c := range dropped {
			m.reg.observer.SubscriberDropped()
			_, v := m.unsubscribe(c)
			visible = visible || v
			m.reg.unwatched(c, m)
		}
		if !visible {
			return
		}
		m.publishSummary()
		if !m.nextVersion() {
			return
		}
	}
}

// send writes one frame to c, dropping c if it cannot keep up. It does not
// broadcast the resulting change; the next change carries it.
func (m *Match) send(c Conn, frame []byte) {
	if !c.Send(frame) {
		m.reg.observer.SubscriberDropped()
		if was, _ := m.unsubscribe(c); was {
			m.reg.unwatched(c, m)
		}
	}
}

func (m *Match) stateFrame(viewer int) []byte {
	i := viewer + 1
	if f := m.frames[i]; f != nil {
		return f
	}
	f := stateFrame{
		Type: "match.state", Match: m.id, Game: m.game.ID(),
		Version: m.version, Status: m.status,
		You:        seatPtr(viewer),
		Turn:       nil,
		DeadlineMS: msPtr(m.deadline),
		Spectators: m.shown,
		ServerMS:   time.Now().UnixMilli(),
		Rated:      m.unrated == "",
		Unrated:    m.unrated,
	}
	if m.status == StatusLive {
		f.Turn = seatPtr(m.state.Turn())
	}
	var graceMS [2]int64 // outside the loop, so that GraceMS stays off the heap
	for seat, p := range m.players {
		f.Players[seat] = wireSeat{
			ID: p.ID, Name: p.Name, Rating: roundRating(p.Rating), Bot: p.Bot,
			Connected: m.seatConns[seat] > 0 || m.bots[seat] != nil,
		}
		if g := m.graceEnd[seat]; !g.IsZero() {
			graceMS[seat] = g.UnixMilli()
			f.Players[seat].GraceMS = &graceMS[seat]
		}
	}
	buf, err := f.appendJSON(m.buf[:0], m.state, viewer)
	if err != nil {
		// A game whose view cannot be encoded: a bug in that game. The
		// match's recover aborts the match.
		panic("match: encode frame: " + err.Error())
	}
	if !m.lingering {
		m.buf = buf // kept for the next frame while the match is live
	}
	m.frames[i] = bytes.Clone(buf) // its own exact-size copy: it goes to send queues
	return m.frames[i]
}

func (m *Match) foundFrame(seat int) []byte {
	f := foundFrame{Type: "match.found", Match: m.id, Game: m.game.ID(), Players: wirePlayers(m.players), You: seat,
		Rated: m.unrated == "", Unrated: m.unrated}
	return f.appendJSON(make([]byte, 0, 256))
}

// publishSummary refreshes the snapshot other goroutines read, if what it
// shows changed (moves do not change it).
func (m *Match) publishSummary() {
	if s := m.summary.Load(); s != nil && s.Status == m.status && s.Spectators == m.spectators {
		return // status, winner, reason and end only change together
	}
	s := &Summary{
		ID: m.id, Game: m.game.ID(), Status: m.status,
		Players:    []Player{m.players[0].rounded(), m.players[1].rounded()},
		Reason:     m.outcome.Reason,
		StartedMS:  m.started.UnixMilli(),
		EndedMS:    msPtr(m.ended),
		Spectators: m.spectators,
	}
	if m.status != StatusLive {
		s.Winner = seatPtr(m.outcome.Winner)
	}
	m.summary.Store(s)
}
