// Package rps is the rules of rock-paper-scissors, first to 2 round wins, as
// PROTOCOL.md describes them. Both seats choose at once; a choice stays
// hidden from everyone but its maker until both have chosen and the round is
// revealed. Tied rounds are replayed; after 9 rounds the higher score wins
// and equal scores draw.
//
// The wire state is
//
//	{"round": n, "score": [a, b], "chosen": [bool, bool], "mine": choice|null,
//	 "rounds": [{"choices": [c0, c1], "winner": seat|null}, ...]}
//
// While the game runs, round is the open round, counted from 1. Once it is
// over no round is open, and round stays at the number of the last round
// played (so it equals len(rounds)) with chosen [false, false].
package rps

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/turnbase/turnbase/game"
)

// ReasonRounds is the wire reason of every game that ends by its rules.
const ReasonRounds = "rounds"

const (
	winsNeeded = 2 // round wins that end the game
	maxRounds  = 9 // rounds played at most, ties included
)

// Game is rock-paper-scissors. The zero value is ready to register.
type Game struct{}

// ID returns "rps".
func (Game) ID() string { return "rps" }

// Name returns "Rock paper scissors".
func (Game) Name() string { return "Rock paper scissors" }

// Players returns 2.
func (Game) Players() int { return 2 }

// Start returns the state before any choice: round 1 open, no score.
func (Game) Start() game.State { return &State{} }

// Choice is a hand, spelled as on the wire. The empty Choice is no choice.
type Choice string

// The three hands.
const (
	Rock     Choice = "rock"
	Paper    Choice = "paper"
	Scissors Choice = "scissors"
)

// UnmarshalText decodes a wire name, without allocating for the three
// hands. Any other string decodes to itself, so that Apply can refuse it as
// an illegal move rather than a malformed one.
func (c *Choice) UnmarshalText(b []byte) error {
	switch string(b) {
	case string(Rock):
		*c = Rock
	case string(Paper):
		*c = Paper
	case string(Scissors):
		*c = Scissors
	default:
		*c = Choice(b)
	}
	return nil
}

func (c Choice) valid() bool { return c == Rock || c == Paper || c == Scissors }

// beats reports whether c wins against d.
func (c Choice) beats(d Choice) bool {
	return c == Rock && d == Scissors || c == Paper && d == Rock || c == Scissors && d == Paper
}

// round is one revealed round, already in its wire shape so that View can
// hand the history out without copying it. Immutable once built.
type round struct {
	Choices [2]Choice `json:"choices"`
	Winner  *int      `json:"winner"` // the winning seat; nil for a tie
}

// State is one position. It is immutable: Apply returns a new State and
// leaves its receiver alone. States share their round history, so rounds is
// never written in place; Apply appends to a copy. The zero State is the
// start.
type State struct {
	rounds []round   // revealed rounds, oldest first; shared, read-only
	score  [2]int    // rounds won by each seat
	hand   [2]Choice // the open round's hidden choices; "" until made
}

// Apply returns the state after seat makes a choice, a JSON
// {"choice": "rock"|"paper"|"scissors"}. The second choice of a round
// reveals it. Checks run from cheap to dear: a finished game (ErrGameOver),
// a seat that is not 0 or 1 (ErrNotYourTurn), a seat that already chose in
// the open round (ErrIllegalMove), then decoding (ErrBadMove: not JSON, not
// an object, "choice" missing, empty or not a string), then the hand
// (ErrIllegalMove for any other string).
func (s *State) Apply(seat int, move json.RawMessage) (game.State, error) {
	if s.over() {
		return nil, game.ErrGameOver
	}
	if seat != 0 && seat != 1 {
		return nil, fmt.Errorf("%w: no seat %d", game.ErrNotYourTurn, seat)
	}
	if s.hand[seat] != "" {
		return nil, fmt.Errorf("%w: seat %d already chose in round %d", game.ErrIllegalMove, seat, s.round())
	}
	choice, err := parseChoice(move)
	if err != nil {
		return nil, err
	}
	if !choice.valid() {
		return nil, fmt.Errorf("%w: unknown choice %q", game.ErrIllegalMove, choice)
	}

	next := *s
	next.hand[seat] = choice
	if next.hand[1-seat] == "" {
		return &next, nil // the round stays open
	}
	r := round{Choices: next.hand}
	if w := winner(next.hand); w != game.NoSeat {
		r.Winner = &w
		next.score[w]++
	}
	// The three-index slice caps the shared history at its length, so append
	// copies it instead of writing into an array another State may share.
	n := len(s.rounds)
	next.rounds = append(s.rounds[:n:n], r)
	next.hand = [2]Choice{}
	return &next, nil
}

