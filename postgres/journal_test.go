package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startJournal runs a journal over pool until the test ends.
func startJournal(t *testing.T, pool *pgxpool.Pool, cfg JournalConfig) *Journal {
	t.Helper()
	if cfg.Owner == "" {
		cfg.Owner = "node-a"
	}
	if cfg.SpoolPath == "" {
		cfg.SpoolPath = filepath.Join(t.TempDir(), "spool")
	}
	j, err := NewJournal(pool, discard(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return j
}

func testRecord(id string) match.Record {
	return match.Record{
		ID: id, Game: "tictactoe", Started: time.Now().Truncate(time.Microsecond),
		Players: [2]match.Player{{ID: id + "-x", Name: "xavier"}, {ID: id + "-o", Name: "olga"}},
	}
}

func mv(seq, seat int, js string) match.StoredMove {
	return match.StoredMove{Seq: seq, Seat: seat, Move: json.RawMessage(js), At: time.Now()}
}

func TestJournalStoresAndClaims(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	j := startJournal(t, pool, JournalConfig{})

	rec := testRecord("m1")
	if err := j.CreateMatch(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for i, m := range []match.StoredMove{mv(1, 0, `{"cell":4}`), mv(2, 1, `{"cell": 0}`)} {
		if err := j.AppendMove(ctx, rec.ID, m); err != nil {
			t.Fatalf("move %d: %v", i, err)
		}
	}
	// A retried move (same seq) is not stored twice.
	if err := j.AppendMove(ctx, rec.ID, mv(2, 1, `{"cell":0}`)); err != nil {
		t.Fatalf("retried move: %v", err)
	}
	var n, lastSeq int
	pool.QueryRow(ctx, `SELECT count(*), max(seq) FROM match_moves WHERE match_id = 'm1'`).Scan(&n, &lastSeq)
	if n != 2 || lastSeq != 2 {
		t.Fatalf("moves stored = %d, last seq = %d", n, lastSeq)
	}

	// Another process with the same owner (a restart) claims it back.
	j2, err := NewJournal(pool, discard(), JournalConfig{Owner: "node-a", SpoolPath: filepath.Join(t.TempDir(), "s2")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := j2.Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Record.ID != "m1" || len(got[0].Moves) != 2 || string(got[0].Moves[1].Move) != `{"cell": 0}` || got[0].Record.Players[1].Name != "olga" {
		t.Fatalf("claimed = %+v", got)
	}
	if got[0].Record.Players[0].Rating != leaderboard.DefaultRating {
		t.Errorf("rating = %v", got[0].Record.Players[0].Rating)
	}
	// Someone else's match with a live lease is not taken.
	j3, _ := NewJournal(pool, discard(), JournalConfig{Owner: "node-b", SpoolPath: filepath.Join(t.TempDir(), "s3")})
	if got, err := j3.Claim(ctx); err != nil || len(got) != 0 {
		t.Fatalf("node-b claimed %v, %v", got, err)
	}
	// Nor can it end one: the end is refused, in a batch with an end of
	// its own that goes through.
	if err := j.CreateMatch(ctx, testRecord("m2")); err != nil {
		t.Fatal(err)
	}
	jb := startJournal(t, pool, JournalConfig{Owner: "node-b", SpoolPath: filepath.Join(t.TempDir(), "sb")})
	if err := jb.CreateMatch(ctx, testRecord("b1")); err != nil {
		t.Fatal(err)
	}
	endOf := func(id string) match.Result {
		return match.Result{MatchID: id, Game: "tictactoe", Status: match.StatusFinished, Winner: 1, Reason: "resign", Rated: true, Ended: time.Now()}
	}
	ends := make(chan error, 2)
	go func() { ends <- jb.FinishMatch(ctx, endOf("m2")) }()
	go func() { ends <- jb.FinishMatch(ctx, endOf("b1")) }()
	var refused, ok int
	for range 2 {
		switch err := <-ends; {
		case errors.Is(err, ErrNotOwner):
			refused++
		case err == nil:
			ok++
		default:
			t.Fatalf("finish: %v", err)
		}
	}
	var m2, b1 string
	pool.QueryRow(ctx, `SELECT (SELECT status FROM matches WHERE id = 'm2'), (SELECT status FROM matches WHERE id = 'b1')`).Scan(&m2, &b1)
	if refused != 1 || ok != 1 || m2 != "live" || b1 != "finished" {
		t.Fatalf("node-b ending m2 and b1: %d refused, %d ok; m2 %s, b1 %s", refused, ok, m2, b1)
	}

	res := match.Result{MatchID: "m1", Game: "tictactoe", Players: rec.Players, Status: match.StatusFinished, Winner: 0, Reason: "resign", Rated: true, Ended: time.Now()}
	if err := j.FinishMatch(ctx, res); err != nil {
		t.Fatal(err)
	}
	// Finishing twice (a retry) is fine and changes nothing.
	if err := j.FinishMatch(ctx, res); err != nil {
		t.Fatalf("second finish: %v", err)
	}
	var status, reason string
	var winner int
	pool.QueryRow(ctx, `SELECT status, reason, winner FROM matches WHERE id = 'm1'`).Scan(&status, &reason, &winner)
	if status != "finished" || reason != "resign" || winner != 0 {
		t.Errorf("match row = %s %s %d", status, reason, winner)
	}
	if err := j.AppendMove(ctx, "m1", mv(3, 0, `{"cell":1}`)); !errors.Is(err, ErrNotOwner) {
		t.Errorf("move after the end: %v", err)
	}
}

func TestJournalGroupCommit(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	j := startJournal(t, pool, JournalConfig{})
	const matches = 50
	for i := range matches {
		if err := j.CreateMatch(ctx, testRecord(matchName(i))); err != nil {
			t.Fatal(err)
		}
	}
	before := j.stats.batches.Load()
	var wg sync.WaitGroup
	for i := range matches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; seq <= 5; seq++ {
				if err := j.AppendMove(ctx, matchName(i), mv(seq, (seq+1)%2, `{"cell":1}`)); err != nil {
					t.Errorf("match %d move %d: %v", i, seq, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	batches := j.stats.batches.Load() - before
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM match_moves`).Scan(&n)
	if n != matches*5 {
		t.Fatalf("stored %d moves, want %d", n, matches*5)
	}
	if batches >= matches*5 {
		t.Errorf("%d moves took %d transactions: no batching", matches*5, batches)
	}
	t.Logf("%d moves in %d transactions", matches*5, batches)
}

func matchName(i int) string { return "g" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// proxy forwards TCP to PostgreSQL and can cut every connection, as a
// network failure or a stopped database would.
type proxy struct {
	t      *testing.T
	target string
	ln     net.Listener
	addr   string

	mu    sync.Mutex
	conns []net.Conn
	up    bool
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, ln: ln, addr: ln.Addr().String(), up: true}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.up {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.wg.Add(2)
		p.mu.Unlock()
		go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}

func TestJournalSpoolsWhileDatabaseIsDown(t *testing.T) {
	direct, dsn := pgtest.NewDB(t)
	ctx := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	replayed := make(chan struct{}, 1)
	spoolPath := filepath.Join(t.TempDir(), "spool")
	j := startJournal(t, pool, JournalConfig{SpoolPath: spoolPath, WriteTimeout: 500 * time.Millisecond, RetryEvery: 100 * time.Millisecond,
		OnEnded: func() { replayed <- struct{}{} }})
	rec := testRecord("m1")
	if err := j.CreateMatch(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendMove(ctx, "m1", mv(1, 0, `{"cell":4}`)); err != nil {
		t.Fatal(err)
	}

	px.cut()
	// Moves and the end keep being acknowledged, from the spool.
	deadline := time.Now().Add(time.Minute).Truncate(time.Microsecond)
	for seq := 2; seq <= 5; seq++ {
		m := mv(seq, (seq+1)%2, `{"cell":1}`)
		m.Version, m.Deadline = int64(seq+1), deadline
		if err := j.AppendMove(ctx, "m1", m); err != nil {
			t.Fatalf("move %d while down: %v", seq, err)
		}
	}
	// So does a version ceiling.
	if err := j.RaiseVersion(ctx, "m1", 300); err != nil {
		t.Fatalf("version ceiling while down: %v", err)
	}
	if j.Healthy() {
		t.Error("journal healthy while the database is down")
	}
	if err := j.CreateMatch(ctx, testRecord("m2")); !errors.Is(err, match.ErrUnavailable) {
		t.Errorf("new match while down: %v", err)
	}
	res := match.Result{MatchID: "m1", Game: "tictactoe", Players: rec.Players, Status: match.StatusFinished, Winner: 0, Reason: "line", Rated: true, Ended: time.Now()}
	if err := j.FinishMatch(ctx, res); err != nil {
		t.Fatal(err)
	}
	var n int
	direct.QueryRow(ctx, `SELECT count(*) FROM match_moves`).Scan(&n)
	if n != 1 {
		t.Fatalf("moves in the database while down = %d", n)
	}

	px.restore()
	select {
	case <-replayed:
	case <-time.After(15 * time.Second):
		t.Fatal("spool not replayed")
	}
	var status string
	direct.QueryRow(ctx, `SELECT count(*) FROM match_moves`).Scan(&n)
	direct.QueryRow(ctx, `SELECT status FROM matches WHERE id = 'm1'`).Scan(&status)
	if n != 5 || status != "finished" || !j.Healthy() {
		t.Fatalf("after replay: %d moves, status %s, healthy %v", n, status, j.Healthy())
	}
	var ceiling, lastVersion int
	var lastDeadline time.Time
	direct.QueryRow(ctx, `SELECT version FROM matches WHERE id = 'm1'`).Scan(&ceiling)
	direct.QueryRow(ctx, `SELECT version, deadline_at FROM match_moves WHERE match_id = 'm1' AND seq = 5`).Scan(&lastVersion, &lastDeadline)
	if ceiling != 300 || lastVersion != 6 || !lastDeadline.Equal(deadline) {
		t.Fatalf("after replay: ceiling %d, last move version %d, deadline %v (want %v)", ceiling, lastVersion, lastDeadline, deadline)
	}
}

func TestSpoolSurvivesRestartAndTornRecord(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	j := startJournal(t, pool, JournalConfig{})
	if err := j.CreateMatch(ctx, testRecord("m1")); err != nil {
		t.Fatal(err)
	}
	// A spool left by a run that died while the database was down, its
	// last record torn.
	path := filepath.Join(t.TempDir(), "spool")
	sp, err := openSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	m1, m2 := mv(1, 0, `{"cell":4}`), mv(2, 1, `{"cell":0}`)
	if err := sp.append([]*op{{Kind: opMove, MatchID: "m1", Move: &m1, MoveAt: m1.At.UnixMicro()}, {Kind: opMove, MatchID: "m1", Move: &m2, MoveAt: m2.At.UnixMicro()}}); err != nil {
		t.Fatal(err)
	}
	sp.f.Write([]byte(`{"k":2,"m":"m1","mv":{"seq":3`))
	sp.close()

	j2, err := NewJournal(pool, discard(), JournalConfig{Owner: "node-a", SpoolPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if j2.Healthy() {
		t.Error("journal with a spool to replay says healthy")
	}
	if err := j2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	j2.spool.close()
	got, err := j2.Claim(ctx)
	if err != nil || len(got) != 1 || len(got[0].Moves) != 2 {
		t.Fatalf("claim after recover = %+v, %v", got, err)
	}
}
