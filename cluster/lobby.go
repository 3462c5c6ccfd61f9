package cluster

// One matchmaking for the cluster. One node at a time, elected through
// the database (Elector), runs the cluster's lobby: the one queue and the
// challenges. Every node's sockets reach it through the router's channels
// (the leader's own sockets directly), with the socket's node and id. When
// the lobby pairs two players, it asks a node that holds one of their
// sockets (seat 0's, or the one holding both) to start the match; that
// node makes proxies for the sockets on other nodes first, so match.found
// reaches every socket that asked, as on one node. Each node remembers
// its sockets' waiting tickets and gives them to the next lobby node when
// the leader changes; open challenge codes are lost then.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

// Elector says which node runs the cluster's lobby, taking the role when
// nobody has it (postgres.LobbyLock). term changes whenever the holder's
// tenure does, even for the same node. Called from one goroutine.
type Elector interface {
	Elect(ctx context.Context) (node string, term int64, err error)
}

// LobbyConfig tunes a Lobby. Start is required.
type LobbyConfig struct {
	// Lobby configures the lobby this node runs while it leads; its
	// OfferFunc is replaced (Offer is called on the node of the socket
	// that queued).
	Lobby lobby.Config
	// HasGame reports whether a game exists (the lobby's hasGame).
	HasGame func(id string) bool
	// Start starts a pair's match on this node and returns its id; the
	// players' sockets here, and the proxies of theirs elsewhere, get
	// match.found.
	Start func(ctx context.Context, p lobby.Pair) (matchID string, err error)
	// Offer offers a computer game to a player waiting in the queue,
	// through this node's socket that queued (lobby.Config.OfferFunc). It
	// must not block. nil: no offers.
	Offer func(t lobby.Ticket)
	// Every is how often the leader is looked up (and taken over when
	// free). Default 250ms.
	Every time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Lobby is web's Lobby for a node of a cluster: it forwards every call to
// the node that runs the cluster's lobby. Make it with NewLobby (one per
// Router) and Run it.
type Lobby struct {
	r      *Router     // immutable
	el     Elector     // immutable; used by Run only
	cfg    LobbyConfig // immutable, with defaults
	logger *slog.Logger

	ctx     context.Context // cancelled when Run returns
	cancel  context.CancelFunc
	wg      sync.WaitGroup // goroutines of spawn
	asking  atomic.Bool    // a stats request is out
	failing bool           // the last Elect failed; owned by Run (and Elect before it)

	mu      sync.Mutex // guards the fields below
	closed  bool       // Run returned: spawn no more
	leader  string     // the lobby node; "" while not known
	term    int64
	run     *term                       // set while this node leads
	waiting map[string]*waitEntry       // this node's sockets' tickets, by player
	pending map[uint64]chan lobbyAnswer // requests sent to another node
	stats   map[string]int              // the queues, as the leader last said
}

// waitEntry is a ticket a socket of this node holds in the cluster's
// queue.
type waitEntry struct {
	conn     match.Conn
	ticket   lobby.Ticket
	answered bool // the lobby node took it (guarded by Lobby.mu): only these are resubmitted
}

// term is this node's tenure as the lobby node.
type term struct {
	lobby  *lobby.Lobby
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	seated  map[string]time.Time // players this lobby seated lately (inMatch)
	checked map[string]time.Time // when seated[player] was last confirmed
	pruned  time.Time            // when seated last lost its old entries
}

// seatedFor is how long a player seated by the lobby counts as possibly
// in a match (then asked of the database) when no node says otherwise.
const seatedFor = 2 * time.Hour

// origin is a socket: its node and its id there. A ticket's Via holds
// it as "<id>@<node>".
type origin struct {
	Node string `json:"n"`
	Conn uint64 `json:"c"`
}

func (o origin) via() string {
	if o.Node == "" {
		return ""
	}
	return strconv.FormatUint(o.Conn, 10) + "@" + o.Node
}

func originOf(t lobby.Ticket) origin {
	id, node, ok := strings.Cut(t.Via, "@")
	if !ok {
		return origin{}
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return origin{}
	}
	return origin{Node: node, Conn: n}
}

// Lobby operations between nodes (message.Op).
const (
	opLobby      = "lobby"        // a request to the lobby node (Body: lobbyRequest)
	opLobbyReply = "lobby.reply"  // its answer (Code, Text; Body: lobbyAnswer)
	opLobbyStart = "lobby.start"  // start a pair here (Body: startRequest); answered with opLobbyReply
	opLobbyOffer = "lobby.offer"  // offer a computer game (Body: lobby.Ticket)
	opLobbyPair  = "lobby.paired" // Player's ticket left the queue
	opLobbySeat  = "lobby.seated" // socket Conn sits in Match, started on the sender
)

type lobbyRequest struct {
	Kind   string       `json:"k"` // join, leave, create, get, accept, cancel, stats
	Ticket lobby.Ticket `json:"t"`
	Code   string       `json:"code,omitempty"`
}

type lobbyAnswer struct {
	Ticket    lobby.Ticket    `json:"t"`
	Challenge lobby.Challenge `json:"ch"`
	Removed   bool            `json:"rm,omitempty"`
	Stats     map[string]int  `json:"st,omitempty"`
	err       error
}

type startRequest struct {
	Pair  lobby.Pair `json:"pair"`
	Seats [2]origin  `json:"seats"`
}

// NewLobby returns the cluster's lobby as this node sees it.
func NewLobby(r *Router, el Elector, cfg LobbyConfig) *Lobby {
	if cfg.Start == nil || cfg.HasGame == nil {
		panic("cluster.NewLobby: nil Start or HasGame")
	}
	if cfg.Every <= 0 {
		cfg.Every = 250 * time.Millisecond
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lobby{
		r: r, el: el, cfg: cfg, logger: logger, ctx: ctx, cancel: cancel,
		waiting: map[string]*waitEntry{},
		pending: map[uint64]chan lobbyAnswer{},
		stats:   map[string]int{},
	}
	r.lobby.Store(l)
	return l
}

// Run looks the lobby node up every Every, leads when the role is free,
// and hands this node's waiting tickets to each new lobby node. It
// returns when ctx is done, after this node's lobby (if it leads) stopped.
func (l *Lobby) Run(ctx context.Context) error {
	defer func() {
		l.cancel()
		l.mu.Lock()
		t := l.run
		l.run, l.leader, l.closed = nil, "", true
		l.mu.Unlock()
		if t != nil {
			t.stop()
		}
		l.wg.Wait()
	}()
	tick := time.NewTicker(l.cfg.Every)
	defer tick.Stop()
	for {
		l.elect(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Elect looks the lobby node up once, as Run does every Every; call it
// before Run (not during), so that the first requests find a lobby.
func (l *Lobby) Elect(ctx context.Context) { l.elect(ctx) }

// elect asks who leads, starts or stops this node's lobby accordingly,
// and resubmits the waiting tickets when the lobby node changed. When the
// database cannot tell, nothing changes: a lobby node that lost its
// connection keeps its queue until it hears that another node leads (its
// lock went with the connection, so another may: until this node hears
// it, a player could wait in both; startHere's check keeps them from
// sitting in two matches).
func (l *Lobby) elect(ctx context.Context) {
	ectx, cancel := context.WithTimeout(ctx, max(4*l.cfg.Every, time.Second))
	leader, tenure, err := l.el.Elect(ectx)
	cancel()
	if err != nil {
		if ctx.Err() == nil && !l.failing {
			l.logger.Warn("look up the lobby node; trying on", "err", err)
		}
		l.failing = true
		return
	}
	l.failing = false
	self := l.r.cfg.Self
	l.mu.Lock()
	old := l.run
	l.mu.Unlock()
	var fresh *term
	if leader == self && old == nil {
		fresh = l.newTerm() // before requests are sent here
		l.logger.Info("this node runs the cluster's lobby")
	}
	l.mu.Lock()
	changed := leader != l.leader || tenure != l.term
	l.leader, l.term = leader, tenure
	if leader != self {
		l.run = nil
	} else if fresh != nil {
		l.run = fresh
	}
	l.mu.Unlock()
	if old != nil && leader != self {
		l.logger.Info("no longer the lobby node", "leader", leader)
		old.stop()
	}
	if changed && leader != "" {
		l.logger.Info("lobby node", "node", leader)
		l.spawn(func() { l.resubmit(leader) })
	}
	if leader != "" && leader != self && l.asking.CompareAndSwap(false, true) {
		l.spawn(func() {
			defer l.asking.Store(false)
			ctx, cancel := context.WithTimeout(l.ctx, max(4*l.cfg.Every, time.Second))
			defer cancel()
			if a, err := l.ask(ctx, nil, "", lobbyRequest{Kind: "stats"}); err == nil {
				l.mu.Lock()
				l.stats = a.Stats
				l.mu.Unlock()
			}
			// At most one a second.
			select {
			case <-l.ctx.Done():
			case <-time.After(time.Second):
			}
		})
	}
}

// spawn runs f on a goroutine that Run waits for, unless Run returned.
func (l *Lobby) spawn(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.wg.Go(f)
}

// newTerm starts this node's lobby.
func (l *Lobby) newTerm() *term {
	t := &term{done: make(chan struct{}), seated: map[string]time.Time{}, checked: map[string]time.Time{}}
	cfg := l.cfg.Lobby
	cfg.OfferFunc = l.offer
	t.lobby = lobby.New(l.logger, func(ctx context.Context, p lobby.Pair) error { return l.startPair(ctx, t, p) },
		l.cfg.HasGame, func(id string) bool { return l.inMatch(t, id) }, cfg)
	ctx, cancel := context.WithCancel(l.ctx)
	t.cancel = cancel
	go func() {
		defer close(t.done)
		_ = t.lobby.Run(ctx)
	}()
	return t
}

func (t *term) stop() {
	t.cancel()
	<-t.done
}

// resubmit gives this node's waiting tickets to a new lobby node.
func (l *Lobby) resubmit(leader string) {
	l.mu.Lock()
	entries := make(map[string]*waitEntry, len(l.waiting))
	for id, e := range l.waiting {
		if e.answered {
			entries[id] = e
		}
	}
	l.mu.Unlock()
	n := 0
	for id, e := range entries {
		if l.resubmitOne(leader, id, e) {
			n++
		}
	}
	if n > 0 {
		l.logger.Info("waiting tickets given to the lobby node", "node", leader, "count", n)
	}
}

// resubmitOne gives one waiting ticket to the lobby node, and reports
// whether it took it.
func (l *Lobby) resubmitOne(leader, id string, e *waitEntry) bool {
	var err error
	if l.r.InMatch(id) {
		err = lobby.ErrInMatch
	} else {
		// The new lobby node may not know yet that it leads (each node
		// looks every Every): it answers server_busy until it does, so
		// ask again while it is still the one this node knows of.
		ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
		for {
			_, err = l.ask(ctx, e.conn, leader, lobbyRequest{Kind: "join", Ticket: e.ticket})
			if !errors.Is(err, match.ErrBusy) || l.Leader() != leader {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(l.cfg.Every / 2):
				continue
			}
			break
		}
		cancel()
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, lobby.ErrAlreadyQueued):
	case errors.Is(err, lobby.ErrInMatch), errors.Is(err, lobby.ErrUnsupportedGame):
		l.forget(id, e)
	default:
		l.logger.Warn("give a waiting ticket to the lobby node", "node", leader, "player_id", id, "err", err)
	}
	return false
}

// forget drops a waiting ticket if it is still e.
func (l *Lobby) forget(playerID string, e *waitEntry) {
	l.mu.Lock()
	if l.waiting[playerID] == e {
		delete(l.waiting, playerID)
	}
	l.mu.Unlock()
}

// Join puts t in the cluster's queue for the socket in ctx
// (match.WithConn).
func (l *Lobby) Join(ctx context.Context, t lobby.Ticket) (lobby.Ticket, error) {
	c, ok := match.ConnFrom(ctx)
	var e *waitEntry
	var prev *waitEntry
	if ok {
		// Recorded first: the lobby may pair the ticket before it answers.
		e = &waitEntry{conn: c, ticket: t}
		l.mu.Lock()
		prev = l.waiting[t.PlayerID]
		l.waiting[t.PlayerID] = e
		l.mu.Unlock()
	}
	l.mu.Lock()
	leaderAt, termAt := l.leader, l.term
	l.mu.Unlock()
	a, err := l.ask(ctx, c, "", lobbyRequest{Kind: "join", Ticket: t})
	if e == nil {
		return a.Ticket, err
	}
	l.mu.Lock()
	switch {
	case err != nil && l.waiting[t.PlayerID] == e:
		if prev != nil {
			l.waiting[t.PlayerID] = prev
		} else {
			delete(l.waiting, t.PlayerID)
		}
	case err == nil:
		// A ticket is resubmitted to a new lobby node only once its own
		// join was answered (else the resubmission could reach the lobby
		// first and the join come back already_queued). If the lobby node
		// changed while it was asked, this one goes there now.
		e.answered = true
		if leader := l.leader; leader != "" && (leader != leaderAt || l.term != termAt) {
			defer l.spawn(func() { l.resubmitOne(leader, t.PlayerID, e) })
		}
	}
	l.mu.Unlock()
	return a.Ticket, err
}

// Leave takes the player out of the cluster's queue.
func (l *Lobby) Leave(ctx context.Context, playerID string) (bool, error) {
	l.mu.Lock()
	delete(l.waiting, playerID)
	l.mu.Unlock()
	c, _ := match.ConnFrom(ctx)
	a, err := l.ask(ctx, c, "", lobbyRequest{Kind: "leave", Ticket: lobby.Ticket{PlayerID: playerID}})
	return a.Removed, err
}

// CreateChallenge opens a challenge in the cluster's lobby. A player
// seated by it (or in a match on the lobby node) is refused, as on one
// node; whether either player sits in a match elsewhere is checked when
// the challenge is accepted.
func (l *Lobby) CreateChallenge(ctx context.Context, creator lobby.Ticket) (lobby.Challenge, error) {
	c, _ := match.ConnFrom(ctx)
	a, err := l.ask(ctx, c, "", lobbyRequest{Kind: "create", Ticket: creator})
	return a.Challenge, err
}

// Challenge returns an open challenge of the cluster's lobby.
func (l *Lobby) Challenge(ctx context.Context, code string) (lobby.Challenge, error) {
	c, _ := match.ConnFrom(ctx)
	a, err := l.ask(ctx, c, "", lobbyRequest{Kind: "get", Code: code})
	return a.Challenge, err
}

// AcceptChallenge accepts a challenge of the cluster's lobby.
func (l *Lobby) AcceptChallenge(ctx context.Context, code string, acceptor lobby.Ticket) error {
	c, _ := match.ConnFrom(ctx)
	_, err := l.ask(ctx, c, "", lobbyRequest{Kind: "accept", Code: code, Ticket: acceptor})
	return err
}

// CancelChallenges drops the player's open challenges.
func (l *Lobby) CancelChallenges(ctx context.Context, playerID string) {
	_, _ = l.ask(ctx, nil, "", lobbyRequest{Kind: "cancel", Ticket: lobby.Ticket{PlayerID: playerID}})
}

// Stats are the cluster's queues: this node's own while it leads, else
// as the lobby node last told (refreshed every Every).
func (l *Lobby) Stats() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		return l.run.lobby.Stats()
	}
	return maps.Clone(l.stats)
}

// LocalStats are the queues this node runs: the cluster's while it leads,
// else none (for metrics, which each node reports).
func (l *Lobby) LocalStats() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		return l.run.lobby.Stats()
	}
	return map[string]int{}
}

