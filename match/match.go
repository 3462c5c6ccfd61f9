package match

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
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
	reqRecorded // the result recorder returned
)

type request struct {
	kind     requestKind
	conn     Conn
	move     json.RawMessage
	reply    ReplyFunc
	ratings  []RatingChange // reqRecorded
	received time.Time      // reqMove: when the registry got it
}

// sub is one subscribed connection.
type sub struct {
	seat int // the viewer: a seat, or game.Spectator
}

// Match owns one game between two players. Its fields below inbox are owned
// by run and touched by no other goroutine.
type Match struct {
	id        string    // immutable
	game      game.Game // immutable
	players   [2]Player // immutable
	started   time.Time // immutable
	rematchOf string    // immutable
	cfg       Config    // immutable
	reg       *Registry // immutable
	logger    *slog.Logger

	inbox   chan request  // written by submit and the recorder goroutine, read only by run
	done    chan struct{} // closed when run returns
	summary atomic.Pointer[Summary]

	// Owned by run.
	state      game.State
	status     string
	version    int64
	moves      int
	phase      int
	deadline   time.Time    // zero once the match is over
	subs       map[Conn]sub // everyone who receives match.state
	seatConns  [2]int       // subscribed connections per seat
	graceEnd   [2]time.Time // zero while the seat is connected
	spectators int          // subscribers who are not seated
	outcome    game.Outcome // set when the match ends
	ended      time.Time    // zero while live
	over       []byte       // the match.over frame, once known
	rematch    [2]bool      // seats that asked for a rematch
	lingerEnd  time.Time    // when a finished match goes away
	frames     [3][]byte    // match.state encoded per viewer (spectator, seat 0, seat 1) for the current version
	pending    ReplyFunc    // the reply of the request being handled, for a panic to answer
}

// newMatch returns a match in state, with moves already played (a match
// resumed after a restart has some), and its clocks starting at now.
func newMatch(reg *Registry, rec Record, g game.Game, state game.State, moves int, cfg Config, now time.Time) *Match {
	m := &Match{
		id:        rec.ID,
		game:      g,
		players:   rec.Players,
		started:   rec.Started,
		rematchOf: rec.RematchOf,
		cfg:       cfg,
		reg:       reg,
		logger:    reg.logger.With("match_id", rec.ID, "game", g.ID()),
		inbox:     make(chan request, cfg.InboxSize),
		done:      make(chan struct{}),
		state:     state,
		status:    StatusLive,
		moves:     moves,
		phase:     state.Phase(),
		deadline:  now.Add(cfg.MoveTimeout),
		subs:      make(map[Conn]sub),
		version:   1,
	}
	for seat := range m.graceEnd {
		m.graceEnd[seat] = now.Add(cfg.Grace)
	}
	m.publishSummary()
	return m
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

// submit queues a request without blocking: a full inbox is ErrBusy, a
// stopped match ErrNotFound.
func (m *Match) submit(r request) error {
	select {
	case <-m.done:
		return ErrNotFound
	default:
	}
	select {
	case m.inbox <- r:
		return nil
	case <-m.done:
		return ErrNotFound
	default:
		return ErrBusy
	}
}

// run is the match's goroutine. It returns when the match has ended and
// lingered, or when ctx is done (server shutdown).
func (m *Match) run(ctx context.Context, initial []Conn) {
	defer close(m.done)
	defer func() { m.reg.forget(m, m.subs) }()
	defer func() {
		if p := recover(); p != nil {
			m.logger.Error("match panicked; aborting it", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			reply(m.pending, fmt.Errorf("match %s crashed: %v", m.id, p))
			m.crashed()
		}
	}()

	for _, c := range initial {
		if s, ok := m.subs[c]; ok && s.seat != game.Spectator {
			m.send(c, m.foundFrame(s.seat))
		}
	}
	m.broadcast()
	if out := m.state.Outcome(); out.Done {
		// Resumed after a crash between the last move and the end.
		m.finish(ctx, StatusFinished, out)
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wake := m.nextWake()
		if wake.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(wake))
		}
		select {
		case <-ctx.Done():
			return
		case r := <-m.inbox:
			m.pending = r.reply
			m.handle(ctx, r)
			m.pending = nil
		case now := <-timer.C:
			if m.status != StatusLive && !now.Before(m.lingerEnd) {
				return
			}
			m.expire(ctx, now)
		}
	}
}

