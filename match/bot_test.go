package match

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
)

// freeCell returns a free cell of a tic-tac-toe match.state.
func freeCell(st map[string]any, r *rand.Rand) int {
	var free []int
	for i, c := range st["state"].(map[string]any)["board"].([]any) {
		if c == "" {
			free = append(free, i)
		}
	}
	return free[r.IntN(len(free))]
}

// TestComputerGame: a person plays the perfect tic-tac-toe bot to the end.
// The bot answers within the configured delay, shows as a connected seat
// with its level, never wins rating, and the person never beats it.
func TestComputerGame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		cfg := testCfg
		cfg.BotDelayMin, cfg.BotDelayMax = 400*time.Millisecond, 1200*time.Millisecond
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{Journal: j}, cfg)
		defer reg.Shutdown(context.Background())
		a := &fakeConn{player: "alice"}
		reg.Connect(a)
		id, err := reg.StartComputer(context.Background(), "tictactoe", "perfect", Player{ID: "alice", Name: "Alice", Rating: 1500})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		found := a.last("match.found")
		me := int(found["you"].(float64))
		bot := found["players"].([]any)[1-me].(map[string]any)
		if bot["id"] != "bot:tictactoe:perfect" || bot["bot"] != "perfect" || bot["name"] != "tictactoe-perfect" {
			t.Fatalf("bot seat in match.found = %v", bot)
		}
		if reg.InMatch("bot:tictactoe:perfect") {
			t.Error("the computer player counts as busy")
		}
		if j.created[0].Unrated != UnratedComputer {
			t.Error("computer game created rated")
		}
		r := rand.New(rand.NewPCG(1, 1))
		for a.last("match.over") == nil {
			st := a.last("match.state")
			seat := st["players"].([]any)[1-me].(map[string]any)
			if seat["connected"] != true || seat["bot"] != "perfect" || seat["grace_ms"] != nil {
				t.Fatalf("bot seat in match.state = %v", seat)
			}
			if st["turn"] == float64(me) {
				var b errBox
				reg.Move(a, id, json.RawMessage(`{"cell":`+strconv.Itoa(freeCell(st, r))+`}`), b.reply)
				synctest.Wait()
				if err := b.get(t); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// The bot's turn: nothing until the least delay, its move by the most.
			v := st["version"]
			time.Sleep(cfg.BotDelayMin - time.Millisecond)
			synctest.Wait()
			if a.last("match.state")["version"] != v {
				t.Fatal("the bot answered before its least delay")
			}
			time.Sleep(cfg.BotDelayMax - cfg.BotDelayMin + time.Millisecond)
			synctest.Wait()
			if a.last("match.state")["version"] == v {
				t.Fatal("the bot did not answer within its delay")
			}
		}
		over := a.last("match.over")
		if over["result"] == "win" && over["winner"] == float64(me) {
			t.Fatalf("random play beat the perfect bot: %v", over)
		}
		if len(j.finished) != 1 || j.finished[0].Rated || len(over["ratings"].([]any)) != 0 {
			t.Fatalf("finished = %+v, over = %v", j.finished, over)
		}
		if s, _ := reg.Get(id); s.Players[1-me].Bot != "perfect" {
			t.Errorf("summary players = %+v", s.Players)
		}

		// A rematch starts at once: the bot always accepts.
		var b errBox
		reg.Rematch(a, id, b.reply)
		synctest.Wait()
		if err := b.get(t); err != nil {
			t.Fatal(err)
		}
		if a.count("match.found") != 2 {
			t.Fatal("no rematch")
		}
	})
}

// TestComputerNeverTimesOut: the bot moves however long the person takes,
// and a person who leaves loses by the grace period as usual.
func TestComputerGraceAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, testCfg)
		defer reg.Shutdown(context.Background())
		a := &fakeConn{player: "alice"}
		reg.Connect(a)
		if _, err := reg.StartComputer(context.Background(), "rps", "reader", Player{ID: "alice", Name: "Alice"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(2 * time.Second) // the bot chose by now; alice has not
		synctest.Wait()
		st := a.last("match.state")
		me := int(st["you"].(float64))
		chosen := st["state"].(map[string]any)["chosen"].([]any)
		if chosen[1-me] != true || chosen[me] != false {
			t.Fatalf("chosen = %v", chosen)
		}
		time.Sleep(testCfg.MoveTimeout)
		synctest.Wait()
		over := a.last("match.over")
		if over == nil || over["reason"] != "timeout" || over["winner"] != float64(1-me) {
			t.Fatalf("over = %v", over)
		}
	})
}