// Leader is the lobby node as this node knows it ("" not known).
func (l *Lobby) Leader() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leader
}

// errNoLobby: no lobby node is known right now (an election is under way).
var errNoLobby = fmt.Errorf("%w: the lobby is moving to another node; try again shortly", match.ErrBusy)

// ask runs a request on the lobby node (to, or the current one when ""),
// for socket c (nil: none).
func (l *Lobby) ask(ctx context.Context, c match.Conn, to string, req lobbyRequest) (lobbyAnswer, error) {
	l.mu.Lock()
	if to == "" {
		to = l.leader
	}
	l.mu.Unlock()
	var from origin
	if c != nil {
		from = origin{Node: l.r.cfg.Self, Conn: l.r.socketID(c)}
	}
	switch to {
	case "":
		return lobbyAnswer{}, errNoLobby
	case l.r.cfg.Self:
		return l.handle(ctx, from, req)
	}
	if !l.r.isAlive(to) {
		return lobbyAnswer{}, errNoLobby
	}
	body, err := json.Marshal(req)
	if err != nil {
		return lobbyAnswer{}, err
	}
	return l.request(ctx, to, message{Op: opLobby, Conn: from.Conn, Body: body})
}

// request sends m to node and waits for its opLobbyReply.
func (l *Lobby) request(ctx context.Context, node string, m message) (lobbyAnswer, error) {
	ch := make(chan lobbyAnswer, 1)
	m.Req = l.r.nextID.Add(1)
	l.mu.Lock()
	l.pending[m.Req] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, m.Req)
		l.mu.Unlock()
	}()
	wait, cancel := context.WithTimeout(ctx, l.r.cfg.ReplyWait)
	defer cancel()
	if !l.r.send(node, m) {
		return lobbyAnswer{}, fmt.Errorf("%w: the lobby node's queue is full", match.ErrBusy)
	}
	select {
	case a := <-ch:
		return a, a.err
	case <-wait.Done():
		return lobbyAnswer{}, fmt.Errorf("%w: the lobby node did not answer", match.ErrBusy)
	}
}

