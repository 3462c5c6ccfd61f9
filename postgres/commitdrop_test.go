package postgres

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/match"
)

// commitDropProxy forwards TCP to PostgreSQL and reads the server's side of
// the wire protocol, message by message (a type byte, then an int32 length
// that counts itself). Once armed, it swallows the acknowledgment of a
// commit and closes both sides: the transaction has committed, but the
// client only sees its connection die. The acknowledgment is the
// CommandComplete whose tag starts with COMMIT for an explicit transaction,
// or, for an implicit one (a pipeline or a simple query outside BEGIN,
// which commits at its Sync), the ReadyForQuery that ends it after at
// least one statement completed without error.
type commitDropProxy struct {
	target string
	ln     net.Listener
	addr   string
	wg     sync.WaitGroup // accept and the pumps

	mu    sync.Mutex // guards the fields below
	armed bool
	skip  int           // commit acknowledgments to let through before dropping one
	fired chan struct{} // closed when the armed drop happens
	conns map[net.Conn]struct{}
}

func newCommitDropProxy(t *testing.T, target string) *commitDropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &commitDropProxy{target: target, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// arm makes the proxy drop a commit acknowledgment after letting skip
// more through; the returned channel is closed when it has.
func (p *commitDropProxy) arm(skip int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.skip, p.fired = true, skip, make(chan struct{})
	return p.fired
}

// dropNow reports whether this commit acknowledgment is the one to drop.
func (p *commitDropProxy) dropNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.armed:
		return false
	case p.skip > 0:
		p.skip--
		return false
	}
	p.armed = false
	close(p.fired)
	return true
}

func (p *commitDropProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client)
			server.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.serverToClient(server, client)
		}()
	}
}

// serverToClient forwards the server's messages one by one. The client
// speaks no SSL (sslmode=disable), so every message, from the first
// AuthenticationOk on, has a type byte and a length.
func (p *commitDropProxy) serverToClient(server, client net.Conn) {
	defer func() {
		client.Close()
		server.Close()
		p.mu.Lock()
		delete(p.conns, client)
		delete(p.conns, server)
		p.mu.Unlock()
	}()
	r := bufio.NewReaderSize(server, 64<<10)
	var (
		inTx   bool // an explicit transaction is open (the last ReadyForQuery said so)
		ran    bool // since the last ReadyForQuery: a statement completed
		failed bool // since the last ReadyForQuery: an ErrorResponse
	)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<30 {
			return
		}
		msg := make([]byte, 5+n)
		copy(msg, hdr[:])
		body := msg[5:]
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		ack := false
		switch hdr[0] {
		case 'C': // CommandComplete
			switch {
			case bytes.HasPrefix(body, []byte("COMMIT")):
				ack = true
			case bytes.HasPrefix(body, []byte("BEGIN")), bytes.HasPrefix(body, []byte("ROLLBACK")):
			default:
				ran = true
			}
		case 'E': // ErrorResponse
			failed = true
		case 'Z': // ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' in a failed one
			idle := len(body) == 1 && body[0] == 'I'
			ack = idle && !inTx && ran && !failed
			inTx, ran, failed = !idle, false, false
		}
		if ack && p.dropNow() {
			return
		}
		if _, err := client.Write(msg); err != nil {
			return
		}
	}
}

// proxiedPool returns a pool that reaches dsn's database through a new
// commitDropProxy.
func proxiedPool(t *testing.T, dsn string) (*pgxpool.Pool, *commitDropProxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newCommitDropProxy(t, u.Host)
	u.Host = px.addr
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, px
}

// reported collects what a Ratings' OnRated callback was handed.
type reported struct {
	mu    sync.Mutex
	calls map[string][][]match.RatingChange
}

func (p *reported) onRated(id string, changes []match.RatingChange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[string][][]match.RatingChange{}
	}
	p.calls[id] = append(p.calls[id], changes)
}

