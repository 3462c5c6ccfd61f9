// Package cluster lets any node serve any player: a request about a match
// that another node runs is carried to that node (its owner), and what the
// match sends back to the node holding the socket. The owner validates,
// stores and versions exactly as for its own sockets: a remote socket is,
// to its match, a connection like any other (a proxy), and the socket's
// node applies the rate limits before anything leaves it.
//
// The package imports neither the transport nor the database: messages go
// over a Bus (PostgreSQL NOTIFY on a channel per node, wired by cmd), and
// a Directory says which node runs a match. Messages are batched per
// destination, in order, by one sender goroutine each.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/match"
)

// Bus carries one payload to one node. It may block (a database round
// trip); the router calls it from its sender goroutines only.
type Bus interface {
	Send(ctx context.Context, node string, payload []byte) error
}

// Directory knows where matches run, cluster-wide (the database).
type Directory interface {
	// Owner is the node running a live match ("" and false when it is not
	// live or not known).
	Owner(ctx context.Context, matchID string) (node string, live bool, err error)
	// Active are the live matches a player sits in, on any node.
	Active(ctx context.Context, playerID string) ([]string, error)
}

// Local is this node's match registry (*match.Registry).
type Local interface {
	Connect(c match.Conn)
	Disconnect(c match.Conn)
	Watch(c match.Conn, matchID string, reply match.ReplyFunc)
	Unwatch(c match.Conn, matchID string)
	Move(c match.Conn, matchID string, move json.RawMessage, reply match.ReplyFunc)
	Resign(c match.Conn, matchID string, reply match.ReplyFunc)
	Rematch(c match.Conn, matchID string, reply match.ReplyFunc)
	StartComputer(ctx context.Context, gameID, level string, person match.Player) (string, error)
	Active(playerID string) []string
	InMatch(playerID string) bool
	Get(matchID string) (match.Summary, bool)
	List(status string) []match.Summary
}

// Config tunes a Router. Zero fields take the defaults.
type Config struct {
	// Self is this node's id. Required.
	Self string
	// Code turns an error a match replied with into its wire code
	// (web.Code), so the socket's node can answer with the same.
	Code func(error) string
	// ReplyWait bounds the wait for a remote match's verdict on a
	// request; past it, the request is answered server_busy. Default 10s.
	ReplyWait time.Duration
	// Queue bounds the messages waiting for one destination; a frame that
	// does not fit drops its proxy's subscription as a slow reader would
	// be. Default 4096.
	Queue int
	// LookupTimeout bounds a Directory call. Default 2s.
	LookupTimeout time.Duration
}

// errReleased: a live match's node stopped and released it; another
// takes it over in a moment.
var errReleased = errors.New("match is between nodes")

// maxPayload keeps a batch under PostgreSQL's NOTIFY limit (8000 bytes).
const maxPayload = 7800

// Router implements the web layer's view of matches (web.Matches) over
// the whole cluster.
type Router struct {
	local  Local           // immutable
	bus    Bus             // immutable
	dir    Directory       // immutable
	logger *slog.Logger    // immutable
	cfg    Config          // immutable
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	nextID atomic.Uint64

	mu       sync.Mutex
	alive    map[string]bool         // nodes alive at the last SetAlive; nil: not known yet
	sockets  map[match.Conn]*socket  // this node's sockets that reached another node
	byID     map[uint64]*socket      // the same by id
	owners   map[string]string       // match -> node, as last looked up
	pending  map[uint64]pendingReply // requests sent to another node, by id
	proxies  map[proxyKey]*proxy     // other nodes' sockets, as this node's matches see them
	outboxes map[string]*outbox      // by destination node

	lobby atomic.Pointer[Lobby] // the cluster's lobby on this node, once made (lobby.go)
}

// socket is one of this node's connections that reached another node.
type socket struct {
	id      uint64
	conn    match.Conn
	watches map[string]string // match -> the node it was watched on
	others  map[string]bool   // nodes that sent it frames otherwise (a match the lobby started there)
}

type pendingReply struct {
	reply match.ReplyFunc
	timer *time.Timer
}

type proxyKey struct {
	node string
	conn uint64
}

