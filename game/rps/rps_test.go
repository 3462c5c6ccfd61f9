package rps_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/gametest"
	"github.com/turnbase/turnbase/game/rps"
)

// update rewrites the golden files in testdata/ instead of comparing to them.
var update = flag.Bool("update", false, "rewrite testdata/*.json golden files")

// wire is the wire state, decoded independently of the package's own type.
type wire struct {
	Round  int     `json:"round"`
	Score  [2]int  `json:"score"`
	Chosen [2]bool `json:"chosen"`
	Mine   *string `json:"mine"`
	Rounds []struct {
		Choices [2]string `json:"choices"`
		Winner  *int      `json:"winner"`
	} `json:"rounds"`
}

func encode(t testing.TB, s game.State, viewer int) []byte {
	t.Helper()
	b, err := json.Marshal(s.View(viewer))
	if err != nil {
		t.Fatalf("encode view: %v", err)
	}
	// The fast path writes the same bytes, after whatever precedes it.
	if fast := s.(game.ViewAppender).AppendView([]byte(`{"state":`), viewer); string(fast) != `{"state":`+string(b) {
		t.Fatalf("AppendView(%d) = %s, encoding/json %s", viewer, fast, b)
	}
	return b
}

// views returns the encoded views of seat 0, seat 1 and spectators.
func views(t testing.TB, s game.State) [3]string {
	t.Helper()
	return [3]string{string(encode(t, s, 0)), string(encode(t, s, 1)), string(encode(t, s, game.Spectator))}
}

func decode(t testing.TB, s game.State, viewer int) wire {
	t.Helper()
	var w wire
	if err := json.Unmarshal(encode(t, s, viewer), &w); err != nil {
		t.Fatalf("decode view: %v", err)
	}
	return w
}

func choose(c string) json.RawMessage { return json.RawMessage(`{"choice":"` + c + `"}`) }

// apply makes seat choose c, failing the test on error.
func apply(t testing.TB, s game.State, seat int, c string) game.State {
	t.Helper()
	next, err := s.Apply(seat, choose(c))
	if err != nil {
		t.Fatalf("seat %d chooses %s: %v", seat, c, err)
	}
	return next
}

// play plays whole rounds from the start, seat 0 choosing first.
func play(t testing.TB, rounds ...[2]string) game.State {
	t.Helper()
	s := rps.Game{}.Start()
	for _, r := range rounds {
		s = apply(t, s, 0, r[0])
		s = apply(t, s, 1, r[1])
	}
	return s
}

// beats is the independent rule: in the order rock, paper, scissors each
// hand beats the one before it, cyclically.
func beats(a, b string) bool {
	index := map[string]int{"rock": 0, "paper": 1, "scissors": 2}
	return (index[a]-index[b]+3)%3 == 1
}

func ties(n int) [][2]string {
	r := make([][2]string, n)
	for i := range r {
		r[i] = [2]string{"paper", "paper"}
	}
	return r
}

func TestRoundOutcomes(t *testing.T) {
	tests := map[[2]string]int{ // both hands -> winning seat
		{"rock", "rock"}:         game.NoSeat,
		{"rock", "paper"}:        1,
		{"rock", "scissors"}:     0,
		{"paper", "rock"}:        0,
		{"paper", "paper"}:       game.NoSeat,
		{"paper", "scissors"}:    1,
		{"scissors", "rock"}:     1,
		{"scissors", "paper"}:    0,
		{"scissors", "scissors"}: game.NoSeat,
	}
	for hands, winner := range tests {
		for _, first := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s-%s/seat%d_first", hands[0], hands[1], first), func(t *testing.T) {
				s := rps.Game{}.Start()
				s = apply(t, s, first, hands[first])
				if s.Phase() != 0 || decode(t, s, game.Spectator).Round != 1 {
					t.Fatalf("one choice revealed the round")
				}
				s = apply(t, s, 1-first, hands[1-first])

				w := decode(t, s, game.Spectator)
				if len(w.Rounds) != 1 || w.Rounds[0].Choices != hands {
					t.Fatalf("rounds %+v, want one with choices %q", w.Rounds, hands)
				}
				var score [2]int
				if got := w.Rounds[0].Winner; winner == game.NoSeat {
					if got != nil {
						t.Fatalf("round winner %d, want null", *got)
					}
				} else {
					if got == nil || *got != winner {
						t.Fatalf("round winner %v, want %d", got, winner)
					}
					score[winner] = 1
				}
				if w.Score != score || w.Round != 2 || w.Chosen != [2]bool{} || w.Mine != nil {
					t.Fatalf("state %+v after the reveal", w)
				}
				if s.Phase() != 1 || s.Outcome().Done || !s.Awaiting(0) || !s.Awaiting(1) {
					t.Fatalf("phase %d, outcome %+v after one round", s.Phase(), s.Outcome())
				}
			})
		}
	}
}

