package lobby

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestByRating(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// tk is a ticket for rps with this rating, waiting since t0 plus ms
	// milliseconds.
	tk := func(id string, rating float64, ms int) Ticket {
		t := ticket(id, "rps")
		t.Rating = rating
		t.Since = t0.Add(time.Duration(ms) * time.Millisecond)
		return t
	}
	// last sets the ticket's last opponent.
	last := func(t Ticket, opponent string) Ticket {
		t.LastOpponent = opponent
		return t
	}
	game := func(t Ticket, g string) Ticket {
		t.Game = g
		return t
	}
	capped := RatingConfig{Max: 400, MaxWait: 10 * time.Second}
	tests := map[string]struct {
		cfg   RatingConfig
		queue []Ticket
		at    int // ms after t0
		pairs [][2]string
		rest  []string
	}{
		"empty": {},
		"one alone": {
			queue: []Ticket{tk("a", 1500, 0)},
			rest:  []string{"a"},
		},
		"close ratings pair at once": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1600, 0)},
			pairs: [][2]string{{"a", "b"}},
		},
		"far ratings wait at first": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1700, 0)},
			at:    1900, // window 195
			rest:  []string{"a", "b"},
		},
		"far ratings pair once the window covers them": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1700, 0)},
			at:    2000, // window 200
			pairs: [][2]string{{"a", "b"}},
		},
		"the longer waiter's window is enough": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1700, 2000)},
			at:    2000, // a accepts 200, b 100
			pairs: [][2]string{{"a", "b"}},
		},
		"no cap by default": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1950, 0)},
			at:    7000, // 100 + 50·7
			pairs: [][2]string{{"a", "b"}},
		},
		"the window stops at Max": {
			cfg:   capped,
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1950, 0)},
			at:    9999, // 100 + 50·10 would be 600
			rest:  []string{"a", "b"},
		},
		"anyone after MaxWait": {
			cfg:   capped,
			queue: []Ticket{tk("a", 1500, 0), tk("b", 2900, 9000)},
			at:    10000,
			pairs: [][2]string{{"a", "b"}},
		},
		"longest waiter first": {
			// b and c are closer to each other, but a has waited longest.
			queue: []Ticket{tk("b", 1600, 1000), tk("c", 1560, 2000), tk("a", 1500, 0)},
			at:    2000,
			pairs: [][2]string{{"a", "c"}},
			rest:  []string{"b"},
		},
		"closest acceptable opponent": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1580, 100), tk("c", 1450, 200)},
			pairs: [][2]string{{"a", "c"}},
			rest:  []string{"b"},
		},
		"equally close: the longer waiter": {
			queue: []Ticket{tk("a", 1500, 0), tk("b", 1550, 200), tk("c", 1450, 100)},
			at:    200,
			pairs: [][2]string{{"a", "c"}},
			rest:  []string{"b"},
		},
		"a ticket out of range does not block the others": {
			queue: []Ticket{tk("a", 2500, 0), tk("b", 1500, 100), tk("c", 1510, 200)},
			at:    200,
			pairs: [][2]string{{"b", "c"}},
			rest:  []string{"a"},
		},
		"many at once, each with its neighbour": {
			queue: []Ticket{
				tk("a", 1000, 0), tk("b", 2000, 0), tk("c", 1500, 0),
				tk("d", 1990, 0), tk("e", 1020, 0), tk("f", 1510, 0),
			},
			pairs: [][2]string{{"a", "e"}, {"b", "d"}, {"c", "f"}},
		},
		"different games never pair": {
			queue: []Ticket{tk("a", 1500, 0), game(tk("b", 1500, 0), "tictactoe")},
			at:    3_600_000,
			rest:  []string{"a", "b"},
		},
		"each game pairs within itself": {
			queue: []Ticket{
				tk("a", 1500, 0), game(tk("x", 1500, 100), "tictactoe"),
				tk("b", 1550, 200), game(tk("y", 1450, 300), "tictactoe"),
			},
			at:    300,
			pairs: [][2]string{{"a", "b"}, {"x", "y"}},
		},
		"a player never pairs with herself": {
			queue: []Ticket{tk("a", 1500, 0), tk("a", 1500, 100), tk("b", 1580, 200)},
			at:    200,
			pairs: [][2]string{{"a", "b"}},
			rest:  []string{"a"},
		},
		"a player in two games pairs once": {
			queue: []Ticket{
				tk("a", 1500, 0), game(tk("a", 1500, 100), "tictactoe"),
				tk("b", 1500, 200), game(tk("c", 1500, 300), "tictactoe"),
				game(tk("d", 1500, 400), "tictactoe"),
			},
			at:    400,
			pairs: [][2]string{{"a", "b"}, {"c", "d"}},
			rest:  []string{"a"},
		},
		"just played, alone: again at once": {
			queue: []Ticket{last(tk("a", 1500, 0), "b"), last(tk("b", 1500, 0), "a")},
			pairs: [][2]string{{"a", "b"}},
		},
		"just played, a third fits the longer waiter: she gets the third": {
			queue: []Ticket{
				last(tk("a", 1500, 0), "b"), last(tk("b", 1500, 100), "a"), tk("c", 1550, 200),
			},
			at:    200,
			pairs: [][2]string{{"a", "c"}},
			rest:  []string{"b"},
		},
		"just played, a third fits only the newer waiter: he gets the third": {
			queue: []Ticket{
				last(tk("a", 1500, 0), "b"), last(tk("b", 1600, 500), "a"), tk("c", 1700, 1000),
			},
			at:    1000, // a accepts 150 (c is 200 away), b 125, c 100
			pairs: [][2]string{{"b", "c"}},
			rest:  []string{"a"},
		},
		"just played, the third fits neither: again": {
			queue: []Ticket{
				last(tk("a", 1500, 0), "b"), last(tk("b", 1500, 0), "a"), tk("c", 2000, 0),
			},
			pairs: [][2]string{{"a", "b"}},
			rest:  []string{"c"},
		},
		"just played, the third went to someone else: again": {
			queue: []Ticket{
				tk("d", 1560, 0), last(tk("a", 1500, 100), "b"),
				last(tk("b", 1500, 200), "a"), tk("c", 1550, 300),
			},
			at:    300,
			pairs: [][2]string{{"d", "c"}, {"a", "b"}},
		},
		"just played, only one knows it (the older)": {
			queue: []Ticket{last(tk("a", 1500, 0), "b"), tk("b", 1500, 100), tk("c", 1550, 200)},
			at:    200,
			pairs: [][2]string{{"a", "c"}},
			rest:  []string{"b"},
		},
		"just played, only one knows it (the newer)": {
			queue: []Ticket{tk("a", 1500, 0), last(tk("b", 1500, 100), "a"), tk("c", 1550, 200)},
			at:    200,
			pairs: [][2]string{{"a", "c"}},
			rest:  []string{"b"},
		},
		"just played, again still needs the window": {
			queue: []Ticket{last(tk("a", 1500, 0), "b"), last(tk("b", 1800, 0), "a")},
			rest:  []string{"a", "b"},
		},
		"an older opponent does not count": {
			// b played a before, but has played z since; a's last is b.
			queue: []Ticket{last(tk("b", 1500, 0), "z"), tk("a", 1500, 100), tk("c", 1550, 200)},
			at:    200,
			pairs: [][2]string{{"b", "a"}},
			rest:  []string{"c"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			queue := slices.Clone(tc.queue)
			now := t0.Add(time.Duration(tc.at) * time.Millisecond)
			pairs, rest := ByRating(tc.cfg)(queue, now)
			if !slices.Equal(queue, tc.queue) {
				t.Errorf("ByRating changed its input: %v", queue)
			}
			if got := pairIDs(pairs); !slices.Equal(got, tc.pairs) {
				t.Errorf("pairs = %v, want %v", got, tc.pairs)
			}
			if got := ticketIDs(rest); !slices.Equal(got, tc.rest) {
				t.Errorf("rest = %v, want %v", got, tc.rest)
			}
			checkPolicyOutput(t, tc.queue, pairs, rest)
		})
	}
}