// New returns a router; Close it when the node stops.
func New(local Local, bus Bus, dir Directory, logger *slog.Logger, cfg Config) *Router {
	if cfg.ReplyWait <= 0 {
		cfg.ReplyWait = 10 * time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 2 * time.Second
	}

	if cfg.Code == nil {
		cfg.Code = func(error) string { return "internal" }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Router{
		local: local, bus: bus, dir: dir, logger: logger, cfg: cfg, ctx: ctx, cancel: cancel,
		sockets:  map[match.Conn]*socket{},
		byID:     map[uint64]*socket{},
		owners:   map[string]string{},
		pending:  map[uint64]pendingReply{},
		proxies:  map[proxyKey]*proxy{},
		outboxes: map[string]*outbox{},
	}
}

// Close stops the senders; requests still waiting are answered busy.
func (r *Router) Close() {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	pending := r.pending
	r.pending = map[uint64]pendingReply{}
	r.mu.Unlock()
	for _, p := range pending {
		if p.timer.Stop() {
			p.reply(match.ErrShuttingDown)
		}
	}
}

// message is what nodes send each other; a payload is a JSON array of
// them.
type message struct {
	Op     string          `json:"op"`
	From   string          `json:"from"`
	Conn   uint64          `json:"c,omitempty"`
	Player string          `json:"p,omitempty"`
	Match  string          `json:"m,omitempty"`
	Move   json.RawMessage `json:"mv,omitempty"`
	Req    uint64          `json:"r,omitempty"`
	Code   string          `json:"code,omitempty"` // reply: the error's wire code; "" accepted
	Text   string          `json:"text,omitempty"` // reply: the error's message
	Frame  json.RawMessage `json:"f,omitempty"`    // frame: to Conn
	Body   json.RawMessage `json:"b,omitempty"`    // the lobby's requests and answers (lobby.go)
}

// Operations.
const (
	opWatch   = "watch"
	opUnwatch = "unwatch"
	opMove    = "move"
	opResign  = "resign"
	opRematch = "rematch"
	opGone    = "gone"  // the socket closed
	opReply   = "reply" // a match's verdict on a request
	opFrame   = "frame" // a frame for a socket
)

// Connect records a player's socket (local only: matches that start on
// this node reach it).
func (r *Router) Connect(c match.Conn) { r.local.Connect(c) }

// Disconnect forgets a closed socket here and on every node it reached.
func (r *Router) Disconnect(c match.Conn) {
	r.local.Disconnect(c)
	r.mu.Lock()
	s := r.sockets[c]
	if s != nil {
		delete(r.sockets, c)
		delete(r.byID, s.id)
	}
	r.mu.Unlock()
	if s == nil {
		return
	}
	nodes := map[string]bool{}
	for _, n := range s.watches {
		nodes[n] = true
	}
	for n := range s.others {
		nodes[n] = true
	}
	for n := range nodes {
		r.send(n, message{Op: opGone, Conn: s.id})
	}
}

// Watch subscribes c to a match, wherever it runs.
func (r *Router) Watch(c match.Conn, matchID string, reply match.ReplyFunc) {
	r.route(c, matchID, message{Op: opWatch}, reply, func() { r.local.Watch(c, matchID, reply) })
}

// Unwatch ends c's subscription.
func (r *Router) Unwatch(c match.Conn, matchID string) {
	if _, here := r.local.Get(matchID); here {
		r.local.Unwatch(c, matchID)
		return
	}
	r.mu.Lock()
	s := r.sockets[c]
	var node string
	if s != nil {
		node = s.watches[matchID]
		delete(s.watches, matchID)
	}
	r.mu.Unlock()
	if node != "" {
		r.send(node, message{Op: opUnwatch, Conn: s.id, Match: matchID})
	}
}

// Move submits a move for c's player.
func (r *Router) Move(c match.Conn, matchID string, move json.RawMessage, reply match.ReplyFunc) {
	r.route(c, matchID, message{Op: opMove, Move: move}, reply, func() { r.local.Move(c, matchID, move, reply) })
}

// Resign concedes.
func (r *Router) Resign(c match.Conn, matchID string, reply match.ReplyFunc) {
	r.route(c, matchID, message{Op: opResign}, reply, func() { r.local.Resign(c, matchID, reply) })
}

// Rematch offers or accepts a rematch.
func (r *Router) Rematch(c match.Conn, matchID string, reply match.ReplyFunc) {
	r.route(c, matchID, message{Op: opRematch}, reply, func() { r.local.Rematch(c, matchID, reply) })
}

// Active are the player's live matches on any node.
func (r *Router) Active(playerID string) []string {
	if ids := r.local.Active(playerID); len(ids) > 0 {
		return ids
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.LookupTimeout)
	defer cancel()
	ids, err := r.dir.Active(ctx, playerID)
	if err != nil {
		r.logger.Warn("look up a player's matches in the cluster", "player_id", playerID, "err", err)
		return []string{}
	}
	return ids
}

// StartComputer starts a computer game on this node: its computer seat is
// played by the match itself, wherever the person's socket is. A player
// who sits in a match on another node is refused, as on one node.
func (r *Router) StartComputer(ctx context.Context, gameID, level string, person match.Player) (string, error) {
	if r.InMatch(person.ID) {
		return "", match.ErrInMatch
	}
	return r.local.StartComputer(ctx, gameID, level, person)
}

// InMatch reports whether the player sits in a live match on any node.
func (r *Router) InMatch(playerID string) bool { return len(r.Active(playerID)) > 0 }

// Get is a match of this node's (cluster-wide summaries are not kept).
func (r *Router) Get(matchID string) (match.Summary, bool) { return r.local.Get(matchID) }

// List lists this node's matches.
func (r *Router) List(status string) []match.Summary { return r.local.List(status) }

// route runs a request here if the match is here, else sends it to the
// node that runs it.
func (r *Router) route(c match.Conn, matchID string, m message, reply match.ReplyFunc, here func()) {
	if _, ok := r.local.Get(matchID); ok {
		here()
		return
	}
	node, err := r.owner(matchID)
	switch {
	case err != nil:
		reply(match.ErrBusy)
		return
	case node == "" || node == r.cfg.Self:
		// Not live, or ours but not resumed yet (a takeover in progress):
		// the registry answers.
		here()
		return
	}
	r.mu.Lock()
	if r.alive != nil && !r.alive[node] {
		// Its node is dead and nobody took the match over yet.
		r.mu.Unlock()
		reply(match.ErrBusy)
		return
	}
	s := r.sockets[c]
	if s == nil {
		s = &socket{id: r.nextID.Add(1), conn: c, watches: map[string]string{}}
		r.sockets[c] = s
		r.byID[s.id] = s
	}
	if m.Op == opWatch || s.watches[matchID] == "" {
		// A move from a socket that never watched subscribes it too, as
		// on the owner a player's socket is subscribed to its match.
		s.watches[matchID] = node
	}
	req := r.nextID.Add(1)
	r.pending[req] = pendingReply{reply: reply, timer: time.AfterFunc(r.cfg.ReplyWait, func() { r.replied(req, match.ErrBusy) })}
	r.mu.Unlock()
	m.Conn, m.Player, m.Match, m.Req = s.id, c.PlayerID(), matchID, req
	r.send(node, m)
}

// owner returns the node running a match: the one last looked up, unless
// that node is not alive any more, else the Directory's answer.
func (r *Router) owner(matchID string) (string, error) {
	r.mu.Lock()
	node, ok := r.owners[matchID]
	if ok && (r.alive == nil || r.alive[node]) {
		r.mu.Unlock()
		return node, nil
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.LookupTimeout)
	defer cancel()
	node, live, err := r.dir.Owner(ctx, matchID)
	if err != nil {
		return "", err
	}
	if !live {
		return "", nil
	}
	if node == "" {
		return "", errReleased
	}
	r.mu.Lock()
	r.owners[matchID] = node
	r.mu.Unlock()
	return node, nil
}

// replied answers a pending request once.
func (r *Router) replied(req uint64, err error) {
	r.mu.Lock()
	p, ok := r.pending[req]
	delete(r.pending, req)
	r.mu.Unlock()
	if ok {
		p.timer.Stop()
		p.reply(err)
	}
}

// SetAlive tells the router which nodes are alive now. Proxies of sockets
// on nodes that are not are dropped (their players' grace periods start);
// this node's sockets watching matches on nodes that are not are
// subscribed again wherever their matches run now (after a takeover, with
// the state at a version above all sent before).
func (r *Router) SetAlive(nodes []string) {
	alive := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		alive[n] = true
	}
	r.mu.Lock()
	r.alive = alive
	var dropped []*proxy
	for k, p := range r.proxies {
		if !alive[k.node] {
			delete(r.proxies, k)
			dropped = append(dropped, p)
		}
	}
	type rewatch struct {
		s     *socket
		match string
	}
	var again []rewatch
	for _, s := range r.sockets {
		for id, n := range s.watches {
			if !alive[n] {
				again = append(again, rewatch{s, id})
			}
		}
	}
	for id, n := range r.owners {
		if !alive[n] {
			delete(r.owners, id)
		}
	}
	r.mu.Unlock()
	for _, p := range dropped {
		r.local.Disconnect(p)
	}
	for _, w := range again {
		node, err := r.owner(w.match)
		if err == nil && node == "" { // ended: nothing to follow
			r.mu.Lock()
			delete(w.s.watches, w.match)
			r.mu.Unlock()
			continue
		}
		if err != nil {
			continue // between nodes, or the directory is down: try on the next call
		}
		r.mu.Lock()
		if r.sockets[w.s.conn] != w.s || !alive[node] {
			r.mu.Unlock()
			continue
		}
		r.mu.Unlock()
		if node == r.cfg.Self {
			if _, here := r.local.Get(w.match); !here {
				continue // not resumed yet
			}
			r.mu.Lock()
			delete(w.s.watches, w.match)
			r.mu.Unlock()
			r.local.Watch(w.s.conn, w.match, func(error) {})
			continue
		}
		r.mu.Lock()
		w.s.watches[w.match] = node
		r.mu.Unlock()
		r.send(node, message{Op: opWatch, Conn: w.s.id, Player: w.s.conn.PlayerID(), Match: w.match})
	}
}

