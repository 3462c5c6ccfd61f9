package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/match"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memBus delivers payloads to routers in this process, as NOTIFY does
// between nodes (asynchronously, in order per sender). Our own interface:
// the real one (PostgreSQL) is tested in cmd/turnbase's cluster tests.
type memBus struct {
	mu      sync.Mutex
	routers map[string]*Router
	sent    int
}

func (b *memBus) Send(ctx context.Context, node string, payload []byte) error {
	b.mu.Lock()
	r := b.routers[node]
	b.sent++
	b.mu.Unlock()
	if r == nil {
		return errors.New("no such node")
	}
	r.Deliver(payload)
	return nil
}

// dir is a Directory over the registries of the test's nodes.
type dir struct {
	mu     sync.Mutex
	owners map[string]string // match -> node
}

func (d *dir) Owner(ctx context.Context, id string) (string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.owners[id]
	return n, ok, nil
}

func (d *dir) Active(ctx context.Context, player string) ([]string, error) { return []string{}, nil }

// conn records frames, as a socket would send them.
type conn struct {
	player string
	mu     sync.Mutex
	frames []map[string]any
}

func (c *conn) PlayerID() string { return c.player }
func (c *conn) Send(b []byte) bool {
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		panic(string(b))
	}
	c.mu.Lock()
	c.frames = append(c.frames, v)
	c.mu.Unlock()
	return true
}

func (c *conn) waitState(t *testing.T, moves int) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		c.mu.Lock()
		for _, f := range c.frames {
			if f["type"] == "match.state" && int(f["state"].(map[string]any)["moves"].(float64)) == moves {
				c.mu.Unlock()
				return f
			}
		}
		c.mu.Unlock()
	}
	t.Fatalf("%s: no state with %d moves", c.player, moves)
	return nil
}

// verdict waits for a reply.
func verdict(t *testing.T, f func(match.ReplyFunc)) error {
	t.Helper()
	got := make(chan error, 1)
	f(func(err error) { got <- err })
	select {
	case err := <-got:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
		return nil
	}
}

