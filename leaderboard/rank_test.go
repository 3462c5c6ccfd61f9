package leaderboard

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
)

func TestShownRating(t *testing.T) {
	for in, want := range map[float64]float64{
		1500:                      1500,
		1500.49999999:             1500,
		1500.5:                    1501,
		1499.5:                    1500,
		math.Nextafter(1500.5, 0): 1500,
		-0.5:                      0,
		-0.51:                     -1,
		0.3:                       0,
	} {
		if got := shownRating(in); got != want {
			t.Errorf("shownRating(%v) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[float64]int64{
		1500.5:      1501,
		1e12:        maxRankBucket,
		-1e12:       minRankBucket,
		math.NaN():  minRankBucket,
		math.Inf(1): maxRankBucket,
	} {
		if got := rankBucket(in); got != want {
			t.Errorf("rankBucket(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestGameCounts(t *testing.T) {
	var g gameCounts
	at := func(b int64) rankPos { return rankPos{counted: true, established: true, bucket: b} }
	g.add(at(1500), 2)
	g.add(at(1400), 1) // grows down
	g.add(at(1700), 1) // grows up
	g.add(rankPos{counted: true}, 5)
	g.add(rankPos{}, 9) // not counted
	g.add(at(1400), -1)
	for b, want := range map[int64]int{0: 3, 1399: 3, 1400: 3, 1499: 3, 1500: 1, 1600: 1, 1700: 0, 5000: 0} {
		if got := g.above(b); got != want {
			t.Errorf("above(%d) = %d, want %d", b, got, want)
		}
	}
	if g.established != 3 || g.provisional != 5 {
		t.Errorf("established %d, provisional %d", g.established, g.provisional)
	}
}

func TestXactSnapshot(t *testing.T) {
	s, err := parseXactSnapshot("100:105:101,103")
	if err != nil {
		t.Fatal(err)
	}
	for xid, want := range map[uint64]bool{99: true, 100: true, 101: false, 102: true, 103: false, 104: true, 105: false, 200: false} {
		if got := s.sees(xid); got != want {
			t.Errorf("sees(%d) = %v, want %v", xid, got, want)
		}
	}
	if s, err := parseXactSnapshot("7:7:"); err != nil || !s.sees(6) || s.sees(7) {
		t.Errorf("7:7: -> %+v, %v", s, err)
	}
	for _, bad := range []string{"", "1:2", "a:2:", "1:b:", "1:2:x", "1:2:3:4"} {
		if _, err := parseXactSnapshot(bad); err == nil {
			t.Errorf("parseXactSnapshot(%q) succeeded", bad)
		}
	}
}

// TestRankIndexApply checks which committed changes the counts take:
// none before the first load, and only those their snapshot did not see.
func TestRankIndexApply(t *testing.T) {
	var ix rankIndex
	move := func(xid uint64, from, to int64) rankDelta {
		return rankDelta{game: "rps", xid: xid,
			from: rankPos{counted: true, established: true, bucket: from},
			to:   rankPos{counted: true, established: true, bucket: to}}
	}
	ix.apply(move(1, 1500, 1600)) // before the first load: dropped

	snap, _ := parseXactSnapshot("100:105:102")
	g := &gameCounts{}
	g.add(rankPos{counted: true, established: true, bucket: 1500}, 3)
	ix.games, ix.snap, ix.loaded = map[string]*gameCounts{"rps": g}, snap, true

	ix.apply(move(101, 1500, 1600)) // seen by the load: already counted
	ix.apply(move(102, 1500, 1700)) // running when loaded: not counted yet
	ix.apply(move(105, 1500, 1800)) // after
	if got := []int{ix.rank("rps", 1500), ix.rank("rps", 1600), ix.rank("rps", 1700), ix.rank("rps", 1800)}; got[0] != 3 || got[1] != 3 || got[2] != 2 || got[3] != 1 {
		t.Errorf("ranks at 1500, 1600, 1700, 1800: %v, want [3 3 2 1]", got)
	}
	if n := ix.total("rps", false); n != 3 {
		t.Errorf("total %d, want 3", n)
	}
	if n := ix.total("chess", true); n != 0 || ix.rank("chess", 1500) != 1 {
		t.Errorf("unknown game: total %d", n)
	}
}

// TestRunReloadsRanks: Run takes in other processes' changes every
// RankRefresh, and returns when its context ends.
func TestRunReloadsRanks(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	r := NewRatings(db, slog.New(slog.DiscardHandler), RatingsConfig{RankRefresh: 10 * time.Millisecond})
	rtPlayers(t, db, "alice", "bob")
	rtRating(t, db, "alice", "rps", 1600, 50)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	rankOf := func(id string) int {
		t.Helper()
		rank, _, err := r.Rank(t.Context(), "rps", id)
		if err != nil {
			t.Fatal(err)
		}
		return rank
	}
	if got := rankOf("alice"); got != 1 {
		t.Errorf("alice: rank %d, want 1", got)
	}
	// Another process rates bob above alice.
	rtRating(t, db, "bob", "rps", 1700, 50)
	deadline := time.Now().Add(10 * time.Second)
	for rankOf("alice") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not reload the rank counts")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
