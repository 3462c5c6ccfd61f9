package leaderboard

import (
	"context"
	"math"
	"testing"
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
		if got := ShownRating(in); got != want {
			t.Errorf("ShownRating(%v) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[float64]int64{
		1500.5:      1501,
		1e12:        MaxRankBucket,
		-1e12:       MinRankBucket,
		math.NaN():  MinRankBucket,
		math.Inf(1): MaxRankBucket,
	} {
		if got := RankBucket(in); got != want {
			t.Errorf("RankBucket(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestHistogram(t *testing.T) {
	var g Histogram
	at := func(b int64) RankPos { return RankPos{Counted: true, Established: true, Bucket: b} }
	g.Add(at(1500), 2)
	g.Add(at(1400), 1) // grows down
	g.Add(at(1700), 1) // grows up
	g.Add(RankPos{Counted: true}, 5)
	g.Add(RankPos{}, 9) // not counted
	g.Add(at(1400), -1)
	for b, want := range map[int64]int{0: 3, 1399: 3, 1400: 3, 1499: 3, 1500: 1, 1600: 1, 1700: 0, 5000: 0} {
		if got := g.above(b); got != want {
			t.Errorf("above(%d) = %d, want %d", b, got, want)
		}
	}
	if g.established != 3 || g.provisional != 5 {
		t.Errorf("established %d, provisional %d", g.established, g.provisional)
	}
}

// seenBelow is a snapshot that saw every transaction below it except
// those listed.
type seenBelow struct {
	below  uint64
	except map[uint64]bool
}

func (s seenBelow) Sees(id uint64) bool { return id < s.below && !s.except[id] }

// TestRanksApply checks which committed changes the counts take: none
// before the first load, and only those their snapshot did not see.
func TestRanksApply(t *testing.T) {
	var ix Ranks
	move := func(xid uint64, from, to int64) RankDelta {
		return RankDelta{Game: "rps", TxID: xid,
			From: RankPos{Counted: true, Established: true, Bucket: from},
			To:   RankPos{Counted: true, Established: true, Bucket: to}}
	}
	ix.Apply(move(1, 1500, 1600)) // before the first load: dropped
	if ix.Loaded() {
		t.Fatal("loaded before a load")
	}

	load := func(context.Context) (map[string]*Histogram, Snapshot, error) {
		g := &Histogram{}
		g.Add(RankPos{Counted: true, Established: true, Bucket: 1500}, 3)
		return map[string]*Histogram{"rps": g}, seenBelow{below: 102, except: map[uint64]bool{}}, nil
	}
	if err := ix.Reload(t.Context(), load, true); err != nil {
		t.Fatal(err)
	}
	ix.Apply(move(101, 1500, 1600)) // seen by the load: already counted
	ix.Apply(move(102, 1500, 1700)) // not seen: counted now
	ix.Apply(move(105, 1500, 1800)) // after
	if got := []int{ix.Rank("rps", 1500), ix.Rank("rps", 1600), ix.Rank("rps", 1700), ix.Rank("rps", 1800)}; got[0] != 3 || got[1] != 3 || got[2] != 2 || got[3] != 1 {
		t.Errorf("ranks at 1500, 1600, 1700, 1800: %v, want [3 3 2 1]", got)
	}
	if n := ix.Total("rps", false); n != 3 {
		t.Errorf("total %d, want 3", n)
	}
	if n := ix.Total("chess", true); n != 0 || ix.Rank("chess", 1500) != 1 {
		t.Errorf("unknown game: total %d", n)
	}
	ix.Invalidate()
	if ix.Loaded() {
		t.Error("loaded after Invalidate")
	}
}