func TestTieIsReplayed(t *testing.T) {
	s := play(t, [2]string{"rock", "rock"})
	want := `{"round":2,"score":[0,0],"chosen":[false,false],"mine":null,` +
		`"rounds":[{"choices":["rock","rock"],"winner":null}]}`
	if got := encode(t, s, game.Spectator); string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	s = play(t, [2]string{"rock", "rock"}, [2]string{"rock", "paper"}, [2]string{"scissors", "scissors"})
	w := decode(t, s, 0)
	if w.Round != 4 || w.Score != [2]int{0, 1} || len(w.Rounds) != 3 || s.Phase() != 3 || s.Outcome().Done {
		t.Fatalf("after tie, win, tie: %+v, phase %d", w, s.Phase())
	}
}

func TestGameEnd(t *testing.T) {
	win := func(seat int) [2]string {
		if seat == 0 {
			return [2]string{"rock", "scissors"}
		}
		return [2]string{"rock", "paper"}
	}
	tests := map[string]struct {
		rounds [][2]string
		winner int
		score  [2]int
	}{
		"straight wins":       {[][2]string{win(0), win(0)}, 0, [2]int{2, 0}},
		"seat 1 comes back":   {[][2]string{win(0), win(1), {"paper", "paper"}, win(1)}, 1, [2]int{1, 2}},
		"2-1 on round nine":   {append(append([][2]string{win(0), win(1)}, ties(6)...), win(0)), 0, [2]int{2, 1}},
		"1-0 after nine":      {append([][2]string{win(0)}, ties(8)...), 0, [2]int{1, 0}},
		"0-1 after nine":      {append(ties(8), win(1)), 1, [2]int{0, 1}},
		"1-1 after nine":      {append(append(ties(3), win(1), win(0)), ties(4)...), game.NoSeat, [2]int{1, 1}},
		"nine ties":           {ties(9), game.NoSeat, [2]int{0, 0}},
		"late decider at two": {append(ties(7), win(1), win(1)), 1, [2]int{0, 2}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := rps.Game{}.Start()
			for i, r := range tt.rounds {
				if s.Outcome().Done {
					t.Fatalf("over before round %d", i+1)
				}
				s = apply(t, s, 0, r[0])
				s = apply(t, s, 1, r[1])
			}
			want := game.Outcome{Done: true, Winner: tt.winner, Reason: rps.ReasonRounds}
			if got := s.Outcome(); got != want {
				t.Fatalf("outcome %+v, want %+v", got, want)
			}
			n := len(tt.rounds)
			for _, viewer := range []int{0, 1, game.Spectator} {
				w := decode(t, s, viewer)
				if w.Round != n || w.Score != tt.score || w.Chosen != [2]bool{} || w.Mine != nil || len(w.Rounds) != n {
					t.Fatalf("viewer %d sees %+v", viewer, w)
				}
			}
			if s.Phase() != n || s.Turn() != game.NoSeat || s.Awaiting(0) || s.Awaiting(1) {
				t.Fatalf("phase %d, turn %d, awaiting %v %v after the end",
					s.Phase(), s.Turn(), s.Awaiting(0), s.Awaiting(1))
			}
			for seat := -1; seat <= 2; seat++ {
				next, err := s.Apply(seat, choose("rock"))
				if next != nil || !errors.Is(err, game.ErrGameOver) {
					t.Fatalf("seat %d after the end: state %v, error %v", seat, next, err)
				}
			}
		})
	}
}

