package main

import (
	"net/http"
	"testing"
	"time"
)

func TestScratchReadyzIdle(t *testing.T) {
	pg := startOwnPostgres(t)
	s := startServer(t, faultEnv(pg.dsn(), t.TempDir()))
	l := newLoad(t, s, 1)
	a := l.extraPlayer(s, "aaa")
	b := l.extraPlayer(s, "bbb")
	pg.stop(t)
	for i := 0; i < 6; i++ {
		t.Logf("%ds readyz=%d", i, readyz(t, s))
		time.Sleep(time.Second)
	}
	t.Logf("queue.join a: %q", l.queueJoinError(a))
	_, err := a.conn.request(frame{"type": "queue.join", "game": "tictactoe"}, "queue.joined")
	t.Logf("a joined: %v", err)
	_, err = b.conn.request(frame{"type": "queue.join", "game": "tictactoe"}, "queue.joined")
	t.Logf("b joined: %v", err)
	for i := 0; i < 8; i++ {
		t.Logf("%.1fs readyz=%d", float64(i)/2, readyz(t, s))
		time.Sleep(500 * time.Millisecond)
	}
	pg.start(t)
	waitReady(t, s, http.StatusOK)
}
