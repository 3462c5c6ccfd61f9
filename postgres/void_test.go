package postgres

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/leaderboard"
)

var opActor = leaderboard.Actor{Name: "tester"}

// tenMatches are ten results among four players, so that a void's effect
// travels: the fourth (a beats b) changes a and b, whose later games change
// c and d.
func tenMatches(base time.Time) []rtMatchRow {
	pairs := [][3]any{
		{"a", "b", 0}, {"c", "d", 1}, {"a", "c", 0}, {"a", "b", 0}, {"b", "d", 1},
		{"c", "d", game.NoSeat}, {"a", "d", 1}, {"b", "c", 0}, {"c", "d", 0}, {"a", "b", 1},
	}
	var ms []rtMatchRow
	for i, p := range pairs {
		ms = append(ms, rtMatchRow{
			id: fmt.Sprintf("m%02d", i+1), seat0: p[0].(string), seat1: p[1].(string), winner: p[2].(int),
			started: base.Add(time.Duration(i) * time.Minute), ended: base.Add(time.Duration(i)*time.Minute + 30*time.Second),
		})
	}
	return ms
}

func allRatings(t *testing.T, db *pgxpool.Pool) map[string]storedRating {
	t.Helper()
	out := map[string]storedRating{}
	for _, p := range []string{"a", "b", "c", "d"} {
		s, _ := readRating(t, db, p, "tictactoe")
		out[p] = s
	}
	return out
}

// changesOf reads the rating_changes rows of the unvoided matches.
func changesOf(t *testing.T, db *pgxpool.Pool) map[string][4]float64 {
	t.Helper()
	rows, err := db.Query(t.Context(), `
		SELECT c.match_id || '/' || c.player_id, c.rating_before, c.rating_after, c.rd_after, c.volatility_after
		FROM rating_changes c JOIN matches m ON m.id = c.match_id WHERE m.voided_at IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][4]float64{}
	var k string
	var v [4]float64
	for rows.Next() {
		if err := rows.Scan(&k, &v[0], &v[1], &v[2], &v[3]); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// TestVoidFourthOfTenEqualsReplayOfNine: voiding the fourth of ten rated
// matches leaves exactly (bit for bit) the ratings, counts and
// rating_changes that rating the other nine from scratch gives.
func TestVoidFourthOfTenEqualsReplayOfNine(t *testing.T) {
	t.Parallel()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ms := tenMatches(base)

	r1, db1 := newTestRatings(t)
	rtPlayers(t, db1, "a", "b", "c", "d")
	for _, m := range ms {
		rtMatch(t, db1, m)
	}
	if n, err := r1.RatePending(t.Context()); err != nil || n != 10 {
		t.Fatalf("rated %d, %v", n, err)
	}
	ops := NewOps(db1, slog.New(slog.DiscardHandler), r1, SignalsConfig{})
	res, err := ops.Void(t.Context(), opActor, []string{"m04"}, "farming")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Voided) != 1 || len(res.Changes) == 0 {
		t.Fatalf("void result %+v", res)
	}

	r2, db2 := newTestRatings(t)
	rtPlayers(t, db2, "a", "b", "c", "d")
	for i, m := range ms {
		if i != 3 {
			rtMatch(t, db2, m)
		}
	}
	if n, err := r2.RatePending(t.Context()); err != nil || n != 9 {
		t.Fatalf("rated %d, %v", n, err)
	}

	got, want := allRatings(t, db1), allRatings(t, db2)
	for p := range want {
		if got[p] != want[p] {
			t.Errorf("player %s after the void: %+v; replaying nine: %+v", p, got[p], want[p])
		}
	}
	gotC, wantC := changesOf(t, db1), changesOf(t, db2)
	if len(gotC) != len(wantC) || len(wantC) != 18 {
		t.Fatalf("%d rating changes after the void, %d replaying nine", len(gotC), len(wantC))
	}
	for k, w := range wantC {
		if gotC[k] != w {
			t.Errorf("rating change %s: %v, want %v", k, gotC[k], w)
		}
	}
	// The void is recorded, and the rank counts agree with the table.
	var voided bool
	if err := db1.QueryRow(t.Context(), `SELECT voided_at IS NOT NULL FROM matches WHERE id = 'm04'`).Scan(&voided); err != nil || !voided {
		t.Fatalf("m04 voided %v, %v", voided, err)
	}
	checkRankCounts(t, r1)
	log, err := ops.Audit(t.Context(), leaderboard.AuditFilter{Action: "match.void"})
	if err != nil || len(log) != 1 || log[0].TargetID != "m04" || log[0].Reason != "farming" {
		t.Fatalf("audit log %+v, %v", log, err)
	}
	// Voiding it again changes nothing.
	if res, err := ops.Void(t.Context(), opActor, []string{"m04"}, "again"); err != nil || len(res.Voided) != 0 {
		t.Fatalf("second void: %+v, %v", res, err)
	}
	if again := allRatings(t, db1); again["a"] != got["a"] {
		t.Fatalf("a second void moved ratings: %+v", again["a"])
	}
}

// TestVoidSeveralAndUnrated: voiding several at once equals replaying the
// rest, and a voided match still in the outbox is never rated.
func TestVoidSeveralAndUnrated(t *testing.T) {
	t.Parallel()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ms := tenMatches(base)
	r1, db1 := newTestRatings(t)
	rtPlayers(t, db1, "a", "b", "c", "d")
	for _, m := range ms[:9] {
		rtMatch(t, db1, m)
	}
	if _, err := r1.RatePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	rtMatch(t, db1, ms[9]) // ended, not rated yet
	ops := NewOps(db1, nil, r1, SignalsConfig{})
	if _, err := ops.Void(t.Context(), opActor, []string{"m02", "m07", "m10"}, "test"); err != nil {
		t.Fatal(err)
	}
	if n, err := r1.RatePending(t.Context()); err != nil || n != 0 {
		t.Fatalf("rated %d after the void, %v", n, err)
	}
	r2, db2 := newTestRatings(t)
	rtPlayers(t, db2, "a", "b", "c", "d")
	for i, m := range ms {
		if i != 1 && i != 6 && i != 9 {
			rtMatch(t, db2, m)
		}
	}
	if _, err := r2.RatePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, want := allRatings(t, db1), allRatings(t, db2)
	for p := range want {
		if got[p] != want[p] {
			t.Errorf("player %s: %+v, want %+v", p, got[p], want[p])
		}
	}
	if _, err := ops.Void(t.Context(), opActor, []string{"nope"}, "x"); err == nil {
		t.Fatal("voiding an unknown match succeeded")
	}
	if _, err := ops.Void(t.Context(), opActor, []string{"m01"}, " "); err == nil {
		t.Fatal("a void without a reason succeeded")
	}
}

// TestAuditLogIsAppendOnly: the trigger refuses UPDATE, DELETE and
// TRUNCATE of the audit log.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	r, db := newTestRatings(t)
	rtPlayers(t, db, "a")
	ops := NewOps(db, nil, r, SignalsConfig{})
	if err := ops.Ban(t.Context(), opActor, "a", "spam", nil); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{`UPDATE audit_log SET reason = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := db.Exec(t.Context(), sql); err == nil {
			t.Errorf("%s succeeded", sql)
		}
	}
	log, err := ops.Audit(t.Context(), leaderboard.AuditFilter{})
	if err != nil || len(log) != 1 || log[0].Action != "player.ban" {
		t.Fatalf("audit %+v %v", log, err)
	}
}
