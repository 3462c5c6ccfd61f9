package lobby

import (
	"slices"
	"testing"
	"time"
)

func TestFIFO(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// tk is a ticket that has waited since t0 plus sec seconds.
	tk := func(id, game string, sec int) Ticket {
		t := ticket(id, game)
		t.Since = t0.Add(time.Duration(sec) * time.Second)
		return t
	}
	tests := map[string]struct {
		queue []Ticket
		pairs [][2]string // player IDs, oldest first within a pair
		rest  []string
	}{
		"empty": {},
		"one alone": {
			queue: []Ticket{tk("a", "rps", 0)},
			rest:  []string{"a"},
		},
		"two of a game": {
			queue: []Ticket{tk("a", "rps", 0), tk("b", "rps", 1)},
			pairs: [][2]string{{"a", "b"}},
		},
		"two games never pair": {
			queue: []Ticket{tk("a", "rps", 0), tk("b", "tictactoe", 1)},
			rest:  []string{"a", "b"},
		},
		"three: the oldest two pair": {
			queue: []Ticket{tk("a", "rps", 0), tk("b", "rps", 1), tk("c", "rps", 2)},
			pairs: [][2]string{{"a", "b"}},
			rest:  []string{"c"},
		},
		"interleaved games": {
			queue: []Ticket{
				tk("a", "rps", 0), tk("x", "tictactoe", 1), tk("b", "rps", 2),
				tk("c", "rps", 3), tk("y", "tictactoe", 4), tk("z", "tictactoe", 5),
			},
			pairs: [][2]string{{"a", "b"}, {"x", "y"}},
			rest:  []string{"c", "z"},
		},
		"oldest first whatever the slice order": {
			queue: []Ticket{tk("c", "rps", 3), tk("b", "rps", 2), tk("a", "rps", 1)},
			pairs: [][2]string{{"a", "b"}},
			rest:  []string{"c"},
		},
		"equal Since keeps slice order": {
			queue: []Ticket{tk("b", "rps", 0), tk("a", "rps", 0), tk("c", "rps", 0)},
			pairs: [][2]string{{"b", "a"}},
			rest:  []string{"c"},
		},
		"a player never pairs with herself": {
			queue: []Ticket{tk("a", "rps", 0), tk("a", "rps", 1), tk("b", "rps", 2)},
			pairs: [][2]string{{"a", "b"}},
			rest:  []string{"a"},
		},
		"a player in two games pairs once": {
			queue: []Ticket{
				tk("a", "rps", 0), tk("a", "tictactoe", 1),
				tk("b", "rps", 2), tk("c", "tictactoe", 3), tk("d", "tictactoe", 4),
			},
			pairs: [][2]string{{"a", "b"}, {"c", "d"}},
			rest:  []string{"a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			queue := slices.Clone(tc.queue)
			pairs, rest := FIFO(queue, t0.Add(time.Hour))
			if !slices.Equal(queue, tc.queue) {
				t.Errorf("FIFO changed its input: %v", queue)
			}
			var gotPairs [][2]string
			for _, p := range pairs {
				if p[0].Game != p[1].Game {
					t.Errorf("pair across games: %+v", p)
				}
				gotPairs = append(gotPairs, [2]string{p[0].PlayerID, p[1].PlayerID})
			}
			if !slices.Equal(gotPairs, tc.pairs) {
				t.Errorf("pairs = %v, want %v", gotPairs, tc.pairs)
			}
			var gotRest []string
			for _, r := range rest {
				gotRest = append(gotRest, r.PlayerID)
			}
			if !slices.Equal(gotRest, tc.rest) {
				t.Errorf("rest = %v, want %v", gotRest, tc.rest)
			}
			if n := 2*len(pairs) + len(rest); n != len(tc.queue) {
				t.Errorf("%d tickets out for %d in", n, len(tc.queue))
			}
		})
	}
}
