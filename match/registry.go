package match

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/turnbase/turnbase/game"
)

// Registry holds this process's matches and knows which connections each
// player has open, so that a new match reaches all of a player's tabs.
type Registry struct {
	logger   *slog.Logger   // immutable
	games    *game.Registry // immutable
	cfg      Config         // immutable
	rated    bool           // immutable: a rater reports rated results through Rated
	journal  Journal        // immutable; nil: matches live in memory only
	observer Observer       // immutable; never nil
	ratedFn  RatedFunc      // immutable; nil: every match is rated

	ctx    context.Context // parent of every match; cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // match goroutines, rematch starts, the sweeper

	// mu guards the fields below. A match may call the registry holding its
	// own mu, so the registry never takes a match's mu while holding this.
	mu        sync.Mutex
	closed    bool
	matches   map[string]*Match            // every match not gone, live or lingering
	live      map[string]*Match            // player id -> the live match they sit in
	conns     map[string]map[Conn]struct{} // player id -> open connections
	watching  map[Conn]map[*Match]struct{} // connection -> matches it is subscribed to
	lingering []lingerer                   // ended matches, by end time (Linger is the same for all)
	sweeping  bool                         // the sweeper goroutine runs
	awaiting  map[string]*time.Timer       // rated results whose match.over waits for Rated; the timer sends it without
}

// lingerer is an ended match and when it goes away.
type lingerer struct {
	m   *Match
	end time.Time
}

// Deps are the registry's optional collaborators.
type Deps struct {
	// Rated says that a rater rates finished, rated matches from the
	// journal and reports each through Registry.Rated. False: match.over
	// goes out at once, with no rating changes.
	Rated    bool
	Journal  Journal  // nil: matches live in memory only
	Observer Observer // nil: nothing is measured
	// RatedFunc decides, as a match is created, whether its result will
	// be rated. nil: every match is.
	RatedFunc RatedFunc
}

// RatedFunc returns "" when a new match between players (seated in that
// order) of gameID will be rated, else why not (e.g. UnratedPairLimit).
// An error refuses the start.
type RatedFunc func(ctx context.Context, gameID string, players [2]Player) (unrated string, err error)

// NewRegistry returns an empty registry.
func NewRegistry(logger *slog.Logger, games *game.Registry, deps Deps, cfg Config) *Registry {
	ctx, cancel := context.WithCancel(context.Background())
	if deps.Observer == nil {
		deps.Observer = nopObserver{}
	}
	return &Registry{
		logger:   logger,
		games:    games,
		cfg:      cfg.withDefaults(),
		rated:    deps.Rated,
		journal:  deps.Journal,
		observer: deps.Observer,
		ratedFn:  deps.RatedFunc,
		ctx:      ctx,
		cancel:   cancel,
		matches:  make(map[string]*Match),
		live:     make(map[string]*Match),
		conns:    make(map[string]map[Conn]struct{}),
		watching: make(map[Conn]map[*Match]struct{}),
		awaiting: make(map[string]*time.Timer),
	}
}

// Rated hands a rated match's rating changes (by seat) to the match, which
// sends match.over with them. It is the rater's one callback: it never
// blocks, and a match this registry does not wait for (another process's,
// or one whose wait ran out) is ignored.
func (r *Registry) Rated(matchID string, changes []RatingChange) {
	r.mu.Lock()
	t, ok := r.awaiting[matchID]
	if ok {
		delete(r.awaiting, matchID)
		t.Stop()
	}
	m := r.matches[matchID]
	r.mu.Unlock()
	if ok && m != nil {
		// The match may linger by now: deliver handles both.
		_ = m.deliver(request{kind: reqRecorded, ratings: changes}, false)
	}
}

// awaitRating makes m's match.over wait for Rated, for RatingWait at most.
// Called before the end is stored, so that a rater that is quick cannot
// report before the wait is set.
func (r *Registry) awaitRating(m *Match) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.awaiting[m.id] = time.AfterFunc(r.cfg.RatingWait, func() { r.Rated(m.id, nil) })
}

// Start creates and runs a match between two players, seated in the order
// given, and subscribes every open connection of both players to it; each
// gets match.found and the first match.state.
func (r *Registry) Start(ctx context.Context, gameID string, players [2]Player) (string, error) {
	return r.start(ctx, gameID, players, "")
}

