package tictactoe_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/gametest"
	"github.com/turnbase/turnbase/game/tictactoe"
)

// update rewrites the golden files in testdata/ instead of comparing to them.
var update = flag.Bool("update", false, "rewrite testdata/*.json golden files")

// wire is the wire state, decoded independently of the package's own type.
type wire struct {
	Board [9]string `json:"board"`
	Moves int       `json:"moves"`
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

func decode(t testing.TB, s game.State) wire {
	t.Helper()
	var w wire
	if err := json.Unmarshal(encode(t, s, game.Spectator), &w); err != nil {
		t.Fatalf("decode view: %v", err)
	}
	return w
}

func cellMove(c int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"cell":%d}`, c)) }

// play applies cells in turn, X first, and fails the test on any error.
func play(t testing.TB, cells ...int) game.State {
	t.Helper()
	s := tictactoe.Game{}.Start()
	for i, c := range cells {
		next, err := s.Apply(i%2, cellMove(c))
		if err != nil {
			t.Fatalf("move %d (cell %d): %v", i+1, c, err)
		}
		s = next
	}
	return s
}

// owner is the independent win check: it walks the eight lines by (row,
// column) coordinates and returns the mark that fills one, "" if none does,
// or "XO" if both do (never in a reachable position).
func owner(board [9]string) string {
	at := func(p [2]int) string { return board[3*p[0]+p[1]] }
	var lines [][3][2]int
	for i := range 3 {
		lines = append(lines,
			[3][2]int{{i, 0}, {i, 1}, {i, 2}}, // row i
			[3][2]int{{0, i}, {1, i}, {2, i}}, // column i
		)
	}
	lines = append(lines,
		[3][2]int{{0, 0}, {1, 1}, {2, 2}},
		[3][2]int{{0, 2}, {1, 1}, {2, 0}},
	)
	won := ""
	for _, l := range lines {
		if m := at(l[0]); m != "" && at(l[1]) == m && at(l[2]) == m && won != m {
			won += m
		}
	}
	return won
}

// checkState checks everything a position must satisfy against the
// independent rules above, and returns its decoded wire state.
func checkState(t testing.TB, s game.State) wire {
	t.Helper()
	w := decode(t, s)
	var nx, no int
	for i, m := range w.Board {
		switch m {
		case "X":
			nx++
		case "O":
			no++
		case "":
		default:
			t.Fatalf("board %q: cell %d holds %q", w.Board, i, m)
		}
	}
	if d := nx - no; d != 0 && d != 1 {
		t.Fatalf("board %q: %d X and %d O", w.Board, nx, no)
	}
	if w.Moves != nx+no || s.Phase() != nx+no {
		t.Fatalf("board %q: moves %d, phase %d, want %d", w.Board, w.Moves, s.Phase(), nx+no)
	}

	want := game.Outcome{Winner: game.NoSeat}
	switch owner(w.Board) {
	case "X":
		want = game.Outcome{Done: true, Winner: 0, Reason: "line"}
	case "O":
		want = game.Outcome{Done: true, Winner: 1, Reason: "line"}
	case "":
		if nx+no == 9 {
			want = game.Outcome{Done: true, Winner: game.NoSeat, Reason: "board_full"}
		}
	default:
		t.Fatalf("board %q: both marks own a line", w.Board)
	}
	if got := s.Outcome(); got != want {
		t.Fatalf("board %q: outcome %+v, want %+v", w.Board, got, want)
	}

	turn := game.NoSeat
	if !want.Done {
		turn = nx - no // X (seat 0) when the counts are equal
	}
	if got := s.Turn(); got != turn {
		t.Fatalf("board %q: turn %d, want %d", w.Board, got, turn)
	}
	for seat := -1; seat <= 2; seat++ {
		if got := s.Awaiting(seat); got != (seat == turn && turn != game.NoSeat) {
			t.Fatalf("board %q: awaiting(%d) = %v with turn %d", w.Board, seat, got, turn)
		}
	}
	return w
}

// wrapsOnly reports whether err wraps target and none of the other sentinels.
func wrapsOnly(err, target error) bool {
	for _, e := range []error{game.ErrNotYourTurn, game.ErrIllegalMove, game.ErrBadMove, game.ErrGameOver} {
		if errors.Is(err, e) != (e == target) {
			return false
		}
	}
	return true
}

// wantErr fails unless err wraps target and none of the other sentinels.
func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !wrapsOnly(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// checkRefusals tries every refused move in s and checks the error and that
// s is unchanged.
func checkRefusals(t testing.TB, s game.State, w wire) {
	t.Helper()
	before := encode(t, s, game.Spectator)
	refuse := func(seat, cell int, target error) {
		t.Helper()
		next, err := s.Apply(seat, cellMove(cell))
		if next != nil || !wrapsOnly(err, target) {
			t.Fatalf("board %q: seat %d cell %d: state %v, error %v, want %v", w.Board, seat, cell, next, err, target)
		}
	}
	turn := s.Turn()
	for c := -1; c <= 9; c++ {
		for seat := -1; seat <= 2; seat++ {
			switch {
			case turn == game.NoSeat:
				refuse(seat, c, game.ErrGameOver)
			case seat != turn:
				refuse(seat, c, game.ErrNotYourTurn)
			case c < 0 || c > 8 || w.Board[c] != "":
				refuse(seat, c, game.ErrIllegalMove)
			}
		}
	}
	if after := encode(t, s, game.Spectator); !bytes.Equal(before, after) {
		t.Fatalf("refused moves changed the state: %s, then %s", before, after)
	}
}

func TestReachablePositions(t *testing.T) {
	seen := make(map[[9]string]bool)
	ends := make(map[string]int) // by winner mark, "" for a draw
	var walk func(s game.State)
	walk = func(s game.State) {
		w := checkState(t, s)
		if seen[w.Board] {
			return
		}
		seen[w.Board] = true
		checkRefusals(t, s, w)
		if s.Outcome().Done {
			ends[owner(w.Board)]++
			return
		}
		before := encode(t, s, game.Spectator)
		for c, m := range w.Board {
			if m != "" {
				continue
			}
			next, err := s.Apply(s.Turn(), cellMove(c))
			if err != nil {
				t.Fatalf("board %q: cell %d: %v", w.Board, c, err)
			}
			nw := decode(t, next)
			want := w.Board
			want[c] = [2]string{"X", "O"}[s.Turn()]
			if nw.Board != want {
				t.Fatalf("board %q, cell %d: got %q, want %q", w.Board, c, nw.Board, want)
			}
			walk(next)
		}
		if after := encode(t, s, game.Spectator); !bytes.Equal(before, after) {
			t.Fatalf("Apply changed its receiver: %s, then %s", before, after)
		}
	}
	walk(tictactoe.Game{}.Start())

	// 5,478 positions, of which 958 end the game: 626 won by X, 316 by O
	// and 16 drawn.
	if len(seen) != 5478 {
		t.Errorf("reached %d positions, want 5478", len(seen))
	}
	want := map[string]int{"X": 626, "O": 316, "": 16}
	for k, n := range want {
		if ends[k] != n {
			t.Errorf("%d final positions with winner %q, want %d", ends[k], k, n)
		}
	}
}

func TestTurnsAlternate(t *testing.T) {
	s := tictactoe.Game{}.Start()
	// A full game that ends in a draw: X O X / X O O / O X X.
	for i, c := range []int{0, 1, 2, 4, 3, 5, 7, 6, 8} {
		if got := s.Turn(); got != i%2 {
			t.Fatalf("before move %d: turn %d, want %d", i+1, got, i%2)
		}
		if got := s.Phase(); got != i {
			t.Fatalf("before move %d: phase %d, want %d", i+1, got, i)
		}
		next, err := s.Apply(i%2, cellMove(c))
		if err != nil {
			t.Fatalf("move %d: %v", i+1, err)
		}
		s = next
	}
	want := game.Outcome{Done: true, Winner: game.NoSeat, Reason: tictactoe.ReasonBoardFull}
	if got := s.Outcome(); got != want {
		t.Fatalf("outcome %+v, want %+v", got, want)
	}
	if got := s.Turn(); got != game.NoSeat {
		t.Fatalf("turn after the end: %d", got)
	}
}

func TestWinOnLastMove(t *testing.T) {
	// X completes the 2-4-6 diagonal on the ninth move: a line, not a draw.
	s := play(t, 2, 0, 4, 1, 3, 5, 7, 8, 6)
	want := game.Outcome{Done: true, Winner: 0, Reason: tictactoe.ReasonLine}
	if got := s.Outcome(); got != want {
		t.Fatalf("outcome %+v, want %+v", got, want)
	}
}

func TestMalformedMoves(t *testing.T) {
	tests := map[string]struct {
		move string
		want error // nil: accepted
	}{
		"string cell":      {`{"cell":"a"}`, game.ErrBadMove},
		"quoted number":    {`{"cell":"4"}`, game.ErrBadMove},
		"empty object":     {`{}`, game.ErrBadMove},
		"null":             {`null`, game.ErrBadMove},
		"null cell":        {`{"cell":null}`, game.ErrBadMove},
		"fraction":         {`{"cell":1.5}`, game.ErrBadMove},
		"exponent":         {`{"cell":4e0}`, game.ErrBadMove},
		"bool cell":        {`{"cell":true}`, game.ErrBadMove},
		"array":            {`[4]`, game.ErrBadMove},
		"bare number":      {`4`, game.ErrBadMove},
		"empty":            {``, game.ErrBadMove},
		"not json":         {`cell=4`, game.ErrBadMove},
		"trailing garbage": {`{"cell":4}x`, game.ErrBadMove},
		"overflow":         {`{"cell":99999999999999999999}`, game.ErrBadMove},
		"wrong field":      {`{"choice":"rock"}`, game.ErrBadMove},
		"minus one":        {`{"cell":-1}`, game.ErrIllegalMove},
		"nine":             {`{"cell":9}`, game.ErrIllegalMove},
		"huge":             {`{"cell":9223372036854775807}`, game.ErrIllegalMove},
		"tiny":             {`{"cell":-9223372036854775808}`, game.ErrIllegalMove},
		"taken":            {`{"cell":0}`, game.ErrIllegalMove},
		"plain":            {`{"cell":4}`, nil},
		"spaces":           {` { "cell" : 4 } `, nil},
		"extra field":      {`{"cell":4,"note":"hi"}`, game.ErrBadMove},
		"case variant":     {`{"cell":8,"CELL":4}`, game.ErrBadMove},
		"key in caps":      {`{"Cell":4}`, game.ErrBadMove},
		"duplicate":        {`{"cell":4,"cell":4}`, game.ErrBadMove},
		"huge exponent":    {`{"cell":1e1000000}`, game.ErrBadMove},
		"negative zero ok": {`{"cell":-0}`, game.ErrIllegalMove}, // -0 is 0, taken
		"nested":           {`{"cell":{"n":4}}`, game.ErrBadMove},
		"nul byte":         {"{\"cell\":4}\x00", game.ErrBadMove},
		"invalid utf8":     {"{\"cell\":4,\"\xff\":1}", game.ErrBadMove},
		"two objects":      {`{"cell":4}{"cell":5}`, game.ErrBadMove},
		"unclosed":         {`{"cell":4`, game.ErrBadMove},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := play(t, 0) // X took cell 0; O to move
			next, err := s.Apply(1, json.RawMessage(tt.move))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Apply(%s): %v", tt.move, err)
				}
				if got := decode(t, next).Board[4]; got != "O" {
					t.Fatalf("cell 4 holds %q, want O", got)
				}
				return
			}
			if next != nil {
				t.Fatalf("Apply(%s) returned a state", tt.move)
			}
			wantErr(t, err, tt.want, tt.move)
		})
	}
}

func TestGolden(t *testing.T) {
	tests := map[string][]int{
		"start":      nil,
		"midgame":    {4, 0, 8},
		"x_wins":     {0, 3, 1, 4, 2},
		"o_wins":     {0, 2, 1, 4, 8, 6},
		"board_full": {0, 1, 2, 4, 3, 5, 7, 6, 8},
	}
	for name, cells := range tests {
		t.Run(name, func(t *testing.T) {
			s := play(t, cells...)
			got := encode(t, s, game.Spectator)
			for _, viewer := range []int{0, 1} {
				if v := encode(t, s, viewer); !bytes.Equal(v, got) {
					t.Errorf("seat %d sees %s, spectators %s", viewer, v, got)
				}
			}
			golden(t, filepath.Join("testdata", name+".json"), append(got, '\n'))
		})
	}
}

// golden compares got with the file at path, or rewrites it under -update.
// TestAppendView: the fast path writes exactly what encoding/json writes,
// in every reachable position, for every viewer.
func TestAppendView(t *testing.T) {
	seen := make(map[string]bool)
	var walk func(s game.State)
	walk = func(s game.State) {
		key := string(encode(t, s, game.Spectator)) // encode compares both encoders
		if seen[key] {
			return
		}
		seen[key] = true
		for _, viewer := range []int{0, 1, game.Spectator} {
			encode(t, s, viewer)
		}
		for c := range 9 {
			if next, err := s.Apply(s.Turn(), cellMove(c)); err == nil {
				walk(next)
			}
		}
	}
	walk(tictactoe.Game{}.Start())
	if len(seen) != 5478 {
		t.Errorf("compared %d positions, want 5478", len(seen))
	}
}

// TestCompactMoves: the compact moves Apply reads directly give what
// encoding/json gives (a leading space forces that path).
func TestCompactMoves(t *testing.T) {
	for _, s := range []game.State{play(t), play(t, 4), play(t, 4, 0, 8)} {
		for seat := range 2 {
			for d := range 10 {
				compact := fmt.Sprintf(`{"cell":%d}`, d)
				a, errA := s.Apply(seat, json.RawMessage(compact))
				b, errB := s.Apply(seat, json.RawMessage(" "+compact))
				if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() ||
					errA == nil && !bytes.Equal(encode(t, a, 0), encode(t, b, 0)) {
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
		t.Errorf("%s differs:\ngot  %s\nwant %s", path, got, want)
	}
}

// A FuzzApply script is a list of steps. Each step starts with a byte whose
// low two bits are the seat plus one (so -1..2). If its bit 2 is set, the
// next byte picks a cell from -1 to 9 and the move is {"cell":n}: that walks
// the fuzzer deep into games. Otherwise the next byte is a length and that
// many bytes are the raw move: that exercises decoding.

// nextStep decodes the first step of script and returns the rest.
func nextStep(script []byte) (seat int, move json.RawMessage, rest []byte) {
	seat = int(script[0]&3) - 1
	if script[0]&4 != 0 {
		return seat, cellMove(int(script[1]%11) - 1), script[2:]
	}
	n := min(int(script[1]), len(script)-2)
	return seat, json.RawMessage(script[2 : 2+n]), script[2+n:]
}

// rawStep encodes a raw step; cellStep a cell step.
func rawStep(seat int, move string) []byte {
	return append([]byte{byte(seat + 1), byte(len(move))}, move...)
}

func cellStep(seat, cell int) []byte { return []byte{byte(seat+1) | 4, byte(cell + 1)} }

func FuzzApply(f *testing.F) {
	var game1, game2, game3 []byte
	for i, c := range []int{4, 0, 8, 2, 1, 7, 6, 3, 5} {
		game1 = append(game1, rawStep(i%2, fmt.Sprintf(`{"cell":%d}`, c))...)
		game3 = append(game3, cellStep(i%2, c)...)
	}
	for i, c := range []int{0, 3, 1, 4, 2, 5} { // X wins, then O plays on
		game2 = append(game2, rawStep(i%2, fmt.Sprintf(`{"cell": %d}`, c))...)
	}
	f.Add(game1)
	f.Add(game2)
	f.Add(game3)
	f.Add(append(cellStep(0, 4), cellStep(1, 4)...))
	f.Add(append(cellStep(-1, 9), cellStep(2, -1)...))
	f.Add(append(rawStep(1, `{"cell":4}`), rawStep(0, `{"cell":4}`)...))
	f.Add(append(rawStep(0, `{"cell":"4"}`), rawStep(0, `{}`)...))

	f.Fuzz(func(t *testing.T, script []byte) {
		s := tictactoe.Game{}.Start()
		before, beforeJSON := checkState(t, s), encode(t, s, game.Spectator) // checked once per state
		for len(script) >= 2 {
			var seat int
			var move json.RawMessage
			seat, move, script = nextStep(script)

			next, err := s.Apply(seat, move)
			if after := encode(t, s, game.Spectator); !bytes.Equal(beforeJSON, after) {
				t.Fatalf("Apply(%d, %q) changed its receiver: %s, then %s", seat, move, beforeJSON, after)
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
			if seat != before.Moves%2 || s.Outcome().Done {
				t.Fatalf("Apply(%d, %q) accepted in %q", seat, move, before.Board)
			}
			after := checkState(t, next)
			changed := 0
			for i := range after.Board {
				if after.Board[i] != before.Board[i] {
					changed++
					if before.Board[i] != "" || after.Board[i] != [2]string{"X", "O"}[seat] {
						t.Fatalf("Apply(%d, %q): cell %d went from %q to %q", seat, move, i, before.Board[i], after.Board[i])
					}
				}
			}
			if changed != 1 || after.Moves != before.Moves+1 {
				t.Fatalf("Apply(%d, %q): %q became %q", seat, move, before.Board, after.Board)
			}
			s, before, beforeJSON = next, after, encode(t, next, game.Spectator)
		}
	})
}

func BenchmarkApply(b *testing.B) {
	s := play(b, 4, 0, 8)
	move := json.RawMessage(`{"cell":2}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Apply(1, move); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkViewEncode(b *testing.B) {
	s := play(b, 4, 0, 8, 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(s.View(0)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendView(b *testing.B) {
	s := play(b, 4, 0, 8, 2).(game.ViewAppender)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendView(buf[:0], 0)
	}
}

func TestParseMove(t *testing.T) {
	tests := map[string]struct {
		move string
		want string // "": an error wrapping ErrBadMove
	}{
		"compact":      {`{"cell":4}`, `{"cell":4}`},
		"spaced":       {` { "cell" : 4 } `, `{"cell":4}`},
		"escaped key":  {`{"c\u0065ll":7}`, `{"cell":7}`},
		"off board":    {`{"cell":12}`, `{"cell":12}`}, // Apply's illegal move
		"negative":     {`{"cell":-1}`, `{"cell":-1}`},
		"minus zero":   {`{"cell":-0}`, `{"cell":0}`},
		"extra key":    {`{"cell":4,"note":"hi"}`, ""},
		"case variant": {`{"cell":8,"CELL":4}`, ""},
		"duplicate":    {`{"cell":8,"cell":8}`, ""},
		"huge":         {`{"cell":1e1000000}`, ""},
		"fraction":     {`{"cell":4.0}`, ""},
		"overflow":     {`{"cell":99999999999999999999}`, ""},
		"string":       {`{"cell":"4"}`, ""},
		"missing":      {`{}`, ""},
		"nul":          {"{\"cell\":4}\x00", ""},
		"invalid utf8": {"{\"cell\":4,\"\xff\":0}", ""},
		"trailing":     {`{"cell":4} 5`, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tictactoe.Game{}.ParseMove(json.RawMessage(tt.move))
			if tt.want == "" {
				if got != nil || !errors.Is(err, game.ErrBadMove) {
					t.Fatalf("ParseMove(%q) = %s, %v; want ErrBadMove", tt.move, got, err)
				}
				gametest.CheckMessage(t, err)
			} else if err != nil || string(got) != tt.want {
				t.Fatalf("ParseMove(%q) = %s, %v; want %s", tt.move, got, err, tt.want)
			}
			gametest.CheckParseMove(t, tictactoe.Game{}, play(t, 0), 1, json.RawMessage(tt.move))
		})
	}
}

func FuzzParseMove(f *testing.F) {
	for _, s := range []string{
		`{"cell":4}`, ` {"cell" : 4}`, `{"cell":4,"CELL":4}`, `{"cell":1e1000000}`, `{"cell":-0}`,
		`{"cell":"4"}`, "{\"cell\":4}\x00", `{"cell":4}{}`, `{"\u0063ell":3}`, `{"cell":9}`,
	} {
		f.Add(s)
	}
	states := []game.State{play(f), play(f, 0), play(f, 4, 0, 8)}
	f.Fuzz(func(t *testing.T, move string) {
		for _, s := range states {
			gametest.CheckParseMove(t, tictactoe.Game{}, s, s.Turn(), json.RawMessage(move))
		}
	})
}

func TestPublicMoves(t *testing.T) {
	mv := func(seats ...int) []game.Move {
		var out []game.Move
		for _, s := range seats {
			out = append(out, game.Move{Seat: s, Move: json.RawMessage(`{"cell":0}`)})
		}
		return out
	}
	tests := map[string]struct {
		moves []game.Move
		over  bool
	}{
		"none":  {nil, false},
		"live":  {mv(0, 1, 0), false},
		"ended": {mv(0, 1, 0, 1, 0), true},
	}
	for name, tt := range tests {
		if got := (tictactoe.Game{}).PublicMoves(tt.moves, tt.over); got != len(tt.moves) {
			t.Errorf("%s: %d public moves, want all %d", name, got, len(tt.moves))
		}
	}
}

// TestRandomPlay plays random games through RandomMove from the wire states
// and checks each end against the independent win check.
func TestRandomPlay(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	ends := make(map[string]int)
	for range 300 {
		_, s := gametest.RandomGame(t, tictactoe.Game{}, r)
		w := checkState(t, s)
		ends[owner(w.Board)]++
	}
	for _, k := range []string{"X", "O", ""} {
		if ends[k] == 0 {
			t.Errorf("300 random games and no end with winner %q: %v", k, ends)
		}
	}
}

func TestRandomMoveViews(t *testing.T) {
	tests := map[string]struct {
		view  string
		owes  [2]bool
		made  [2]int
		cells []int // the legal cells, for the seat that owes
	}{
		"start":      {`{"board":["","","","","","","","",""],"moves":0}`, [2]bool{true, false}, [2]int{0, 0}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		"o to move":  {`{"board":["X","","","","","","","",""],"moves":1}`, [2]bool{false, true}, [2]int{1, 0}, []int{1, 2, 3, 4, 5, 6, 7, 8}},
		"one left":   {`{"board":["X","O","X","X","O","O","O","X",""],"moves":8}`, [2]bool{true, false}, [2]int{4, 4}, []int{8}},
		"x won":      {`{"board":["X","X","X","O","O","","","",""],"moves":5}`, [2]bool{false, false}, [2]int{3, 2}, nil},
		"o won":      {`{"board":["O","O","O","X","X","","X","",""],"moves":6}`, [2]bool{false, false}, [2]int{3, 3}, nil},
		"board full": {`{"board":["X","O","X","X","O","O","O","X","X"],"moves":9}`, [2]bool{false, false}, [2]int{5, 4}, nil},
		"not json":   {`{"board":`, [2]bool{false, false}, [2]int{0, 0}, nil},
		"bad mark":   {`{"board":["Z","","","","","","","",""],"moves":1}`, [2]bool{false, false}, [2]int{0, 0}, nil},
		"bad counts": {`{"board":["X","X","","","","","","",""],"moves":2}`, [2]bool{false, false}, [2]int{0, 0}, nil},
	}
	g := tictactoe.Game{}
	r := rand.New(rand.NewPCG(1, 2))
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			v := json.RawMessage(tt.view)
			for seat := range 2 {
				if got := g.MovesMade(v, seat); got != tt.made[seat] {
					t.Errorf("MovesMade(seat %d) = %d, want %d", seat, got, tt.made[seat])
				}
				seen := make(map[int]bool)
				for range 200 {
					mv, ok := g.RandomMove(v, seat, r)
					if ok != tt.owes[seat] {
						t.Fatalf("RandomMove(seat %d) = %s, %v; want owed %v", seat, mv, ok, tt.owes[seat])
					}
					if !ok {
						break
					}
					var m struct{ Cell int }
					if err := json.Unmarshal(mv, &m); err != nil {
						t.Fatal(err)
					}
					seen[m.Cell] = true
				}
				if tt.owes[seat] && len(seen) != len(tt.cells) {
					t.Errorf("seat %d: random cells %v, want each of %v", seat, seen, tt.cells)
				}
				for c := range seen {
					if !slices.Contains(tt.cells, c) {
						t.Errorf("seat %d: cell %d offered, legal are %v", seat, c, tt.cells)
					}
				}
			}
			gametest.CheckViewNoise(t, g, v)
		})
	}
}
