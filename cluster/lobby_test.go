package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/web"
)

// elector is the database's lobby lock, as the tests set it.
type elector struct {
	mu     sync.Mutex
	leader string
	term   int64
}

func (e *elector) Elect(ctx context.Context) (string, int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.term, nil
}

func (e *elector) set(node string) {
	e.mu.Lock()
	e.leader, e.term = node, e.term+1
	e.mu.Unlock()
}

// lobbyNode is one node of a lobby test: its registry, router and lobby.
type lobbyNode struct {
	id     string
	reg    *match.Registry
	r      *Router
	l      *Lobby
	mu     sync.Mutex
	offers []lobby.Ticket
}

// lobbyCluster starts nodes on a memBus, sharing one elector; they stop
// when the test ends.
func lobbyCluster(t testing.TB, el *elector, ids ...string) map[string]*lobbyNode {
	t.Helper()
	games := game.NewRegistry(tictactoe.Game{})
	bus := &memBus{routers: map[string]*Router{}}
	d := &dir{owners: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	nodes := map[string]*lobbyNode{}
	for _, id := range ids {
		n := &lobbyNode{id: id}
		n.reg = match.NewRegistry(discard(), games, match.Deps{}, match.Config{})
		n.r = New(n.reg, bus, d, discard(), Config{Self: id, Code: web.Code})
		bus.mu.Lock()
		bus.routers[id] = n.r
		bus.mu.Unlock()
		n.l = NewLobby(n.r, el, LobbyConfig{
			Lobby:   lobby.Config{BotOfferAfter: 100 * time.Millisecond, PairEvery: 20 * time.Millisecond},
			HasGame: func(g string) bool { _, ok := games.Lookup(g); return ok },
			Start: func(ctx context.Context, p lobby.Pair) (string, error) {
				var players [2]match.Player
				for i, tk := range p.Players {
					players[i] = match.Player{ID: tk.PlayerID, Name: tk.Name, Rating: tk.Rating}
				}
				return n.reg.Start(ctx, p.Game, players)
			},
			Offer: func(tk lobby.Ticket) {
				n.mu.Lock()
				n.offers = append(n.offers, tk)
				n.mu.Unlock()
			},
			Every: 10 * time.Millisecond,
		})
		n.l.Elect(ctx)
		wg.Go(func() { n.l.Run(ctx) })
		nodes[id] = n
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, n := range nodes {
			n.r.Close()
			n.reg.Shutdown(context.Background())
		}
	})
	return nodes
}

// join queues player p's socket c on node n.
func (n *lobbyNode) join(c *conn, rating float64) error {
	ctx, cancel := context.WithTimeout(match.WithConn(context.Background(), c), 5*time.Second)
	defer cancel()
	n.r.Connect(c)
	_, err := n.l.Join(ctx, lobby.Ticket{PlayerID: c.player, Name: c.player, Rating: rating, Game: "tictactoe"})
	return err
}

