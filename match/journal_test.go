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
	versions map[string]int64 // RaiseVersion's ceilings
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

func (j *memJournal) RaiseVersion(ctx context.Context, id string, version int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	if j.versions == nil {
		j.versions = map[string]int64{}
	}
	j.versions[id] = max(j.versions[id], version)
	return nil
}

// resumable returns match id as the journal would hand it to Resume, and
// the ceiling on every version it may have sent.
func (j *memJournal) resumable(id string) (Record, []StoredMove, int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var rec Record
	for _, r := range j.created {
		if r.ID == id {
			rec = r
		}
	}
	rec.Version = j.versions[id]
	moves := append([]StoredMove(nil), j.moves[id]...)
	ceiling := max(rec.Version, VersionHeadroom)
	if n := len(moves); n > 0 {
		ceiling = max(rec.Version, moves[n-1].Version+VersionHeadroom)
	}
	return rec, moves, ceiling
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

// maxVersion is the highest match.state version c got.
func maxVersion(c *fakeConn) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var v int64
	for _, f := range c.frames {
		if f["type"] == "match.state" {
			v = max(v, int64(num(f["version"])))
		}
	}
	return v
}

// TestResumeContinuesVersionAndDeadline: every version a match sends is
// under the journal's durable ceiling, however many changes that are not
// moves it makes (spectators coming and going), and a match resumed from
// the journal continues above every version sent before, with the
// deadline the players were shown.
func TestResumeContinuesVersionAndDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		cfg := testCfg
		cfg.SpectatorEvery = time.Millisecond // each spectator change its own version
		e := newEnv(t, "tictactoe", Deps{Journal: j}, cfg)
		if err := e.move(e.a, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if err := e.move(e.b, `{"cell":0}`); err != nil {
			t.Fatal(err)
		}
		// 3 * VersionHeadroom changes that are not moves: the match must
		// raise its ceiling (a write) before it sends past it.
		var specs []*fakeConn
		for i := range 3 * VersionHeadroom / 2 {
			s := &fakeConn{}
			specs = append(specs, s)
			e.reg.Watch(s, e.id, func(error) {})
			if i%2 == 1 {
				time.Sleep(cfg.SpectatorEvery)
				e.reg.Unwatch(specs[i-1], e.id)
			}
			synctest.Wait()
			time.Sleep(cfg.SpectatorEvery)
		}
		rec, moves, ceiling := j.resumable(e.id)
		if len(moves) != 2 || moves[0].Version != 2 || moves[1].Version != 3 {
			t.Fatalf("stored moves = %+v", moves)
		}
		if rec.Version <= moves[1].Version+VersionHeadroom {
			t.Fatalf("ceiling never raised: %d after %d spectator changes", rec.Version, 3*VersionHeadroom)
		}
		shown := e.a.last("match.state")
		deadline := int64(num(shown["deadline_ms"]))
		if want := moves[1].Deadline.UnixMilli(); deadline != want || moves[0].Deadline.UnixMilli() == want {
			t.Fatalf("deadline shown %d, stored with the moves %v", deadline, moves)
		}
		sent := max(maxVersion(e.a), maxVersion(e.b))
		for _, s := range specs {
			sent = max(sent, maxVersion(s))
		}
		if sent > ceiling || sent < 2*VersionHeadroom {
			t.Fatalf("sent version %d, durable ceiling %d", sent, ceiling)
		}

		// The server dies (its registry goes away without ending the
		// match) and another resumes the match 5s later.
		e.reg.Shutdown(context.Background())
		time.Sleep(5 * time.Second)
		j2 := &memJournal{created: []Record{rec}, moves: map[string][]StoredMove{e.id: moves}, versions: map[string]int64{e.id: rec.Version}}
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{Journal: j2}, testCfg)
		defer reg.Shutdown(context.Background())
		if err := reg.Resume(rec, moves); err != nil {
			t.Fatal(err)
		}
		a := &fakeConn{player: "alice"}
		reg.Connect(a)
		reg.Watch(a, e.id, func(error) {})
		synctest.Wait()
		st := a.last("match.state")
		if v := int64(num(st["version"])); v <= sent {
			t.Fatalf("resumed at version %d, not above %d sent before", v, sent)
		}
		if got := int64(num(st["deadline_ms"])); got != deadline {
			t.Fatalf("resumed deadline %d, want the one shown before, %d", got, deadline)
		}
		// Before sending anything, the resumed match made its own ceiling
		// durable: a second crash would continue above it too.
		if _, _, c2 := j2.resumable(e.id); c2 < maxVersion(a) {
			t.Fatalf("resumed match sent %d above its durable ceiling %d", maxVersion(a), c2)
		}
		// The game goes on from there, with version and deadline stored.
		var mb errBox
		reg.Move(a, e.id, json.RawMessage(`{"cell":8}`), mb.reply)
		synctest.Wait()
		if err := mb.get(t); err != nil {
			t.Fatal(err)
		}
		if mv := j2.moves[e.id]; len(mv) != 3 || mv[2].Version != int64(num(a.last("match.state")["version"])) {
			t.Fatalf("move after resume stored as %+v", mv)
		}
	})
}