func TestRatingConfig(t *testing.T) {
	tests := map[string]struct {
		cfg    RatingConfig
		window map[time.Duration]float64 // waited -> accepted gap
		bad    bool
	}{
		"defaults": {
			window: map[time.Duration]float64{
				-time.Second:     100, // Since in the future
				0:                100,
				time.Second:      150,
				10 * time.Second: 600,
				time.Hour:        180100,
			},
		},
		"capped": {
			cfg: RatingConfig{Base: 150, Widen: 25, Max: 400},
			window: map[time.Duration]float64{
				0:                150,
				4 * time.Second:  250,
				10 * time.Second: 400,
				time.Hour:        400,
			},
		},
		"capped until MaxWait": {
			cfg: RatingConfig{Max: 400, MaxWait: 10 * time.Second},
			window: map[time.Duration]float64{
				0:                  100,
				6 * time.Second:    400,
				10*time.Second - 1: 400,
				10 * time.Second:   math.Inf(1),
				time.Hour:          math.Inf(1),
			},
		},
		"MaxWait without a cap": {
			cfg: RatingConfig{MaxWait: time.Second},
			window: map[time.Duration]float64{
				0:               100,
				time.Second / 2: 125,
				time.Second:     math.Inf(1),
			},
		},
		"Max equal to Base": {
			cfg:    RatingConfig{Base: 200, Max: 200},
			window: map[time.Duration]float64{0: 200, time.Hour: 200},
		},
		"infinite Max is no cap": {
			cfg:    RatingConfig{Max: math.Inf(1)},
			window: map[time.Duration]float64{time.Minute: 3100},
		},
		"negative Base":    {cfg: RatingConfig{Base: -1}, bad: true},
		"NaN Base":         {cfg: RatingConfig{Base: math.NaN()}, bad: true},
		"infinite Base":    {cfg: RatingConfig{Base: math.Inf(1)}, bad: true},
		"negative Widen":   {cfg: RatingConfig{Widen: -1}, bad: true},
		"NaN Widen":        {cfg: RatingConfig{Widen: math.NaN()}, bad: true},
		"infinite Widen":   {cfg: RatingConfig{Widen: math.Inf(1)}, bad: true},
		"Max below Base":   {cfg: RatingConfig{Base: 200, Max: 150}, bad: true},
		"negative Max":     {cfg: RatingConfig{Max: -1}, bad: true},
		"NaN Max":          {cfg: RatingConfig{Max: math.NaN()}, bad: true},
		"negative MaxWait": {cfg: RatingConfig{MaxWait: -time.Second}, bad: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := tc.cfg.withDefaults()
			if (err != nil) != tc.bad {
				t.Fatalf("withDefaults() error = %v, want error %v", err, tc.bad)
			}
			if tc.bad {
				defer func() {
					if recover() == nil {
						t.Error("ByRating did not panic")
					}
				}()
				ByRating(tc.cfg)
				return
			}
			for waited, want := range tc.window {
				if got := cfg.window(waited); got != want {
					t.Errorf("window(%v) = %v, want %v", waited, got, want)
				}
			}
		})
	}
}

