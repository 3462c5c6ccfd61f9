package postgres

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
			pg0 := clusterCPU(b, pool)
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
			b.ReportMetric(float64((clusterCPU(b, pool)-pg0).Nanoseconds())/1e3/float64(per*matches), "pg-us/move")
			after := j.Stats()
			if tx := after.Batches - before.Batches; tx > 0 {
				b.ReportMetric(float64(after.Ops-before.Ops)/float64(tx), "moves/tx")
			}
		})
	}
}

// clusterCPU is the CPU time the PostgreSQL cluster's processes have used
// (from /proc; zero where there is none): what a benchmark costs the
// database, which wall time hides when the database runs on another core.
func clusterCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime is the
		// 12th, stime the 13th.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func benchRecord(i int) match.Record {
	id := fmt.Sprintf("bench-%d", i)
	return match.Record{ID: id, Game: "tictactoe", Started: time.Now(),
		Players: [2]match.Player{{ID: id + "-a", Name: "bench_a"}, {ID: id + "-b", Name: "bench_b"}}}
}

// BenchmarkMatchLifecycle measures what a whole match costs the database,
// as the server writes it under load: many matches at once, each created,
// given its moves one durable write at a time, ended and rated. It reports
// PostgreSQL's CPU per match (pg-us/match), the figure that bounds a node
// whose database shares its cores.
func BenchmarkMatchLifecycle(b *testing.B) {
	for _, upTo := range []string{"create", "moves", "finish", "rate"} {
		b.Run("upto="+upTo, func(b *testing.B) { benchLifecycle(b, upTo) })
	}
}

func benchLifecycle(b *testing.B, upTo string) {
	const (
		workers = 200
		moves   = 7 // about the mean of the two games under random play
	)
	pool, _ := pgtest.NewDB(b)
	ctx := context.Background()
	j, err := NewJournal(pool, discard(), JournalConfig{Owner: "bench", SpoolPath: b.TempDir() + "/spool"})
	if err != nil {
		b.Fatal(err)
	}
	r := NewRatings(pool, discard(), RatingsConfig{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); j.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	var next atomic.Int64
	play := func(w int, all bool) error {
		n := next.Add(1)
		rec := match.Record{ID: fmt.Sprintf("life-%d", n), Game: "tictactoe", Started: time.Now(),
			Players: [2]match.Player{{ID: fmt.Sprintf("p-%d", 2*w), Name: "bench_a"}, {ID: fmt.Sprintf("p-%d", 2*w+1), Name: "bench_b"}}}
		if err := j.CreateMatch(ctx, rec); err != nil {
			return err
		}
		if upTo == "create" && !all {
			return nil
		}
		for seq := 1; seq <= moves; seq++ {
			mv := match.StoredMove{Seq: seq, Seat: (seq + 1) % 2, Move: []byte(`{"cell":4}`), At: time.Now()}
			if err := j.AppendMove(ctx, rec.ID, mv); err != nil {
				return err
			}
		}
		res := match.Result{MatchID: rec.ID, Game: rec.Game, Players: rec.Players, Status: match.StatusFinished,
			Winner: int(n % 2), Reason: "line", Rated: true, Started: rec.Started, Ended: time.Now(), Moves: moves}
		if upTo == "moves" && !all {
			return nil
		}
		if err := j.FinishMatch(ctx, res); err != nil {
			return err
		}
		if upTo == "finish" && !all {
			return nil
		}
		_, err := r.RatePending(ctx)
		return err
	}
	for w := range workers { // players exist, as accounts would have made them
		if err := play(w, true); err != nil {
			b.Fatal(err)
		}
	}
	pg0 := clusterCPU(b, pool)
	b.ResetTimer()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(b.N))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := play(w, false); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((clusterCPU(b, pool)-pg0).Nanoseconds())/1e3/float64(b.N), "pg-us/match")
}

// BenchmarkJournalHumanPace measures the journal at the pace people play:
// many matches, each making a move every think time (jittered by ±50%),
// ending after a few moves and making room for a new one, so creates and
// ends mix with the moves as they do on a server. b.N is the number of
// moves. It reports PostgreSQL's CPU per durable write (pg-us/op: moves,
// creates and ends), the writes per transaction, and the p50 and p99 of
// AppendMove's latency: at this pace the batches are small, and the
// database's cost per statement and per commit is what counts.
func BenchmarkJournalHumanPace(b *testing.B) {
	for _, c := range []struct {
		matches int
		think   time.Duration
	}{
		{2000, time.Second},      // 4,000 players thinking 0.5-1.5 s
		{10000, 5 * time.Second}, // 20,000 players thinking 2.5-7.5 s
		{400, 200 * time.Millisecond},
	} {
		b.Run(fmt.Sprintf("matches=%d/think=%s", c.matches, c.think), func(b *testing.B) {
			benchHumanPace(b, c.matches, c.think)
		})
	}
}

func benchHumanPace(b *testing.B, matches int, think time.Duration) {
	const movesPerMatch = 8
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

	var next atomic.Int64
	newMatch := func(slot int) (match.Record, error) {
		rec := match.Record{ID: fmt.Sprintf("hp-%d", next.Add(1)), Game: "tictactoe", Started: time.Now(),
			Players: [2]match.Player{{ID: fmt.Sprintf("hp-p%d", 2*slot), Name: "bench_a"}, {ID: fmt.Sprintf("hp-p%d", 2*slot+1), Name: "bench_b"}}}
		return rec, j.CreateMatch(ctx, rec)
	}
	recs := make([]match.Record, matches)
	for i := range recs {
		if recs[i], err = newMatch(i); err != nil {
			b.Fatal(err)
		}
	}
	before := j.Stats()
	pg0 := clusterCPU(b, pool)
	b.ResetTimer()
	var left atomic.Int64
	left.Store(int64(b.N))
	lat := make([][]time.Duration, matches)
	var wg sync.WaitGroup
	for i := range matches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, seq := recs[i], 0
			// Start at a random point of a think, as players do.
			pause := time.NewTimer(time.Duration(rand.Int64N(int64(think))))
			defer pause.Stop()
			for left.Add(-1) >= 0 {
				<-pause.C
				seq++
				mv := match.StoredMove{Seq: seq, Seat: (seq + 1) % 2, Move: []byte(`{"cell":4}`), At: time.Now()}
				start := time.Now()
				if err := j.AppendMove(ctx, rec.ID, mv); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(start))
				if seq == movesPerMatch {
					res := match.Result{MatchID: rec.ID, Game: rec.Game, Players: rec.Players, Status: match.StatusFinished,
						Winner: 0, Reason: "line", Rated: true, Started: rec.Started, Ended: time.Now(), Moves: seq}
					if err := j.FinishMatch(ctx, res); err != nil {
						b.Error(err)
						return
					}
					var err error
					if rec, err = newMatch(i); err != nil {
						b.Error(err)
						return
					}
					seq = 0
				}
				pause.Reset(think/2 + time.Duration(rand.Int64N(int64(think))))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	after := j.Stats()
	ops := after.Ops - before.Ops
	b.ReportMetric(float64((clusterCPU(b, pool)-pg0).Nanoseconds())/1e3/float64(max(ops, 1)), "pg-us/op")
	if tx := after.Batches - before.Batches; tx > 0 {
		b.ReportMetric(float64(ops)/float64(tx), "ops/tx")
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1e3, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1e3, "p99-ms")
	}
}