func (p *reported) get(id string) [][]match.RatingChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// dropRatingCommit rates a match through a pool whose answer to COMMIT is
// dropped, and checks that the result committed once.
func dropRatingCommit(t *testing.T) (*Ratings, *pgxpool.Pool, *reported) {
	t.Helper()
	direct, dsn := pgtest.NewDB(t)
	pool, px := proxiedPool(t, dsn)
	rep := &reported{}
	r := NewRatings(pool, discard(), RatingsConfig{OnRated: rep.onRated})
	if err := r.RefreshRanks(t.Context()); err != nil {
		t.Fatal(err)
	}
	rtPlayers(t, direct, "ann", "ben")
	rtMatch(t, direct, rtMatchRow{id: "m1", seat0: "ann", seat1: "ben", winner: 0})

	fired := px.arm(0)
	_, err := r.RatePending(t.Context())
	select {
	case <-fired:
	default:
		t.Fatalf("no COMMIT answer was dropped; RatePending: %v", err)
	}
	if err == nil {
		t.Fatal("RatePending succeeded although its COMMIT went unanswered")
	}
	t.Logf("RatePending with its COMMIT answer dropped: %v", err)
	if got := rep.get("m1"); len(got) != 0 {
		t.Fatalf("reported before the outcome was known: %v", got)
	}
	var changes int
	var rated bool
	direct.QueryRow(t.Context(), `SELECT count(*) FROM rating_changes WHERE match_id = 'm1'`).Scan(&changes)
	direct.QueryRow(t.Context(), `SELECT rated_at IS NOT NULL FROM matches WHERE id = 'm1'`).Scan(&rated)
	if changes != 2 || !rated {
		t.Fatalf("the dropped transaction did not commit: %d rating changes, rated %v", changes, rated)
	}
	return r, direct, rep
}

// TestCommitDroppedRating: the connection dies right after a rating
// batch's COMMIT; the rater gets an error although the batch committed.
// Its next drain (what Run's next wake-up does) reports the changes made
// through OnRated, once, without rating the match twice.
func TestCommitDroppedRating(t *testing.T) {
	t.Parallel()
	r, direct, rep := dropRatingCommit(t)
	ctx := t.Context()
	for i := range 2 {
		if n, err := r.RatePending(ctx); err != nil || n != 0 {
			t.Fatalf("drain %d rated %d (%v), want 0", i+1, n, err)
		}
	}
	rows, err := direct.Query(ctx, `SELECT player_id, rating_before, rating_after FROM rating_changes WHERE match_id = 'm1' ORDER BY seat`)
	if err != nil {
		t.Fatal(err)
	}
	var want []match.RatingChange
	for rows.Next() {
		var c match.RatingChange
		if err := rows.Scan(&c.PlayerID, &c.Before, &c.After); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	if got := rep.get("m1"); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("OnRated got %v; stored %v", got, want)
	}
	var changes int
	direct.QueryRow(ctx, `SELECT count(*) FROM rating_changes WHERE match_id = 'm1'`).Scan(&changes)
	if changes != 2 {
		t.Errorf("%d rating changes, want 2", changes)
	}
	for p, want := range map[string][3]int{"ann": {1, 0, 1}, "ben": {0, 1, 1}} {
		s, _ := readRating(t, direct, p, "tictactoe")
		if got := [3]int{s.Wins, s.Losses, s.Games}; got != want {
			t.Errorf("%s: wins, losses, games = %v, want %v", p, got, want)
		}
		checkChain(t, direct, p, "tictactoe", s.Rating)
	}
}

// TestCommitDroppedRatingKeepsRankCounts: after the same dropped COMMIT
// and a further drain, this process's rank counts include the change when
// next used: not knowing whether its change committed, it reloads them
// rather than guess.
func TestCommitDroppedRatingKeepsRankCounts(t *testing.T) {
	t.Parallel()
	r, _, _ := dropRatingCommit(t)
	if _, err := r.RatePending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.ensureRanks(t.Context()); err != nil { // what every read of a rank does first
		t.Fatal(err)
	}
	checkRankCounts(t, r)
}