// handle runs a request on this node's lobby, for socket from.
func (l *Lobby) handle(ctx context.Context, from origin, req lobbyRequest) (lobbyAnswer, error) {
	l.mu.Lock()
	t := l.run
	l.mu.Unlock()
	if t == nil {
		return lobbyAnswer{}, errNoLobby
	}
	var a lobbyAnswer
	var err error
	id := req.Ticket.PlayerID
	req.Ticket.Via = from.via()
	switch req.Kind {
	case "join":
		a.Ticket, err = t.lobby.Join(ctx, req.Ticket)
	case "leave":
		a.Removed, err = t.lobby.Leave(ctx, id)
	case "create":
		a.Challenge, err = t.lobby.CreateChallenge(ctx, req.Ticket)
	case "get":
		a.Challenge, err = t.lobby.Challenge(ctx, req.Code)
	case "accept":
		err = t.lobby.AcceptChallenge(ctx, req.Code, req.Ticket)
	case "cancel":
		t.lobby.CancelChallenges(ctx, id)
	case "stats":
		a.Stats = t.lobby.Stats()
	default:
		err = fmt.Errorf("unknown lobby request %q", req.Kind)
	}
	return a, err
}

// startPair is the lobby's StartFunc while this node leads: the match
// starts on the node of the players' sockets (both's, else seat 0's).
func (l *Lobby) startPair(ctx context.Context, t *term, p lobby.Pair) error {
	self := l.r.cfg.Self
	seats := [2]origin{originOf(p.Players[0]), originOf(p.Players[1])}
	for i, s := range seats {
		l.paired(s.Node, p.Players[i].PlayerID)
	}
	node := self
	for _, s := range []origin{seats[0], seats[1]} {
		if s.Node != "" && l.r.isAlive(s.Node) {
			node = s.Node
			break
		}
	}
	if seats[0].Node != "" && seats[0].Node == seats[1].Node && l.r.isAlive(seats[0].Node) {
		node = seats[0].Node
	}
	var err error
	if node == self {
		err = l.startHere(ctx, p, seats)
	} else {
		body, merr := json.Marshal(startRequest{Pair: p, Seats: seats})
		if merr != nil {
			return merr
		}
		_, err = l.request(ctx, node, message{Op: opLobbyStart, Body: body})
	}
	if err == nil && node != self {
		// A match here is in the registry; one elsewhere is not.
		now := time.Now()
		t.mu.Lock()
		for _, tk := range p.Players {
			t.seated[tk.PlayerID] = now
			t.checked[tk.PlayerID] = now
		}
		if now.Sub(t.pruned) > time.Minute {
			t.pruned = now
			for id, at := range t.seated {
				if now.Sub(at) > seatedFor {
					delete(t.seated, id)
					delete(t.checked, id)
				}
			}
		}
		t.mu.Unlock()
	}
	return err
}

