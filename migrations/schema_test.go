package migrations_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/internal/pgtest"
)

// SQLSTATEs the schema answers with.
const (
	uniqueViolation    = "23505"
	checkViolation     = "23514"
	integrityViolation = "23000" // raised by matches_result_once
)

func mustExec(t *testing.T, db *pgxpool.Pool, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	tag, err := db.Exec(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag
}

func wantCode(t *testing.T, db *pgxpool.Pool, code, sql string, args ...any) {
	t.Helper()
	_, err := db.Exec(t.Context(), sql, args...)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code {
		t.Errorf("%s: got %v, want SQLSTATE %s", sql, err, code)
	}
}

// seed adds players a (registered) and b (guest) and a live, rated
// tictactoe match m1 between them, owned by process p1.
func seed(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	mustExec(t, db, `INSERT INTO players (id, name, guest, password_hash) VALUES
		('a', 'Alice', false, 'hash'), ('b', 'bob', true, NULL)`)
	mustExec(t, db, `INSERT INTO matches (id, game, seat0, seat1, rated, owner, lease_until)
		VALUES ('m1', 'tictactoe', 'a', 'b', true, 'p1', now() + interval '10 seconds')`)
}

func TestPlayerNames(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	seed(t, db)

	wantCode(t, db, uniqueViolation, `INSERT INTO players (id, name, guest, password_hash) VALUES ('a2', 'ALICE', false, 'h')`)
	// Guests may share names, with each other and with registered players
	// as far as the database goes (the server refuses the latter).
	mustExec(t, db, `INSERT INTO players (id, name, guest) VALUES ('g1', 'bob', true), ('g2', 'Bob', true)`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest) VALUES ('g3', 'no spaces', true)`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest) VALUES ('g4', 'ab', true)`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest, password_hash) VALUES ('g5', 'carol', true, 'h')`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest) VALUES ('r1', 'dave', false)`)

	// A guest upgrading to a registered player takes the name only if no
	// registered player has it.
	mustExec(t, db, `UPDATE players SET guest = false, password_hash = 'h' WHERE id = 'b'`)
	wantCode(t, db, uniqueViolation, `UPDATE players SET guest = false, password_hash = 'h' WHERE id = 'g2'`)

	var key string
	if err := db.QueryRow(t.Context(), `SELECT name_key FROM players WHERE id = 'a'`).Scan(&key); err != nil || key != "alice" {
		t.Errorf("name_key = %q, %v", key, err)
	}
}

func TestMoveStoredOnce(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	seed(t, db)
	const insert = `INSERT INTO match_moves (match_id, seq, seat, move) VALUES ('m1', $1, $2, $3)`
	mustExec(t, db, insert, 1, 0, `{"cell": 4}`)
	wantCode(t, db, uniqueViolation, insert, 1, 0, `{"cell": 4}`)
	tag := mustExec(t, db, insert+` ON CONFLICT (match_id, seq) DO NOTHING`, 1, 0, `{"cell": 4}`)
	if tag.RowsAffected() != 0 {
		t.Errorf("replayed move inserted %d rows", tag.RowsAffected())
	}
	wantCode(t, db, checkViolation, insert, 2, 2, `{"cell": 0}`)
	wantCode(t, db, checkViolation, insert, 0, 1, `{"cell": 0}`)
}

func TestResultRecordedOnce(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	seed(t, db)

	// Ending a match releases its lease in the same statement.
	wantCode(t, db, checkViolation, `UPDATE matches SET status = 'finished', ended_at = now(), winner = 0, reason = 'line' WHERE id = 'm1'`)
	const end = `UPDATE matches SET status = 'finished', ended_at = now(), winner = 0, reason = 'line',
		owner = NULL, lease_until = NULL, deadline_at = NULL
		WHERE id = 'm1' AND status = 'live' AND owner = 'p1'`
	if tag := mustExec(t, db, end); tag.RowsAffected() != 1 {
		t.Fatalf("ending the match updated %d rows", tag.RowsAffected())
	}
	if tag := mustExec(t, db, end); tag.RowsAffected() != 0 {
		t.Errorf("ending it again updated %d rows", tag.RowsAffected())
	}
	wantCode(t, db, integrityViolation, `UPDATE matches SET winner = 1 WHERE id = 'm1'`)
	wantCode(t, db, integrityViolation, `UPDATE matches SET status = 'live', ended_at = NULL, winner = NULL, reason = NULL WHERE id = 'm1'`)
	mustExec(t, db, `UPDATE matches SET voided_at = now(), void_reason = 'cheating' WHERE id = 'm1'`)

	const change = `INSERT INTO rating_changes (match_id, player_id, game, seat, score,
		rating_before, rating_after, rd_before, rd_after, volatility_before, volatility_after)
		VALUES ('m1', $1, 'tictactoe', $2, $3, 1500, $4, 350, 290, 0.06, 0.06)`
	mustExec(t, db, change, "a", 0, 1.0, 1662.3)
	mustExec(t, db, change, "b", 1, 0.0, 1337.7)
	wantCode(t, db, uniqueViolation, change, "a", 0, 1.0, 1662.3)
	wantCode(t, db, checkViolation, `INSERT INTO rating_changes (match_id, player_id, game, seat, score,
		rating_before, rating_after, rd_before, rd_after, volatility_before, volatility_after)
		VALUES ('m1', 'b', 'tictactoe', 1, 0.7, 1500, 1500, 350, 350, 0.06, 0.06)`)
}