// Deliver handles a payload another node sent this one. It never blocks:
// the registry's methods queue, and frames go to send queues.
func (r *Router) Deliver(payload []byte) {
	var batch []message
	if err := json.Unmarshal(payload, &batch); err != nil {
		r.logger.Warn("undecodable cluster message", "err", err)
		return
	}
	for _, m := range batch {
		r.deliver(m)
	}
}

func (r *Router) deliver(m message) {
	switch m.Op {
	case opFrame:
		r.mu.Lock()
		s := r.byID[m.Conn]
		if s != nil && m.From != r.cfg.Self && !s.others[m.From] {
			// Its proxy there may have come from the lobby (a match
			// started there): its Disconnect must reach that node too.
			if s.others == nil {
				s.others = map[string]bool{}
			}
			s.others[m.From] = true
		}
		r.mu.Unlock()
		if s != nil {
			s.conn.Send(m.Frame)
		} else if m.From != r.cfg.Self {
			// The socket closed before that node's proxy of it was made:
			// drop the proxy.
			r.send(m.From, message{Op: opGone, Conn: m.Conn})
		}
	case opReply:
		var err error
		if m.Code != "" {
			err = decodeError(m.Code, m.Text)
			if m.Code == "not_found" {
				r.mu.Lock()
				delete(r.owners, m.Match)
				r.mu.Unlock()
			}
		}
		r.replied(m.Req, err)
	case opGone:
		r.mu.Lock()
		p := r.proxies[proxyKey{m.From, m.Conn}]
		delete(r.proxies, proxyKey{m.From, m.Conn})
		r.mu.Unlock()
		if p != nil {
			r.local.Disconnect(p)
		}
	case opWatch, opUnwatch, opMove, opResign, opRematch:
		p := r.proxy(m)
		reply := r.replyTo(m)
		switch m.Op {
		case opWatch:
			r.local.Watch(p, m.Match, reply)
		case opUnwatch:
			r.local.Unwatch(p, m.Match)
		case opMove:
			r.local.Move(p, m.Match, m.Move, reply)
		case opResign:
			r.local.Resign(p, m.Match, reply)
		case opRematch:
			r.local.Rematch(p, m.Match, reply)
		}
	default:
		if l := r.lobby.Load(); l != nil {
			l.deliver(m)
		}
	}
}