// startHere starts a pair's match on this node, after making proxies of
// the players' sockets on other nodes so that they get match.found. A
// player who sits in a live match on any node is refused.
func (l *Lobby) startHere(ctx context.Context, p lobby.Pair, seats [2]origin) error {
	for _, tk := range p.Players {
		if l.r.InMatch(tk.PlayerID) {
			return fmt.Errorf("player %s: %w", tk.PlayerID, match.ErrInMatch)
		}
	}
	var made []*proxy
	for i, s := range seats {
		if s.Node == "" || s.Node == l.r.cfg.Self {
			continue
		}
		if px, isNew := l.r.attach(s.Node, s.Conn, p.Players[i].PlayerID); isNew {
			made = append(made, px)
		}
	}
	id, err := l.cfg.Start(ctx, p)
	if err != nil {
		for _, px := range made {
			l.r.detach(px)
		}
		return err
	}
	// The remote sockets' nodes note the match as watched here, so that
	// they follow it should this node die.
	for _, s := range seats {
		if s.Node != "" && s.Node != l.r.cfg.Self {
			l.r.send(s.Node, message{Op: opLobbySeat, Conn: s.Conn, Match: id})
		}
	}
	return nil
}

// paired tells node that the player's ticket left the queue.
func (l *Lobby) paired(node, playerID string) {
	switch node {
	case "":
	case l.r.cfg.Self:
		l.mu.Lock()
		delete(l.waiting, playerID)
		l.mu.Unlock()
	default:
		l.r.send(node, message{Op: opLobbyPair, Player: playerID})
	}
}