func (r *Registry) start(ctx context.Context, gameID string, players [2]Player, rematchOf string) (string, error) {
	g, ok := r.games.Lookup(gameID)
	if !ok {
		return "", fmt.Errorf("start %q: %w", gameID, ErrUnsupported)
	}
	if players[0].ID == "" || players[0].ID == players[1].ID {
		return "", fmt.Errorf("start %s: players %q and %q: %w", gameID, players[0].ID, players[1].ID, ErrNotAPlayer)
	}
	var unrated string
	if hasBot(players) {
		unrated = UnratedComputer // no need to ask
	} else if r.ratedFn != nil {
		var err error
		if unrated, err = r.ratedFn(ctx, gameID, players); err != nil {
			return "", fmt.Errorf("start %s: decide whether rated: %w", gameID, err)
		}
	}
	now := time.Now()
	rec := Record{ID: newID(), Game: gameID, Players: players, Started: now, RematchOf: rematchOf, Unrated: unrated}
	m := newMatch(r, rec, g, g.Start(), 0, r.cfg, now)
	if err := r.reserve(m); err != nil {
		return "", fmt.Errorf("start %s: %w", gameID, err)
	}
	if r.journal != nil {
		if err := r.journal.CreateMatch(ctx, rec); err != nil {
			r.unreserve(m)
			return "", fmt.Errorf("start %s: %w", gameID, err)
		}
	}
	if err := r.launch(m, true); err != nil {
		return "", err
	}
	r.observer.MatchStarted(gameID)
	r.logger.Info("match started", "match_id", rec.ID, "game", gameID, "seat0", players[0].ID, "seat1", players[1].ID)
	return rec.ID, nil
}

// Resume runs a match again after a restart, from its stored record and
// moves. It continues above every version sent before (rec.Version and the
// moves' versions, see VersionHeadroom) and keeps the deadline the players
// were shown: the last move's, or for a match with no move the first
// turn's (its start plus MoveTimeout). A deadline that passed while the
// server was down is moved to ResumeMinimum (at most MoveTimeout) from now.
// Both players get a fresh grace period to come back.
//
// A match that cannot be rebuilt (its game is gone, its moves have a gap
// or do not replay, a player sits in another live match) is not left live, where its lease would be renewed
// forever and its result never rated: its end is stored as aborted with
// reason server_error, unrated, and Resume returns why (wrapping
// ErrUnresumable).
func (r *Registry) Resume(rec Record, moves []StoredMove) error {
	g, state, err := r.rebuild(rec, moves)
	if err != nil {
		return r.abortUnresumable(rec, moves, err)
	}
	now := time.Now()
	m := newMatch(r, rec, g, state, len(moves), r.cfg, now)
	for _, mv := range moves {
		if mv.Seat == 0 || mv.Seat == 1 {
			m.seatMoves[mv.Seat]++
		}
	}
	ceiling := max(rec.Version, VersionHeadroom) // as if no move
	m.deadline = rec.Started.Add(r.cfg.MoveTimeout)
	if n := len(moves); n > 0 {
		last := moves[n-1]
		ceiling = max(rec.Version, last.Version+VersionHeadroom)
		if last.Version == 0 {
			// Stored before migration 0005: the versions sent are not
			// known, so jump far above any a match reaches.
			ceiling = max(rec.Version, legacyCeiling)
		}
		m.deadline = last.Deadline
		if m.deadline.IsZero() { // the move ended the match, or stored before 0005
			m.deadline = now.Add(r.cfg.MoveTimeout)
		}
	}
	if least := now.Add(min(ResumeMinimum, r.cfg.MoveTimeout)); m.deadline.Before(least) {
		m.deadline = least
	}
	// Every version sent before is at most ceiling. run makes the new
	// ceiling durable before it sends the first state.
	m.version = ceiling + 1
	if r.journal != nil {
		m.ceiling = ceiling
	}
	if err := r.reserve(m); err != nil {
		err = fmt.Errorf("resume match %s: %w", rec.ID, err)
		if errors.Is(err, ErrInMatch) {
			// A player already sits in another resumed match: this one
			// can never run.
			return r.abortUnresumable(rec, moves, err)
		}
		return err
	}
	return r.launch(m, false)
}