// TestByRatingMatchesReference checks ByRating against a plain quadratic
// reading of its rule, on random queues full of near ties, repeats and
// players queued twice, and checks that it answers the same every time.
func TestByRatingMatchesReference(t *testing.T) {
	configs := []RatingConfig{{}, {Max: 300, MaxWait: 8 * time.Second}}
	waits := []time.Duration{time.Second, 5 * time.Second, 15 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		cfg, err := configs[round%len(configs)].withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		policy := ByRating(cfg)
		queue, now := randomQueue(rng, 1+rng.IntN(40), 5+rng.IntN(60), waits[round%len(waits)])
		in := slices.Clone(queue)
		pairs, rest := policy(queue, now)
		if !slices.Equal(queue, in) {
			t.Fatalf("round %d: ByRating changed its input", round)
		}
		wantPairs, wantRest := referenceByRating(in, now, cfg)
		if !reflect.DeepEqual(pairIDs(pairs), pairIDs(wantPairs)) || !reflect.DeepEqual(rest, wantRest) {
			t.Fatalf("round %d: queue %v at %v:\npairs %v, rest %v\nwant  %v, rest %v",
				round, in, now, pairIDs(pairs), ticketIDs(rest), pairIDs(wantPairs), ticketIDs(wantRest))
		}
		checkPolicyOutput(t, in, pairs, rest)
		for _, p := range pairs {
			gap := math.Abs(p[0].Rating - p[1].Rating)
			if w := cfg.window(now.Sub(p[0].Since)); !within(gap, w) {
				t.Fatalf("round %d: pair %v has gap %v beyond the window %v", round, pairIDs([][2]Ticket{p}), gap, w)
			}
		}
		again, againRest := policy(slices.Clone(in), now)
		if !reflect.DeepEqual(again, pairs) || !reflect.DeepEqual(againRest, rest) {
			t.Fatalf("round %d: a second call on the same queue answered differently", round)
		}
	}
}

