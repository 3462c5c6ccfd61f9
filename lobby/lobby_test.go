package lobby

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestJoinLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{}, nil)
		start := time.Now()
		time.Sleep(time.Second)

		got := f.join(t, "a", "tictactoe")
		if want := start.Add(time.Second); !got.Since.Equal(want) {
			t.Errorf("Since = %v, want %v", got.Since, want)
		}
		if got.PlayerID != "a" || got.Game != "tictactoe" || got.Name != "name-a" {
			t.Errorf("Join returned %+v", got)
		}
		if s := f.l.Stats(); !maps.Equal(s, map[string]int{"tictactoe": 1}) {
			t.Errorf("Stats = %v", s)
		}

		for i, want := range []bool{true, false} {
			left, err := f.l.Leave(f.ctx, "a")
			if err != nil || left != want {
				t.Fatalf("Leave #%d = %v, %v; want %v, nil", i+1, left, err, want)
			}
		}
		if s := f.l.Stats(); len(s) != 0 {
			t.Errorf("Stats after leave = %v, want empty", s)
		}

		// The player who left does not pair with the next one.
		f.join(t, "b", "tictactoe")
		synctest.Wait()
		time.Sleep(time.Second)
		if p := f.rec.started(); len(p) != 0 {
			t.Errorf("started %v after a leave", p)
		}
	})
}

func TestJoinErrors(t *testing.T) {
	tests := map[string]struct {
		setup func(t *testing.T, f *fixture)
		join  Ticket
		want  error
	}{
		"already queued, same game": {
			setup: func(t *testing.T, f *fixture) { f.join(t, "a", "tictactoe") },
			join:  ticket("a", "tictactoe"),
			want:  ErrAlreadyQueued,
		},
		"already queued, other game": {
			setup: func(t *testing.T, f *fixture) { f.join(t, "a", "rps") },
			join:  ticket("a", "tictactoe"),
			want:  ErrAlreadyQueued,
		},
		"in match": {
			setup: func(t *testing.T, f *fixture) { f.rec.setPlaying("a", true) },
			join:  ticket("a", "tictactoe"),
			want:  ErrInMatch,
		},
		"unsupported game": {
			join: ticket("a", "chess"),
			want: ErrUnsupportedGame,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, Config{}, nil)
				if tc.setup != nil {
					tc.setup(t, f)
				}
				before := f.l.Stats()
				got, err := f.l.Join(f.ctx, tc.join)
				wantErr(t, "Join", err, tc.want)
				if got != (Ticket{}) {
					t.Errorf("Join returned %+v with an error", got)
				}
				synctest.Wait()
				if after := f.l.Stats(); !maps.Equal(before, after) {
					t.Errorf("Stats %v -> %v after a refused Join", before, after)
				}
			})
		})
	}

	t.Run("no player id", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}, nil)
			if _, err := f.l.Join(f.ctx, ticket("", "tictactoe")); err == nil {
				t.Fatal("Join without a player id succeeded")
			}
		})
	})
}

func TestPairTwoThirdWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{}, func(r *recorder) { r.markPlaying = true })
		a := f.join(t, "a", "tictactoe")
		f.join(t, "x", "rps")
		b := f.join(t, "b", "tictactoe")
		synctest.Wait()

		got := f.rec.started()
		if len(got) != 1 {
			t.Fatalf("started %d pairs, want 1: %v", len(got), got)
		}
		p := got[0]
		if p.Game != "tictactoe" || p.Challenge != "" {
			t.Errorf("pair game %q challenge %q", p.Game, p.Challenge)
		}
		if ids := players(p); !slices.Equal(ids, []string{"a", "b"}) {
			t.Errorf("pair players %v, want a and b", ids)
		}
		for _, pt := range p.Players {
			want := a
			if pt.PlayerID == "b" {
				want = b
			}
			if pt != want {
				t.Errorf("paired ticket %+v, want %+v", pt, want)
			}
		}
		if s := f.l.Stats(); !maps.Equal(s, map[string]int{"rps": 1}) {
			t.Errorf("Stats = %v, want rps:1", s)
		}
		if left, _ := f.l.Leave(f.ctx, "a"); left {
			t.Error("a paired player was still queued")
		}

		f.join(t, "c", "tictactoe")
		time.Sleep(10 * time.Second)
		if got := f.rec.started(); len(got) != 1 {
			t.Errorf("third player was paired: %v", got)
		}
		if s := f.l.Stats(); !maps.Equal(s, map[string]int{"rps": 1, "tictactoe": 1}) {
			t.Errorf("Stats = %v", s)
		}
	})
}

