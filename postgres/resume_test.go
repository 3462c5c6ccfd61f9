package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/match"
)

// stateConn keeps the match.state frames a match sends it.
type stateConn struct {
	player string

	mu     sync.Mutex
	states []map[string]any
}

func (c *stateConn) PlayerID() string { return c.player }

func (c *stateConn) Send(frame []byte) bool {
	var v map[string]any
	if err := json.Unmarshal(frame, &v); err != nil {
		panic("invalid frame: " + string(frame))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v["type"] == "match.state" {
		c.states = append(c.states, v)
	}
	return true
}

// last returns the newest state and the highest version c got.
func (c *stateConn) last() (map[string]any, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var top int64
	for _, s := range c.states {
		top = max(top, int64(s["version"].(float64)))
	}
	if len(c.states) == 0 {
		return nil, 0
	}
	return c.states[len(c.states)-1], top
}

// waitState waits until c has a state that ok accepts.
func (c *stateConn) waitState(t *testing.T, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s, _ := c.last(); s != nil && ok(s) {
			return s
		}
	}
	s, _ := c.last()
	t.Fatalf("%s: no such state; last %v", c.player, s)
	return nil
}

// TestJournalResumesAboveVersionWithDeadline runs a match through
// match.Registry on the journal, with enough spectator changes that the
// match must raise its version ceiling, then "crashes" it (the registry
// stops without ending it) and resumes it from what Claim loads: the
// resumed match's versions are above all sent before, and its deadline
// is the one the players were shown.
func TestJournalResumesAboveVersionWithDeadline(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	games := game.NewRegistry(tictactoe.Game{})
	cfg := match.Config{MoveTimeout: time.Minute, Grace: time.Minute}
	j := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	reg := match.NewRegistry(discard(), games, match.Deps{Journal: j}, cfg)
	x, o := &stateConn{player: "rv-x"}, &stateConn{player: "rv-o"}
	reg.Connect(x)
	reg.Connect(o)
	id, err := reg.Start(ctx, "tictactoe", [2]match.Player{{ID: "rv-x", Name: "xavier"}, {ID: "rv-o", Name: "olga"}})
	if err != nil {
		t.Fatal(err)
	}
	moves := func(n int) func(map[string]any) bool {
		return func(s map[string]any) bool { return s["state"].(map[string]any)["moves"].(float64) == float64(n) }
	}
	play := func(c, other *stateConn, cell, n int) {
		t.Helper()
		reg.Move(c, id, json.RawMessage(`{"cell":`+string(rune('0'+cell))+`}`), func(err error) {
			if err != nil {
				t.Errorf("move %d: %v", n, err)
			}
		})
		other.waitState(t, moves(n))
	}
	play(x, o, 4, 1)
	play(o, x, 0, 2)
	// More changes that are not moves than the headroom allows.
	spec := &stateConn{}
	watch := func() {
		done := make(chan error, 1)
		reg.Watch(spec, id, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatalf("watch: %v", err)
		}
	}
	for range match.VersionHeadroom {
		watch()
		reg.Unwatch(spec, id)
	}
	watch()
	want := o.waitState(t, func(s map[string]any) bool {
		return int64(s["version"].(float64)) >= int64(3+2*match.VersionHeadroom)
	})
	_, before := o.last()
	var ceiling int64
	pool.QueryRow(ctx, `SELECT version FROM matches WHERE id = $1`, id).Scan(&ceiling)
	if ceiling < before {
		t.Fatalf("sent version %d above the stored ceiling %d", before, ceiling)
	}
	if err := reg.Shutdown(ctx); err != nil { // the crash: the match is not ended
		t.Fatal(err)
	}

	j2, err := NewJournal(pool, discard(), JournalConfig{Owner: "node-a", SpoolPath: filepath.Join(t.TempDir(), "s2")})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := j2.Claim(ctx)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	c := claimed[0]
	if c.Record.Version != ceiling || len(c.Moves) != 2 || c.Moves[0].Version != 2 || c.Moves[1].Version != 3 {
		t.Fatalf("claimed version %d, moves %+v", c.Record.Version, c.Moves)
	}
	if got := c.Moves[1].Deadline.UnixMilli(); got != int64(want["deadline_ms"].(float64)) {
		t.Fatalf("stored deadline %d, shown %v", got, want["deadline_ms"])
	}
	reg2 := match.NewRegistry(discard(), games, match.Deps{Journal: startJournal(t, pool, JournalConfig{Owner: "node-a"})}, cfg)
	defer reg2.Shutdown(ctx)
	if err := reg2.Resume(c.Record, c.Moves); err != nil {
		t.Fatal(err)
	}
	x2 := &stateConn{player: "rv-x"}
	reg2.Connect(x2)
	reg2.Watch(x2, id, func(error) {})
	st := x2.waitState(t, func(map[string]any) bool { return true })
	if v := int64(st["version"].(float64)); v <= before {
		t.Fatalf("resumed at version %d, not above %d", v, before)
	}
	if st["deadline_ms"] != want["deadline_ms"] {
		t.Fatalf("resumed deadline %v, shown before %v", st["deadline_ms"], want["deadline_ms"])
	}
	// The resumed match stored its own ceiling before it sent anything.
	var ceiling2 int64
	pool.QueryRow(ctx, `SELECT version FROM matches WHERE id = $1`, id).Scan(&ceiling2)
	if _, sent := x2.last(); ceiling2 < sent {
		t.Fatalf("resumed match sent %d above its stored ceiling %d", sent, ceiling2)
	}
}

