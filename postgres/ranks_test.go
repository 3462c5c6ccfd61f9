package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
)

func TestXactSnapshot(t *testing.T) {
	s, err := parseXactSnapshot("100:105:101,103")
	if err != nil {
		t.Fatal(err)
	}
	for xid, want := range map[uint64]bool{99: true, 100: true, 101: false, 102: true, 103: false, 104: true, 105: false, 200: false} {
		if got := s.Sees(xid); got != want {
			t.Errorf("sees(%d) = %v, want %v", xid, got, want)
		}
	}
	if s, err := parseXactSnapshot("7:7:"); err != nil || !s.Sees(6) || s.Sees(7) {
		t.Errorf("7:7: -> %+v, %v", s, err)
	}
	for _, bad := range []string{"", "1:2", "a:2:", "1:b:", "1:2:x", "1:2:3:4"} {
		if _, err := parseXactSnapshot(bad); err == nil {
			t.Errorf("parseXactSnapshot(%q) succeeded", bad)
		}
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
		rank, _, err := r.rank(t.Context(), "rps", id)
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