// randomQueue returns n tickets of two games with ratings in a narrow band (so
// gaps tie often), waits of up to maxWait and a few last opponents and
// players queued twice, drawn from ids players.
func randomQueue(rng *rand.Rand, n, players int, maxWait time.Duration) ([]Ticket, time.Time) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	queue := make([]Ticket, n)
	for i := range queue {
		t := Ticket{
			PlayerID: fmt.Sprintf("p%d", rng.IntN(players)),
			Game:     []string{"rps", "tictactoe"}[rng.IntN(2)],
			Rating:   1300 + 10*float64(rng.IntN(60)),
			// Whole 100ms steps, so that equal waits are common.
			Since: now.Add(-time.Duration(rng.Int64N(int64(maxWait/(100*time.Millisecond))+1)) * 100 * time.Millisecond),
		}
		if rng.IntN(3) == 0 {
			t.LastOpponent = fmt.Sprintf("p%d", rng.IntN(players))
		}
		queue[i] = t
	}
	return queue, now
}

// referenceByRating is ByRating's rule written as plainly as possible, in
// O(n²): longest waiter first, closest acceptable opponent that is no repeat
// (acceptable: the gap is within the wider of the two windows); then the
// same among the tickets left, for repeats only.
func referenceByRating(queue []Ticket, now time.Time, cfg RatingConfig) (pairs [][2]Ticket, rest []Ticket) {
	n := len(queue)
	order := make([]int, n)
	rank := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return queue[a].Since.Compare(queue[b].Since) })
	for r, i := range order {
		rank[i] = r
	}
	window := func(i int) float64 { return cfg.window(now.Sub(queue[i].Since)) }
	paired := make([]bool, n)
	busy := make(map[string]bool)
	for _, repeats := range []bool{false, true} {
		for _, i := range order {
			if paired[i] || busy[queue[i].PlayerID] {
				continue
			}
			best := -1
			for j := range queue {
				a, b := queue[i], queue[j]
				if j == i || paired[j] || busy[b.PlayerID] || a.PlayerID == b.PlayerID ||
					a.Game != b.Game || repeat(&a, &b) != repeats {
					continue
				}
				if !within(math.Abs(a.Rating-b.Rating), max(window(i), window(j))) {
					continue
				}
				if best < 0 {
					best = j
					continue
				}
				gap, bestGap := math.Abs(a.Rating-b.Rating), math.Abs(a.Rating-queue[best].Rating)
				if gap < bestGap || (gap == bestGap && rank[j] < rank[best]) {
					best = j
				}
			}
			if best >= 0 {
				paired[i], paired[best] = true, true
				busy[queue[i].PlayerID], busy[queue[best].PlayerID] = true, true
				pairs = append(pairs, [2]Ticket{queue[i], queue[best]})
			}
		}
	}
	for i, t := range queue {
		if !paired[i] {
			rest = append(rest, t)
		}
	}
	return pairs, rest
}