func TestMatchConstraints(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	seed(t, db)
	wantCode(t, db, checkViolation, `INSERT INTO matches (id, game, seat0, seat1, rated) VALUES ('m2', 'rps', 'a', 'a', true)`)
	wantCode(t, db, checkViolation, `INSERT INTO matches (id, game, seat0, seat1, rated, status) VALUES ('m3', 'rps', 'a', 'b', true, 'won')`)
	wantCode(t, db, checkViolation, `INSERT INTO matches (id, game, seat0, seat1, rated, owner) VALUES ('m4', 'rps', 'a', 'b', true, 'p1')`)
	wantCode(t, db, checkViolation, `INSERT INTO matches (id, game, seat0, seat1, rated, status, ended_at, reason, winner)
		VALUES ('m5', 'rps', 'a', 'b', true, 'aborted', now(), 'no_moves', 0)`)
	wantCode(t, db, checkViolation, `UPDATE matches SET voided_at = now() WHERE id = 'm1'`)

	// Takeover: only once the lease has run out, and only by one process.
	const takeover = `UPDATE matches SET owner = $1, lease_until = now() + interval '10 seconds'
		WHERE id = 'm1' AND status = 'live' AND lease_until < now()`
	if tag := mustExec(t, db, takeover, "p2"); tag.RowsAffected() != 0 {
		t.Error("took over a match whose lease runs")
	}
	mustExec(t, db, `UPDATE matches SET lease_until = now() - interval '1 second' WHERE id = 'm1'`)
	if tag := mustExec(t, db, takeover, "p2"); tag.RowsAffected() != 1 {
		t.Error("could not take over a match whose lease ran out")
	}
}

func TestRatings(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDB(t)
	seed(t, db)
	mustExec(t, db, `INSERT INTO ratings (player_id, game) VALUES ('a', 'tictactoe')`)
	var rating, rd, vol float64
	if err := db.QueryRow(t.Context(), `SELECT rating, rd, volatility FROM ratings WHERE player_id = 'a'`).Scan(&rating, &rd, &vol); err != nil {
		t.Fatal(err)
	}
	if rating != 1500 || rd != 350 || vol != 0.06 {
		t.Errorf("defaults %v/%v/%v", rating, rd, vol)
	}
	wantCode(t, db, uniqueViolation, `INSERT INTO ratings (player_id, game) VALUES ('a', 'tictactoe')`)
	wantCode(t, db, checkViolation, `UPDATE ratings SET wins = wins + 1 WHERE player_id = 'a'`)
	mustExec(t, db, `UPDATE ratings SET wins = wins + 1, games = games + 1 WHERE player_id = 'a'`)
	wantCode(t, db, checkViolation, `UPDATE ratings SET rd = 351 WHERE player_id = 'a'`)
	wantCode(t, db, "23503", `INSERT INTO ratings (player_id, game) VALUES ('nobody', 'rps')`) // foreign_key_violation
}

// TestBotPlayers: 0008's computer players exist, are neither guests nor
// able to log in, keep their names from people, and only bot: ids may be
// bots.
func TestBotPlayers(t *testing.T) {
	db, _ := pgtest.NewDB(t)
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM players WHERE bot AND NOT guest AND password_hash IS NULL AND id LIKE 'bot:%'`).Scan(&n); err != nil || n != 8 {
		t.Fatalf("bot players: %d, %v", n, err)
	}
	wantCode(t, db, uniqueViolation, `INSERT INTO players (id, name, guest, password_hash) VALUES ('p1', 'TicTacToe-Perfect', false, 'h')`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest, bot) VALUES ('p2', 'sneaky', false, true)`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest, bot, password_hash) VALUES ('bot:x:y', 'sneaky', false, true, 'h')`)
	wantCode(t, db, checkViolation, `INSERT INTO players (id, name, guest) VALUES ('r1', 'dave', false)`)
}
