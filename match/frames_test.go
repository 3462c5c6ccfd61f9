package match

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
)

// Player names are user input: some need escaping.
var wireNames = []string{"", "Alice", "bob_42-x", `q"u\o`, "<b>&</b>", "tab\tnl\n\x00", "héllo 日本 😀", "bad\xffutf8", "sep\u2028"}

// frameCase is a state frame and the game state it shows.
type frameCase struct {
	f      stateFrame
	s      game.State
	viewer int
}

// randomFrame fills in the envelope of a state frame at random: all
// statuses, deadlines and grace periods null or set, any names.
func randomFrame(rng *rand.Rand, s game.State, viewer int) frameCase {
	msOrNil := func() *int64 {
		if rng.IntN(2) == 0 {
			return nil
		}
		ms := rng.Int64N(1 << 42)
		return &ms
	}
	f := stateFrame{
		Type: "match.state", Match: newID(), Game: "g",
		Version: rng.Int64N(1000), Status: []string{StatusLive, StatusFinished, StatusAborted}[rng.IntN(3)],
		You: seatPtr(viewer), Turn: nil, DeadlineMS: msOrNil(),
		Spectators: rng.IntN(5), ServerMS: rng.Int64N(1 << 42),
	}
	if f.Status == StatusLive {
		f.Turn = seatPtr(s.Turn())
	}
	if f.Rated = rng.IntN(2) == 0; !f.Rated {
		f.Unrated = UnratedPairLimit
	}
	for i := range f.Players {
		f.Players[i] = wireSeat{
			ID: wireNames[rng.IntN(len(wireNames))], Name: wireNames[rng.IntN(len(wireNames))],
			Rating: roundRating(rng.Float64()*4000 - 500), Connected: rng.IntN(2) == 0, GraceMS: msOrNil(),
		}
	}
	return frameCase{f, s, viewer}
}

// checkFrame compares appendJSON with encoding/json, byte for byte.
func checkFrame(t *testing.T, c frameCase) {
	t.Helper()
	c.f.State = c.s.View(c.viewer)
	want, err := json.Marshal(c.f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.f.appendJSON([]byte("prefix"), c.s, c.viewer)
	if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("appendJSON = %s, %v\nencoding/json  %s", got, err, want)
	}
}

func TestStateFrameEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	viewers := []int{0, 1, game.Spectator}
	// Every reachable tic-tac-toe position.
	seen := map[string]bool{}
	var walk func(s game.State)
	walk = func(s game.State) {
		key, _ := json.Marshal(s.View(game.Spectator))
		if seen[string(key)] {
			return
		}
		seen[string(key)] = true
		for _, v := range viewers {
			checkFrame(t, randomFrame(rng, s, v))
		}
		for c := range 9 {
			if next, err := s.Apply(s.Turn(), json.RawMessage(`{"cell":`+strconv.Itoa(c)+`}`)); err == nil {
				walk(next)
			}
		}
	}
	walk(tictactoe.Game{}.Start())
	if len(seen) != 5478 {
		t.Errorf("%d tic-tac-toe positions, want 5478", len(seen))
	}
	// Random rps playouts, hidden choices included.
	hands := []string{"rock", "paper", "scissors"}
	for range 200 {
		s := rps.Game{}.Start()
		for !s.Outcome().Done {
			for _, v := range viewers {
				checkFrame(t, randomFrame(rng, s, v))
			}
			seat := rng.IntN(2)
			if !s.Awaiting(seat) {
				seat = 1 - seat
			}
			next, err := s.Apply(seat, json.RawMessage(`{"choice":"`+hands[rng.IntN(3)]+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			s = next
		}
		checkFrame(t, randomFrame(rng, s, game.Spectator))
	}
	// A game without AppendView goes through encoding/json.
	checkFrame(t, randomFrame(rng, panicState{}, 0))
}

// nanState has a view encoding/json refuses.
type nanState struct{ panicState }

func (nanState) View(int) any { return math.NaN() }

func TestStateFrameBadView(t *testing.T) {
	c := randomFrame(rand.New(rand.NewPCG(1, 1)), nanState{}, 0)
	if _, err := c.f.appendJSON(nil, c.s, c.viewer); err == nil {
		t.Error("a view encoding/json refuses was encoded")
	}
}

func TestFoundFrameEncoding(t *testing.T) {
	for i, a := range wireNames {
		b := wireNames[(i+3)%len(wireNames)]
		f := foundFrame{Type: "match.found", Match: newID(), Game: "rps", You: i % 2, Rated: i%3 != 0,
			Players: wirePlayers([2]Player{{ID: a, Name: b, Rating: 1612.5}, {ID: b, Name: a, Rating: -0.4}})}
		if !f.Rated {
			f.Unrated = a
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("appendJSON = %s\nencoding/json  %s", got, want)
		}
	}
}
