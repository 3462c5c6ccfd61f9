package lobby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestConcurrentJoinLeave joins and leaves from many goroutines at once, on
// the real clock, and checks that every player ends in exactly one place: a
// pair, out of the queue by Leave, or still waiting.
func TestConcurrentJoinLeave(t *testing.T) {
	const (
		players = 400
		rounds  = 5
	)
	rec := &recorder{playing: make(map[string]bool), markPlaying: true}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	l := New(logger, rec.start, hasGame, rec.inMatch, Config{PairEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- l.Run(ctx) }()

	var (
		mu     sync.Mutex
		joined = make(map[string]int) // successful joins per player
		left   = make(map[string]int) // Leaves that removed a ticket
		wg     sync.WaitGroup
	)
	games := []string{"tictactoe", "rps"}
	for i := range players {
		wg.Go(func() {
			id := fmt.Sprintf("p%03d", i)
			for r := range rounds {
				_, err := l.Join(ctx, ticket(id, games[(i+r)%len(games)]))
				switch {
				case err == nil:
					mu.Lock()
					joined[id]++
					mu.Unlock()
				case !errorsIsAny(err, ErrInMatch, ErrAlreadyQueued):
					t.Errorf("Join(%s): %v", id, err)
					return
				}
				if (i+r)%3 == 0 {
					ok, err := l.Leave(ctx, id)
					if err != nil {
						t.Errorf("Leave(%s): %v", id, err)
						return
					}
					if ok {
						mu.Lock()
						left[id]++
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()

	// Whoever still waits is taken out now; FIFO has nobody left to pair.
	waiting := make(map[string]bool)
	for i := range players {
		id := fmt.Sprintf("p%03d", i)
		ok, err := l.Leave(ctx, id)
		if err != nil {
			t.Fatalf("final Leave(%s): %v", id, err)
		}
		waiting[id] = ok
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}

	inPair := make(map[string]int)
	for _, p := range rec.started() {
		a, b := p.Players[0], p.Players[1]
		if a.PlayerID == b.PlayerID || a.Game != b.Game || p.Game != a.Game {
			t.Errorf("bad pair %+v", p)
		}
		inPair[a.PlayerID]++
		inPair[b.PlayerID]++
	}
	for i := range players {
		id := fmt.Sprintf("p%03d", i)
		if inPair[id] > 1 {
			t.Errorf("%s is in %d pairs", id, inPair[id])
		}
		ends := inPair[id] + left[id]
		if waiting[id] {
			ends++
		}
		if ends != joined[id] {
			t.Errorf("%s joined %d times but paired %d, left %d, still waiting %v",
				id, joined[id], inPair[id], left[id], waiting[id])
		}
	}
	if len(rec.started()) == 0 {
		t.Error("nobody was paired")
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