// proxy returns the proxy of another node's socket, making it. A new
// player's proxy is connected to the registry as the player's sockets
// here are, so a match that starts here for the player (a rematch)
// reaches it with match.found.
func (r *Router) proxy(m message) *proxy {
	k := proxyKey{m.From, m.Conn}
	r.mu.Lock()
	p := r.proxies[k]
	made := p == nil
	if made {
		p = &proxy{r: r, node: m.From, conn: m.Conn, player: m.Player}
		r.proxies[k] = p
	}
	r.mu.Unlock()
	if made {
		r.local.Connect(p)
	}
	return p
}

// replyTo sends a match's verdict on m back to m's node.
func (r *Router) replyTo(m message) match.ReplyFunc {
	return func(err error) {
		out := message{Op: opReply, Req: m.Req, Match: m.Match}
		if err != nil {
			out.Code, out.Text = r.cfg.Code(err), err.Error()
		}
		r.send(m.From, out)
	}
}

// proxy is another node's socket as this node's matches see it.
type proxy struct {
	r      *Router
	node   string
	conn   uint64
	player string
}

func (p *proxy) PlayerID() string { return p.player }

// Send queues the frame for the socket's node; false (the queue is full)
// makes the match drop it as a slow reader.
func (p *proxy) Send(frame []byte) bool {
	return p.r.send(p.node, message{Op: opFrame, Conn: p.conn, Frame: append(json.RawMessage(nil), frame...)})
}