// TestResumeAfterDeadlinePassed: a turn whose deadline passed while the
// server was down gets ResumeMinimum from the resume, not an instant loss;
// a match with no move keeps its first turn's deadline.
func TestResumeAfterDeadlinePassed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{Journal: j}, testCfg)
		defer reg.Shutdown(context.Background())
		players := [2]Player{{ID: "alice"}, {ID: "bob"}}
		start := time.Now()
		moves := []StoredMove{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"cell":4}`), Version: 2, Deadline: start.Add(time.Second)}}
		time.Sleep(time.Minute)
		if err := reg.Resume(Record{ID: "late", Game: "tictactoe", Players: players, Started: start}, moves); err != nil {
			t.Fatal(err)
		}
		if err := reg.Resume(Record{ID: "fresh", Game: "tictactoe", Players: [2]Player{{ID: "carol"}, {ID: "dave"}}, Started: time.Now().Add(-20 * time.Second)}, nil); err != nil {
			t.Fatal(err)
		}
		// Moves stored before migration 0005 have no version: the match
		// jumps far above any it may have sent.
		legacy := []StoredMove{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"cell":4}`)}}
		if err := reg.Resume(Record{ID: "legacy", Game: "tictactoe", Players: [2]Player{{ID: "erin"}, {ID: "fay"}}, Started: start}, legacy); err != nil {
			t.Fatal(err)
		}
		lc := &fakeConn{}
		reg.Watch(lc, "legacy", func(error) {})
		synctest.Wait()
		if v := int64(num(lc.last("match.state")["version"])); v <= legacyCeiling {
			t.Errorf("legacy: resumed at version %d", v)
		}
		now := time.Now()
		for id, want := range map[string]time.Time{"late": now.Add(ResumeMinimum), "fresh": now.Add(testCfg.MoveTimeout - 20*time.Second)} {
			c := &fakeConn{}
			reg.Watch(c, id, func(error) {})
			synctest.Wait()
			st := c.last("match.state")
			if got := int64(num(st["deadline_ms"])); got != want.UnixMilli() {
				t.Errorf("%s: deadline %d, want %d", id, got, want.UnixMilli())
			}
			if v := int64(num(st["version"])); v <= VersionHeadroom {
				t.Errorf("%s: resumed at version %d", id, v)
			}
		}
		// Bob owes the move and does not make it: he loses ResumeMinimum
		// after the resume.
		b := &fakeConn{player: "bob"}
		a := &fakeConn{player: "alice"}
		reg.Connect(a)
		reg.Connect(b)
		reg.Watch(a, "late", func(error) {})
		reg.Watch(b, "late", func(error) {})
		time.Sleep(ResumeMinimum - time.Millisecond)
		synctest.Wait()
		if a.last("match.over") != nil {
			t.Fatal("ended before ResumeMinimum")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if over := a.last("match.over"); over == nil || over["reason"] != "timeout" || over["winner"] != 0.0 {
			t.Fatalf("over = %v", over)
		}
	})
}