// rebuild replays a stored match's moves.
func (r *Registry) rebuild(rec Record, moves []StoredMove) (game.Game, game.State, error) {
	g, ok := r.games.Lookup(rec.Game)
	if !ok {
		return nil, nil, fmt.Errorf("resume match %s: %q: %w", rec.ID, rec.Game, ErrUnsupported)
	}
	replay := make([]game.Move, len(moves))
	for i, mv := range moves {
		if mv.Seq != i+1 {
			return nil, nil, fmt.Errorf("resume match %s: move %d has seq %d", rec.ID, i+1, mv.Seq)
		}
		replay[i] = game.Move{Seat: mv.Seat, Move: mv.Move}
	}
	state, err := game.Replay(g, replay)
	if err != nil {
		return nil, nil, fmt.Errorf("resume match %s: %w", rec.ID, err)
	}
	return g, state, nil
}

// abortUnresumable stores the end of a match that cannot be resumed:
// aborted, server_error, unrated. It returns cause wrapped with
// ErrUnresumable (and the journal's error, should storing fail too).
func (r *Registry) abortUnresumable(rec Record, moves []StoredMove, cause error) error {
	err := fmt.Errorf("%w: %w", ErrUnresumable, cause)
	if r.journal == nil {
		return err
	}
	res := Result{
		MatchID: rec.ID, Game: rec.Game, Players: rec.Players,
		Status: StatusAborted, Winner: game.NoSeat, Reason: ReasonServerError,
		Started: rec.Started, Ended: time.Now(), Moves: len(moves),
	}
	if ferr := r.journal.FinishMatch(r.ctx, res); ferr != nil {
		return errors.Join(err, fmt.Errorf("store abort of match %s: %w", rec.ID, ferr))
	}
	r.observer.MatchEnded(rec.Game, StatusAborted, ReasonServerError)
	return err
}

// legacyCeiling is the version ceiling Resume assumes for a match whose
// moves were stored without their versions (before migration 0005).
const legacyCeiling = 1 << 20

// reserve registers m and seats its players, unless one is busy.
func (r *Registry) reserve(m *Match) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrShuttingDown
	}
	for seat, p := range m.players {
		if _, busy := r.live[p.ID]; busy && m.bots[seat] == nil {
			return fmt.Errorf("player %s: %w", p.ID, ErrInMatch)
		}
	}
	r.matches[m.id] = m
	for seat, p := range m.players {
		if m.bots[seat] == nil { // a computer player sits in any number of matches
			r.live[p.ID] = m
		}
	}
	return nil
}

func (r *Registry) unreserve(m *Match) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(m, nil)
}

// launch starts m's goroutine; with attach, the players' open connections
// are subscribed first and get match.found.
func (r *Registry) launch(m *Match, attach bool) error {
	r.mu.Lock()
	if r.closed {
		r.forgetLocked(m, nil)
		r.mu.Unlock()
		return ErrShuttingDown
	}
	var initial []Conn
	if attach {
		for _, p := range m.players {
			for c := range r.conns[p.ID] {
				initial = append(initial, c)
			}
		}
	}
	m.attachLocked(initial)
	for _, c := range initial {
		r.watchingLocked(c)[m] = struct{}{}
	}
	r.wg.Add(1)
	r.mu.Unlock()

	go func() {
		defer r.wg.Done()
		m.run(r.ctx, initial)
	}()
	return nil
}

// Connect records an open connection of a player; matches that start for
// that player from now on reach it. Spectator connections need no Connect.
func (r *Registry) Connect(c Conn) {
	pid := c.PlayerID()
	if pid == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.conns[pid]
	if set == nil {
		set = make(map[Conn]struct{})
		r.conns[pid] = set
	}
	set[c] = struct{}{}
}

// Disconnect forgets a closed connection and unsubscribes it from every
// match. A player whose last connection to a live match goes starts that
// match's grace period.
func (r *Registry) Disconnect(c Conn) {
	r.mu.Lock()
	if pid := c.PlayerID(); pid != "" {
		if set := r.conns[pid]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(r.conns, pid)
			}
		}
	}
	ms := r.watching[c]
	delete(r.watching, c)
	r.mu.Unlock()

	for m := range ms {
		// Not submit: an unwatch must not be lost to a full queue, or the
		// player would look connected forever. A stopped match needs none.
		_ = m.deliver(request{kind: reqUnwatch, conn: c}, false)
	}
}

