// Package lobby brings players together for matches: a matchmaking queue per
// game, and private challenges that a friend accepts by code.
//
// One goroutine, Run, owns the queues and the challenges. The public methods
// hand it requests through a channel and wait for its answer; none of them
// blocks forever on a lobby that has stopped. Who is paired with whom is
// decided by a pure function (Config.Pair), and pairs leave the lobby through
// a StartFunc, so the lobby never imports match code.
package lobby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultChallengeTTL  = 10 * time.Minute
	DefaultPairEvery     = 200 * time.Millisecond
	DefaultMaxChallenges = 5
)

// Errors the public methods return. The transport maps them to wire codes.
var (
	ErrAlreadyQueued   = errors.New("already queued")
	ErrInMatch         = errors.New("in a match")
	ErrUnsupportedGame = errors.New("unsupported game")
	ErrNotFound        = errors.New("challenge not found")
	ErrOwnChallenge    = errors.New("cannot accept own challenge")
	ErrClosed          = errors.New("lobby closed")
)

// Ticket is one player waiting to play one game.
type Ticket struct {
	PlayerID string
	Name     string
	Rating   float64
	Game     string
	Since    time.Time // set by Join (and by CreateChallenge, AcceptChallenge)
	// LastOpponent is the player ID of whom this player last played, for
	// policies that avoid pairing the same two twice in a row; "" if
	// unknown. The caller may fill it (from the match history); if it is
	// empty, Join fills it with the last opponent the lobby paired this
	// player with, if it remembers one (it does for an hour at least).
	LastOpponent string
	// Via is opaque to the lobby and kept with the ticket into its Pair
	// and OfferFunc: a cluster's lobby notes there the node and id of the
	// socket that asked, to reach it with match.found and offers.
	Via string
}

// Pair is two players to seat together, already in seat order (seat 0 first,
// chosen at random).
type Pair struct {
	Game      string
	Players   [2]Ticket
	Challenge string // the challenge code, "" for queue pairs
}

// Challenge is a private match offer that another player accepts by Code.
type Challenge struct {
	Code    string // 8 characters of codeAlphabet
	Game    string
	Creator Ticket
	Expires time.Time
}

// StartFunc starts a match for p. It is called from a goroutine of the
// lobby's own (never from the lobby's loop, so a slow start never stalls
// matchmaking), with Run's context; the lobby only logs its error. Once it
// returns nil, the inMatch function given to New must report both players.
type StartFunc func(ctx context.Context, p Pair) error

// Config tunes a Lobby. Zero fields take the defaults.
type Config struct {
	// ChallengeTTL is how long a challenge stays open. Default 10 minutes.
	ChallengeTTL time.Duration
	// PairEvery is how often the waiting tickets are offered to Pair again
	// while two or more wait (for policies that widen with time); pairing is
	// also attempted at once on every Join. Default 200ms.
	PairEvery time.Duration
	// Pair is the pairing policy. Default ByRating(RatingConfig{}); FIFO
	// ignores ratings.
	Pair PairFunc
	// MaxChallenges is how many open challenges one player may hold; creating
	// one more replaces the oldest. Default 5.
	MaxChallenges int
	// BotOfferAfter is how long a ticket waits unpaired before OfferFunc
	// offers its player a computer game; 0 (or a nil OfferFunc) offers
	// none. The ticket keeps its place: a player paired before they take
	// the offer is paired as usual.
	BotOfferAfter time.Duration
	// OfferFunc is called once per ticket, from the lobby's loop, when it
	// has waited BotOfferAfter. It must not block or call the Lobby.
	OfferFunc func(t Ticket)
}

func (c Config) withDefaults() Config {
	if c.ChallengeTTL <= 0 {
		c.ChallengeTTL = DefaultChallengeTTL
	}
	if c.PairEvery <= 0 {
		c.PairEvery = DefaultPairEvery
	}
	if c.Pair == nil {
		c.Pair = ByRating(RatingConfig{})
	}
	if c.MaxChallenges <= 0 {
		c.MaxChallenges = DefaultMaxChallenges
	}
	return c
}