// TestRaiseVersion: only the owner raises a live match's ceiling, and it
// never goes down.
func TestRaiseVersion(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	j := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	if err := j.CreateMatch(ctx, testRecord("rv1")); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{100, 50} {
		if err := j.RaiseVersion(ctx, "rv1", v); err != nil {
			t.Fatal(err)
		}
	}
	jb := startJournal(t, pool, JournalConfig{Owner: "node-b"})
	if err := jb.RaiseVersion(ctx, "rv1", 500); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("another process raised the ceiling: %v", err)
	}
	var v int64
	pool.QueryRow(ctx, `SELECT version FROM matches WHERE id = 'rv1'`).Scan(&v)
	if v != 100 {
		t.Fatalf("ceiling = %d, want 100", v)
	}
}

// TestUnresumableMatchEndsAborted: a live match whose stored moves do not
// replay (a row planted with case-variant keys, as a client could store
// before moves were read strictly) is claimed after a restart and ended
// in the database as aborted, server_error, unrated, its lease released:
// not left live with its lease renewed forever.
func TestUnresumableMatchEndsAborted(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	games := game.NewRegistry(tictactoe.Game{})
	j := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	rec := testRecord("bad1")
	if err := j.CreateMatch(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO match_moves (match_id, seq, seat, move) VALUES ('bad1', 1, 0, '{"cell":8,"CELL":4}')`); err != nil {
		t.Fatal(err)
	}

	j2 := startJournal(t, pool, JournalConfig{Owner: "node-a"})
	claimed, err := j2.Claim(ctx)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	reg := match.NewRegistry(discard(), games, match.Deps{Journal: j2, Rated: true}, match.Config{})
	defer reg.Shutdown(ctx)
	if err := reg.Resume(claimed[0].Record, claimed[0].Moves); !errors.Is(err, match.ErrUnresumable) {
		t.Fatalf("resume: %v", err)
	}
	var (
		status, reason string
		rated, owned   bool
	)
	err = pool.QueryRow(ctx, `SELECT status, reason, rated, owner IS NOT NULL OR lease_until IS NOT NULL FROM matches WHERE id = 'bad1'`).
		Scan(&status, &reason, &rated, &owned)
	if err != nil || status != "aborted" || reason != "server_error" || rated || owned {
		t.Fatalf("match row: %s %s rated=%v owned=%v (%v)", status, reason, rated, owned, err)
	}
	if again, err := j2.Claim(ctx); err != nil || len(again) != 0 {
		t.Fatalf("claimed again: %v, %v", again, err)
	}
}
