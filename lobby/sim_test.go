package lobby

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestMatchmakingSimulation feeds players through the real lobby loop on
// synctest's fake clock (ten simulated minutes take a second or two) and
// reports how long they waited and how far apart the pairs were, for the
// default policy, for ByRating with a cap and for FIFO, on the same arrivals.
// Arrivals are a Poisson process at the given rate, ratings are drawn from
// N(1500, 300²), all for one game, every player new (so the rematch rule does
// not come into it), and a pair's match starts at once. The figures are in
// docs/matchmaking.md:
//
//	go test ./lobby -run TestMatchmakingSimulation -v
func TestMatchmakingSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of simulation")
	}
	const span = 10 * time.Minute
	tests := map[string]struct {
		perSecond float64
		check     func(t *testing.T, byRating, fifo simResult)
	}{
		"1/s": {
			perSecond: 1,
			check: func(t *testing.T, byRating, fifo simResult) {
				if p99 := byRating.wait(0.99); p99 >= 15*time.Second {
					t.Errorf("ByRating: p99 wait %v, want under 15s", p99)
				}
			},
		},
		"5/s": {
			perSecond: 5,
			check: func(t *testing.T, byRating, fifo simResult) {
				if p99 := byRating.wait(0.99); p99 >= 10*time.Second {
					t.Errorf("ByRating: p99 wait %v, want under 10s", p99)
				}
			},
		},
		"50/s": {
			perSecond: 50,
			check: func(t *testing.T, byRating, fifo simResult) {
				if p50 := byRating.gap(0.5); p50 >= 150 {
					t.Errorf("ByRating: median gap %.0f, want under 150", p50)
				}
				if p99 := byRating.wait(0.99); p99 >= 5*time.Second {
					t.Errorf("ByRating: p99 wait %v, want under 5s", p99)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			arrivals := simArrivals(rand.New(rand.NewPCG(2026, uint64(tc.perSecond))), tc.perSecond, span)
			byRating := runSimulation(t, arrivals, span, Config{})
			capped := runSimulation(t, arrivals, span, Config{Pair: ByRating(RatingConfig{Max: 400, MaxWait: 10 * time.Second})})
			fifo := runSimulation(t, arrivals, span, Config{Pair: FIFO})
			t.Logf("%d players in %v", len(arrivals), span)
			t.Logf("ByRating (default):     %v", byRating)
			t.Logf("ByRating (400 for 10s): %v", capped)
			t.Logf("FIFO:                   %v", fifo)

			cfg, _ := RatingConfig{}.withDefaults()
			for _, p := range byRating.pairs {
				if gap := math.Abs(p.a.Rating - p.b.Rating); !within(gap, cfg.window(p.longestWait())) {
					t.Errorf("ByRating paired %.0f and %.0f after %v: beyond the window", p.a.Rating, p.b.Rating, p.longestWait())
				}
			}
			if b, f := byRating.gap(0.5), fifo.gap(0.5); b >= f {
				t.Errorf("ByRating's median gap %.0f is no better than FIFO's %.0f", b, f)
			}
			tc.check(t, byRating, fifo)
		})
	}
}

// simArrival is one player joining the queue.
type simArrival struct {
	at     time.Duration // since the start
	rating float64
}

// simArrivals draws a Poisson process of perSecond arrivals over span, with
// ratings from N(1500, 300²).
func simArrivals(rng *rand.Rand, perSecond float64, span time.Duration) []simArrival {
	var arrivals []simArrival
	at := time.Duration(0)
	for {
		at += time.Duration(rng.ExpFloat64() / perSecond * float64(time.Second))
		if at >= span {
			return arrivals
		}
		arrivals = append(arrivals, simArrival{at: at, rating: 1500 + 300*rng.NormFloat64()})
	}
}

// simPair is a pair the lobby started, and when.
type simPair struct {
	a, b Ticket
	at   time.Time
}

// longestWait is how long the pair's longer waiter waited.
func (p simPair) longestWait() time.Duration {
	first := p.a.Since
	if p.b.Since.Before(first) {
		first = p.b.Since
	}
	return p.at.Sub(first)
}

// simResult is what a simulation saw.
type simResult struct {
	pairs   []simPair
	waits   []time.Duration // sorted; one per player: until paired, or until the end
	gaps    []float64       // sorted; one per pair
	waiting int             // players still waiting at the end
}

func (r simResult) wait(q float64) time.Duration { return quantile(r.waits, q) }
func (r simResult) gap(q float64) float64        { return quantile(r.gaps, q) }

func (r simResult) String() string {
	round := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	return fmt.Sprintf("%d pairs, %d waiting at the end; wait p50 %v p90 %v p99 %v max %v; gap p50 %.0f p90 %.0f max %.0f",
		len(r.pairs), r.waiting,
		round(r.wait(0.5)), round(r.wait(0.9)), round(r.wait(0.99)), round(r.wait(1)),
		r.gap(0.5), r.gap(0.9), r.gap(1))
}

// quantile returns the q-quantile of sorted by the nearest rank, or the zero
// value if it is empty.
func quantile[T any](sorted []T, q float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// runSimulation runs a lobby with cfg on synctest's clock, has the arrivals
// join it on time, and stops span after the start.
func runSimulation(t *testing.T, arrivals []simArrival, span time.Duration, cfg Config) simResult {
	var res simResult
	synctest.Test(t, func(t *testing.T) {
		var (
			mu    sync.Mutex
			pairs []simPair
		)
		start := func(_ context.Context, p Pair) error {
			mu.Lock()
			defer mu.Unlock()
			pairs = append(pairs, simPair{a: p.Players[0], b: p.Players[1], at: time.Now()})
			return nil
		}
		logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		l := New(logger, start, hasGame, func(string) bool { return false }, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- l.Run(ctx) }()

		t0 := time.Now()
		since := make(map[string]time.Time, len(arrivals))
		for i, a := range arrivals {
			time.Sleep(time.Until(t0.Add(a.at)))
			tk, err := l.Join(ctx, Ticket{PlayerID: fmt.Sprintf("p%06d", i), Rating: a.rating, Game: "tictactoe"})
			if err != nil {
				t.Fatalf("Join: %v", err)
			}
			since[tk.PlayerID] = tk.Since
		}
		time.Sleep(time.Until(t0.Add(span)))
		synctest.Wait() // the last pairs' start goroutines are done
		end := time.Now()
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}

		mu.Lock()
		defer mu.Unlock()
		res.pairs = pairs
		for _, p := range pairs {
			for _, tk := range []Ticket{p.a, p.b} {
				if _, ok := since[tk.PlayerID]; !ok {
					t.Errorf("%s paired twice", tk.PlayerID)
				}
				res.waits = append(res.waits, p.at.Sub(tk.Since))
				delete(since, tk.PlayerID)
			}
			res.gaps = append(res.gaps, math.Abs(p.a.Rating-p.b.Rating))
		}
		for _, s := range since {
			res.waits = append(res.waits, end.Sub(s))
		}
		res.waiting = len(since)
	})
	slices.Sort(res.waits)
	slices.Sort(res.gaps)
	return res
}