// Lobby holds the matchmaking queues and the open challenges. Create it with
// New and start its loop with Run.
type Lobby struct {
	// Immutable after New; never nil.
	logger  *slog.Logger
	start   StartFunc
	hasGame func(game string) bool
	inMatch func(playerID string) bool
	cfg     Config // with defaults

	ops      chan op                        // written by the public methods, read only by Run
	finished chan Pair                      // written by start goroutines, read only by Run
	done     chan struct{}                  // closed when Run's loop stops
	running  atomic.Bool                    // set by the first Run
	wg       sync.WaitGroup                 // the StartFunc goroutines
	stats    atomic.Pointer[map[string]int] // published by Run; the map is never changed after

	// Owned by Run, not thread-safe.
	queue      []Ticket                // waiting tickets, in arrival order
	queued     map[string]struct{}     // player IDs in queue
	starting   map[string]struct{}     // players whose StartFunc runs: they count as in a match
	challenges map[string]*Challenge   // open challenges by code
	byCreator  map[string][]*Challenge // open challenges per creator, oldest first
	expiries   []*Challenge            // by Expires; may hold consumed challenges
	pairTimer  *time.Timer             // runs while pairArmed
	pairArmed  bool
	sweepTimer *time.Timer // fires at sweepAt, if not zero
	sweepAt    time.Time
	dirty      bool                // queue changed since stats was published
	opponents  opponents           // the last opponent of each player paired lately
	offered    map[string]struct{} // players in queue whose ticket was offered a computer game
	offerTimer *time.Timer         // fires at offerAt, if not zero
	offerAt    time.Time
}

// op is a request that the loop runs. fn returns the pairs to start; the loop
// closes reply when fn has returned, before it starts them.
type op struct {
	fn    func(now time.Time) []Pair
	reply chan struct{}
}

// New returns a Lobby. start, hasGame and inMatch must not be nil and must be
// safe for concurrent use. hasGame runs on the goroutines that call Join and
// CreateChallenge; inMatch runs on the lobby's loop, so it must be quick and
// must not call the Lobby. A nil logger discards.
func New(logger *slog.Logger, start StartFunc, hasGame func(id string) bool, inMatch func(playerID string) bool, cfg Config) *Lobby {
	if start == nil || hasGame == nil || inMatch == nil {
		panic("lobby.New: nil start, hasGame or inMatch")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Lobby{
		logger:     logger,
		start:      start,
		hasGame:    hasGame,
		inMatch:    inMatch,
		cfg:        cfg.withDefaults(),
		ops:        make(chan op),
		finished:   make(chan Pair),
		done:       make(chan struct{}),
		queued:     make(map[string]struct{}),
		starting:   make(map[string]struct{}),
		challenges: make(map[string]*Challenge),
		byCreator:  make(map[string][]*Challenge),
		offered:    make(map[string]struct{}),
	}
	l.stats.Store(&map[string]int{})
	return l
}

// Run is the one goroutine that owns the queues and the challenges. It
// returns nil when ctx is done, after the StartFunc goroutines it launched
// (which get ctx) have returned. From then on the methods return ErrClosed.
// Run may be called once.
func (l *Lobby) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("lobby: Run called twice")
	}
	l.pairTimer = time.NewTimer(l.cfg.PairEvery)
	l.pairTimer.Stop()
	l.sweepTimer = time.NewTimer(l.cfg.ChallengeTTL)
	l.sweepTimer.Stop()
	l.offerTimer = time.NewTimer(time.Hour)
	l.offerTimer.Stop()
	defer func() {
		l.pairTimer.Stop()
		l.sweepTimer.Stop()
		l.offerTimer.Stop()
		close(l.done)
		l.wg.Wait()
	}()

	for {
		var pairs []Pair
		select {
		case <-ctx.Done():
			return nil
		case o := <-l.ops:
			pairs = o.fn(time.Now())
			l.publish() // so that Stats agrees with the answer
			close(o.reply)
		case p := <-l.finished:
			for _, t := range p.Players {
				delete(l.starting, t.PlayerID)
			}
		case <-l.pairTimer.C:
			l.pairArmed = false
			pairs = l.pairQueue(time.Now())
		case <-l.sweepTimer.C:
			l.sweepAt = time.Time{}
			l.sweep(time.Now())
		case <-l.offerTimer.C:
			l.offerAt = time.Time{}
		}
		for _, p := range pairs {
			l.launch(ctx, p)
		}
		l.offerBots(time.Now())
		l.rearm()
		l.publish()
	}
}

