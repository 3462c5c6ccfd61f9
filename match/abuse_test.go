package match

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/turnbase/turnbase/game"
)

// TestResignBeforeOwnFirstMoveAborts: a resign before the resigner's own
// first move ends the match aborted and unrated (reason resign), so that
// two accounts cannot trade rated wins without playing; once the resigner
// has moved, a resign is a rated loss as before.
func TestResignBeforeOwnFirstMoveAborts(t *testing.T) {
	tests := map[string]struct {
		game   string
		moves  []string // alternating alice, bob
		resign string   // who resigns
		status string
		winner any
	}{
		"nobody moved":               {"tictactoe", nil, "alice", StatusAborted, nil},
		"the other moved":            {"tictactoe", []string{`{"cell":4}`}, "bob", StatusAborted, nil},
		"rps: the other chose":       {"rps", []string{`{"choice":"rock"}`}, "bob", StatusAborted, nil},
		"both moved: rated loss":     {"tictactoe", []string{`{"cell":4}`, `{"cell":0}`}, "bob", StatusFinished, 0.0},
		"the resigner moved: a loss": {"tictactoe", []string{`{"cell":4}`}, "alice", StatusFinished, 1.0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := &memJournal{}
				e := newEnv(t, tc.game, Deps{Journal: j}, testCfg)
				for i, mv := range tc.moves {
					c := e.a
					if i%2 == 1 {
						c = e.b
					}
					if err := e.move(c, mv); err != nil {
						t.Fatalf("move %s: %v", mv, err)
					}
				}
				c := e.a
				if tc.resign == "bob" {
					c = e.b
				}
				var b errBox
				e.reg.Resign(c, e.id, b.reply)
				synctest.Wait()
				if err := b.get(t); err != nil {
					t.Fatal(err)
				}
				over := e.a.last("match.over")
				wantResult := "win"
				if tc.status == StatusAborted {
					wantResult = "aborted"
				}
				if over == nil || over["result"] != wantResult || over["reason"] != "resign" || over["winner"] != tc.winner {
					t.Fatalf("over = %v", over)
				}
				if st := e.a.last("match.state"); st["status"] != tc.status {
					t.Errorf("state status = %v, want %s", st["status"], tc.status)
				}
				j.mu.Lock()
				defer j.mu.Unlock()
				if len(j.finished) != 1 {
					t.Fatalf("finished = %+v", j.finished)
				}
				res := j.finished[0]
				if res.Status != tc.status || res.Rated != (tc.status == StatusFinished) {
					t.Errorf("stored result %+v", res)
				}
			})
		})
	}
}

// TestStoredMoveIsCanonical: the match applies, stores and so replays the
// game's canonical form of a move, never the client's text; a move whose
// keys repeat or differ in case is refused (bad_request) and nothing is
// stored.
func TestStoredMoveIsCanonical(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		e := newEnv(t, "tictactoe", Deps{Journal: j}, testCfg)
		for _, bad := range []string{
			`{"cell":8,"CELL":4}`, `{"cell":8,"cell":4}`, `{"Cell":4}`, `{"cell":4,"x":1}`,
			`{"cell":1e1000000}`, `{"cell":"\u0000"}`, "{\"cell\":4}\x00", `{"cell":4e0}`,
		} {
			if err := e.move(e.a, bad); !errors.Is(err, game.ErrBadMove) {
				t.Errorf("move %q: %v, want a bad move", bad, err)
			}
		}
		if err := e.move(e.a, ` { "\u0063ell" : -0 } `); err != nil {
			t.Fatal(err)
		}
		if err := e.move(e.b, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		j.mu.Lock()
		stored := j.moves[e.id]
		j.mu.Unlock()
		if len(stored) != 2 || string(stored[0].Move) != `{"cell":0}` || string(stored[1].Move) != `{"cell":4}` {
			t.Fatalf("stored moves %+v", stored)
		}

		r := &memJournal{}
		e2 := newEnvWithIDs(t, "rps", Deps{Journal: r}, "carol", "dave")
		if err := e2.move(e2.a, `{"choice":"rock","Choice":"paper"}`); !errors.Is(err, game.ErrBadMove) {
			t.Errorf("case-variant choice: %v", err)
		}
		if err := e2.move(e2.a, `{"choice":"\u0072ock"}`); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if got := r.moves[e2.id]; len(got) != 1 || string(got[0].Move) != `{"choice":"rock"}` {
			t.Fatalf("stored rps moves %+v", got)
		}
	})
}