// found waits for the socket's match.found and returns its match id.
func (c *conn) found(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		c.mu.Lock()
		for _, f := range c.frames {
			if f["type"] == "match.found" {
				c.mu.Unlock()
				return f["match"].(string)
			}
		}
		c.mu.Unlock()
	}
	t.Fatalf("%s: no match.found", c.player)
	return ""
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestLobbyPairsAcrossNodes: node a runs the lobby; players whose
// sockets are on b and c queue there and are paired, each socket gets
// match.found from the match that starts on seat 0's node; a player
// queued through one node cannot queue again through another, nor while
// in the match; an offer of a computer game reaches the node of the
// socket that queued.
func TestLobbyPairsAcrossNodes(t *testing.T) {
	el := &elector{}
	el.set("a")
	nodes := lobbyCluster(t, el, "a", "b", "c")
	a, b, c := nodes["a"], nodes["b"], nodes["c"]

	y, y2 := &conn{player: "y"}, &conn{player: "y"}
	if err := b.join(y, 100); err != nil {
		t.Fatal(err)
	}
	if err := c.join(y2, 100); !errors.Is(err, lobby.ErrAlreadyQueued) || web.Code(err) != "already_queued" {
		t.Fatalf("second ticket through another node: %v, want already_queued", err)
	}
	waitFor(t, "the offer on b", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.offers) == 1 })
	a.mu.Lock()
	if len(a.offers) != 0 {
		t.Errorf("offer made on the lobby node, not the socket's: %v", a.offers)
	}
	a.mu.Unlock()
	if got := c.l.Stats()["tictactoe"]; got != 1 {
		waitFor(t, "c's view of the queue", func() bool { return c.l.Stats()["tictactoe"] == 1 })
	}

	x, o := &conn{player: "x"}, &conn{player: "o"}
	if err := b.join(x, 1500); err != nil {
		t.Fatal(err)
	}
	if err := c.join(o, 1520); err != nil {
		t.Fatal(err)
	}
	id := x.found(t)
	if o.found(t) != id {
		t.Fatal("x and o found different matches")
	}
	_, onB := b.reg.Get(id)
	_, onC := c.reg.Get(id)
	if !onB && !onC {
		t.Fatal("the match runs on neither socket's node")
	}
	// Their tickets are gone from their nodes' memory.
	for _, n := range []*lobbyNode{b, c} {
		n.l.mu.Lock()
		_, xw := n.l.waiting["x"]
		_, ow := n.l.waiting["o"]
		n.l.mu.Unlock()
		if xw || ow {
			t.Errorf("node %s still holds a paired ticket", n.id)
		}
	}
	// x, seated by the lobby, cannot queue through a.
	waitFor(t, "the lobby to note x seated", func() bool {
		a.l.mu.Lock()
		tm := a.l.run
		a.l.mu.Unlock()
		tm.mu.Lock()
		defer tm.mu.Unlock()
		_, ok := tm.seated["x"]
		return ok
	})
	x2 := &conn{player: "x"}
	if err := a.join(x2, 1500); !errors.Is(err, lobby.ErrInMatch) {
		t.Fatalf("x queueing again while seated: %v, want in_match", err)
	}

	// A challenge made through b, accepted through c.
	p, q := &conn{player: "p"}, &conn{player: "q"}
	b.r.Connect(p)
	c.r.Connect(q)
	ctxP, cancel := context.WithTimeout(match.WithConn(context.Background(), p), 5*time.Second)
	defer cancel()
	ch, err := b.l.CreateChallenge(ctxP, lobby.Ticket{PlayerID: "p", Name: "p", Game: "tictactoe"})
	if err != nil {
		t.Fatal(err)
	}
	ctxQ := match.WithConn(ctxP, q)
	if _, err := c.l.Challenge(ctxQ, "nosuchcode"); !errors.Is(err, lobby.ErrNotFound) {
		t.Fatalf("unknown code: %v", err)
	}
	got, err := c.l.Challenge(ctxQ, ch.Code)
	if err != nil || got.Creator.PlayerID != "p" {
		t.Fatalf("challenge through c: %+v, %v", got, err)
	}
	if err := c.l.AcceptChallenge(ctxQ, ch.Code, lobby.Ticket{PlayerID: "p", Name: "p"}); !errors.Is(err, lobby.ErrOwnChallenge) {
		t.Fatalf("own challenge: %v", err)
	}
	if err := c.l.AcceptChallenge(ctxQ, ch.Code, lobby.Ticket{PlayerID: "q", Name: "q"}); err != nil {
		t.Fatal(err)
	}
	if p.found(t) != q.found(t) {
		t.Fatal("p and q found different matches")
	}
}

// TestLobbyMovesWithTheLeader: a ticket waiting in a's lobby is given to
// c's when c leads instead; a player queueing through a then meets it.
// Requests while no node leads are refused server_busy.
func TestLobbyMovesWithTheLeader(t *testing.T) {
	el := &elector{}
	el.set("a")
	nodes := lobbyCluster(t, el, "a", "b", "c")
	a, b, c := nodes["a"], nodes["b"], nodes["c"]

	z := &conn{player: "z"}
	if err := b.join(z, 1500); err != nil {
		t.Fatal(err)
	}
	el.set("c")
	waitFor(t, "c to lead with z waiting", func() bool { return c.l.LocalStats()["tictactoe"] == 1 })
	// a stops its lobby at its next look (each node looks every Every).
	waitFor(t, "a to stop its queue", func() bool { return len(a.l.LocalStats()) == 0 })
	w := &conn{player: "w"}
	if err := a.join(w, 1490); err != nil {
		t.Fatal(err)
	}
	if z.found(t) != w.found(t) {
		t.Fatal("z and w found different matches")
	}

	el.set("")
	waitFor(t, "no leader", func() bool { return a.l.Leader() == "" && b.l.Leader() == "" })
	// No state change on an unknown leader means the last one is kept:
	// here the elector says none.
	v := &conn{player: "v"}
	if err := b.join(v, 1500); !errors.Is(err, match.ErrBusy) || web.Code(err) != "server_busy" {
		t.Fatalf("join with no lobby node: %v, want server_busy", err)
	}
}