// ParseMove returns the canonical form of a move, {"choice":"..."}. Any
// non-empty string parses: an unknown hand is Apply's illegal move.
func (Game) ParseMove(move json.RawMessage) (json.RawMessage, error) {
	c, err := parseChoice(move)
	if err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, len(`{"choice":"scissors"}`)), `{"choice":`...)
	b = game.AppendString(b, string(c))
	return append(b, '}'), nil
}

// PublicMoves returns how many moves belong to closed rounds. A round is
// one choice per seat, in either order, and closes when both have chosen
// (a tied round closes too, and the next is played). The moves after the
// last closed round are the open round's choices, hidden from everyone
// but their maker; a round that a resign or a timeout left open was never
// revealed, so that holds once the match is over too.
func (Game) PublicMoves(moves []game.Move, _ bool) int {
	public := 0
	var chosen [2]bool
	for i, mv := range moves {
		if mv.Seat == 0 || mv.Seat == 1 {
			chosen[mv.Seat] = true
		}
		if chosen[0] && chosen[1] {
			public, chosen = i+1, [2]bool{}
		}
	}
	return public
}

var moveKeys = []string{"choice"}

// parseChoice returns the choice of a move, decoded by game.DecodeObject,
// or ErrBadMove. The compact forms clients send are matched directly: they
// are strictly valid and give what the decoder gives.
func parseChoice(move json.RawMessage) (Choice, error) {
	switch string(move) {
	case `{"choice":"rock"}`:
		return Rock, nil
	case `{"choice":"paper"}`:
		return Paper, nil
	case `{"choice":"scissors"}`:
		return Scissors, nil
	}
	var c Choice
	err := game.DecodeObject(move, moveKeys, func(key string, v json.Token) error {
		s, err := game.StringValue(key, v)
		if err != nil {
			return err
		}
		return c.UnmarshalText([]byte(s))
	})
	if err != nil {
		return "", err
	}
	if c == "" {
		return "", fmt.Errorf(`%w: want {"choice": "rock"|"paper"|"scissors"}`, game.ErrBadMove)
	}
	return c, nil
}

// winner returns the seat whose hand beats the other's, or game.NoSeat.
func winner(hand [2]Choice) int {
	switch {
	case hand[0].beats(hand[1]):
		return 0
	case hand[1].beats(hand[0]):
		return 1
	}
	return game.NoSeat
}

func (s *State) over() bool {
	return s.score[0] >= winsNeeded || s.score[1] >= winsNeeded || len(s.rounds) >= maxRounds
}

// round returns the wire round: the open one, or the last one played once
// the game is over.
func (s *State) round() int {
	if s.over() {
		return len(s.rounds)
	}
	return len(s.rounds) + 1
}

// Turn returns game.NoSeat: both seats choose at once.
func (s *State) Turn() int { return game.NoSeat }

// Awaiting reports whether seat has yet to choose in the open round.
func (s *State) Awaiting(seat int) bool {
	return (seat == 0 || seat == 1) && !s.over() && s.hand[seat] == ""
}

// Phase returns the number of revealed rounds, so that each round gets its
// own deadline.
func (s *State) Phase() int { return len(s.rounds) }

// Outcome returns the result: the first to win two rounds, or after nine
// rounds the higher score; equal scores draw.
func (s *State) Outcome() game.Outcome {
	if !s.over() {
		return game.Outcome{Winner: game.NoSeat}
	}
	o := game.Outcome{Done: true, Winner: game.NoSeat, Reason: ReasonRounds}
	switch {
	case s.score[0] > s.score[1]:
		o.Winner = 0
	case s.score[1] > s.score[0]:
		o.Winner = 1
	}
	return o
}

