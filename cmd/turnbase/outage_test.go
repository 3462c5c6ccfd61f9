package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// freePort returns a TCP port free on 127.0.0.1 at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readyz(t *testing.T, s *server) int {
	t.Helper()
	resp, err := http.Get(s.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits until /readyz answers want.
func waitReady(t *testing.T, s *server, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for readyz(t, s) != want {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered %d", want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDatabaseOutageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL of its own")
	}
	ctx := context.Background()
	pg := startOwnPostgres(t)
	dsn := pg.dsn()

	s := startServer(t, map[string]string{"DATABASE_URL": dsn})
	x, o, id := pair(t, s, "tictactoe")
	move := func(c *client, cell, n int) {
		t.Helper()
		c.send(frame{"type": "match.move", "match": id, "move": frame{"cell": cell}})
		x.expect("match.state", func(f frame) bool { return num(f["state"].(map[string]any)["moves"]) == n })
	}
	move(x, 4, 1)
	move(o, 0, 2)

	pg.stop(t)
	// The match goes on through the spool; the server says it is not ready.
	move(x, 2, 3)
	waitReady(t, s, http.StatusServiceUnavailable)
	move(o, 6, 4)
	move(x, 3, 5)
	move(o, 5, 6)
	move(x, 1, 7)
	move(o, 7, 8)
	move(x, 8, 9)
	over := o.expect("match.over", nil)
	if over["reason"] != "board_full" {
		t.Fatalf("over = %v", over)
	}

	pg.start(t)
	waitReady(t, s, http.StatusOK)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var moves int
	var status, reason string
	conn.QueryRow(ctx, `SELECT count(*) FROM match_moves WHERE match_id = $1`, id).Scan(&moves)
	conn.QueryRow(ctx, `SELECT status, reason FROM matches WHERE id = $1`, id).Scan(&status, &reason)
	if moves != 9 || status != "finished" || reason != "board_full" {
		t.Fatalf("after the outage: %d moves, %s (%s)", moves, status, reason)
	}
	// The result that waited in the spool is rated, once.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var changes, games int
		conn.QueryRow(ctx, `SELECT count(*) FROM rating_changes WHERE match_id = $1`, id).Scan(&changes)
		conn.QueryRow(ctx, `SELECT coalesce(sum(games), 0) FROM ratings`).Scan(&games)
		if changes == 2 && games == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rating changes = %d, games counted = %d; want 2 and 2", changes, games)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
