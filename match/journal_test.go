package match

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memJournal records what a match makes durable.
type memJournal struct {
	mu       sync.Mutex
	created  []Record
	moves    map[string][]StoredMove
	finished []Result
	fail     error
}

func (j *memJournal) CreateMatch(ctx context.Context, rec Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.created = append(j.created, rec)
	return nil
}

func (j *memJournal) AppendMove(ctx context.Context, id string, mv StoredMove) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	if j.moves == nil {
		j.moves = map[string][]StoredMove{}
	}
	j.moves[id] = append(j.moves[id], mv)
	return nil
}

func (j *memJournal) FinishMatch(ctx context.Context, res Result) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.finished = append(j.finished, res)
	return nil
}

func (j *memJournal) setFail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fail = err
}

func TestJournalBeforeBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		e := newEnv(t, "tictactoe", Deps{Journal: j}, testCfg)
		if len(j.created) != 1 || j.created[0].ID != e.id || j.created[0].Players[1].ID != "bob" {
			t.Fatalf("created = %+v", j.created)
		}
		if err := e.move(e.a, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		v := num(e.b.last("match.state")["version"])
		boom := errors.New("disk on fire")
		j.setFail(boom)
		if err := e.move(e.b, `{"cell":0}`); !errors.Is(err, boom) {
			t.Fatalf("move with a failing journal: %v", err)
		}
		if got := num(e.b.last("match.state")["version"]); got != v {
			t.Fatalf("an unstored move was broadcast (version %d -> %d)", v, got)
		}
		j.setFail(nil)
		if err := e.move(e.b, `{"cell":0}`); err != nil {
			t.Fatal(err)
		}
		mv := j.moves[e.id]
		if len(mv) != 2 || mv[0].Seq != 1 || mv[1].Seq != 2 || mv[1].Seat != 1 || string(mv[1].Move) != `{"cell":0}` {
			t.Fatalf("stored moves = %+v", mv)
		}
		e.reg.Resign(e.a, e.id, func(error) {})
		synctest.Wait()
		if len(j.finished) != 1 || j.finished[0].Reason != "resign" || j.finished[0].Winner != 1 || j.finished[0].Moves != 2 {
			t.Fatalf("finished = %+v", j.finished)
		}
	})
}

func TestStartFailsWhenJournalFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{fail: errors.New("database down")}
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{Journal: j}, testCfg)
		defer reg.Shutdown(context.Background())
		if _, err := reg.Start(context.Background(), "tictactoe", [2]Player{{ID: "a"}, {ID: "b"}}); err == nil {
			t.Fatal("started a match that was not stored")
		}
		if reg.InMatch("a") || reg.InMatch("b") {
			t.Error("players left seated after a failed start")
		}
	})
}

func TestResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, testCfg)
		defer reg.Shutdown(context.Background())
		rec := Record{ID: "m1", Game: "tictactoe", Players: [2]Player{{ID: "alice", Name: "Alice"}, {ID: "bob", Name: "Bob"}}, Started: time.Now().Add(-time.Minute)}
		moves := []StoredMove{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"cell":4}`)}, {Seq: 2, Seat: 1, Move: json.RawMessage(`{"cell":0}`)}}
		if err := reg.Resume(rec, moves); err != nil {
			t.Fatal(err)
		}
		if !reg.InMatch("alice") || reg.Active("bob")[0] != "m1" {
			t.Fatal("resumed match does not seat its players")
		}
		a := &fakeConn{player: "alice"}
		reg.Connect(a)
		reg.Watch(a, "m1", func(error) {})
		synctest.Wait()
		st := a.last("match.state")
		board := st["state"].(map[string]any)["board"].([]any)
		if board[4] != "X" || board[0] != "O" || st["turn"] != 0.0 {
			t.Fatalf("resumed state = %v", st)
		}
		bob := st["players"].([]any)[1].(map[string]any)
		if bob["connected"] != false || bob["grace_ms"] == nil {
			t.Errorf("bob should be in a fresh grace period: %v", bob)
		}
		// Bob never returns: abandoned after the grace period.
		time.Sleep(testCfg.Grace + time.Millisecond)
		synctest.Wait()
		if over := a.last("match.over"); over == nil || over["reason"] != "abandoned" || over["winner"] != 0.0 {
			t.Fatalf("over = %v", over)
		}

		bad := []StoredMove{{Seq: 1, Seat: 1, Move: json.RawMessage(`{"cell":4}`)}}
		if err := reg.Resume(Record{ID: "m2", Game: "tictactoe", Players: [2]Player{{ID: "c"}, {ID: "d"}}}, bad); err == nil {
			t.Error("resumed a match whose moves do not replay")
		}
	})
}