func TestHiddenChoice(t *testing.T) {
	for _, c := range []string{"rock", "paper", "scissors"} {
		for _, seat := range []int{0, 1} {
			s := apply(t, rps.Game{}.Start(), seat, c)
			for _, viewer := range []int{1 - seat, game.Spectator, 2, -7} {
				b := encode(t, s, viewer)
				for _, word := range []string{"rock", "paper", "scissors"} {
					if bytes.Contains(b, []byte(word)) {
						t.Errorf("seat %d chose %s; viewer %d sees %s", seat, c, viewer, b)
					}
				}
				var chosen [2]bool
				chosen[seat] = true
				if w := decode(t, s, viewer); w.Mine != nil || w.Chosen != chosen {
					t.Errorf("seat %d chose %s; viewer %d sees %+v", seat, c, viewer, w)
				}
			}
			if w := decode(t, s, seat); w.Mine == nil || *w.Mine != c {
				t.Errorf("seat %d chose %s and sees mine=%v", seat, c, w.Mine)
			}
			if s.Awaiting(seat) || !s.Awaiting(1-seat) {
				t.Errorf("seat %d chose: awaiting %v %v", seat, s.Awaiting(0), s.Awaiting(1))
			}
		}
	}
}

// TestHiddenChoiceLater checks, in a round with a history that names every
// hand, that the opponent's and spectators' views are the same bytes
// whichever hand was chosen.
func TestHiddenChoiceLater(t *testing.T) {
	base := play(t, [2]string{"rock", "paper"}, [2]string{"scissors", "scissors"})
	for _, seat := range []int{0, 1} {
		for _, viewer := range []int{1 - seat, game.Spectator} {
			var views [][]byte
			for _, c := range []string{"rock", "paper", "scissors"} {
				views = append(views, encode(t, apply(t, base, seat, c), viewer))
			}
			if !bytes.Equal(views[0], views[1]) || !bytes.Equal(views[1], views[2]) {
				t.Errorf("seat %d chose; viewer %d tells the hands apart:\n%s\n%s\n%s", seat, viewer, views[0], views[1], views[2])
			}
		}
	}
}

func TestRefusedMoves(t *testing.T) {
	tests := map[string]struct {
		seat int
		move string
		want error
	}{
		"lizard":         {0, `{"choice":"lizard"}`, game.ErrIllegalMove},
		"capitalised":    {0, `{"choice":"Rock"}`, game.ErrIllegalMove},
		"padded":         {0, `{"choice":" rock"}`, game.ErrIllegalMove},
		"chose already":  {1, `{"choice":"rock"}`, game.ErrIllegalMove},
		"empty choice":   {0, `{"choice":""}`, game.ErrBadMove},
		"null choice":    {0, `{"choice":null}`, game.ErrBadMove},
		"number choice":  {0, `{"choice":1}`, game.ErrBadMove},
		"array choice":   {0, `{"choice":["rock"]}`, game.ErrBadMove},
		"object choice":  {0, `{"choice":{"rock":true}}`, game.ErrBadMove},
		"empty object":   {0, `{}`, game.ErrBadMove},
		"null":           {0, `null`, game.ErrBadMove},
		"bare string":    {0, `"rock"`, game.ErrBadMove},
		"empty":          {0, ``, game.ErrBadMove},
		"not json":       {0, `rock`, game.ErrBadMove},
		"trailing":       {0, `{"choice":"rock"}}`, game.ErrBadMove},
		"bad escape":     {0, `{"choice":"\x"}`, game.ErrBadMove},
		"wrong field":    {0, `{"cell":4}`, game.ErrBadMove},
		"seat two":       {2, `{"choice":"rock"}`, game.ErrNotYourTurn},
		"spectator seat": {game.Spectator, `{"choice":"rock"}`, game.ErrNotYourTurn},
		"plain":          {0, `{"choice":"rock"}`, nil},
		"escaped":        {0, `{"choice":"\u0072ock"}`, nil},
		"extra key":      {0, ` {"choice" : "rock", "why": 1} `, game.ErrBadMove},
		"case variant":   {0, `{"choice":"rock","Choice":"paper"}`, game.ErrBadMove},
		"key in caps":    {0, `{"CHOICE":"rock"}`, game.ErrBadMove},
		"duplicate":      {0, `{"choice":"rock","choice":"paper"}`, game.ErrBadMove},
		"escaped dup":    {0, `{"choice":"rock","\u0063hoice":"rock"}`, game.ErrBadMove},
		"nul escape":     {0, `{"choice":"rock\u0000"}`, game.ErrBadMove},
		"nul byte":       {0, "{\"choice\":\"rock\"}\x00", game.ErrBadMove},
		"invalid utf8":   {0, "{\"choice\":\"r\xffck\"}", game.ErrBadMove},
		"two objects":    {0, `{"choice":"rock"} {}`, game.ErrBadMove},
		"spaces":         {0, ` { "choice" : "rock" } `, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := apply(t, rps.Game{}.Start(), 1, "paper") // seat 1 has chosen
			before := views(t, s)
			next, err := s.Apply(tt.seat, json.RawMessage(tt.move))
			if after := views(t, s); after != before {
				t.Fatalf("Apply changed its receiver")
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Apply(%d, %s): %v", tt.seat, tt.move, err)
				}
				if w := decode(t, next, 0); len(w.Rounds) != 1 || w.Rounds[0].Choices != [2]string{"rock", "paper"} {
					t.Fatalf("after the reveal: %+v", w)
				}
				return
			}
			if next != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Apply(%d, %s): state %v, error %v, want %v", tt.seat, tt.move, next, err, tt.want)
			}
		})
	}
}