// TestComputerRefusals: unknown games and levels, and a person posing as
// a computer player, are refused.
func TestComputerRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, testCfg)
		defer reg.Shutdown(context.Background())
		p := Player{ID: "alice", Name: "Alice"}
		for _, tc := range []struct {
			game, level string
			person      Player
			want        error
		}{
			{"chess", "easy", p, ErrUnsupported},
			{"tictactoe", "grandmaster", p, ErrNoBot},
			{"tictactoe", "", p, ErrNoBot},
			{"tictactoe", "easy", Player{ID: "bot:rps:fair"}, ErrNotAPlayer},
			{"tictactoe", "easy", Player{ID: "bot:tictactoe:easy"}, ErrNotAPlayer},
		} {
			if _, err := reg.StartComputer(context.Background(), tc.game, tc.level, tc.person); !errors.Is(err, tc.want) {
				t.Errorf("%s/%s: err = %v, want %v", tc.game, tc.level, err, tc.want)
			}
		}
		// Two people play the same computer player at once.
		for _, id := range []string{"alice", "bob"} {
			if _, err := reg.StartComputer(context.Background(), "tictactoe", "easy", Player{ID: id}); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
		if _, err := reg.StartComputer(context.Background(), "tictactoe", "easy", Player{ID: "alice"}); !errors.Is(err, ErrInMatch) {
			t.Errorf("a second game for alice: %v", err)
		}
	})
}

// TestComputerResumes: a match with a computer seat, resumed from its
// stored moves, goes on: the bot plays its turn.
func TestComputerResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := NewRegistry(quietLogger(), newEnvGames(), Deps{}, testCfg)
		defer reg.Shutdown(context.Background())
		rec := Record{ID: "m1", Game: "tictactoe", Started: time.Now(),
			Players: [2]Player{{ID: "alice", Name: "Alice"}, {ID: "bot:tictactoe:perfect", Name: "tictactoe-perfect"}}}
		moves := []StoredMove{{Seq: 1, Seat: 0, Move: json.RawMessage(`{"cell":0}`)}}
		if err := reg.Resume(rec, moves); err != nil {
			t.Fatal(err)
		}
		a := &fakeConn{player: "alice"}
		reg.Connect(a)
		reg.Watch(a, "m1", func(error) {})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st := a.last("match.state")
		if st["turn"] != 0.0 || st["players"].([]any)[1].(map[string]any)["bot"] != "perfect" {
			t.Fatalf("resumed computer match did not play: %v", st)
		}
		// Perfect answers a corner with the centre.
		if st["state"].(map[string]any)["board"].([]any)[4] != "O" {
			t.Errorf("board = %v", st["state"])
		}
	})
}

// badBots is tic-tac-toe whose computer players misbehave.
type badBots struct{ tictactoe.Game }

func (badBots) BotLevels() []game.BotLevel {
	return []game.BotLevel{{ID: "illegal"}, {ID: "error"}, {ID: "panic"}}
}

func (badBots) NewBot(level string) (game.Bot, bool) { return badBot(level), true }

type badBot string

func (b badBot) Move(game.State, int, *rand.Rand) (json.RawMessage, error) {
	switch b {
	case "illegal":
		return json.RawMessage(`{"cell":42}`), nil
	case "error":
		return nil, errors.New("lost its marbles")
	}
	panic("bot bug")
}

// TestComputerFailureAbortsMatch: a bot that errs, plays an illegal move
// or panics ends its own match (aborted, server_error), nothing else.
func TestComputerFailureAbortsMatch(t *testing.T) {
	for _, level := range []string{"illegal", "error", "panic"} {
		t.Run(level, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				games := game.NewRegistry(badBots{}, rps.Game{})
				reg := NewRegistry(quietLogger(), games, Deps{}, testCfg)
				defer reg.Shutdown(context.Background())
				a := &fakeConn{player: "alice"}
				reg.Connect(a)
				id, err := reg.StartComputer(context.Background(), "tictactoe", level, Player{ID: "alice"})
				if err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if a.last("match.state")["turn"] == a.last("match.state")["you"] {
					reg.Move(a, id, json.RawMessage(`{"cell":4}`), func(error) {})
				}
				time.Sleep(2 * time.Second)
				synctest.Wait()
				over := a.last("match.over")
				if over == nil || over["result"] != "aborted" || over["reason"] != "server_error" {
					t.Fatalf("over = %v", over)
				}
				if reg.InMatch("alice") {
					t.Error("alice still seated")
				}
				// The registry goes on.
				if _, err := reg.StartComputer(context.Background(), "rps", "fair", Player{ID: "alice"}); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
