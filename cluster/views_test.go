package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/match"
)

// viewStore is a ViewStore in memory, counting its reads.
type viewStore struct {
	mu      sync.Mutex
	views   map[string][]byte
	live    []match.Summary
	owners  map[string]string
	byID    map[string]match.Summary
	reads   atomic.Int64
	failing bool
}

func (s *viewStore) Views(ctx context.Context) (map[string][]byte, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return nil, errors.New("database down")
	}
	out := map[string][]byte{}
	for k, v := range s.views {
		out[k] = v
	}
	return out, nil
}

func (s *viewStore) LiveMatches(ctx context.Context, game string, limit int) ([]match.Summary, []string, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []match.Summary
	var owners []string
	for _, m := range s.live {
		if (game == "" || m.Game == game) && len(out) < limit {
			out = append(out, m)
			owners = append(owners, s.owners[m.ID])
		}
	}
	return out, owners, nil
}

func (s *viewStore) MatchSummary(ctx context.Context, id string) (match.Summary, bool, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byID[id]
	return m, ok, nil
}

// set stores the views of nodes n0, n1, ...
func (s *viewStore) set(views ...NodeView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.views = map[string][]byte{}
	for i, v := range views {
		b, _ := json.Marshal(v)
		s.views[fmt.Sprint("n", i)] = b
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestViewsSumTheNodes: the counts are the living nodes' views summed;
// the live list carries each match's spectators as its node counts them,
// honours the game and the limit; one read of the store serves for the
// TTL, and a read that fails is an error, not a zero.
func TestViewsSumTheNodes(t *testing.T) {
	games := game.NewRegistry(tictactoe.Game{})
	reg := match.NewRegistry(discard(), games, match.Deps{}, match.Config{})
	defer reg.Shutdown(context.Background())
	r := New(reg, &memBus{routers: map[string]*Router{}}, &dir{owners: map[string]string{}}, discard(), Config{Self: "a"})
	defer r.Close()
	store := &viewStore{byID: map[string]match.Summary{}}
	clock := &fakeClock{now: time.Unix(1000, 0)}
	v := NewViews(r, store, discard(), ViewsConfig{TTL: time.Second, ListLimit: 2, Now: clock.Now})

	store.set(
		NodeView{Players: 3, Spectators: 1, Live: 1, Queued: map[string]int{"rps": 1}, Playing: map[string]int{"tictactoe": 2}, Watchers: map[string]int{"m1": 1}},
		NodeView{Players: 2, Spectators: 4, Live: 2, Queued: map[string]int{"rps": 2, "tictactoe": 1}, Playing: map[string]int{"tictactoe": 2, "rps": 2}, Watchers: map[string]int{"m2": 3}},
	)
	sum := func(id, g string, started int64) match.Summary {
		return match.Summary{ID: id, Game: g, Status: match.StatusLive, StartedMS: started, Players: []match.Player{{ID: "p-" + id}, {ID: "q-" + id}}}
	}
	store.live = []match.Summary{sum("m3", "rps", 30), sum("m2", "tictactoe", 20), sum("m1", "tictactoe", 10)}
	ctx := context.Background()

	c, err := v.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Players != 5 || c.Spectators != 5 || c.LiveMatches != 3 || c.Queued["rps"] != 3 || c.Queued["tictactoe"] != 1 ||
		c.Playing["tictactoe"] != 4 || c.Playing["rps"] != 2 {
		t.Fatalf("counts %+v", c)
	}
	list, err := v.LiveMatches(ctx, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "m3" || list[1].ID != "m2" || list[1].Spectators != 3 || list[0].Spectators != 0 {
		t.Fatalf("list (limit 2 by config) %+v", list)
	}
	list, _ = v.LiveMatches(ctx, "tictactoe", 1)
	if len(list) != 1 || list[0].ID != "m2" {
		t.Fatalf("tictactoe, limit 1: %+v", list)
	}

	// Within the TTL, nothing is read again.
	reads := store.reads.Load()
	for range 10 {
		v.Counts(ctx)
		v.LiveMatches(ctx, "", 2)
		v.LiveMatches(ctx, "tictactoe", 2)
	}
	if got := store.reads.Load(); got != reads {
		t.Fatalf("%d reads within the TTL", got-reads)
	}
	store.set(NodeView{Players: 1})
	if c, _ := v.Counts(ctx); c.Players != 5 || c.Queued["rps"] != 3 { // and the sums were not changed by callers
		t.Fatalf("counts changed within the TTL: %+v", c)
	}
	clock.add(time.Second)
	if c, _ := v.Counts(ctx); c.Players != 1 || c.LiveMatches != 0 {
		t.Fatalf("counts after the TTL: %+v", c)
	}
	store.mu.Lock()
	store.failing = true
	store.mu.Unlock()
	clock.add(time.Second)
	if _, err := v.Counts(ctx); err == nil {
		t.Fatal("a failed read gave counts")
	}
}

// TestViewsGetAndAbort: Get finds this node's match in its registry and
// another node's in the store, with the spectators its node counts; a
// finished match elsewhere only while it lingers there watched. Abort
// ends a match here at once and asks another node's through Abort.
func TestViewsGetAndAbort(t *testing.T) {
	games := game.NewRegistry(tictactoe.Game{})
	reg := match.NewRegistry(discard(), games, match.Deps{}, match.Config{})
	defer reg.Shutdown(context.Background())
	d := &dir{owners: map[string]string{}}
	r := New(reg, &memBus{routers: map[string]*Router{}}, d, discard(), Config{Self: "a"})
	defer r.Close()
	store := &viewStore{byID: map[string]match.Summary{}}
	var asked []string
	var mu sync.Mutex
	v := NewViews(r, store, discard(), ViewsConfig{Abort: func(ctx context.Context, id string) error {
		mu.Lock()
		asked = append(asked, id)
		mu.Unlock()
		return nil
	}})
	ctx := context.Background()

	here, err := reg.Start(ctx, "tictactoe", [2]match.Player{{ID: "x"}, {ID: "o"}})
	if err != nil {
		t.Fatal(err)
	}
	d.owners[here] = "a"
	store.byID["there"] = match.Summary{ID: "there", Game: "tictactoe", Status: match.StatusLive}
	store.byID["ended"] = match.Summary{ID: "ended", Game: "tictactoe", Status: match.StatusFinished}
	store.byID["lingers"] = match.Summary{ID: "lingers", Game: "tictactoe", Status: match.StatusFinished}
	d.owners["there"] = "b"
	store.set(NodeView{Watchers: map[string]int{"there": 2, "lingers": 1}})

	if s, ok := v.Get(here); !ok || s.ID != here {
		t.Fatalf("Get here: %+v %v", s, ok)
	}
	if s, ok := v.Get("there"); !ok || s.Spectators != 2 {
		t.Fatalf("Get there: %+v %v", s, ok)
	}
	if _, ok := v.Get("ended"); ok {
		t.Fatal("Get found a finished match no node holds")
	}
	if s, ok := v.Get("lingers"); !ok || s.Spectators != 1 {
		t.Fatalf("Get of a finished match lingering watched elsewhere: %+v %v", s, ok)
	}
	if _, ok := v.Get("nosuch"); ok {
		t.Fatal("Get found an unknown match")
	}

	if err := v.Abort(ctx, "there"); err != nil {
		t.Fatal(err)
	}
	if err := v.Abort(ctx, "nosuch"); !errors.Is(err, match.ErrNotFound) {
		t.Fatalf("abort of an unknown match: %v", err)
	}
	if err := v.Abort(ctx, here); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		s, _ := reg.Get(here)
		if s.Status == match.StatusAborted && s.Reason == match.ReasonOperator {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aborted here: %+v", s)
		}
	}
	if ok, err := v.AbortHere(ctx, "there"); ok || err != nil {
		t.Fatalf("AbortHere of another node's match: %v %v", ok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != "there" {
		t.Fatalf("asked other nodes to abort %v", asked)
	}
}

// TestCachedSharesOneRead: callers that come while a read runs wait for
// it rather than reading too.
func TestCachedSharesOneRead(t *testing.T) {
	c := &cached[int]{ttl: time.Hour}
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(ctx context.Context) (int, error) {
		loads.Add(1)
		<-release
		return 7, nil
	}
	var wg sync.WaitGroup
	results := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			v, err := c.get(context.Background(), time.Now, load)
			if err != nil {
				t.Error(err)
			}
			results <- v
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 7 {
			t.Fatalf("got %d", v)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d reads for 8 callers at once", n)
	}
	// A caller whose context ends stops waiting.
	c2 := &cached[int]{ttl: time.Hour}
	block, started := make(chan struct{}), make(chan struct{})
	defer close(block)
	go c2.get(context.Background(), time.Now, func(ctx context.Context) (int, error) { close(started); <-block; return 1, nil })
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c2.get(ctx, time.Now, func(ctx context.Context) (int, error) { return 2, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting caller: %v", err)
	}
}

// TestViewsThisNodeNow: with Local, this node's part of the counts and of
// the live list is as it is now (its registry), not as it last wrote it:
// a cluster of one answers at once, as one node alone. Its own rows in the
// store are left out (they may be a TTL old); the others' are added.
func TestViewsThisNodeNow(t *testing.T) {
	games := game.NewRegistry(tictactoe.Game{})
	reg := match.NewRegistry(discard(), games, match.Deps{}, match.Config{})
	defer reg.Shutdown(context.Background())
	r := New(reg, &memBus{routers: map[string]*Router{}}, &dir{owners: map[string]string{}}, discard(), Config{Self: "n0"})
	defer r.Close()
	store := &viewStore{byID: map[string]match.Summary{}, owners: map[string]string{}}
	own := NodeView{Players: 2, Live: 1, Queued: map[string]int{"tictactoe": 1}, Playing: map[string]int{"tictactoe": 2}}
	v := NewViews(r, store, discard(), ViewsConfig{TTL: time.Hour, Local: func() NodeView { return own }})
	ctx := context.Background()

	// n0 (this node) last wrote 9 players; n1 has 3.
	store.set(NodeView{Players: 9, Live: 4}, NodeView{Players: 3, Live: 1, Playing: map[string]int{"tictactoe": 2}, Watchers: map[string]int{"far": 2}})
	id, err := reg.Start(ctx, "tictactoe", [2]match.Player{{ID: "x"}, {ID: "o"}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := reg.Get(id)
	store.live = []match.Summary{
		{ID: "ended-here", Game: "tictactoe", Status: match.StatusLive, StartedMS: s.StartedMS + 10},
		{ID: "far", Game: "tictactoe", Status: match.StatusLive, StartedMS: s.StartedMS - 10},
	}
	store.owners["ended-here"], store.owners["far"] = "n0", "n1"

	c, err := v.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Players != 5 || c.LiveMatches != 2 || c.Playing["tictactoe"] != 4 || c.Queued["tictactoe"] != 1 {
		t.Fatalf("counts %+v", c)
	}
	list, err := v.LiveMatches(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != id || list[1].ID != "far" || list[1].Spectators != 2 {
		t.Fatalf("live list %+v", list)
	}
	if all := v.List(match.StatusLive); len(all) != 2 || all[0].ID != id {
		t.Fatalf("List %+v", all)
	}
	if l, _ := v.LiveMatches(ctx, "rps", 10); l == nil || len(l) != 0 {
		t.Fatalf("rps: %#v", l)
	}
}