// checkPolicyOutput checks what any policy must do: every ticket comes out
// once, rest in the order of queue; pairs are of one game and two players,
// and no player is in two pairs.
func checkPolicyOutput(t *testing.T, queue []Ticket, pairs [][2]Ticket, rest []Ticket) {
	t.Helper()
	count := make(map[Ticket]int)
	for _, q := range queue {
		count[q]++
	}
	seen := make(map[string]bool)
	for _, p := range pairs {
		if p[0].Game != p[1].Game || p[0].PlayerID == p[1].PlayerID {
			t.Errorf("bad pair %+v", p)
		}
		for _, q := range p {
			if seen[q.PlayerID] {
				t.Errorf("%s is in two pairs", q.PlayerID)
			}
			seen[q.PlayerID] = true
			count[q]--
		}
	}
	i := 0
	for _, r := range rest {
		count[r]--
		for i < len(queue) && queue[i] != r {
			i++
		}
		if i == len(queue) {
			t.Errorf("rest %v is not in the order of queue", ticketIDs(rest))
			break
		}
		i++
	}
	for q, c := range count {
		if c != 0 {
			t.Errorf("ticket %+v came out %d times too few", q, c)
		}
	}
}

func pairIDs(pairs [][2]Ticket) [][2]string {
	var ids [][2]string
	for _, p := range pairs {
		ids = append(ids, [2]string{p[0].PlayerID, p[1].PlayerID})
	}
	return ids
}

func ticketIDs(ts []Ticket) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.PlayerID)
	}
	return ids
}

// TestDefaultPolicyInTheLoop checks the promise of the protocol with the
// default Config: players within 100 points pair on the Join that brings the
// second; 150 apart, at the tick when their windows reach 150, a second on.
func TestDefaultPolicyInTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{}, nil)
		join := func(id string, rating float64) {
			t.Helper()
			tk := ticket(id, "tictactoe")
			tk.Rating = rating
			if _, err := f.l.Join(f.ctx, tk); err != nil {
				t.Fatalf("Join(%s): %v", id, err)
			}
		}
		join("a", 1500)
		join("b", 1600)
		synctest.Wait()
		if got := f.rec.started(); len(got) != 1 || !slices.Equal(players(got[0]), []string{"a", "b"}) {
			t.Fatalf("started %v, want a with b at once", got)
		}

		start := time.Now()
		join("c", 1500)
		join("d", 1650)
		for len(f.rec.started()) == 1 && time.Since(start) < time.Minute {
			time.Sleep(time.Millisecond)
			synctest.Wait() // whatever fired at this instant is done
		}
		got := f.rec.started()
		if len(got) != 2 || !slices.Equal(players(got[1]), []string{"c", "d"}) {
			t.Fatalf("started %v, want c with d", got)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Errorf("c and d paired after %v, want within 1s", waited)
		}
	})
}

// TestLobbyRemembersLastOpponent runs the rematch rule through the loop: the
// lobby fills LastOpponent from the pairs it made, unless the caller did, and
// forgets after a while.
func TestLobbyRemembersLastOpponent(t *testing.T) {
	join := func(t *testing.T, f *fixture, id string, rating float64, lastOpponent string) Ticket {
		t.Helper()
		tk := ticket(id, "rps")
		tk.Rating = rating
		tk.LastOpponent = lastOpponent
		got, err := f.l.Join(f.ctx, tk)
		if err != nil {
			t.Fatalf("Join(%s): %v", id, err)
		}
		return got
	}
	// meet pairs a (1500) and b (1580) once.
	meet := func(t *testing.T, f *fixture) {
		t.Helper()
		join(t, f, "a", 1500, "")
		join(t, f, "b", 1580, "")
		synctest.Wait()
		if got := f.rec.started(); len(got) != 1 || !slices.Equal(players(got[0]), []string{"a", "b"}) {
			t.Fatalf("started %v, want a with b", got)
		}
	}
	// requeue has a, x (1650) and b queue 100ms apart, with these last
	// opponents: a accepts 110 when b comes, so x is too far for her, but
	// not for b. Without the rule a and b pair again at b's join.
	requeue := func(t *testing.T, f *fixture, aLast, bLast string) (a Ticket, pairs []Pair) {
		t.Helper()
		a = join(t, f, "a", 1500, aLast)
		time.Sleep(100 * time.Millisecond)
		join(t, f, "x", 1650, "")
		time.Sleep(100 * time.Millisecond)
		join(t, f, "b", 1580, bLast)
		synctest.Wait()
		return a, f.rec.started()[1:]
	}

	t.Run("filled by the lobby", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}, nil)
			meet(t, f)
			a, got := requeue(t, f, "", "")
			if a.LastOpponent != "b" {
				t.Errorf("Join returned LastOpponent %q, want b", a.LastOpponent)
			}
			if len(got) != 1 || !slices.Equal(players(got[0]), []string{"b", "x"}) {
				t.Errorf("started %v, want b with x", got)
			}
		})
	})
	t.Run("the caller's value wins", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}, nil)
			meet(t, f)
			a, got := requeue(t, f, "y", "z")
			if a.LastOpponent != "y" {
				t.Errorf("Join returned LastOpponent %q, want y", a.LastOpponent)
			}
			if len(got) != 1 || !slices.Equal(players(got[0]), []string{"a", "b"}) {
				t.Errorf("started %v, want a with b", got)
			}
		})
	})
	t.Run("forgotten after two hours", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}, nil)
			meet(t, f)
			time.Sleep(2 * opponentMemory)
			a, got := requeue(t, f, "", "")
			if a.LastOpponent != "" {
				t.Errorf("Join returned LastOpponent %q, want none", a.LastOpponent)
			}
			if len(got) != 1 || !slices.Equal(players(got[0]), []string{"a", "b"}) {
				t.Errorf("started %v, want a with b", got)
			}
		})
	})
	t.Run("challenges count", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}, nil)
			c := f.create(t, "a", "rps")
			if err := f.l.AcceptChallenge(f.ctx, c.Code, ticket("b", "")); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if a := join(t, f, "a", 1500, ""); a.LastOpponent != "b" {
				t.Errorf("Join returned LastOpponent %q, want b", a.LastOpponent)
			}
		})
	})
}