// Watch subscribes c to a match: it gets match.state now and on every
// change, until Unwatch or Disconnect.
func (r *Registry) Watch(c Conn, matchID string, reply ReplyFunc) {
	r.mu.Lock()
	m := r.matches[matchID]
	var limited bool
	if m != nil {
		set := r.watchingLocked(c)
		if _, ok := set[m]; !ok && len(set) >= r.cfg.MaxWatched {
			limited = true
		} else {
			set[m] = struct{}{}
		}
	}
	r.mu.Unlock()
	switch {
	case m == nil:
		reply(ErrNotFound)
		return
	case limited:
		reply(fmt.Errorf("%w: at most %d at once; unwatch one first", ErrWatchLimit, r.cfg.MaxWatched))
		return
	}
	if err := m.submit(request{kind: reqWatch, conn: c, reply: reply}); err != nil {
		r.unwatched(c, m)
		reply(err)
	}
}

// Unwatch stops c's subscription to a match.
func (r *Registry) Unwatch(c Conn, matchID string) {
	r.mu.Lock()
	m := r.matches[matchID]
	if m != nil {
		delete(r.watching[c], m)
	}
	r.mu.Unlock()
	if m != nil {
		// As in Disconnect: an unwatch must not be lost to a full queue.
		_ = m.deliver(request{kind: reqUnwatch, conn: c}, false)
	}
}

// Move submits a move for c's player. A connection that moves in its
// player's live match without watching it (a client back from a dropped
// connection that did not send match.watch first) is subscribed to it
// (see Match.join), as a watch would.
func (r *Registry) Move(c Conn, matchID string, move json.RawMessage, reply ReplyFunc) {
	r.submitJoining(c, matchID, request{kind: reqMove, conn: c, move: move, reply: reply, received: time.Now()})
}

// Resign concedes the match for c's player; c is subscribed as for Move.
func (r *Registry) Resign(c Conn, matchID string, reply ReplyFunc) {
	r.submitJoining(c, matchID, request{kind: reqResign, conn: c, reply: reply})
}

// submitJoining submits req from c, first counting the match among c's
// watches when c's player sits in it and it is live, so that Disconnect
// ends the subscription the match makes for it (Match.join). The count
// is outside MaxWatched: a player's own matches are few.
func (r *Registry) submitJoining(c Conn, matchID string, req request) {
	r.mu.Lock()
	m := r.matches[matchID]
	added := false
	if m != nil && m.seatOf(c.PlayerID()) != game.Spectator && m.summary.Load().Status == StatusLive {
		set := r.watchingLocked(c)
		if _, ok := set[m]; !ok {
			set[m] = struct{}{}
			added = true
		}
	}
	r.mu.Unlock()
	if m == nil {
		req.reply(ErrNotFound)
		return
	}
	if err := m.submit(req); err != nil {
		if added {
			r.unwatched(c, m)
		}
		req.reply(err)
	}
}

// Rematch offers, or accepts, a rematch of a finished match.
func (r *Registry) Rematch(c Conn, matchID string, reply ReplyFunc) {
	r.submit(matchID, request{kind: reqRematch, conn: c, reply: reply})
}

func (r *Registry) submit(matchID string, req request) {
	r.mu.Lock()
	m := r.matches[matchID]
	r.mu.Unlock()
	if m == nil {
		req.reply(ErrNotFound)
		return
	}
	if err := m.submit(req); err != nil {
		req.reply(err)
	}
}

// Active returns the ids of the live matches a player sits in.
func (r *Registry) Active(playerID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.live[playerID]; m != nil {
		return []string{m.id}
	}
	return []string{}
}

// InMatch reports whether a player sits in a live match.
func (r *Registry) InMatch(playerID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.live[playerID]
	return ok
}

// Get returns the summary of a live or lingering match.
func (r *Registry) Get(matchID string) (Summary, bool) {
	r.mu.Lock()
	m := r.matches[matchID]
	r.mu.Unlock()
	if m == nil {
		return Summary{}, false
	}
	return *m.summary.Load(), true
}