// offer is the lobby's OfferFunc while this node leads: the offer goes to
// the node of the socket that queued. It never blocks.
func (l *Lobby) offer(tk lobby.Ticket) {
	o := originOf(tk)
	if o.Node == "" || o.Node == l.r.cfg.Self {
		if l.cfg.Offer != nil {
			l.cfg.Offer(tk)
		}
		return
	}
	body, err := json.Marshal(tk)
	if err == nil {
		l.r.send(o.Node, message{Op: opLobbyOffer, Body: body})
	}
}

// inMatch is the lobby's inMatch while this node leads: a match of this
// node's, or one this lobby started on another node that the database
// still has live (asked at most once a second per player; a player this
// lobby did not seat is checked on their own node before they reach it,
// and startHere checks both players again).
func (l *Lobby) inMatch(t *term, playerID string) bool {
	if l.r.local.InMatch(playerID) {
		return true
	}
	t.mu.Lock()
	seated, ok := t.seated[playerID]
	checked := t.checked[playerID]
	t.mu.Unlock()
	if !ok {
		return false
	}
	if time.Since(checked) < time.Second {
		return true
	}
	ctx, cancel := context.WithTimeout(l.ctx, time.Second)
	defer cancel()
	ids, err := l.r.dir.Active(ctx, playerID)
	live := err != nil || len(ids) > 0 // the database cannot tell: as before
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seated[playerID] != seated {
		return true // seated again meanwhile
	}
	if live && time.Since(seated) < seatedFor {
		t.checked[playerID] = time.Now()
		return true
	}
	delete(t.seated, playerID)
	delete(t.checked, playerID)
	return false
}

