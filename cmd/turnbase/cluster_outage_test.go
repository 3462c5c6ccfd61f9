package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterDatabaseOutageTakesNothingOver: the database stops for
// longer than dead-after (and every node's heartbeat goes stale), while
// both nodes keep their matches going through their spools. When it is
// back, no node counts another dead before it has seen the database for
// dead-after itself, by which time the others have beaten again: nobody
// takes over a match whose moves wait in its owner's spool, and every
// move acknowledged during the outage is stored.
func TestClusterDatabaseOutageTakesNothingOver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL of its own, and two nodes")
	}
	ctx := context.Background()
	pg := startOwnPostgres(t)
	c := startClusterOn(t, pg.dsn(), 2, map[string]string{"TURNBASE_DEAD_AFTER": "2s"})

	type game struct {
		x, o *client
		id   string
	}
	var games []game
	for i := range 2 {
		x, o, id := pair(t, c.nodes[i].proc.server(), "tictactoe")
		games = append(games, game{x, o, id})
	}
	move := func(g game, cl *client, cell, n int) {
		t.Helper()
		cl.send(frame{"type": "match.move", "match": g.id, "move": frame{"cell": cell}})
		for _, w := range []*client{g.x, g.o} {
			w.expect("match.state", func(f frame) bool { return stateMoves(f) == n })
		}
	}
	ids := []string{games[0].id, games[1].id}
	conn, err := pgx.Connect(ctx, pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	before := c.owners(conn, ids)
	conn.Close(ctx)
	for _, g := range games {
		move(g, g.x, 4, 1)
	}

	pg.stop(t)
	for _, g := range games { // acknowledged from the spools
		move(g, g.o, 0, 2)
		move(g, g.x, 8, 3)
	}
	time.Sleep(5 * time.Second) // every heartbeat is 5 s old or more
	pg.start(t)
	for _, n := range c.nodes {
		waitReady(t, n.proc.server(), http.StatusOK)
	}
	// Long enough for a node that misjudged the others to claim their
	// matches (scans every 0.2 s, dead after 2 s).
	time.Sleep(4 * time.Second)
	conn, err = pgx.Connect(ctx, pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	after := c.owners(conn, ids)
	for _, id := range ids {
		if after[id] != before[id] {
			t.Errorf("match %s: owner %q before the outage, %q after: taken over while its moves waited in a spool", id, before[id], after[id])
		}
		var moves int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM match_moves WHERE match_id = $1`, id).Scan(&moves); err != nil || moves != 3 {
			t.Errorf("match %s: %d moves stored (%v), want the 3 acknowledged", id, moves, err)
		}
	}
	// The matches go on where they are.
	for _, g := range games {
		move(g, g.o, 2, 4)
		move(g, g.x, 1, 5)
		move(g, g.o, 7, 6)
		move(g, g.x, 6, 7)
	}
}