// TestSharedHistory checks that two states grown from the same parent do not
// write into each other's round history. The parent's history has spare
// capacity after three appends, which is where a careless append would bite.
func TestSharedHistory(t *testing.T) {
	parent := apply(t, play(t, ties(3)...), 0, "rock")
	parentJSON := encode(t, parent, game.Spectator)
	a := apply(t, parent, 1, "scissors")
	aJSON := encode(t, a, game.Spectator)
	b := apply(t, parent, 1, "paper")
	if got := encode(t, a, game.Spectator); !bytes.Equal(got, aJSON) {
		t.Fatalf("a sibling changed the state:\n%s\n%s", aJSON, got)
	}
	if got := encode(t, parent, game.Spectator); !bytes.Equal(got, parentJSON) {
		t.Fatalf("a child changed its parent:\n%s\n%s", parentJSON, got)
	}
	if wa, wb := decode(t, a, 0), decode(t, b, 0); wa.Score != [2]int{1, 0} || wb.Score != [2]int{0, 1} {
		t.Fatalf("scores %v and %v", wa.Score, wb.Score)
	}
}

func TestGolden(t *testing.T) {
	win0 := [2]string{"rock", "scissors"} // seat 0 wins
	tests := map[string]struct {
		rounds [][2]string
		hidden string // seat 0's choice in the open round, if any
	}{
		"start":       {nil, ""},
		"hidden":      {nil, "paper"},
		"history":     {[][2]string{{"rock", "rock"}, {"paper", "scissors"}}, "scissors"},
		"over_win":    {[][2]string{win0, {"rock", "rock"}, win0}, ""},
		"over_rounds": {append([][2]string{win0}, ties(8)...), ""},
		"over_drawn":  {append(ties(7), [2]string{"rock", "paper"}, win0), ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := play(t, tt.rounds...)
			if tt.hidden != "" {
				s = apply(t, s, 0, tt.hidden)
			}
			// One JSON object, one line per viewer holding its exact wire bytes.
			out := fmt.Appendf(nil, "{\n  \"seat0\": %s,\n  \"seat1\": %s,\n  \"spectator\": %s\n}\n",
				encode(t, s, 0), encode(t, s, 1), encode(t, s, game.Spectator))
			if !json.Valid(out) {
				t.Fatalf("golden document is not JSON:\n%s", out)
			}
			golden(t, filepath.Join("testdata", name+".json"), out)
		})
	}
}

// golden compares got with the file at path, or rewrites it under -update.
// TestAppendView: the fast path writes exactly what encoding/json writes,
// for every viewer, along random playouts (hidden choices, ties, all ends).
func TestAppendView(t *testing.T) {
	hands := []string{"rock", "paper", "scissors"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		s := rps.Game{}.Start()
		for {
			views(t, s) // encode compares both encoders for each viewer
			if s.Outcome().Done {
				break
			}
			seat := rng.IntN(2)
			if !s.Awaiting(seat) {
				seat = 1 - seat
			}
			s = apply(t, s, seat, hands[rng.IntN(3)])
		}
	}
}