func TestSeatOrderIsRandom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{}, nil)
		first := map[string]int{}
		for range 64 {
			f.join(t, "a", "tictactoe")
			f.join(t, "b", "tictactoe")
			synctest.Wait() // the start goroutine has returned
		}
		for _, p := range f.rec.started() {
			first[p.Players[0].PlayerID]++
		}
		if first["a"] == 0 || first["b"] == 0 || first["a"]+first["b"] != 64 {
			t.Errorf("seat 0 counts over 64 pairs: %v", first)
		}
	})
}

func TestBlockingStartDoesNotStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := newFixture(t, Config{}, func(r *recorder) {
			r.release = release
			r.err = errors.New("no server for you")
		})
		f.join(t, "a", "tictactoe")
		f.join(t, "b", "tictactoe")
		synctest.Wait()
		if n := len(f.rec.started()); n != 1 {
			t.Fatalf("started %d pairs, want 1", n)
		}

		// StartFunc is stuck; the lobby still answers, and counts a and b as
		// being seated.
		f.join(t, "c", "tictactoe")
		_, err := f.l.Join(f.ctx, ticket("a", "rps"))
		wantErr(t, "Join while being seated", err, ErrInMatch)
		_, err = f.l.CreateChallenge(f.ctx, ticket("b", "rps"))
		wantErr(t, "CreateChallenge while being seated", err, ErrInMatch)
		ch := f.create(t, "c", "rps")
		err = f.l.AcceptChallenge(f.ctx, ch.Code, ticket("a", ""))
		wantErr(t, "AcceptChallenge while being seated", err, ErrInMatch)

		// The start fails: the lobby logs it and a and b are free again.
		close(release)
		synctest.Wait()
		f.join(t, "a", "rps")
	})
}

func TestRerunsPolicyOnlyWhileTwoWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		never := func(queue []Ticket, _ time.Time) ([][2]Ticket, []Ticket) {
			calls.Add(1)
			return nil, queue
		}
		f := newFixture(t, Config{Pair: never, PairEvery: 100 * time.Millisecond}, nil)

		time.Sleep(time.Minute) // nobody waits: no calls
		f.join(t, "a", "tictactoe")
		time.Sleep(time.Minute) // one alone cannot pair: no calls
		if n := calls.Load(); n != 0 {
			t.Fatalf("policy called %d times with fewer than two waiting", n)
		}

		f.join(t, "b", "rps") // one call at the join, then one every 100ms
		time.Sleep(time.Second + time.Millisecond)
		if n := calls.Load(); n != 11 {
			t.Errorf("policy called %d times in a second, want 11", n)
		}

		if _, err := f.l.Leave(f.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		n := calls.Load()
		time.Sleep(time.Minute)
		if m := calls.Load(); m != n {
			t.Errorf("policy called %d times after the queue fell to one", m-n)
		}
	})
}

// waited pairs tickets of a game once both have waited a second, like a
// policy that widens its rating window with time.
func waited(queue []Ticket, now time.Time) (pairs [][2]Ticket, rest []Ticket) {
	var ready []Ticket
	for _, t := range queue {
		if now.Sub(t.Since) >= time.Second {
			ready = append(ready, t)
		} else {
			rest = append(rest, t)
		}
	}
	pairs, more := FIFO(ready, now)
	return pairs, append(rest, more...)
}

func TestTimeWideningPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{Pair: waited}, nil)
		f.join(t, "a", "tictactoe")
		f.join(t, "b", "tictactoe")
		time.Sleep(time.Second - time.Millisecond)
		if n := len(f.rec.started()); n != 0 {
			t.Fatalf("paired %d before the policy allows", n)
		}
		// The PairEvery tick at one second pairs them.
		time.Sleep(2 * time.Millisecond)
		if got := f.rec.started(); len(got) != 1 || !slices.Equal(players(got[0]), []string{"a", "b"}) {
			t.Fatalf("started %v, want a with b", got)
		}
	})
}

func TestInvalidPolicyPairsAreIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var bad atomic.Bool
		policy := func(queue []Ticket, now time.Time) ([][2]Ticket, []Ticket) {
			if !bad.Load() {
				return nil, queue
			}
			ghost := ticket("ghost", "tictactoe")
			return [][2]Ticket{
				{queue[0], queue[0]}, // a with herself
				{queue[0], ghost},    // a with someone not waiting
				{queue[0], queue[2]}, // a (tictactoe) with c (rps)
				{queue[0], queue[1]}, // a with b: fine
				{queue[1], queue[3]}, // b again
			}, nil
		}
		f := newFixture(t, Config{Pair: policy}, nil)
		f.join(t, "a", "tictactoe")
		f.join(t, "b", "tictactoe")
		f.join(t, "c", "rps")
		f.join(t, "d", "tictactoe")
		bad.Store(true)
		time.Sleep(DefaultPairEvery + time.Millisecond) // one tick

		got := f.rec.started()
		if len(got) != 1 || !slices.Equal(players(got[0]), []string{"a", "b"}) {
			t.Fatalf("started %v, want only a with b", got)
		}
		bad.Store(false)
		synctest.Wait()
		if s := f.l.Stats(); !maps.Equal(s, map[string]int{"rps": 1, "tictactoe": 1}) {
			t.Errorf("Stats = %v, want c and d still waiting", s)
		}
	})
}

func TestRunStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{}) // never closed: start waits for ctx
		f := newFixture(t, Config{}, func(r *recorder) { r.release = release })
		f.join(t, "a", "tictactoe")
		f.join(t, "b", "tictactoe")
		f.join(t, "c", "tictactoe")
		f.create(t, "c", "rps")
		synctest.Wait()

		if err := f.stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
		// Run returned, so its start goroutine has too; synctest.Test
		// fails if any goroutine is left when the bubble ends.

		ctx := context.Background()
		_, err := f.l.Join(ctx, ticket("d", "tictactoe"))
		wantErr(t, "Join", err, ErrClosed)
		_, err = f.l.Leave(ctx, "c")
		wantErr(t, "Leave", err, ErrClosed)
		_, err = f.l.CreateChallenge(ctx, ticket("d", "rps"))
		wantErr(t, "CreateChallenge", err, ErrClosed)
		err = f.l.AcceptChallenge(ctx, "ABCDEFGH", ticket("d", ""))
		wantErr(t, "AcceptChallenge", err, ErrClosed)
		f.l.CancelChallenges(ctx, "c")
		if err := f.l.Run(ctx); err == nil {
			t.Error("second Run returned nil")
		}
	})
}

func TestCallsHonorContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Never run: callers wait, but only as long as their context.
		l := New(nil, func(context.Context, Pair) error { return nil }, hasGame,
			func(string) bool { return false }, Config{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := l.Join(ctx, ticket("a", "tictactoe"))
		wantErr(t, "Join", err, context.DeadlineExceeded)
		_, err = l.Leave(ctx, "a")
		wantErr(t, "Leave", err, context.DeadlineExceeded)
		if s := l.Stats(); len(s) != 0 {
			t.Errorf("Stats = %v", s)
		}
	})
}