// TestRouterCarriesRequestsAndFrames: a match on node a, a player's
// socket on node b: its watch and moves reach the match, refusals come
// back with their sentinel errors, states come back; a closed socket's
// proxy goes, and a node that dies takes its proxies with it.
func TestRouterCarriesRequestsAndFrames(t *testing.T) {
	games := game.NewRegistry(tictactoe.Game{})
	regA := match.NewRegistry(discard(), games, match.Deps{}, match.Config{})
	regB := match.NewRegistry(discard(), games, match.Deps{}, match.Config{})
	defer regA.Shutdown(context.Background())
	defer regB.Shutdown(context.Background())
	bus := &memBus{routers: map[string]*Router{}}
	d := &dir{owners: map[string]string{}}
	code := func(err error) string {
		for c, s := range sentinels {
			if errors.Is(err, s) {
				return c
			}
		}
		return "internal"
	}
	ra := New(regA, bus, d, discard(), Config{Self: "a", Code: code})
	rb := New(regB, bus, d, discard(), Config{Self: "b", Code: code})
	defer ra.Close()
	defer rb.Close()
	bus.routers["a"], bus.routers["b"] = ra, rb

	x, o := &conn{player: "x"}, &conn{player: "o"}
	ra.Connect(x)
	id, err := regA.Start(context.Background(), "tictactoe", [2]match.Player{{ID: "x", Name: "xavier"}, {ID: "o", Name: "olga"}})
	if err != nil {
		t.Fatal(err)
	}
	d.owners[id] = "a"
	rb.Connect(o)
	if err := verdict(t, func(r match.ReplyFunc) { rb.Watch(o, id, r) }); err != nil {
		t.Fatalf("remote watch: %v", err)
	}
	o.waitState(t, 0)
	if err := verdict(t, func(r match.ReplyFunc) { rb.Move(o, id, json.RawMessage(`{"cell":0}`), r) }); !errors.Is(err, game.ErrNotYourTurn) {
		t.Fatalf("o moving first: %v, want not your turn", err)
	}
	if err := verdict(t, func(r match.ReplyFunc) { ra.Move(x, id, json.RawMessage(`{"cell":4}`), r) }); err != nil {
		t.Fatal(err)
	}
	o.waitState(t, 1)
	if err := verdict(t, func(r match.ReplyFunc) { rb.Move(o, id, json.RawMessage(`{"cell":4}`), r) }); !errors.Is(err, game.ErrIllegalMove) {
		t.Fatalf("o on a taken cell: %v", err)
	}
	if err := verdict(t, func(r match.ReplyFunc) { rb.Move(o, id, json.RawMessage(`{"cell":0}`), r) }); err != nil {
		t.Fatal(err)
	}
	sx, so := x.waitState(t, 2), o.waitState(t, 2)
	if sx["version"] != so["version"] {
		t.Fatalf("versions %v here, %v there", sx["version"], so["version"])
	}
	if err := verdict(t, func(r match.ReplyFunc) { rb.Watch(o, "nosuch", r) }); !errors.Is(err, match.ErrNotFound) {
		t.Fatalf("unknown match: %v", err)
	}
	// o's socket closes: its proxy on a goes (x sees o disconnected).
	ra.mu.Lock()
	proxies := len(ra.proxies)
	ra.mu.Unlock()
	if proxies != 1 {
		t.Fatalf("%d proxies on a", proxies)
	}
	rb.Disconnect(o)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		ra.mu.Lock()
		proxies = len(ra.proxies)
		ra.mu.Unlock()
		if proxies == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("proxy still there after the socket closed")
		}
	}
	// A new socket on b; then b counts as dead to a: its proxy goes.
	o2 := &conn{player: "o"}
	if err := verdict(t, func(r match.ReplyFunc) { rb.Watch(o2, id, r) }); err != nil {
		t.Fatal(err)
	}
	ra.SetAlive([]string{"a"})
	ra.mu.Lock()
	proxies = len(ra.proxies)
	ra.mu.Unlock()
	if proxies != 0 {
		t.Fatalf("%d proxies of a dead node's sockets", proxies)
	}
	// A request to a node known dead is refused at once.
	rb.SetAlive([]string{"b"})
	if err := verdict(t, func(r match.ReplyFunc) { rb.Move(o2, id, json.RawMessage(`{"cell":8}`), r) }); !errors.Is(err, match.ErrBusy) {
		t.Fatalf("move to a dead node's match: %v, want busy", err)
	}
}

// TestRouterBatchesUnderTheLimit: many frames for one node go in few
// payloads, each under the NOTIFY limit, in order.
func TestRouterBatchesUnderTheLimit(t *testing.T) {
	var mu sync.Mutex
	var payloads [][]byte
	bus := busFunc(func(ctx context.Context, node string, p []byte) error {
		mu.Lock()
		payloads = append(payloads, p)
		mu.Unlock()
		time.Sleep(time.Millisecond) // a round trip: the next batch gathers
		return nil
	})
	r := New(nil, bus, &dir{}, discard(), Config{Self: "a"})
	p := &proxy{r: r, node: "b", conn: 7, player: "x"}
	const n = 2000
	for i := range n {
		if !p.Send([]byte(`{"type":"match.state","n":` + itoa(i) + `,"pad":"0123456789012345678901234567890123456789"}`)) {
			t.Fatalf("frame %d refused", i)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	next := 0
	for next < n && time.Now().Before(deadline) {
		mu.Lock()
		got := payloads
		payloads = nil
		mu.Unlock()
		for _, b := range got {
			if len(b) > maxPayload {
				t.Fatalf("payload of %d bytes", len(b))
			}
			var batch []message
			if err := json.Unmarshal(b, &batch); err != nil {
				t.Fatal(err)
			}
			for _, m := range batch {
				var f struct{ N int }
				json.Unmarshal(m.Frame, &f)
				if f.N != next || m.Conn != 7 || m.From != "a" {
					t.Fatalf("frame %d arrived as %d", next, f.N)
				}
				next++
			}
		}
		time.Sleep(time.Millisecond)
	}
	r.Close()
	if next != n {
		t.Fatalf("%d of %d frames arrived", next, n)
	}
}

type busFunc func(ctx context.Context, node string, p []byte) error

func (f busFunc) Send(ctx context.Context, node string, p []byte) error { return f(ctx, node, p) }

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