// List returns the summaries of this process's matches with the given
// status ("live", or "finished" for those still lingering, aborted ones
// included), newest first.
func (r *Registry) List(status string) []Summary {
	r.mu.Lock()
	out := make([]Summary, 0, len(r.matches))
	for _, m := range r.matches {
		s := m.summary.Load()
		if (status == StatusLive) == (s.Status == StatusLive) {
			out = append(out, *s)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].StartedMS != out[j].StartedMS {
			return out[i].StartedMS > out[j].StartedMS
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Counts returns how many matches are live and how many player
// connections are open.
func (r *Registry) Counts() (liveMatches, players int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.matches {
		if m.summary.Load().Status == StatusLive {
			liveMatches++
		}
	}
	return liveMatches, len(r.conns)
}

// Shutdown stops every match, live or lingering, and waits for the match
// goroutines, or for ctx.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	lingering := r.lingering
	r.lingering = nil
	for id, t := range r.awaiting {
		t.Stop()
		delete(r.awaiting, id)
	}
	r.mu.Unlock()
	r.cancel()
	for _, l := range lingering {
		l.m.stop()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shut down matches: %w", ctx.Err())
	}
}

// watchingLocked returns c's set of matches, creating it. r.mu is held.
func (r *Registry) watchingLocked(c Conn) map[*Match]struct{} {
	set := r.watching[c]
	if set == nil {
		set = make(map[*Match]struct{})
		r.watching[c] = set
	}
	return set
}

// unwatched forgets that c watches m (m dropped it, or it could not be
// queued).
func (r *Registry) unwatched(c Conn, m *Match) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if set := r.watching[c]; set != nil {
		delete(set, m)
		if len(set) == 0 {
			delete(r.watching, c)
		}
	}
}

// ended frees a match's players to play again. Called by the match's run.
func (r *Registry) ended(m *Match) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range m.players {
		if r.live[p.ID] == m {
			delete(r.live, p.ID)
		}
	}
}

// linger keeps an ended match, whose goroutine is returning, until
// Linger has passed; the sweeper then stops it. It reports false if the
// registry is shutting down: the caller stops the match.
func (r *Registry) linger(m *Match) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.lingering = append(r.lingering, lingerer{m: m, end: time.Now().Add(r.cfg.Linger)})
	if !r.sweeping {
		r.sweeping = r.spawnLocked(r.sweep)
	}
	return true
}

// sweep stops lingering matches as their time runs out. One goroutine for
// all of them; it returns when none is left, or at shutdown.
func (r *Registry) sweep() {
	timer := time.NewTimer(r.cfg.Linger)
	defer timer.Stop()
	for {
		r.mu.Lock()
		now := time.Now()
		var due []*Match
		for len(r.lingering) > 0 && !now.Before(r.lingering[0].end) {
			due = append(due, r.lingering[0].m)
			r.lingering[0] = lingerer{}
			r.lingering = r.lingering[1:]
		}
		var wait time.Duration
		if len(r.lingering) == 0 {
			r.sweeping = false
		} else {
			wait = r.lingering[0].end.Sub(now)
		}
		r.mu.Unlock()
		for _, m := range due {
			m.stop()
		}
		if wait == 0 {
			return
		}
		timer.Reset(wait)
		select {
		case <-r.ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// forget removes a stopped match, with the connections still subscribed.
func (r *Registry) forget(m *Match, subs map[Conn]sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(m, subs)
}

func (r *Registry) forgetLocked(m *Match, subs map[Conn]sub) {
	if r.matches[m.id] == m {
		delete(r.matches, m.id)
	}
	for _, p := range m.players {
		if r.live[p.ID] == m {
			delete(r.live, p.ID)
		}
	}
	for c := range subs {
		if set := r.watching[c]; set != nil {
			delete(set, m)
			if len(set) == 0 {
				delete(r.watching, c)
			}
		}
	}
}

// spawn runs f on a goroutine Shutdown waits for, unless the registry is
// shutting down; it reports whether f runs.
func (r *Registry) spawn(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spawnLocked(f)
}

// spawnLocked is spawn with r.mu held. Checking closed under r.mu keeps
// wg.Add from racing with Shutdown's wg.Wait.
func (r *Registry) spawnLocked(f func()) bool {
	if r.closed {
		return false
	}
	r.wg.Go(f)
	return true
}

// newID returns an opaque, unguessable id.
func newID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("match: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