// deliver handles a lobby message from another node. It never blocks.
func (l *Lobby) deliver(m message) {
	switch m.Op {
	case opLobby:
		var req lobbyRequest
		if err := json.Unmarshal(m.Body, &req); err != nil {
			l.logger.Warn("undecodable lobby request", "from", m.From, "err", err)
			return
		}
		from := origin{}
		if m.Conn != 0 {
			from = origin{Node: m.From, Conn: m.Conn}
		}
		l.spawn(func() {
			ctx, cancel := context.WithTimeout(l.ctx, l.r.cfg.ReplyWait)
			defer cancel()
			a, err := l.handle(ctx, from, req)
			l.reply(m, a, err)
		})
	case opLobbyStart:
		var req startRequest
		if err := json.Unmarshal(m.Body, &req); err != nil {
			l.logger.Warn("undecodable lobby start", "from", m.From, "err", err)
			return
		}
		l.spawn(func() {
			ctx, cancel := context.WithTimeout(l.ctx, l.r.cfg.ReplyWait)
			defer cancel()
			l.reply(m, lobbyAnswer{}, l.startHere(ctx, req.Pair, req.Seats))
		})
	case opLobbyReply:
		var a lobbyAnswer
		if len(m.Body) > 0 {
			if err := json.Unmarshal(m.Body, &a); err != nil {
				a = lobbyAnswer{}
				m.Code, m.Text = "internal", "undecodable lobby answer: "+err.Error()
			}
		}
		if m.Code != "" {
			a.err = decodeLobbyError(m.Code, m.Text)
		}
		l.mu.Lock()
		ch := l.pending[m.Req]
		delete(l.pending, m.Req)
		l.mu.Unlock()
		if ch != nil {
			select {
			case ch <- a: // buffered for the one answer
			default:
			}
		}
	case opLobbyOffer:
		var tk lobby.Ticket
		if err := json.Unmarshal(m.Body, &tk); err == nil && l.cfg.Offer != nil {
			l.cfg.Offer(tk)
		}
	case opLobbyPair:
		l.mu.Lock()
		delete(l.waiting, m.Player)
		l.mu.Unlock()
	case opLobbySeat:
		l.r.mu.Lock()
		if s := l.r.byID[m.Conn]; s != nil && m.Match != "" && s.watches[m.Match] == "" {
			s.watches[m.Match] = m.From
		}
		l.r.mu.Unlock()
	}
}