// newEnvWithIDs is newEnv with other player ids.
func newEnvWithIDs(t *testing.T, gameID string, deps Deps, p0, p1 string) *env {
	t.Helper()
	reg := NewRegistry(quietLogger(), newEnvGames(), deps, testCfg)
	t.Cleanup(func() { reg.Shutdown(context.Background()) })
	e := &env{t: t, reg: reg, a: &fakeConn{player: p0}, b: &fakeConn{player: p1}}
	reg.Connect(e.a)
	reg.Connect(e.b)
	id, err := reg.Start(context.Background(), gameID, [2]Player{{ID: p0}, {ID: p1}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	e.id = id
	synctest.Wait()
	return e
}

// TestResumeUnreplayableAborts: a stored match that cannot be rebuilt
// (moves that do not replay, a gap, a game not offered) is not left live:
// its end is stored as aborted, server_error, unrated, and its players
// are free.
func TestResumeUnreplayableAborts(t *testing.T) {
	players := [2]Player{{ID: "alice", Name: "Alice"}, {ID: "bob", Name: "Bob"}}
	tests := map[string]struct {
		game  string
		moves []StoredMove
	}{
		"case-variant keys": {"rps", []StoredMove{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"Choice":"paper","choice":"rock"}`)}}},
		"duplicate key":     {"tictactoe", []StoredMove{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"cell":8,"cell":4}`)}}},
		"wrong seat":        {"tictactoe", []StoredMove{{Seq: 1, Seat: 1, Move: json.RawMessage(`{"cell":4}`)}}},
		"gap":               {"tictactoe", []StoredMove{{Seq: 2, Seat: 0, Move: json.RawMessage(`{"cell":4}`)}}},
		"game not offered":  {"chess", nil},
		"a player is busy":  {"tictactoe", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := &memJournal{}
				reg := NewRegistry(quietLogger(), newEnvGames(), Deps{Journal: j, Rated: true}, testCfg)
				defer reg.Shutdown(context.Background())
				if name == "a player is busy" {
					other := Record{ID: "m0", Game: "tictactoe", Players: [2]Player{players[1], {ID: "carol"}}, Started: time.Now()}
					if err := reg.Resume(other, nil); err != nil {
						t.Fatal(err)
					}
				}
				rec := Record{ID: "m1", Game: tc.game, Players: players, Started: time.Now().Add(-time.Minute)}
				err := reg.Resume(rec, tc.moves)
				if !errors.Is(err, ErrUnresumable) {
					t.Fatalf("resume: %v, want ErrUnresumable", err)
				}
				if reg.InMatch("alice") || (name != "a player is busy" && reg.InMatch("bob")) {
					t.Error("players seated in a match that did not resume")
				}
				j.mu.Lock()
				defer j.mu.Unlock()
				if len(j.finished) != 1 {
					t.Fatalf("finished = %+v", j.finished)
				}
				res := j.finished[0]
				if res.MatchID != "m1" || res.Status != StatusAborted || res.Reason != "server_error" || res.Rated || res.Winner != game.NoSeat {
					t.Errorf("stored end %+v", res)
				}
			})
		})
	}
}

// TestUnratedMatch: a match that RatedFunc says will not be rated tells
// its players so in match.found and match.state (rated false, with the
// reason), keeps saying so after a resume, and its finished result is
// stored unrated, with match.over at once and no rating changes. A rated
// match says rated true and gives no reason.
func TestUnratedMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		var asked [][2]Player
		limit := func(ctx context.Context, gameID string, players [2]Player) (string, error) {
			asked = append(asked, players)
			if players[0].ID == "alice" {
				return UnratedPairLimit, nil
			}
			return "", nil
		}
		e := newEnv(t, "tictactoe", Deps{Journal: j, Rated: true, RatedFunc: limit}, testCfg)
		if len(asked) != 1 || asked[0][1].ID != "bob" {
			t.Fatalf("RatedFunc asked %v", asked)
		}
		for _, f := range []map[string]any{e.a.last("match.found"), e.b.last("match.state")} {
			if f["rated"] != false || f["unrated_reason"] != "pair_limit" {
				t.Fatalf("frame %v, want rated false, unrated_reason pair_limit", f)
			}
		}
		if j.created[0].Unrated != UnratedPairLimit {
			t.Errorf("created %+v", j.created[0])
		}
		e.playOpening()
		rec, moves, _ := j.resumable(e.id)

		e.reg.Resign(e.b, e.id, func(error) {})
		synctest.Wait()
		over := e.a.last("match.over") // at once: no rating to wait for
		if over == nil || over["result"] != "win" || len(over["ratings"].([]any)) != 0 {
			t.Fatalf("over = %v", over)
		}
		if res := j.finished[0]; res.Status != StatusFinished || res.Rated {
			t.Errorf("stored result %+v, want finished unrated", res)
		}

		// The same match resumed elsewhere still says it is unrated.
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, testCfg)
		defer reg.Shutdown(context.Background())
		if err := reg.Resume(rec, moves); err != nil {
			t.Fatal(err)
		}
		w := &fakeConn{}
		reg.Watch(w, e.id, func(error) {})
		synctest.Wait()
		if st := w.last("match.state"); st["rated"] != false || st["unrated_reason"] != "pair_limit" {
			t.Errorf("resumed state %v", st)
		}

		rated := newEnvWithIDs(t, "tictactoe", Deps{RatedFunc: limit}, "carol", "dave")
		f := rated.a.last("match.found")
		if _, has := f["unrated_reason"]; f["rated"] != true || has {
			t.Errorf("rated match.found %v", f)
		}
	})
}

// TestRatedFuncErrorRefusesStart: when whether a match is rated cannot be
// decided (the database is down), the match does not start.
func TestRatedFuncErrorRefusesStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := func(context.Context, string, [2]Player) (string, error) { return "", ErrUnavailable }
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{RatedFunc: down}, testCfg)
		defer reg.Shutdown(context.Background())
		if _, err := reg.Start(context.Background(), "tictactoe", [2]Player{{ID: "a"}, {ID: "b"}}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("start: %v", err)
		}
		if reg.InMatch("a") {
			t.Error("a seated")
		}
	})
}