// TestCommitDroppedJournalBatch: the connection dies right after the
// commit of a group-commit batch holding moves of ten matches and the ends
// of ten others (a pipeline, committed implicitly at its Sync: the proxy
// drops the ReadyForQuery that says so; with an explicit transaction it
// would drop the COMMIT). The writer takes the database for unreachable
// and spools the batch, which had committed; replaying the spool must not
// store anything twice, and each result is rated once.
func TestCommitDroppedJournalBatch(t *testing.T) {
	t.Parallel()
	direct, dsn := pgtest.NewDB(t)
	pool, px := proxiedPool(t, dsn)
	ctx := t.Context()
	replayed := make(chan struct{}, 1)
	j := startJournal(t, pool, JournalConfig{
		SpoolPath:    filepath.Join(t.TempDir(), "spool"),
		WriteTimeout: 20 * time.Second, // the held batch below waits on a lock
		RetryEvery:   100 * time.Millisecond,
		OnEnded: func() {
			select {
			case replayed <- struct{}{}:
			default:
			}
		},
	})
	r := NewRatings(pool, discard(), RatingsConfig{})

	const n = 20
	recs := make([]match.Record, n)
	for i := range n {
		recs[i] = testRecord(fmt.Sprintf("m%02d", i))
		if err := j.CreateMatch(ctx, recs[i]); err != nil {
			t.Fatal(err)
		}
		for seq := 1; seq <= 2; seq++ {
			if err := j.AppendMove(ctx, recs[i].ID, mv(seq, (seq+1)%2, fmt.Sprintf(`{"cell":%d}`, seq))); err != nil {
				t.Fatal(err)
			}
		}
	}
	hold := testRecord("hold")
	if err := j.CreateMatch(ctx, hold); err != nil {
		t.Fatal(err)
	}

	// Hold the writer in a batch that waits on a row lock, so that the
	// writes below queue up and make the next batch together.
	lock, err := direct.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(context.Background())
	if _, err := lock.Exec(ctx, `SELECT 1 FROM matches WHERE id = 'hold' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	wg.Go(func() { errs <- j.AppendMove(ctx, "hold", mv(1, 0, `{"cell":4}`)) })
	waitFor(t, "the writer to wait on the lock", func() bool {
		var waiting int
		direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return waiting > 0
	})
	results := make([]match.Result, n)
	for i := range n {
		if i < n/2 {
			wg.Go(func() { errs <- j.AppendMove(ctx, recs[i].ID, mv(3, 0, `{"cell":3}`)) })
			continue
		}
		results[i] = match.Result{MatchID: recs[i].ID, Game: "tictactoe", Players: recs[i].Players,
			Status: match.StatusFinished, Winner: i % 2, Reason: "resign", Rated: true, Ended: time.Now(), Moves: 2}
		wg.Go(func() { errs <- j.FinishMatch(ctx, results[i]) })
	}
	waitFor(t, "the writes to queue up", func() bool { return len(j.ops) == n })

	fired := px.arm(1) // the held batch's COMMIT passes; the next one's is dropped
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("write: %v", err)
		}
	}
	select {
	case <-fired:
	default:
		t.Fatal("no COMMIT answer was dropped")
	}
	select {
	case <-replayed:
	case <-time.After(20 * time.Second):
		t.Fatal("spool not replayed")
	}
	if st := j.Stats(); st.Spooled < n || st.Replayed < n || !j.Healthy() {
		t.Fatalf("the dropped batch did not go through the spool: %+v, healthy %v", st, j.Healthy())
	}

	// Each move once, each end once; the matches go on.
	for i, rec := range recs {
		var moves, seqs, lastSeq int
		var status string
		direct.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM match_moves WHERE match_id = $1`, rec.ID).Scan(&moves, &seqs, &lastSeq)
		direct.QueryRow(ctx, `SELECT status FROM matches WHERE id = $1`, rec.ID).Scan(&status)
		wantMoves, wantStatus := 3, "live"
		if i >= n/2 {
			wantMoves, wantStatus = 2, "finished"
		}
		if moves != wantMoves || seqs != wantMoves || lastSeq != wantMoves || status != wantStatus {
			t.Errorf("%s: %d moves (%d seqs), last seq %d, %s; want %d moves, %s", rec.ID, moves, seqs, lastSeq, status, wantMoves, wantStatus)
		}
	}
	for i := range n / 2 {
		if err := j.AppendMove(ctx, recs[i].ID, mv(4, 1, `{"cell":5}`)); err != nil {
			t.Errorf("%s: move after the replay: %v", recs[i].ID, err)
		}
	}

	// Rated as the server does: the match asks right away, RatePending
	// after the replay; a retry on top. Each result counts once.
	for i := n / 2; i < n; i++ {
		for range 2 {
			if _, err := rateMatch(ctx, r, results[i].MatchID); err != nil {
				t.Errorf("%s: %v", results[i].MatchID, err)
			}
		}
	}
	if _, err := r.RatePending(ctx); err != nil {
		t.Fatal(err)
	}
	for i := n / 2; i < n; i++ {
		rec := recs[i]
		var changes int
		direct.QueryRow(ctx, `SELECT count(*) FROM rating_changes WHERE match_id = $1`, rec.ID).Scan(&changes)
		if changes != 2 {
			t.Errorf("%s: %d rating changes, want 2", rec.ID, changes)
		}
		for _, p := range rec.Players {
			if s, _ := readRating(t, direct, p.ID, "tictactoe"); s.Games != 1 {
				t.Errorf("%s: %d games counted, want 1", p.ID, s.Games)
			}
		}
	}
}

// waitFor polls ok for up to 10 seconds.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