// call runs fn on the loop and waits for it. If ctx ends after the loop took
// the request, fn may still take effect.
func (l *Lobby) call(ctx context.Context, fn func(now time.Time) []Pair) error {
	o := op{fn: fn, reply: make(chan struct{})}
	select {
	case l.ops <- o:
	case <-l.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// The loop finishes a request it took before it does anything else, so
	// reply closes first; the other cases only guard against a stuck wait.
	var err error
	select {
	case <-o.reply:
		return nil
	case <-l.done:
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	select {
	case <-o.reply:
		return nil // the answer is in: prefer it
	default:
		return err
	}
}

// Join puts t in the queue for t.Game and returns it with Since set. Errors:
// ErrUnsupportedGame, ErrAlreadyQueued (the player waits in any queue),
// ErrInMatch (the player plays, or a match is being started for them).
// Pairing is attempted at once.
func (l *Lobby) Join(ctx context.Context, t Ticket) (Ticket, error) {
	if err := l.checkTicket(t); err != nil {
		return Ticket{}, err
	}
	var err error
	if cerr := l.call(ctx, func(now time.Time) []Pair {
		if err = l.enqueue(&t, now); err != nil {
			return nil
		}
		return l.pairQueue(now)
	}); cerr != nil {
		return Ticket{}, cerr
	}
	if err != nil {
		return Ticket{}, err
	}
	return t, nil
}

// Leave takes the player out of the queue and reports whether they were in
// it. Leaving when not queued is not an error.
func (l *Lobby) Leave(ctx context.Context, playerID string) (bool, error) {
	var removed bool
	if err := l.call(ctx, func(time.Time) []Pair {
		removed = l.dequeue(playerID)
		return nil
	}); err != nil {
		return false, err
	}
	return removed, nil
}

// Stats returns the number of waiting tickets per game (games with none are
// absent). It is safe from any goroutine; the caller owns the map.
func (l *Lobby) Stats() map[string]int {
	return maps.Clone(*l.stats.Load())
}

func (l *Lobby) checkTicket(t Ticket) error {
	if t.PlayerID == "" {
		return errors.New("lobby: ticket without player id")
	}
	if !l.hasGame(t.Game) {
		return fmt.Errorf("%w: %q", ErrUnsupportedGame, t.Game)
	}
	return nil
}

// busy reports whether the player plays or is being seated. Run only.
func (l *Lobby) busy(playerID string) bool {
	if _, ok := l.starting[playerID]; ok {
		return true
	}
	return l.inMatch(playerID)
}

// enqueue sets t.Since and appends t to the queue. Run only.
func (l *Lobby) enqueue(t *Ticket, now time.Time) error {
	if _, ok := l.queued[t.PlayerID]; ok {
		return ErrAlreadyQueued
	}
	if l.busy(t.PlayerID) {
		return ErrInMatch
	}
	t.Since = now
	if t.LastOpponent == "" {
		t.LastOpponent = l.opponents.last(t.PlayerID, now)
	}
	l.queue = append(l.queue, *t)
	l.queued[t.PlayerID] = struct{}{}
	l.dirty = true
	return nil
}

// dequeue removes the players' tickets and reports whether there were any.
// Run only.
func (l *Lobby) dequeue(playerIDs ...string) bool {
	removed := false
	for _, id := range playerIDs {
		if _, ok := l.queued[id]; ok {
			delete(l.queued, id)
			delete(l.offered, id)
			removed = true
		}
	}
	if !removed {
		return false
	}
	kept := l.queue[:0]
	for _, t := range l.queue {
		if _, ok := l.queued[t.PlayerID]; ok {
			kept = append(kept, t)
		}
	}
	clear(l.queue[len(kept):])
	l.queue = kept
	l.dirty = true
	return true
}

// launch marks p's players as starting, remembers them as each other's last
// opponent and calls StartFunc on a goroutine of its own. Run only.
func (l *Lobby) launch(ctx context.Context, p Pair) {
	log := l.logger.With("game", p.Game, "seat0", p.Players[0].PlayerID,
		"seat1", p.Players[1].PlayerID, "challenge", p.Challenge)
	for _, t := range p.Players {
		l.starting[t.PlayerID] = struct{}{}
	}
	l.opponents.add(p.Players[0].PlayerID, p.Players[1].PlayerID, time.Now())
	log.Debug("start match")
	l.wg.Go(func() {
		switch err := l.start(ctx, p); {
		case err == nil:
		case ctx.Err() != nil:
			log.Info("start match cut short by shutdown", "err", err)
		default:
			log.Error("start match", "err", err)
		}
		select {
		case l.finished <- p:
		case <-l.done:
		}
	})
}

// seat returns a and b in a random seat order.
func seat(a, b Ticket) [2]Ticket {
	if rand.IntN(2) == 0 {
		return [2]Ticket{a, b}
	}
	return [2]Ticket{b, a}
}

// rearm runs the pair timer while two or more tickets wait, and points the
// sweep timer at the first open challenge to expire. Run only.
func (l *Lobby) rearm() {
	switch {
	case len(l.queue) < 2 && l.pairArmed:
		l.pairTimer.Stop()
		l.pairArmed = false
	case len(l.queue) >= 2 && !l.pairArmed:
		l.pairTimer.Reset(l.cfg.PairEvery)
		l.pairArmed = true
	}

	for len(l.expiries) > 0 && l.challenges[l.expiries[0].Code] != l.expiries[0] {
		l.expiries[0] = nil
		l.expiries = l.expiries[1:]
	}
	if len(l.expiries) == 0 {
		if !l.sweepAt.IsZero() {
			l.sweepTimer.Stop()
			l.sweepAt = time.Time{}
		}
		return
	}
	if at := l.expiries[0].Expires; !at.Equal(l.sweepAt) {
		l.sweepTimer.Reset(time.Until(at))
		l.sweepAt = at
	}
}

// offerBots offers a computer game to each player whose ticket has waited
// BotOfferAfter unpaired (once per ticket), and points the offer timer at
// the next ticket to come due. Run only.
func (l *Lobby) offerBots(now time.Time) {
	if l.cfg.BotOfferAfter <= 0 || l.cfg.OfferFunc == nil {
		return
	}
	var next time.Time
	for _, t := range l.queue {
		if _, done := l.offered[t.PlayerID]; done {
			continue
		}
		due := t.Since.Add(l.cfg.BotOfferAfter)
		if !now.Before(due) {
			l.offered[t.PlayerID] = struct{}{}
			l.cfg.OfferFunc(t)
			continue
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if next.Equal(l.offerAt) {
		return
	}
	l.offerTimer.Stop()
	l.offerAt = next
	if !next.IsZero() {
		l.offerTimer.Reset(next.Sub(now))
	}
}

// publish stores a fresh Stats snapshot if the queue changed. Run only.
func (l *Lobby) publish() {
	if !l.dirty {
		return
	}
	l.dirty = false
	m := make(map[string]int)
	for _, t := range l.queue {
		m[t.Game]++
	}
	l.stats.Store(&m)
}

// normalizeCode makes challenge codes match ignoring case and surrounding
// blanks.
func normalizeCode(code string) string {
	return strings.ToUpper(strings.TrimSpace(code))
}
