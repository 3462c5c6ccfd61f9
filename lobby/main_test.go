package lobby

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is the StartFunc and inMatch of a test lobby.
type recorder struct {
	mu      sync.Mutex
	pairs   []Pair
	playing map[string]bool
	// Set before the lobby runs.
	markPlaying bool          // a started pair's players count as in a match
	release     chan struct{} // if not nil, start waits for it or ctx
	err         error         // what start returns
}

func (r *recorder) start(ctx context.Context, p Pair) error {
	r.mu.Lock()
	r.pairs = append(r.pairs, p)
	if r.markPlaying {
		for _, t := range p.Players {
			r.playing[t.PlayerID] = true
		}
	}
	r.mu.Unlock()
	if r.release != nil {
		select {
		case <-r.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.err
}

func (r *recorder) inMatch(playerID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.playing[playerID]
}

func (r *recorder) setPlaying(playerID string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.playing[playerID] = on
}

func (r *recorder) started() []Pair {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pairs)
}

func hasGame(id string) bool { return id == "tictactoe" || id == "rps" }

func ticket(playerID, game string) Ticket {
	return Ticket{PlayerID: playerID, Name: "name-" + playerID, Rating: 1500, Game: game}
}

// fixture is a running lobby. Its Run stops at the end of the test.
type fixture struct {
	l   *Lobby
	rec *recorder
	ctx context.Context
	// stop cancels Run and returns its error; later calls return nil.
	stop func() error
}

// newFixture starts a lobby; setup, if not nil, adjusts the recorder first.
func newFixture(t *testing.T, cfg Config, setup func(*recorder)) *fixture {
	t.Helper()
	rec := &recorder{playing: make(map[string]bool)}
	if setup != nil {
		setup(rec)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := New(logger, rec.start, hasGame, rec.inMatch, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- l.Run(ctx) }()
	var once sync.Once
	stop := func() (err error) {
		once.Do(func() {
			cancel()
			err = <-runErr
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &fixture{l: l, rec: rec, ctx: context.Background(), stop: stop}
}

func (f *fixture) join(t *testing.T, playerID, game string) Ticket {
	t.Helper()
	got, err := f.l.Join(f.ctx, ticket(playerID, game))
	if err != nil {
		t.Fatalf("Join(%s, %s): %v", playerID, game, err)
	}
	return got
}

func (f *fixture) create(t *testing.T, playerID, game string) Challenge {
	t.Helper()
	c, err := f.l.CreateChallenge(f.ctx, ticket(playerID, game))
	if err != nil {
		t.Fatalf("CreateChallenge(%s, %s): %v", playerID, game, err)
	}
	return c
}

// openChallenges counts the open challenges, asking the loop.
func (f *fixture) openChallenges(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.l.call(f.ctx, func(time.Time) []Pair {
		n = len(f.l.challenges)
		return nil
	}); err != nil {
		t.Fatalf("count challenges: %v", err)
	}
	return n
}

// players returns the sorted player IDs of p.
func players(p Pair) []string {
	ids := []string{p.Players[0].PlayerID, p.Players[1].PlayerID}
	slices.Sort(ids)
	return ids
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: error %v, want %v", what, got, want)
	}
}