// send queues m for node without blocking; false when its queue is full.
func (r *Router) send(node string, m message) bool {
	m.From = r.cfg.Self
	r.mu.Lock()
	o := r.outboxes[node]
	if o == nil {
		if r.ctx.Err() != nil {
			r.mu.Unlock()
			return false
		}
		o = &outbox{node: node, q: make(chan message, r.cfg.Queue)}
		r.outboxes[node] = o
		r.wg.Go(func() { r.sendLoop(o) })
	}
	r.mu.Unlock()
	select {
	case o.q <- m:
		return true
	default:
		return false
	}
}

// outbox is the queue of messages for one node.
type outbox struct {
	node string
	q    chan message
}

// sendLoop sends o's messages in order, as many per payload as fit.
func (r *Router) sendLoop(o *outbox) {
	var carry []byte // an encoded message that did not fit the last payload
	for {
		var first []byte
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case <-r.ctx.Done():
				return
			case m := <-o.q:
				first = encode(m)
			}
		}
		buf := append([]byte{'['}, first...)
	gather:
		for {
			select {
			case m := <-o.q:
				b := encode(m)
				if len(buf)+1+len(b)+1 > maxPayload {
					carry = b
					break gather
				}
				buf = append(append(buf, ','), b...)
			default:
				break gather
			}
		}
		buf = append(buf, ']')
		if len(buf) > maxPayload {
			r.logger.Warn("cluster message too big for NOTIFY; dropped", "node", o.node, "bytes", len(buf))
			continue
		}
		if err := r.bus.Send(r.ctx, o.node, buf); err != nil && r.ctx.Err() == nil {
			r.logger.Warn("send to node", "node", o.node, "err", err)
		}
	}
}

func encode(m message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("cluster: encode message: " + err.Error()) // plain structs and raw JSON frames
	}
	return b
}

// remoteError is an error a match on another node replied with: its
// message, and the sentinel of its wire code, so the socket's node answers
// with the same code.
type remoteError struct {
	text string
	base error
}

func (e *remoteError) Error() string { return e.text }
func (e *remoteError) Unwrap() error { return e.base }

// sentinels by wire code, for the errors a match replies with.
var sentinels = map[string]error{
	"not_found":        match.ErrNotFound,
	"rate_limited":     match.ErrWatchLimit,
	"not_a_player":     match.ErrNotAPlayer,
	"match_over":       match.ErrMatchOver,
	"in_match":         match.ErrInMatch,
	"server_busy":      match.ErrBusy,
	"unsupported_game": match.ErrUnsupported,
	"bad_request":      game.ErrBadMove,
	"not_your_turn":    game.ErrNotYourTurn,
	"illegal_move":     game.ErrIllegalMove,
}

func decodeError(code, text string) error {
	if base, ok := sentinels[code]; ok {
		return &remoteError{text: text, base: base}
	}
	return errors.New(text) // internal: logged by the socket's node
}