// nextWake is the earliest moment something happens on its own.
func (m *Match) nextWake() time.Time {
	if m.status != StatusLive {
		return m.lingerEnd
	}
	wake := m.deadline
	for _, g := range m.graceEnd {
		if !g.IsZero() && g.Before(wake) {
			wake = g
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
		}
	case reqMove:
		err := m.move(ctx, r.conn, r.move)
		if err != nil {
			m.reg.observer.MoveRejected(m.game.ID(), err)
		} else {
			m.reg.observer.MoveAccepted(m.game.ID(), time.Since(r.received))
		}
		reply(r.reply, err)
	case reqResign:
		reply(r.reply, m.resign(ctx, r.conn))
	case reqRematch:
		reply(r.reply, m.askRematch(ctx, r.conn))
	case reqRecorded:
		m.finishOver(r.ratings)
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
	next, err := m.state.Apply(seat, mv)
	if err != nil {
		return err
	}
	if j := m.reg.journal; j != nil {
		stored := StoredMove{Seq: m.moves + 1, Seat: seat, Move: mv, At: time.Now()}
		if err := j.AppendMove(ctx, m.id, stored); err != nil {
			return fmt.Errorf("store move %d of match %s: %w", stored.Seq, m.id, err)
		}
	}
	m.state = next
	m.moves++
	if p := next.Phase(); p != m.phase {
		m.phase = p
		m.deadline = time.Now().Add(m.cfg.MoveTimeout)
	}
	if out := next.Outcome(); out.Done {
		m.finish(ctx, StatusFinished, out)
		return nil
	}
	m.changed()
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
	m.finish(ctx, StatusFinished, game.Outcome{Done: true, Winner: 1 - seat, Reason: "resign"})
	return nil
}

// expire handles a deadline or grace period that has passed.
func (m *Match) expire(ctx context.Context, now time.Time) {
	if m.status != StatusLive {
		return
	}
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
		m.logger.Warn("deadline passed with no seat awaited")
		m.deadline = now.Add(m.cfg.MoveTimeout)
	}
}

// finish ends the match: the final state goes out at once, the result to
// the recorder in the background, and match.over when it has answered.
func (m *Match) finish(ctx context.Context, status string, out game.Outcome) {
	now := time.Now()
	res := Result{
		MatchID: m.id, Game: m.game.ID(), Players: m.players,
		Status: status, Winner: out.Winner, Reason: out.Reason,
		Rated:   status == StatusFinished,
		Started: m.started, Ended: now, Moves: m.moves,
	}
	if j := m.reg.journal; j != nil {
		// The end is stored before anyone is told. Should even that fail,
		// the match ends anyway: the store's spool and the restart path
		// bring it back as live, and a result is only ever rated once.
		if err := j.FinishMatch(ctx, res); err != nil {
			m.logger.Error("store match end", "err", err)
		}
	}
	m.status = status
	m.outcome = out
	m.ended = now
	m.deadline = time.Time{}
	m.graceEnd = [2]time.Time{}
	m.lingerEnd = now.Add(m.cfg.Linger)
	m.changed()
	m.reg.ended(m)
	m.reg.observer.MatchEnded(m.game.ID(), status, out.Reason)
	m.logger.Info("match ended", "status", status, "winner", out.Winner, "reason", out.Reason, "moves", m.moves)

	rec := m.reg.recorder
	if rec == nil {
		m.finishOver(nil)
		return
	}
	m.reg.goRecord(func() {
		// RecordResult is idempotent: a retry after an error whose outcome
		// is unknown (a lost answer) returns the changes it made.
		var changes []RatingChange
		var err error
		for attempt, wait := 1, 100*time.Millisecond; ; attempt, wait = attempt+1, wait*4 {
			if changes, err = rec.RecordResult(ctx, res); err == nil || attempt == 3 {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				continue
			}
			break
		}
		if err != nil {
			m.logger.Error("record result", "err", err)
			changes = nil
		}
		select {
		case m.inbox <- request{kind: reqRecorded, ratings: changes}:
		case <-m.done:
		}
	})
}