// view is the wire state as one viewer may see it.
type view struct {
	Round  int     `json:"round"`
	Score  [2]int  `json:"score"`
	Chosen [2]bool `json:"chosen"`
	Mine   *Choice `json:"mine"`   // the viewer's own hidden choice, else nil
	Rounds []round `json:"rounds"` // the state's own history: read-only
}

// View returns the state as viewer sees it. Only a seat's own choice in the
// open round is shown, and only to that seat; everyone else learns only
// that it was made.
func (s *State) View(viewer int) any {
	v := view{
		Round:  s.round(),
		Score:  s.score,
		Chosen: [2]bool{s.hand[0] != "", s.hand[1] != ""},
		Rounds: s.rounds,
	}
	if v.Rounds == nil {
		v.Rounds = []round{} // the wire wants [], not null
	}
	v.Mine = s.mine(viewer)
	return v
}

// mine returns viewer's own choice in the open round, or nil: it points
// into the immutable state.
func (s *State) mine(viewer int) *Choice {
	if (viewer == 0 || viewer == 1) && s.hand[viewer] != "" {
		return &s.hand[viewer]
	}
	return nil
}

// AppendView appends the JSON of View(viewer), field for field.
func (s *State) AppendView(dst []byte, viewer int) []byte {
	dst = append(dst, `{"round":`...)
	dst = strconv.AppendInt(dst, int64(s.round()), 10)
	dst = append(dst, `,"score":[`...)
	dst = strconv.AppendInt(dst, int64(s.score[0]), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(s.score[1]), 10)
	dst = append(dst, `],"chosen":[`...)
	dst = strconv.AppendBool(dst, s.hand[0] != "")
	dst = append(dst, ',')
	dst = strconv.AppendBool(dst, s.hand[1] != "")
	dst = append(dst, `],"mine":`...)
	dst = appendChoice(dst, s.mine(viewer))
	dst = append(dst, `,"rounds":[`...)
	for i, r := range s.rounds {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"choices":[`...)
		dst = appendChoice(dst, &r.Choices[0])
		dst = append(dst, ',')
		dst = appendChoice(dst, &r.Choices[1])
		dst = append(dst, `],"winner":`...)
		if r.Winner == nil {
			dst = append(dst, "null"...)
		} else {
			dst = strconv.AppendInt(dst, int64(*r.Winner), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendChoice appends c as a JSON string, or null for nil.
func appendChoice(dst []byte, c *Choice) []byte {
	if c == nil {
		return append(dst, "null"...)
	}
	return game.AppendString(dst, string(*c))
}

// RandomMove returns a random hand when view, the wire state, shows seat
// yet to choose in a game not yet over.
func (Game) RandomMove(view json.RawMessage, seat int, r *rand.Rand) (json.RawMessage, bool) {
	v, ok := parseView(view)
	if !ok || seat != 0 && seat != 1 || v.Chosen[seat] || v.over() {
		return nil, false
	}
	hands := [...]string{`{"choice":"rock"}`, `{"choice":"paper"}`, `{"choice":"scissors"}`}
	return json.RawMessage(hands[r.IntN(len(hands))]), true
}

// MovesMade returns seat's choices: one per revealed round, and one more
// if seat has chosen in the open round.
func (Game) MovesMade(view json.RawMessage, seat int) int {
	v, ok := parseView(view)
	if !ok || seat != 0 && seat != 1 {
		return 0
	}
	n := len(v.Rounds)
	if v.Chosen[seat] {
		n++
	}
	return n
}

// wireView is the part of the wire state a client needs to play.
type wireView struct {
	Score  [2]int            `json:"score"`
	Chosen [2]bool           `json:"chosen"`
	Rounds []json.RawMessage `json:"rounds"`
}

func parseView(b json.RawMessage) (wireView, bool) {
	var v wireView
	err := json.Unmarshal(b, &v)
	return v, err == nil
}

func (v wireView) over() bool {
	return v.Score[0] >= winsNeeded || v.Score[1] >= winsNeeded || len(v.Rounds) >= maxRounds
}