// TestCompactMoves: the compact moves Apply reads directly give what
// encoding/json gives (a leading space forces that path).
func TestCompactMoves(t *testing.T) {
	for _, s := range []game.State{play(t), apply(t, play(t), 0, "rock"), play(t, [2]string{"rock", "paper"})} {
		for seat := range 2 {
			for _, h := range []string{"rock", "paper", "scissors"} {
				compact := string(choose(h))
				a, errA := s.Apply(seat, json.RawMessage(compact))
				b, errB := s.Apply(seat, json.RawMessage(" "+compact))
				if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() ||
					errA == nil && views(t, a) != views(t, b) {
					t.Errorf("seat %d %s: %v, %v; want the same", seat, compact, errA, errB)
				}
			}
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot\n%s\nwant\n%s", path, got, want)
	}
}

// check checks everything a state must satisfy, against the wire views and
// the independent rule, and returns the spectators' view.
func check(t testing.TB, s game.State) wire {
	t.Helper()
	spec := decode(t, s, game.Spectator)
	var score [2]int
	for i, r := range spec.Rounds {
		for _, c := range r.Choices {
			if c != "rock" && c != "paper" && c != "scissors" {
				t.Fatalf("round %d: choice %q", i+1, c)
			}
		}
		want := game.NoSeat
		switch {
		case beats(r.Choices[0], r.Choices[1]):
			want = 0
		case beats(r.Choices[1], r.Choices[0]):
			want = 1
		}
		got := game.NoSeat
		if r.Winner != nil {
			got = *r.Winner
		}
		if got != want {
			t.Fatalf("round %d %q: winner %d, want %d", i+1, r.Choices, got, want)
		}
		if got != game.NoSeat {
			score[got]++
		}
		if i+1 < len(spec.Rounds) && (score[0] == 2 || score[1] == 2) {
			t.Fatalf("rounds played on after a seat won two: %+v", spec.Rounds)
		}
	}
	n := len(spec.Rounds)
	if spec.Score != score || n > 9 {
		t.Fatalf("score %v, want %v, %d rounds", spec.Score, score, n)
	}
	over := score[0] == 2 || score[1] == 2 || n == 9
	want := game.Outcome{Winner: game.NoSeat}
	if over {
		want = game.Outcome{Done: true, Winner: game.NoSeat, Reason: "rounds"}
		if score[0] > score[1] {
			want.Winner = 0
		} else if score[1] > score[0] {
			want.Winner = 1
		}
	}
	if got := s.Outcome(); got != want {
		t.Fatalf("score %v after %d rounds: outcome %+v, want %+v", score, n, got, want)
	}
	round := n + 1
	if over {
		round = n
	}
	if spec.Round != round || s.Phase() != n || s.Turn() != game.NoSeat || spec.Mine != nil {
		t.Fatalf("state %+v: phase %d, turn %d", spec, s.Phase(), s.Turn())
	}
	if spec.Rounds == nil && !bytes.Contains(encode(t, s, game.Spectator), []byte(`"rounds":[]`)) {
		t.Fatalf("rounds is not [] in %s", encode(t, s, game.Spectator))
	}
	for seat := range 2 {
		if spec.Chosen[seat] == s.Awaiting(seat) && !over || over && (spec.Chosen[seat] || s.Awaiting(seat)) {
			t.Fatalf("seat %d: chosen %v, awaiting %v, over %v", seat, spec.Chosen[seat], s.Awaiting(seat), over)
		}
		own := decode(t, s, seat)
		if (own.Mine != nil) != spec.Chosen[seat] {
			t.Fatalf("seat %d: chosen %v, mine %v", seat, spec.Chosen[seat], own.Mine)
		}
		// Apart from mine, every viewer sees the same state.
		own.Mine = nil
		if !bytes.Equal(mustJSON(t, own), mustJSON(t, spec)) {
			t.Fatalf("seat %d sees %+v, spectators %+v", seat, own, spec)
		}
	}
	if s.Awaiting(-1) || s.Awaiting(2) {
		t.Fatalf("a seat that does not exist is awaited")
	}
	return spec
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A FuzzApply script is a list of steps. Each step starts with a byte whose
// low two bits are the seat plus one (so -1..2). If its bit 2 is set, the
// next byte picks rock, paper, scissors or lizard, and the move is
// {"choice":...}: that walks the fuzzer deep into games. Otherwise the next
// byte is a length and that many bytes are the raw move: that exercises
// decoding.

// nextStep decodes the first step of script and returns the rest.
func nextStep(script []byte) (seat int, move json.RawMessage, rest []byte) {
	seat = int(script[0]&3) - 1
	if script[0]&4 != 0 {
		return seat, choose([]string{"rock", "paper", "scissors", "lizard"}[script[1]%4]), script[2:]
	}
	n := min(int(script[1]), len(script)-2)
	return seat, json.RawMessage(script[2 : 2+n]), script[2+n:]
}

// rawStep encodes a raw step; handStep a choice step (3 is lizard).
func rawStep(seat int, move string) []byte {
	return append([]byte{byte(seat + 1), byte(len(move))}, move...)
}

func handStep(seat, hand int) []byte { return []byte{byte(seat+1) | 4, byte(hand)} }

func FuzzApply(f *testing.F) {
	hands := []string{"rock", "paper", "scissors"}
	var long, short []byte
	for i := range 12 {
		long = append(long, rawStep(0, string(choose(hands[i%3])))...)
		long = append(long, rawStep(1, string(choose(hands[(i*2)%3])))...)
		short = append(short, handStep(i%2, i%3)...)
		short = append(short, handStep(1-i%2, i%3)...)
	}
	f.Add(long)
	f.Add(short)
	f.Add(append(handStep(0, 0), handStep(0, 1)...))
	f.Add(append(handStep(2, 3), handStep(-1, 0)...))
	f.Add(append(rawStep(1, `{"choice":"paper"}`), rawStep(0, `{"choice":"rock"}`)...))
	f.Add(append(rawStep(2, `{"choice":"lizard"}`), rawStep(0, `{"choice":1}`)...))

	f.Fuzz(func(t *testing.T, script []byte) {
		s := rps.Game{}.Start()
		before, beforeJSON := check(t, s), views(t, s) // checked once per state
		for len(script) >= 2 {
			var seat int
			var move json.RawMessage
			seat, move, script = nextStep(script)

			next, err := s.Apply(seat, move)
			if views(t, s) != beforeJSON {
				t.Fatalf("Apply(%d, %q) changed its receiver", seat, move)
			}
			if err != nil {
				if next != nil {
					t.Fatalf("Apply(%d, %q) returned a state and error %v", seat, move, err)
				}
				if !errors.Is(err, game.ErrBadMove) && !errors.Is(err, game.ErrIllegalMove) &&
					!errors.Is(err, game.ErrNotYourTurn) && !errors.Is(err, game.ErrGameOver) {
					t.Fatalf("Apply(%d, %q): unexpected error %v", seat, move, err)
				}
				continue
			}
			if !s.Awaiting(seat) {
				t.Fatalf("Apply(%d, %q) accepted from a seat that owed nothing: %+v", seat, move, before)
			}
			after := check(t, next)
			if len(after.Rounds) == len(before.Rounds) {
				// Still open: only seat's chosen flag moved, and the hand
				// played cannot be told from the others by anyone else.
				want := before
				want.Chosen[seat] = true
				if !bytes.Equal(mustJSON(t, after), mustJSON(t, want)) {
					t.Fatalf("Apply(%d, %q): %+v became %+v", seat, move, before, after)
				}
				for _, h := range hands {
					alt, err := s.Apply(seat, choose(h))
					if err != nil {
						t.Fatalf("seat %d cannot choose %s: %v", seat, h, err)
					}
					if !bytes.Equal(encode(t, alt, 1-seat), encode(t, next, 1-seat)) ||
						!bytes.Equal(encode(t, alt, game.Spectator), encode(t, next, game.Spectator)) {
						t.Fatalf("the opponent can tell %s from %q", h, move)
					}
				}
			} else if len(after.Rounds) != len(before.Rounds)+1 ||
				!bytes.Equal(mustJSON(t, after.Rounds[:len(before.Rounds)]), mustJSON(t, before.Rounds)) ||
				!before.Chosen[1-seat] {
				t.Fatalf("Apply(%d, %q): %+v became %+v", seat, move, before, after)
			}
			s, before, beforeJSON = next, after, views(t, next)
		}
	})
}

func BenchmarkApply(b *testing.B) {
	start := play(b, [2]string{"rock", "rock"}, [2]string{"paper", "scissors"})
	open := apply(b, start, 0, "rock")
	move := choose("paper")
	b.Run("hidden", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := start.Apply(1, move); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reveal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := open.Apply(1, move); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkViewEncode(b *testing.B) {
	s := play(b, [2]string{"rock", "rock"}, [2]string{"paper", "scissors"}, [2]string{"scissors", "scissors"})
	s = apply(b, s, 0, "rock")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(s.View(0)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendView(b *testing.B) {
	s := play(b, [2]string{"rock", "rock"}, [2]string{"paper", "scissors"}, [2]string{"scissors", "scissors"})
	s = apply(b, s, 0, "rock")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.(game.ViewAppender).AppendView(buf[:0], 0)
	}
}

func TestParseMove(t *testing.T) {
	tests := map[string]struct {
		move string
		want string // "": an error wrapping ErrBadMove
	}{
		"compact":      {`{"choice":"rock"}`, `{"choice":"rock"}`},
		"spaced":       {` { "choice" : "paper" } `, `{"choice":"paper"}`},
		"escaped":      {`{"choice":"sc\u0069ssors"}`, `{"choice":"scissors"}`},
		"unknown hand": {`{"choice":"lizard"}`, `{"choice":"lizard"}`}, // Apply's illegal move
		"html":         {`{"choice":"<b>"}`, `{"choice":"\u003cb\u003e"}`},
		"case variant": {`{"choice":"rock","Choice":"paper"}`, ""},
		"duplicate":    {`{"choice":"rock","choice":"rock"}`, ""},
		"extra key":    {`{"choice":"rock","x":1}`, ""},
		"empty":        {`{"choice":""}`, ""},
		"missing":      {`{}`, ""},
		"number":       {`{"choice":1e1000000}`, ""},
		"nul escape":   {`{"choice":"rock\u0000"}`, ""},
		"nul byte":     {"{\"choice\":\"rock\"}\x00", ""},
		"invalid utf8": {"{\"choice\":\"\xffrock\"}", ""},
		"trailing":     {`{"choice":"rock"}"`, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := rps.Game{}.ParseMove(json.RawMessage(tt.move))
			if tt.want == "" {
				if got != nil || !errors.Is(err, game.ErrBadMove) {
					t.Fatalf("ParseMove(%q) = %s, %v; want ErrBadMove", tt.move, got, err)
				}
				gametest.CheckMessage(t, err)
			} else if err != nil || string(got) != tt.want {
				t.Fatalf("ParseMove(%q) = %s, %v; want %s", tt.move, got, err, tt.want)
			}
			gametest.CheckParseMove(t, rps.Game{}, rps.Game{}.Start(), 0, json.RawMessage(tt.move))
		})
	}
}

func FuzzParseMove(f *testing.F) {
	for _, s := range []string{
		`{"choice":"rock"}`, `{"choice":"rock","Choice":"paper"}`, `{"choice":"\u0000"}`, `{"choice":""}`,
		`{"choice":"lizard"}`, `{"choice":"\ud800"}`, "{\"choice\":\"\xff\"}", `{"choice":1}`, `{"choice":"rock"}x`,
	} {
		f.Add(s)
	}
	states := []game.State{rps.Game{}.Start(), apply(f, rps.Game{}.Start(), 1, "paper")}
	f.Fuzz(func(t *testing.T, move string) {
		for _, s := range states {
			gametest.CheckParseMove(t, rps.Game{}, s, 0, json.RawMessage(move))
		}
	})
}

func TestPublicMoves(t *testing.T) {
	mv := func(seats ...int) []game.Move {
		var out []game.Move
		for _, s := range seats {
			out = append(out, game.Move{Seat: s, Move: choose("rock")})
		}
		return out
	}
	tests := map[string]struct {
		moves  []game.Move
		over   bool
		public int
	}{
		"none":              {nil, false, 0},
		"one":               {mv(0), false, 0},
		"pair":              {mv(0, 1), false, 2},
		"pair and one":      {mv(1, 0, 1), false, 2},
		"three in a pair":   {mv(0, 1, 1, 0, 0), false, 4},
		"ended open":        {mv(0, 1, 0, 1, 1), true, 4}, // resign or timeout with round 3 open
		"ended closed":      {mv(0, 1, 1, 0), true, 4},
		"ended before any":  {mv(1), true, 0},
		"stray seats":       {[]game.Move{{Seat: 2}, {Seat: -1}, {Seat: 0}, {Seat: 1}}, false, 4},
		"same seat repeats": {mv(0, 0, 0), false, 0},
	}
	for name, tt := range tests {
		if got := (rps.Game{}).PublicMoves(tt.moves, tt.over); got != tt.public {
			t.Errorf("%s: %d public moves, want %d", name, got, tt.public)
		}
	}
}

// TestPublicMovesRandom: in random games, the public moves are exactly
// those of the rounds every viewer sees revealed.
func TestPublicMovesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 100 {
		moves, _ := gametest.RandomGame(t, rps.Game{}, r)
		for n := range len(moves) + 1 {
			s, err := game.Replay(rps.Game{}, moves[:n])
			if err != nil {
				t.Fatal(err)
			}
			if got, want := (rps.Game{}).PublicMoves(moves[:n], s.Outcome().Done), 2*len(check(t, s).Rounds); got != want {
				t.Fatalf("%d moves: %d public, want %d", n, got, want)
			}
		}
	}
}

func TestRandomPlay(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	winners := make(map[int]int)
	for range 300 {
		_, s := gametest.RandomGame(t, rps.Game{}, r)
		check(t, s)
		winners[s.Outcome().Winner]++
	}
	for _, w := range []int{0, 1} {
		if winners[w] == 0 {
			t.Errorf("300 random games and no win for seat %d: %v", w, winners)
		}
	}
}

func TestRandomMoveViews(t *testing.T) {
	const r1 = `{"choices":["rock","paper"],"winner":1}`
	const tie = `{"choices":["rock","rock"],"winner":null}`
	tests := map[string]struct {
		view string
		owes [2]bool
		made [2]int
	}{
		"start":        {`{"round":1,"score":[0,0],"chosen":[false,false],"mine":null,"rounds":[]}`, [2]bool{true, true}, [2]int{0, 0}},
		"seat 1 chose": {`{"round":1,"score":[0,0],"chosen":[false,true],"mine":null,"rounds":[]}`, [2]bool{true, false}, [2]int{0, 1}},
		"round 2":      {`{"round":2,"score":[0,1],"chosen":[true,false],"mine":"rock","rounds":[` + r1 + `]}`, [2]bool{false, true}, [2]int{2, 1}},
		"seat 1 won":   {`{"round":2,"score":[0,2],"chosen":[false,false],"mine":null,"rounds":[` + r1 + `,` + r1 + `]}`, [2]bool{false, false}, [2]int{2, 2}},
		"nine ties": {`{"round":9,"score":[0,0],"chosen":[false,false],"mine":null,"rounds":[` +
			strings.Repeat(tie+",", 8) + tie + `]}`, [2]bool{false, false}, [2]int{9, 9}},
		"not json": {`{"round":`, [2]bool{false, false}, [2]int{0, 0}},
		"array":    {`[1,2]`, [2]bool{false, false}, [2]int{0, 0}},
	}
	g := rps.Game{}
	r := rand.New(rand.NewPCG(1, 2))
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			v := json.RawMessage(tt.view)
			for seat := range 2 {
				if got := g.MovesMade(v, seat); got != tt.made[seat] {
					t.Errorf("MovesMade(seat %d) = %d, want %d", seat, got, tt.made[seat])
				}
				hands := make(map[string]bool)
				for range 100 {
					mv, ok := g.RandomMove(v, seat, r)
					if ok != tt.owes[seat] {
						t.Fatalf("RandomMove(seat %d) = %s, %v; want owed %v", seat, mv, ok, tt.owes[seat])
					}
					if !ok {
						break
					}
					hands[string(mv)] = true
				}
				if tt.owes[seat] && len(hands) != 3 {
					t.Errorf("seat %d: random hands %v, want all three", seat, hands)
				}
			}
			gametest.CheckViewNoise(t, g, v)
		})
	}
}
