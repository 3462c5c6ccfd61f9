package leaderboard

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/match"
)

// BenchmarkGroupCommit measures durable move writes from many matches at
// once, each match waiting for its move before sending the next, as a
// match does. It reports moves per transaction: the batch the group
// commit reached.
func BenchmarkGroupCommit(b *testing.B) {
	for _, matches := range []int{1, 16, 200} {
		b.Run("matches="+strconv.Itoa(matches), func(b *testing.B) {
			pool, _ := pgtest.NewDB(b)
			ctx := context.Background()
			j, err := NewJournal(pool, discard(), JournalConfig{Owner: "bench", SpoolPath: b.TempDir() + "/spool"})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); j.Run(runCtx) }()
			defer func() { cancel(); <-done }()
			for i := range matches {
				if err := j.CreateMatch(ctx, benchRecord(i)); err != nil {
					b.Fatal(err)
				}
			}
			before := j.Stats()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + matches - 1) / matches
			for i := range matches {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := 1; seq <= per; seq++ {
						mv := match.StoredMove{Seq: seq, Seat: (seq + 1) % 2, Move: []byte(`{"cell":4}`), At: time.Now()}
						if err := j.AppendMove(ctx, benchRecord(i).ID, mv); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			after := j.Stats()
			if tx := after.Batches - before.Batches; tx > 0 {
				b.ReportMetric(float64(after.Ops-before.Ops)/float64(tx), "moves/tx")
			}
		})
	}
}

func benchRecord(i int) match.Record {
	id := fmt.Sprintf("bench-%d", i)
	return match.Record{ID: id, Game: "tictactoe", Started: time.Now(),
		Players: [2]match.Player{{ID: id + "-a", Name: "bench_a"}, {ID: id + "-b", Name: "bench_b"}}}
}