// reply answers another node's request m.
func (l *Lobby) reply(m message, a lobbyAnswer, err error) {
	out := message{Op: opLobbyReply, Req: m.Req}
	if err != nil {
		out.Code, out.Text = l.r.cfg.Code(err), err.Error()
	} else if b, merr := json.Marshal(a); merr == nil {
		out.Body = b
	}
	l.r.send(m.From, out)
}

// lobbySentinels are the lobby's errors by wire code (others: the
// match's).
var lobbySentinels = map[string]error{
	"already_queued":   lobby.ErrAlreadyQueued,
	"in_match":         lobby.ErrInMatch,
	"unsupported_game": lobby.ErrUnsupportedGame,
	"not_found":        lobby.ErrNotFound,
	"bad_request":      lobby.ErrOwnChallenge,
}

func decodeLobbyError(code, text string) error {
	if base, ok := lobbySentinels[code]; ok {
		return &remoteError{text: text, base: base}
	}
	return decodeError(code, text)
}

// socketID returns the id under which other nodes know c, registering it.
func (r *Router) socketID(c match.Conn) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sockets[c]
	if s == nil {
		s = &socket{id: r.nextID.Add(1), conn: c, watches: map[string]string{}}
		r.sockets[c] = s
		r.byID[s.id] = s
	}
	return s.id
}

// isAlive reports whether node is alive, as last scanned (all are before
// the first scan).
func (r *Router) isAlive(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alive == nil || r.alive[node]
}

// attach makes (or finds) the proxy of another node's socket, connected
// to this node's registry, so that a match starting here reaches it.
func (r *Router) attach(node string, conn uint64, player string) (p *proxy, made bool) {
	k := proxyKey{node, conn}
	r.mu.Lock()
	p = r.proxies[k]
	made = p == nil
	if made {
		p = &proxy{r: r, node: node, conn: conn, player: player}
		r.proxies[k] = p
	}
	r.mu.Unlock()
	if made {
		r.local.Connect(p)
	}
	return p, made
}

// detach drops a proxy attach made, unless something replaced it.
func (r *Router) detach(p *proxy) {
	k := proxyKey{p.node, p.conn}
	r.mu.Lock()
	mine := r.proxies[k] == p
	if mine {
		delete(r.proxies, k)
	}
	r.mu.Unlock()
	if mine {
		r.local.Disconnect(p)
	}
}
