package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
)

// TestLobbyLockElectsOneNode: the first node to ask holds the lobby and
// the others name it; when its session ends, the next to ask takes over,
// as a new term; a node that lost its connection finds out on its next
// Elect.
func TestLobbyLockElectsOneNode(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	locks := map[string]*LobbyLock{}
	for _, id := range []string{"node-a", "node-b", "node-c"} {
		l, err := NewLobbyLock(pool, id)
		if err != nil {
			t.Fatal(err)
		}
		locks[id] = l
		defer l.Close()
	}
	elect := func(id string) (string, int64) {
		t.Helper()
		node, term, err := locks[id].Elect(ctx)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return node, term
	}
	// until asks id until it names want: a session that ends releases
	// its lock as its backend exits, a moment later.
	until := func(id, want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			node, _, err := locks[id].Elect(ctx)
			if err == nil && node == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: got %q, %v; want %q", id, node, err, want)
			}
		}
	}
	leader, term := elect("node-b")
	if leader != "node-b" || term == 0 {
		t.Fatalf("first to ask: %q term %d, want node-b", leader, term)
	}
	for _, id := range []string{"node-a", "node-c", "node-b"} {
		if got, gotTerm := elect(id); got != "node-b" || gotTerm != term {
			t.Fatalf("%s sees %q (term %d), want node-b (%d)", id, got, gotTerm, term)
		}
	}
	// node-b stops: its lock goes with its connection.
	locks["node-b"].Close()
	until("node-c", "node-c")
	if got, _ := elect("node-a"); got != "node-c" {
		t.Fatalf("node-a sees %q, want node-c", got)
	}
	// node-b comes back: node-c leads on.
	if got, _ := elect("node-b"); got != "node-c" {
		t.Fatalf("node-b back sees %q, want node-c", got)
	}
	// node-c's session is killed behind its back: its next Elect fails,
	// and the one after finds whoever leads then.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'turnbase-lobby node-c' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	until("node-a", "node-a")
	if _, _, err := locks["node-c"].Elect(ctx); err == nil {
		t.Fatal("node-c does not notice it lost its session")
	}
	if got, _ := elect("node-c"); got != "node-a" {
		t.Fatalf("node-c back sees %q, want node-a", got)
	}
	if _, err := NewLobbyLock(pool, string(make([]byte, 49))); err == nil {
		t.Fatal("a node id too long for application_name accepted")
	}
}