func TestOpponentsMemory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var o opponents
	o.add("a", "b", t0)
	o.add("c", "d", t0.Add(opponentMemory-time.Second))
	o.add("a", "e", t0.Add(opponentMemory+time.Second)) // a second generation
	for _, tc := range []struct {
		at     time.Duration
		player string
		want   string
	}{
		{0, "b", "a"},
		{opponentMemory + time.Second, "a", "e"},
		{opponentMemory + time.Second, "b", "a"},
		{2*opponentMemory - time.Second, "b", "a"},
		{2*opponentMemory - time.Second, "d", "c"},
		{2 * opponentMemory, "b", ""}, // the first generation goes
		{2 * opponentMemory, "d", ""},
		{2 * opponentMemory, "e", "a"},
		{3*opponentMemory - time.Second, "e", "a"},
		{3 * opponentMemory, "e", ""}, // and the second
	} {
		if got := o.last(tc.player, t0.Add(tc.at)); got != tc.want {
			t.Errorf("at %v: last(%s) = %q, want %q", tc.at, tc.player, got, tc.want)
		}
	}
}

// BenchmarkByRating times one call on n tickets of two games, ratings from
// N(1500, 300²), waits of up to 20s (so about all of them pair) and one in
// ten with a last opponent among them; FIFO on the same queue is the
// baseline.
func BenchmarkByRating(b *testing.B) {
	policies := map[string]PairFunc{"ByRating": ByRating(RatingConfig{}), "FIFO": FIFO}
	for _, n := range []int{1_000, 10_000} {
		rng := rand.New(rand.NewPCG(3, 4))
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		queue := make([]Ticket, n)
		for i := range queue {
			queue[i] = Ticket{
				PlayerID: fmt.Sprintf("p%06d", i),
				Game:     []string{"rps", "tictactoe"}[i%2],
				Rating:   1500 + 300*rng.NormFloat64(),
				Since:    now.Add(-time.Duration(rng.Int64N(int64(20 * time.Second)))),
			}
			if i%10 == 0 {
				queue[i].LastOpponent = fmt.Sprintf("p%06d", (i+2)%n)
			}
		}
		slices.SortFunc(queue, func(a, b Ticket) int { return a.Since.Compare(b.Since) }) // arrival order
		for _, name := range []string{"ByRating", "FIFO"} {
			b.Run(fmt.Sprintf("%d/%s", n, name), func(b *testing.B) {
				var pairs int
				for b.Loop() {
					p, _ := policies[name](queue, now)
					pairs = len(p)
				}
				b.ReportMetric(float64(pairs), "pairs")
			})
		}
	}
}