// finishOver sends match.over to every subscriber.
func (m *Match) finishOver(ratings []RatingChange) {
	if ratings == nil {
		ratings = []RatingChange{}
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
			m.logger.Error("match panicked again while aborting", "panic", fmt.Sprint(p))
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
	m.version++
	m.frames = [3][]byte{}
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

func (m *Match) askRematch(ctx context.Context, c Conn) error {
	seat := m.seatOf(c.PlayerID())
	if seat == game.Spectator {
		return ErrNotAPlayer
	}
	if m.status == StatusLive {
		return fmt.Errorf("%w: the match is still live", ErrNoRematch)
	}
	if m.status == StatusAborted && m.outcome.Reason == "server_error" {
		return fmt.Errorf("%w: the match was aborted", ErrNoRematch)
	}
	m.rematch[seat] = true
	if !m.rematch[1-seat] {
		frame := mustEncode(rematchFrame{Type: "match.rematch_offered", Match: m.id, By: seat})
		for c, s := range m.subs {
			if s.seat != game.Spectator {
				m.send(c, frame)
			}
		}
		return nil
	}
	// Both asked: the same players again, seats swapped.
	if _, err := m.reg.start(ctx, m.game.ID(), [2]Player{m.players[1], m.players[0]}, m.id); err != nil {
		m.rematch[seat] = false
		return err
	}
	m.rematch = [2]bool{}
	return nil
}

// watch subscribes c (again) and sends it the current state.
func (m *Match) watch(c Conn) {
	if _, ok := m.subs[c]; !ok && m.subscribeLocked(c) {
		m.changed() // everyone sees the new count or connection, c included
	} else {
		m.send(c, m.stateFrame(m.subs[c].seat))
	}
	if m.over != nil {
		m.send(c, m.over)
	}
}

// subscribeLocked adds c and reports whether that changed what viewers
// see: the spectator count, or a seat's connected flag. It is called by
// run, or before run starts ("Locked": the caller owns the match state).
func (m *Match) subscribeLocked(c Conn) (visible bool) {
	seat := m.seatOf(c.PlayerID())
	m.subs[c] = sub{seat: seat}
	if seat == game.Spectator {
		m.spectators++
		return true
	}
	m.seatConns[seat]++
	m.graceEnd[seat] = time.Time{}
	return m.seatConns[seat] == 1
}

// unsubscribe removes c and reports whether it was subscribed and whether
// its leaving changed what viewers see.
func (m *Match) unsubscribe(c Conn) (was, visible bool) {
	s, ok := m.subs[c]
	if !ok {
		return false, false
	}
	delete(m.subs, c)
	if s.seat == game.Spectator {
		m.spectators--
		return true, true
	}
	m.seatConns[s.seat]--
	if m.seatConns[s.seat] > 0 {
		return true, false
	}
	if m.status == StatusLive {
		m.graceEnd[s.seat] = time.Now().Add(m.cfg.Grace)
	}
	return true, true
}

// changed records a change every viewer can see: a new version goes out.
func (m *Match) changed() {
	m.version++
	m.frames = [3][]byte{}
	m.publishSummary()
	m.broadcast()
}

// broadcast sends the current state to every subscriber, encoding it once
// per kind of viewer. A connection that cannot take it is dropped; dropping
// changes what others see, so broadcast again until nobody is dropped.
func (m *Match) broadcast() {
	for {
		var dropped []Conn
		for c, s := range m.subs {
			if !c.Send(m.stateFrame(s.seat)) {
				dropped = append(dropped, c)
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
		m.version++
		m.frames = [3][]byte{}
		m.publishSummary()
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
		State:      m.state.View(viewer),
		Spectators: m.spectators,
		ServerMS:   time.Now().UnixMilli(),
	}
	if m.status == StatusLive {
		f.Turn = seatPtr(m.state.Turn())
	}
	for seat, p := range m.players {
		f.Players[seat] = wireSeat{
			ID: p.ID, Name: p.Name, Rating: roundRating(p.Rating),
			Connected: m.seatConns[seat] > 0,
			GraceMS:   msPtr(m.graceEnd[seat]),
		}
	}
	m.frames[i] = mustEncode(f)
	return m.frames[i]
}

func (m *Match) foundFrame(seat int) []byte {
	return mustEncode(foundFrame{Type: "match.found", Match: m.id, Game: m.game.ID(), Players: wirePlayers(m.players), You: seat})
}

// publishSummary refreshes the snapshot other goroutines read.
func (m *Match) publishSummary() {
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
