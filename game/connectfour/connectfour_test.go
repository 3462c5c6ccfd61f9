package connectfour_test

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
	"strings"
	"testing"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/connectfour"
	"github.com/turnbase/turnbase/game/gametest"
)

// update rewrites the golden files in testdata/ instead of comparing to them.
var update = flag.Bool("update", false, "rewrite testdata/*.json golden files")

// wire is the wire state, decoded independently of the package's own type.
type wire struct {
	Board [42]string `json:"board"`
	Moves int        `json:"moves"`
}

// at returns the cell at (row, col), rows counted from the top.
func (w wire) at(row, col int) string { return w.Board[row*7+col] }

// encode returns the JSON of s as viewer sees it, and checks that the fast
// path writes the same bytes, after whatever precedes it.
func encode(t testing.TB, s game.State, viewer int) []byte {
	t.Helper()
	b, err := json.Marshal(s.View(viewer))
	if err != nil {
		t.Fatalf("encode view: %v", err)
	}
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

func colMove(c int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"column":%d}`, c)) }

// play drops pieces in the columns given, red first, and fails the test
// on any error.
func play(t testing.TB, cols ...int) game.State {
	t.Helper()
	s := connectfour.Game{}.Start()
	for i, c := range cols {
		next, err := s.Apply(i%2, colMove(c))
		if err != nil {
			t.Fatalf("move %d (column %d): %v", i+1, c, err)
		}
		s = next
	}
	return s
}

// drawn is a whole game that fills the board without four in a row.
var drawn = []int{4, 3, 6, 0, 1, 4, 5, 5, 1, 1, 5, 0, 1, 6, 0, 1, 5, 5, 1, 0, 4, 6, 3, 2, 6, 6, 0, 4, 6, 5, 2, 0, 4, 2, 4, 2, 2, 2, 3, 3, 3, 3}

// yellowFalling ends with yellow's four down to the right.
var yellowFalling = []int{1, 6, 6, 6, 2, 1, 5, 3, 1, 4, 6, 1, 4, 3, 2, 2}

// windows lists every set of four cells in a row, as (row, column) pairs:
// the independent win check tries them all, where the rules only walk out
// from the last move.
var windows = func() [][4][2]int {
	var ws [][4][2]int
	for r := range 6 {
		for c := range 7 {
			for _, step := range [][2]int{{0, 1}, {1, 0}, {1, 1}, {-1, 1}} {
				var w [4][2]int
				inside := true
				for k := range 4 {
					w[k] = [2]int{r + k*step[0], c + k*step[1]}
					inside = inside && w[k][0] >= 0 && w[k][0] < 6 && w[k][1] < 7
				}
				if inside {
					ws = append(ws, w)
				}
			}
		}
	}
	return ws
}()

// fours returns the pieces that fill some window: "", "R", "Y", or "RY"
// if both do (never in a reachable position).
func fours(w wire) string {
	found := map[string]bool{}
	for _, win := range windows {
		p := w.at(win[0][0], win[0][1])
		if p != "" && w.at(win[1][0], win[1][1]) == p && w.at(win[2][0], win[2][1]) == p && w.at(win[3][0], win[3][1]) == p {
			found[p] = true
		}
	}
	out := ""
	for _, p := range []string{"R", "Y"} {
		if found[p] {
			out += p
		}
	}
	return out
}

func TestWindows(t *testing.T) {
	// 24 across, 21 up, 12 in each diagonal direction.
	if len(windows) != 69 {
		t.Fatalf("%d windows, want 69", len(windows))
	}
}

// checkState checks everything a position must satisfy against the
// independent rules above, and returns its decoded wire state.
func checkState(t testing.TB, s game.State) wire {
	t.Helper()
	w := decode(t, s)
	for _, viewer := range []int{0, 1} {
		if v := encode(t, s, viewer); !bytes.Equal(v, encode(t, s, game.Spectator)) {
			t.Fatalf("seat %d sees %s", viewer, v)
		}
	}
	var nr, ny int
	for row := range 6 {
		for col := range 7 {
			switch p := w.at(row, col); p {
			case "R":
				nr++
			case "Y":
				ny++
			case "":
				if row < 5 && w.at(row+1, col) == "" {
					continue
				}
				for above := range row {
					if w.at(above, col) != "" {
						t.Fatalf("board %q: a piece floats above (%d, %d)", w.Board, row, col)
					}
				}
			default:
				t.Fatalf("board %q: cell (%d, %d) holds %q", w.Board, row, col, p)
			}
			if row < 5 && w.at(row, col) != "" && w.at(row+1, col) == "" {
				t.Fatalf("board %q: the piece at (%d, %d) floats", w.Board, row, col)
			}
		}
	}
	if d := nr - ny; d != 0 && d != 1 {
		t.Fatalf("board %q: %d R and %d Y", w.Board, nr, ny)
	}
	if w.Moves != nr+ny || s.Phase() != nr+ny {
		t.Fatalf("board %q: moves %d, phase %d, want %d", w.Board, w.Moves, s.Phase(), nr+ny)
	}

	want := game.Outcome{Winner: game.NoSeat}
	switch fours(w) {
	case "R":
		want = game.Outcome{Done: true, Winner: 0, Reason: "line"}
	case "Y":
		want = game.Outcome{Done: true, Winner: 1, Reason: "line"}
	case "":
		if nr+ny == 42 {
			want = game.Outcome{Done: true, Winner: game.NoSeat, Reason: "board_full"}
		}
	default:
		t.Fatalf("board %q: both colours have four in a row", w.Board)
	}
	if got := s.Outcome(); got != want {
		t.Fatalf("board %q: outcome %+v, want %+v", w.Board, got, want)
	}
	turn := game.NoSeat
	if !want.Done {
		turn = nr - ny // red (seat 0) when the counts are equal
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

func TestOutcomes(t *testing.T) {
	tests := map[string]struct {
		cols []int
		want game.Outcome
	}{
		"start":            {nil, game.Outcome{Winner: game.NoSeat}},
		"three up":         {[]int{0, 1, 0, 1, 0, 1}, game.Outcome{Winner: game.NoSeat}},
		"red up":           {[]int{0, 1, 0, 1, 0, 1, 0}, game.Outcome{Done: true, Winner: 0, Reason: "line"}},
		"red across":       {[]int{0, 0, 1, 1, 2, 2, 3}, game.Outcome{Done: true, Winner: 0, Reason: "line"}},
		"yellow across":    {[]int{0, 3, 0, 4, 1, 5, 0, 6}, game.Outcome{Done: true, Winner: 1, Reason: "line"}},
		"two threes":       {[]int{0, 0, 1, 1, 2, 2}, game.Outcome{Winner: game.NoSeat}},
		"filled gap":       {[]int{6, 0, 3, 0, 5, 1, 4}, game.Outcome{Done: true, Winner: 0, Reason: "line"}},
		"five across":      {[]int{0, 0, 1, 1, 3, 3, 4, 6, 2}, game.Outcome{Done: true, Winner: 0, Reason: "line"}},
		"red rising":       {[]int{0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3}, game.Outcome{Done: true, Winner: 0, Reason: "line"}},
		"yellow falling":   {yellowFalling, game.Outcome{Done: true, Winner: 1, Reason: "line"}},
		"top right corner": {[]int{3, 1, 0, 6, 6, 0, 3, 4, 4, 1, 3, 0, 4, 6, 2, 6, 2, 5, 4, 6, 0, 2, 0, 6}, game.Outcome{Done: true, Winner: 1, Reason: "line"}},
		"board full":       {drawn, game.Outcome{Done: true, Winner: game.NoSeat, Reason: "board_full"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := play(t, tt.cols...)
			checkState(t, s) // against the independent check
			if got := s.Outcome(); got != tt.want {
				t.Fatalf("outcome %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGravity(t *testing.T) {
	s := play(t, 3, 3, 3, 0)
	w := decode(t, s)
	want := map[[2]int]string{{5, 3}: "R", {4, 3}: "Y", {3, 3}: "R", {5, 0}: "Y"}
	for row := range 6 {
		for col := range 7 {
			if got := w.at(row, col); got != want[[2]int{row, col}] {
				t.Errorf("(%d, %d) holds %q, want %q", row, col, got, want[[2]int{row, col}])
			}
		}
	}
	if w.Board[38] != "R" || w.Board[35] != "Y" || w.Moves != 4 {
		t.Errorf("board %q, moves %d: not indexed row*7+col from the top", w.Board, w.Moves)
	}
}

func TestRefusedMoves(t *testing.T) {
	full := []int{0, 0, 0, 0, 0, 0} // column 0 full; red to move
	tests := map[string]struct {
		cols []int
		seat int
		move string
		want error
	}{
		"full column":    {full, 0, `{"column":0}`, game.ErrIllegalMove},
		"minus one":      {nil, 0, `{"column":-1}`, game.ErrIllegalMove},
		"seven":          {nil, 0, `{"column":7}`, game.ErrIllegalMove},
		"huge":           {nil, 0, `{"column":9223372036854775807}`, game.ErrIllegalMove},
		"yellow first":   {nil, 1, `{"column":3}`, game.ErrNotYourTurn},
		"red twice":      {[]int{3}, 0, `{"column":3}`, game.ErrNotYourTurn},
		"seat two":       {nil, 2, `{"column":3}`, game.ErrNotYourTurn},
		"spectator":      {nil, game.Spectator, `{"column":3}`, game.ErrNotYourTurn},
		"after the end":  {[]int{0, 1, 0, 1, 0, 1, 0}, 1, `{"column":1}`, game.ErrGameOver},
		"after a draw":   {drawn, 0, `{"column":0}`, game.ErrGameOver},
		"string":         {nil, 0, `{"column":"3"}`, game.ErrBadMove},
		"fraction":       {nil, 0, `{"column":3.0}`, game.ErrBadMove},
		"exponent":       {nil, 0, `{"column":1e1000000}`, game.ErrBadMove},
		"overflow":       {nil, 0, `{"column":99999999999999999999}`, game.ErrBadMove},
		"null":           {nil, 0, `null`, game.ErrBadMove},
		"empty object":   {nil, 0, `{}`, game.ErrBadMove},
		"empty":          {nil, 0, ``, game.ErrBadMove},
		"cell":           {nil, 0, `{"cell":3}`, game.ErrBadMove},
		"case variant":   {nil, 0, `{"column":3,"Column":4}`, game.ErrBadMove},
		"duplicate":      {nil, 0, `{"column":3,"column":3}`, game.ErrBadMove},
		"extra key":      {nil, 0, `{"column":3,"row":0}`, game.ErrBadMove},
		"trailing":       {nil, 0, `{"column":3}]`, game.ErrBadMove},
		"nul":            {nil, 0, "{\"column\":3}\x00", game.ErrBadMove},
		"invalid utf8":   {nil, 0, "{\"column\":3,\"\xfe\":1}", game.ErrBadMove},
		"full bad move":  {full, 0, `{"column":"0"}`, game.ErrBadMove},
		"wrong seat bad": {nil, 1, `{`, game.ErrNotYourTurn},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := play(t, tt.cols...)
			before := encode(t, s, game.Spectator)
			next, err := s.Apply(tt.seat, json.RawMessage(tt.move))
			if next != nil || !wrapsOnly(err, tt.want) {
				t.Fatalf("Apply(%d, %s): state %v, error %v, want %v", tt.seat, tt.move, next, err, tt.want)
			}
			gametest.CheckMessage(t, err)
			if after := encode(t, s, game.Spectator); !bytes.Equal(before, after) {
				t.Fatalf("a refused move changed the state: %s, then %s", before, after)
			}
		})
	}
}

func TestParseMove(t *testing.T) {
	tests := map[string]struct {
		move string
		want string // "": an error wrapping ErrBadMove
	}{
		"compact":      {`{"column":3}`, `{"column":3}`},
		"spaced":       {` { "column" : 6 } `, `{"column":6}`},
		"escaped key":  {`{"c\u006flumn":0}`, `{"column":0}`},
		"off board":    {`{"column":70}`, `{"column":70}`}, // Apply's illegal move
		"negative":     {`{"column":-1}`, `{"column":-1}`},
		"minus zero":   {`{"column":-0}`, `{"column":0}`},
		"case variant": {`{"column":3,"COLUMN":4}`, ""},
		"key in caps":  {`{"Column":3}`, ""},
		"duplicate":    {`{"column":3,"column":4}`, ""},
		"extra key":    {`{"column":3,"x":null}`, ""},
		"huge":         {`{"column":1e1000000}`, ""},
		"fraction":     {`{"column":0.5}`, ""},
		"overflow":     {`{"column":-99999999999999999999}`, ""},
		"bool":         {`{"column":true}`, ""},
		"array":        {`{"column":[3]}`, ""},
		"missing":      {`{}`, ""},
		"nul escape":   {`{"column\u0000":3}`, ""},
		"nul":          {"{\"column\":3}\x00", ""},
		"invalid utf8": {"{\"column\":3,\"\xc0\":0}", ""},
		"trailing":     {`{"column":3}{}`, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := connectfour.Game{}.ParseMove(json.RawMessage(tt.move))
			if tt.want == "" {
				if got != nil || !errors.Is(err, game.ErrBadMove) {
					t.Fatalf("ParseMove(%q) = %s, %v; want ErrBadMove", tt.move, got, err)
				}
				gametest.CheckMessage(t, err)
			} else if err != nil || string(got) != tt.want {
				t.Fatalf("ParseMove(%q) = %s, %v; want %s", tt.move, got, err, tt.want)
			}
			gametest.CheckParseMove(t, connectfour.Game{}, play(t, 0, 0, 0, 0, 0), 1, json.RawMessage(tt.move))
		})
	}
}

func FuzzParseMove(f *testing.F) {
	for _, s := range []string{
		`{"column":3}`, ` {"column" : 3}`, `{"column":3,"COLUMN":4}`, `{"column":1e1000000}`, `{"column":-0}`,
		`{"column":"3"}`, "{\"column\":3}\x00", `{"column":3}{}`, `{"\u0063olumn":3}`, `{"column":7}`,
	} {
		f.Add(s)
	}
	states := []game.State{play(f), play(f, 0, 0, 0, 0, 0, 0), play(f, 3, 3, 4)}
	f.Fuzz(func(t *testing.T, move string) {
		for _, s := range states {
			gametest.CheckParseMove(t, connectfour.Game{}, s, s.Turn(), json.RawMessage(move))
		}
	})
}

func TestGolden(t *testing.T) {
	tests := map[string][]int{
		"start":          nil,
		"midgame":        {3, 3, 4, 2, 2},
		"red_up":         {0, 1, 0, 1, 0, 1, 0},
		"yellow_falling": yellowFalling,
		"board_full":     drawn,
	}
	for name, cols := range tests {
		t.Run(name, func(t *testing.T) {
			s := play(t, cols...)
			checkState(t, s)
			golden(t, filepath.Join("testdata", name+".json"), append(encode(t, s, game.Spectator), '\n'))
		})
	}
}

// golden compares got with the file at path, or rewrites it under -update.
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

// TestRandomPlay plays random games, trying every column (and two off the
// board) for every seat at every step: each position is checked against the
// independent rules, and each attempt is accepted exactly when those rules
// allow it, with the piece where they say it falls.
func TestRandomPlay(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	ends := make(map[string]int) // by winner, "" for a draw
	for range 200 {
		s := connectfour.Game{}.Start()
		for {
			w := checkState(t, s)
			before := encode(t, s, game.Spectator)
			over, turn := s.Outcome().Done, s.Turn()
			for seat := -1; seat <= 2; seat++ {
				for col := -1; col <= 7; col++ {
					next, err := s.Apply(seat, colMove(col))
					var want error
					switch {
					case over:
						want = game.ErrGameOver
					case seat != turn:
						want = game.ErrNotYourTurn
					case col < 0 || col > 6 || w.at(0, col) != "":
						want = game.ErrIllegalMove
					}
					if want != nil {
						if next != nil || !wrapsOnly(err, want) {
							t.Fatalf("board %q: seat %d column %d: %v, want %v", w.Board, seat, col, err, want)
						}
						continue
					}
					if err != nil {
						t.Fatalf("board %q: seat %d column %d: %v", w.Board, seat, col, err)
					}
					nw := decode(t, next)
					landing := 5
					for w.at(landing, col) != "" {
						landing--
					}
					expect := w.Board
					expect[landing*7+col] = [2]string{"R", "Y"}[seat]
					if nw.Board != expect {
						t.Fatalf("board %q, column %d: got %q", w.Board, col, nw.Board)
					}
				}
			}
			if after := encode(t, s, game.Spectator); !bytes.Equal(before, after) {
				t.Fatalf("Apply changed its receiver: %s, then %s", before, after)
			}
			if over {
				ends[fours(w)]++
				break
			}
			var open []int
			for col := range 7 {
				if w.at(0, col) == "" {
					open = append(open, col)
				}
			}
			next, err := s.Apply(turn, colMove(open[r.IntN(len(open))]))
			if err != nil {
				t.Fatal(err)
			}
			s = next
		}
	}
	for _, k := range []string{"R", "Y"} {
		if ends[k] == 0 {
			t.Errorf("200 random games and no win for %q: %v", k, ends)
		}
	}
	t.Logf("random game ends: %v", ends)
}

// TestRandomMover plays whole games with the game's own RandomMove.
func TestRandomMover(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 100 {
		moves, s := gametest.RandomGame(t, connectfour.Game{}, r)
		checkState(t, s)
		if n := (connectfour.Game{}).PublicMoves(moves, true); n != len(moves) {
			t.Fatalf("%d public moves of %d", n, len(moves))
		}
		replayed, err := game.Replay(connectfour.Game{}, moves)
		if err != nil || !bytes.Equal(encode(t, replayed, 0), encode(t, s, 0)) {
			t.Fatalf("replay: %v", err)
		}
	}
}

func TestRandomMoveViews(t *testing.T) {
	board := func(cols ...int) string { return string(encode(t, play(t, cols...), 0)) }
	tests := map[string]struct {
		view string
		owes [2]bool
		made [2]int
		cols []int // the legal columns, for the seat that owes
	}{
		"start":        {board(), [2]bool{true, false}, [2]int{0, 0}, []int{0, 1, 2, 3, 4, 5, 6}},
		"yellow next":  {board(3), [2]bool{false, true}, [2]int{1, 0}, []int{0, 1, 2, 3, 4, 5, 6}},
		"full columns": {board(0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6), [2]bool{true, false}, [2]int{6, 6}, []int{1, 2, 3, 4, 5}},
		"red won":      {board(0, 1, 0, 1, 0, 1, 0), [2]bool{false, false}, [2]int{4, 3}, nil},
		"yellow won":   {board(yellowFalling...), [2]bool{false, false}, [2]int{8, 8}, nil},
		"board full":   {board(drawn...), [2]bool{false, false}, [2]int{21, 21}, nil},
		"not json":     {`{"board":[`, [2]bool{false, false}, [2]int{0, 0}, nil},
		"bad piece":    {`{"board":["X"],"moves":1}`, [2]bool{false, false}, [2]int{0, 0}, nil},
		"bad counts":   {`{"board":["Y"],"moves":1}`, [2]bool{false, false}, [2]int{0, 0}, nil},
		"tictactoe":    {`{"board":["X","","","","","","","",""],"moves":1}`, [2]bool{false, false}, [2]int{0, 0}, nil},
	}
	g := connectfour.Game{}
	r := rand.New(rand.NewPCG(1, 2))
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			v := json.RawMessage(tt.view)
			for seat := range 2 {
				if got := g.MovesMade(v, seat); got != tt.made[seat] {
					t.Errorf("MovesMade(seat %d) = %d, want %d", seat, got, tt.made[seat])
				}
				seen := make(map[int]bool)
				for range 300 {
					mv, ok := g.RandomMove(v, seat, r)
					if ok != tt.owes[seat] {
						t.Fatalf("RandomMove(seat %d) = %s, %v; want owed %v", seat, mv, ok, tt.owes[seat])
					}
					if !ok {
						break
					}
					var m struct{ Column int }
					if err := json.Unmarshal(mv, &m); err != nil {
						t.Fatal(err)
					}
					seen[m.Column] = true
				}
				if tt.owes[seat] && len(seen) != len(tt.cols) {
					t.Errorf("seat %d: random columns %v, want each of %v", seat, seen, tt.cols)
				}
				for c := range seen {
					if !slices.Contains(tt.cols, c) {
						t.Errorf("seat %d: column %d offered, legal are %v", seat, c, tt.cols)
					}
				}
			}
			gametest.CheckViewNoise(t, g, v)
		})
	}
}

func TestPublicMoves(t *testing.T) {
	moves := func(n int) []game.Move {
		var out []game.Move
		for i := range n {
			out = append(out, game.Move{Seat: i % 2, Move: colMove(i % 7)})
		}
		return out
	}
	tests := map[string]struct {
		n    int
		over bool
	}{
		"none":  {0, false},
		"live":  {5, false},
		"ended": {7, true},
	}
	for name, tt := range tests {
		if got := (connectfour.Game{}).PublicMoves(moves(tt.n), tt.over); got != tt.n {
			t.Errorf("%s: %d public moves, want all %d", name, got, tt.n)
		}
	}
}

func TestIdentity(t *testing.T) {
	g := connectfour.Game{}
	if g.ID() != "connectfour" || g.Name() != "Connect Four" || g.Players() != 2 {
		t.Fatalf("%q %q %d", g.ID(), g.Name(), g.Players())
	}
	if got := string(encode(t, g.Start(), game.Spectator)); got != `{"board":[`+strings.Repeat(`"",`, 41)+`""],"moves":0}` {
		t.Fatalf("start: %s", got)
	}
}

// A FuzzApply script is a list of steps of one or more bytes. In a step's
// first byte b, bits 4-5 are the seat plus one (so -1..2). If bit 7 is
// clear, the low nibble picks a column from -1 to 14 and the move is
// {"column":n}: that walks the fuzzer deep into games. Otherwise the next
// byte is a length and that many bytes are the raw move: that exercises
// decoding.
func nextStep(script []byte) (seat int, move json.RawMessage, rest []byte) {
	b := script[0]
	seat = int(b>>4&3) - 1
	if b&0x80 == 0 {
		return seat, colMove(int(b&0xF) - 1), script[1:]
	}
	if len(script) < 2 {
		return seat, nil, nil
	}
	n := min(int(script[1]), len(script)-2)
	return seat, json.RawMessage(script[2 : 2+n]), script[2+n:]
}

func colStep(seat, col int) byte { return byte(seat+1)<<4 | byte(col+1) }

func rawStep(seat int, move string) []byte {
	return append([]byte{0x80 | byte(seat+1)<<4, byte(len(move))}, move...)
}

func FuzzApply(f *testing.F) {
	var whole, raw []byte
	for i, c := range drawn {
		whole = append(whole, colStep(i%2, c))
		raw = append(raw, rawStep(i%2, fmt.Sprintf(`{"column": %d}`, c))...)
	}
	f.Add(whole)
	f.Add(raw)
	f.Add([]byte{colStep(0, 0), colStep(1, 1), colStep(0, 0), colStep(1, 1), colStep(0, 0), colStep(1, 1), colStep(0, 0), colStep(1, 1)})
	f.Add(append([]byte{colStep(0, 3)}, rawStep(1, `{"column":3,"Column":3}`)...))
	f.Add([]byte{colStep(-1, 14), colStep(2, -1), colStep(1, 3)})

	f.Fuzz(func(t *testing.T, script []byte) {
		s := connectfour.Game{}.Start()
		before, beforeJSON := checkState(t, s), encode(t, s, game.Spectator)
		for len(script) > 0 {
			var seat int
			var move json.RawMessage
			seat, move, script = nextStep(script)

			next, err := s.Apply(seat, move)
			if after := encode(t, s, game.Spectator); !bytes.Equal(beforeJSON, after) {
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
				gametest.CheckMessage(t, err)
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
					if before.Board[i] != "" || after.Board[i] != [2]string{"R", "Y"}[seat] {
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
	s := play(b, 3, 3, 4, 2)
	move := json.RawMessage(`{"column":2}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Apply(0, move); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendView(b *testing.B) {
	s := play(b, 3, 3, 4, 2).(game.ViewAppender)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendView(buf[:0], 0)
	}
}
