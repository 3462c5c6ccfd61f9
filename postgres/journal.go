package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// Journal errors.
var (
	// ErrNotOwner: this process no longer holds the match's lease.
	ErrNotOwner = errors.New("match is owned by another process")
)

// JournalConfig tunes a Journal. Zero fields take the defaults.
type JournalConfig struct {
	// Owner names this process in matches.owner. It must be unique among
	// the processes sharing the database and stable across restarts of
	// this one (cmd keeps it in the data folder), so that a restarted
	// process takes its own matches back at once.
	Owner string
	// Lease is how long a match stays this process's without renewal;
	// renewed every Lease/3. Default 60s.
	Lease time.Duration
	// SpoolPath is the append-only file that takes writes while the
	// database is unreachable. Required.
	SpoolPath string
	// MaxBatch bounds the writes committed in one transaction. Default 512.
	MaxBatch int
	// Gather is the longest the writer waits for more writes before it
	// commits a batch, when the writes come fast enough that the wait
	// should gather at least one more (see gatherWindow); a lone write at
	// low load is never held. Larger batches cost the database less per
	// write. Default 1ms; negative: never wait.
	Gather time.Duration
	// WriteTimeout bounds one database transaction; past it the database
	// counts as unreachable. Default 2s.
	WriteTimeout time.Duration
	// RetryEvery is how often a spooling journal tries the database again.
	// Default 1s.
	RetryEvery time.Duration
	// OnEnded is called (from the writer goroutine, and it must not block)
	// after match ends were stored in the database: by a batch, or by the
	// replay of the spool, which may hold some. The rater drains its
	// outbox then.
	OnEnded func()
	// ObserveBatch, if set, is told the size and duration of every batch
	// the writer makes durable (for metrics). It must not block.
	ObserveBatch func(size int, d time.Duration)
}

func (c JournalConfig) withDefaults() JournalConfig {
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 512
	}
	if c.Gather == 0 {
		c.Gather = time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 2 * time.Second
	}
	if c.RetryEvery <= 0 {
		c.RetryEvery = time.Second
	}
	return c
}

// Journal makes matches durable in PostgreSQL (match.Journal). One writer
// goroutine commits the writes of many matches in one transaction (group
// commit): while a transaction commits, the next batch gathers, so a busy
// server writes in big batches and an idle one at once. When the database
// cannot be reached, writes go to an fsynced local spool instead and are
// replayed, in order and idempotently, when it answers again.
type Journal struct {
	pool   *pgxpool.Pool // immutable
	logger *slog.Logger  // immutable
	cfg    JournalConfig // immutable

	ops  chan *op      // to the writer
	done chan struct{} // closed when Run returns

	healthy atomic.Bool // false while spooling; read by readiness and CreateMatch
	stats   journalStats

	// Owned by Run (and by Recover, before Run).
	spool    *spool
	spooling bool
	conn     *pgx.Conn // the writer's own connection; nil: none yet
	gather   gatherState
}

// journalStats are counters for metrics; safe from any goroutine.
type journalStats struct {
	batches  atomic.Int64
	ops      atomic.Int64
	spooled  atomic.Int64
	replayed atomic.Int64
	pending  atomic.Int64 // writes in the spool, waiting for the database
}

type opKind uint8

const (
	opCreate opKind = iota + 1
	opMove
	opFinish
	opVersion // RaiseVersion
)

// op is one write waiting for the writer. Its fields are also the spool's
// record format.
type op struct {
	Kind    opKind            `json:"k"`
	Record  *match.Record     `json:"r,omitempty"`
	MatchID string            `json:"m,omitempty"`
	Move    *match.StoredMove `json:"mv,omitempty"`
	MoveAt  int64             `json:"at,omitempty"` // Move.At in Unix microseconds
	MoveDL  int64             `json:"dl,omitempty"` // Move.Deadline in Unix microseconds; 0: none
	Result  *match.Result     `json:"res,omitempty"`
	Version int64             `json:"ver,omitempty"` // opVersion: the new ceiling

	done chan error // buffered(1); nil for replayed records
}

// NewJournal returns a journal; Run must be running for its writes to
// complete. It opens the spool and reports unhealthy until Run has
// replayed any spool left from an earlier run.
func NewJournal(pool *pgxpool.Pool, logger *slog.Logger, cfg JournalConfig) (*Journal, error) {
	cfg = cfg.withDefaults()
	if cfg.Owner == "" || cfg.SpoolPath == "" {
		return nil, errors.New("journal: Owner and SpoolPath are required")
	}
	sp, err := openSpool(cfg.SpoolPath)
	if err != nil {
		return nil, err
	}
	j := &Journal{
		pool:   pool,
		logger: logger,
		cfg:    cfg,
		ops:    make(chan *op, 4*cfg.MaxBatch),
		done:   make(chan struct{}),
		spool:  sp,
	}
	j.spooling = !sp.empty()
	j.healthy.Store(!j.spooling)
	return j, nil
}

// JournalStats is a snapshot of the journal's counters, for metrics.
type JournalStats struct {
	Batches, Ops, Spooled, Replayed int64
	Pending                         int64 // writes waiting in the spool
}

// Stats returns the journal's counters since start.
func (j *Journal) Stats() JournalStats {
	return JournalStats{
		Batches:  j.stats.batches.Load(),
		Ops:      j.stats.ops.Load(),
		Spooled:  j.stats.spooled.Load(),
		Replayed: j.stats.replayed.Load(),
		Pending:  j.stats.pending.Load(),
	}
}

// Healthy reports whether writes reach the database (not the spool).
func (j *Journal) Healthy() bool { return j.healthy.Load() }

// Ready returns nil when writes reach the database, for /readyz.
func (j *Journal) Ready(ctx context.Context) error {
	if !j.Healthy() {
		return match.ErrUnavailable
	}
	return nil
}

// CreateMatch stores a new live match owned by this process. It refuses
// while the database is unreachable: no new match starts then.
func (j *Journal) CreateMatch(ctx context.Context, rec match.Record) error {
	if !j.Healthy() {
		return fmt.Errorf("create match %s: %w", rec.ID, match.ErrUnavailable)
	}
	return j.submit(ctx, &op{Kind: opCreate, Record: &rec})
}

// AppendMove stores an accepted move; it returns once the move is durable
// in the database or the spool.
func (j *Journal) AppendMove(ctx context.Context, matchID string, mv match.StoredMove) error {
	o := &op{Kind: opMove, MatchID: matchID, Move: &mv, MoveAt: mv.At.UnixMicro()}
	if !mv.Deadline.IsZero() {
		o.MoveDL = mv.Deadline.UnixMicro()
	}
	return j.submit(ctx, o)
}

// RaiseVersion raises a live match's version ceiling (matches.version) to
// version, if it is lower; like a move, only the owner may.
func (j *Journal) RaiseVersion(ctx context.Context, matchID string, version int64) error {
	return j.submit(ctx, &op{Kind: opVersion, MatchID: matchID, Version: version})
}

// FinishMatch stores the end of a match.
func (j *Journal) FinishMatch(ctx context.Context, res match.Result) error {
	return j.submit(ctx, &op{Kind: opFinish, MatchID: res.MatchID, Result: &res})
}

func (j *Journal) submit(ctx context.Context, o *op) error {
	o.done = make(chan error, 1)
	select {
	case j.ops <- o:
	case <-j.done:
		return match.ErrJournalClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-j.done:
		// Run may have answered just before it returned.
		select {
		case err := <-o.done:
			return err
		default:
			return match.ErrJournalClosed
		}
	case <-ctx.Done():
		// The write may still land; a retry is idempotent.
		return ctx.Err()
	}
}

// Run is the writer. It returns when ctx is done, after answering every
// write it took.
func (j *Journal) Run(ctx context.Context) error {
	defer close(j.done)
	defer j.spool.close()
	if j.spooling {
		j.tryReplay(ctx)
	}
	retry := time.NewTicker(j.cfg.RetryEvery)
	defer retry.Stop()
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() { defer close(renewed); j.renewLoop(renewCtx) }()
	defer func() { stopRenew(); <-renewed }()

	defer j.dropConn()
	if !j.spooling {
		// Connect now rather than within the first batch's WriteTimeout.
		j.writerConn(ctx) //nolint:errcheck // the first batch tries again
	}
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	batch := make([]*op, 0, j.cfg.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			j.failPending(match.ErrJournalClosed)
			return nil
		case <-retry.C:
			if j.spooling {
				j.tryReplay(ctx)
			} else {
				j.probe(ctx)
			}
			continue
		case o := <-j.ops:
			batch = append(batch[:0], o)
		}
		batch = j.collect(ctx, batch, gather)
		j.write(ctx, batch)
	}
}

// gatherState is what the writer knows of the pace of writes. Owned by Run.
type gatherState struct {
	last time.Time // when the previous batch was collected
	rate float64   // writes a second, a moving average
}

// collect adds to batch the writes waiting, then, if writes come fast
// enough, those arriving within the gathering window: natural batching
// (writes gather while the previous batch commits) plus a short wait when
// the database is quicker than the writes are many.
func (j *Journal) collect(ctx context.Context, batch []*op, timer *time.Timer) []*op {
	batch = j.drain(batch)
	if w := j.gatherWindow(len(batch)); w > 0 {
		timer.Reset(w)
	wait:
		for len(batch) < j.cfg.MaxBatch {
			select {
			case o := <-j.ops:
				batch = j.drain(append(batch, o))
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	now := time.Now()
	if !j.gather.last.IsZero() {
		if dt := now.Sub(j.gather.last).Seconds(); dt > 0 {
			j.gather.rate = 0.8*j.gather.rate + 0.2*float64(len(batch))/dt
		}
	}
	j.gather.last = now
	return batch
}

// drain adds the writes waiting now, up to MaxBatch.
func (j *Journal) drain(batch []*op) []*op {
	for len(batch) < j.cfg.MaxBatch {
		select {
		case o := <-j.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// gatherWindow is how long to wait for more writes for a batch of n: the
// Gather window when at least one more write is due in it at the recent
// pace and the batch is still small for that pace (a batch that gathered
// while a slow commit ran needs no wait); zero otherwise.
func (j *Journal) gatherWindow(n int) time.Duration {
	if j.cfg.Gather <= 0 {
		return 0
	}
	due := j.gather.rate * j.cfg.Gather.Seconds()
	if due < 1 || float64(n) >= 4*due {
		return 0
	}
	return j.cfg.Gather
}

// writerConn returns the writer's own connection, opened with the
// pool's settings on first use and kept: the journal never waits behind
// other users of the pool (sign-ups, reads) for a connection, and the
// pool can close without it. Its session runs without sequential scans:
// every journal statement finds its rows by key, and with this its plans
// do not depend on how big the tables were when they were first made (a
// generic plan cached while matches was nearly empty scanned it whole,
// batch after batch). Its plans are always generic: a batch's statement
// takes arrays, for which PostgreSQL chose a custom plan, made afresh for
// every batch, and planning cost more than running it (pg_stat_statements
// at 1,000 moves a second: 1.0 s planning against 0.7 s running).
func (j *Journal) writerConn(ctx context.Context) (*pgx.Conn, error) {
	if j.conn != nil && !j.conn.IsClosed() {
		return j.conn, nil
	}
	j.dropConn()
	// A new connection may take longer than a batch may (authentication
	// on a busy host): it gets twice WriteTimeout, whatever the batch's
	// deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*j.cfg.WriteTimeout)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, j.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, `SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan`); err != nil {
		c.Close(context.Background()) //nolint:errcheck // giving up on it
		return nil, err
	}
	j.conn = c
	return c, nil
}

// dropConn closes the writer's connection, if any.
func (j *Journal) dropConn() {
	if j.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	j.conn.Close(ctx) //nolint:errcheck // closing a connection we give up
	j.conn = nil
}

// failPending answers writes still queued at shutdown.
func (j *Journal) failPending(err error) {
	for {
		select {
		case o := <-j.ops:
			o.done <- err
		default:
			return
		}
	}
}

// write makes batch durable and answers each op.
func (j *Journal) write(ctx context.Context, batch []*op) {
	j.stats.batches.Add(1)
	j.stats.ops.Add(int64(len(batch)))
	if obs := j.cfg.ObserveBatch; obs != nil {
		defer func(start time.Time) { obs(len(batch), time.Since(start)) }(time.Now())
	}
	if !j.spooling {
		err := j.commit(ctx, batch)
		if err == nil {
			answer(batch, nil)
			j.endsStored(batch)
			return
		}
		if !unreachable(err) {
			// Some op is refused by the database itself (a lost lease, a
			// constraint): write them one by one so only that one fails.
			for _, o := range batch {
				o.done <- j.commit(ctx, []*op{o})
			}
			j.endsStored(batch)
			return
		}
		j.logger.Warn("database unreachable; spooling writes locally", "err", err)
		j.spooling = true
		j.healthy.Store(false)
		j.dropConn()
	}
	for _, o := range batch {
		if o.Kind == opCreate {
			o.done <- fmt.Errorf("create match %s: %w", o.Record.ID, match.ErrUnavailable)
		}
	}
	if err := j.spool.append(batch); err != nil {
		j.logger.Error("spool write failed", "err", err)
		answer(batch, fmt.Errorf("spool: %w", err))
		return
	}
	for _, o := range batch {
		if o.Kind != opCreate {
			j.stats.spooled.Add(1)
			j.stats.pending.Add(1)
			o.done <- nil
		}
	}
}

// endsStored calls OnEnded if batch held a match end.
func (j *Journal) endsStored(batch []*op) {
	if j.cfg.OnEnded == nil {
		return
	}
	for _, o := range batch {
		if o.Kind == opFinish {
			j.cfg.OnEnded()
			return
		}
	}
}

func answer(batch []*op, err error) {
	for _, o := range batch {
		o.done <- err
	}
}

// Recover replays a spool left by an earlier run, before Run starts and
// before Claim loads live matches. It fails if the database does not answer.
func (j *Journal) Recover(ctx context.Context) error {
	if !j.spooling {
		return nil
	}
	defer j.dropConn() // Run takes its own; Run may never come
	j.tryReplay(ctx)
	if j.spooling {
		return fmt.Errorf("replay spool %s: %w", j.cfg.SpoolPath, match.ErrUnavailable)
	}
	return nil
}

// probe checks that an idle database still answers, so that readiness
// (and CreateMatch) know of an outage before a move runs into it. Run only.
func (j *Journal) probe(ctx context.Context) {
	if err := j.ping(ctx); err != nil && unreachable(err) {
		j.logger.Warn("database unreachable; spooling writes locally", "err", err)
		j.spooling = true
		j.healthy.Store(false)
	}
}

func (j *Journal) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.WriteTimeout)
	defer cancel()
	return j.pool.Ping(ctx)
}

// tryReplay writes the spool into the database if it answers, then
// returns to writing there directly. Run only (or Recover before Run).
func (j *Journal) tryReplay(ctx context.Context) {
	if err := j.ping(ctx); err != nil {
		return
	}
	recs, err := j.spool.read()
	if err != nil {
		j.logger.Error("read spool", "err", err)
		return
	}
	const chunk = 500
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		err := j.replay(ctx, part)
		if err != nil && !unreachable(err) {
			// A record the database refuses would block the spool
			// forever: replay one by one, and set refused ones aside.
			for _, o := range part {
				err = j.replay(ctx, []*op{o})
				if err != nil && !unreachable(err) {
					j.logger.Error("replay spool: record refused; kept in the rejected file", "match_id", o.MatchID, "kind", o.Kind, "err", err)
					if rerr := j.spool.reject(o); rerr != nil {
						j.logger.Error("keep rejected spool record", "err", rerr)
						return
					}
					err = nil
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			return // unreachable again: try later
		}
	}
	if err := j.spool.truncate(); err != nil {
		j.logger.Error("truncate spool", "err", err)
		return
	}
	j.stats.replayed.Add(int64(len(recs)))
	j.stats.pending.Store(0)
	if len(recs) > 0 {
		j.logger.Info("database reachable; spool replayed", "records", len(recs))
	}
	j.spooling = false
	j.healthy.Store(true)
	if j.cfg.OnEnded != nil {
		j.cfg.OnEnded()
	}
}

func (j *Journal) replay(ctx context.Context, recs []*op) error {
	ctx, cancel := context.WithTimeout(ctx, 5*j.cfg.WriteTimeout)
	defer cancel()
	return j.apply(ctx, recs, true)
}

// renewLoop extends this process's hold on its live matches every
// Lease/3, beside the writer: renewing thousands of match rows takes a
// while, and moves must not wait for it (it used to run on the writer).
func (j *Journal) renewLoop(ctx context.Context) {
	t := time.NewTicker(j.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if j.Healthy() {
				j.renewLeases(ctx)
			}
		}
	}
}

// renewChunk is how many match leases one renewal transaction extends.
const renewChunk = 256

// renewLeases extends the lease of every live match this process owns,
// renewChunk rows per short transaction, so that a batch of moves waits
// for one chunk at most (it locks its matches' rows FOR SHARE, which the
// renewal's UPDATE conflicts with). A row a batch in flight holds is
// skipped and taken by a later chunk, or at the next renewal: leases
// renewed every Lease/3 have two more chances before they run out.
func (j *Journal) renewLeases(ctx context.Context) {
	due := j.cfg.Lease - j.cfg.Lease/6 // not renewed in this round yet
	for {
		chunkCtx, cancel := context.WithTimeout(ctx, j.cfg.WriteTimeout)
		tag, err := j.pool.Exec(chunkCtx, `
			UPDATE matches SET lease_until = now() + $2::interval
			WHERE id IN (
				SELECT id FROM matches
				WHERE owner = $1 AND status = 'live' AND lease_until < now() + $3::interval
				LIMIT $4
				FOR NO KEY UPDATE SKIP LOCKED)`, j.cfg.Owner, j.cfg.Lease, due, renewChunk)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				j.logger.Warn("renew match leases", "err", err)
			}
			return
		}
		if tag.RowsAffected() < renewChunk {
			return
		}
	}
}

// unreachable reports whether err means the database could not be reached
// (as opposed to refusing a statement).
func unreachable(err error) bool {
	if errors.Is(err, ErrNotOwner) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) >= 2 && pgErr.Code[:2] == "08": // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, crash, starting up
			return true
		}
		return false
	}
	return true // network errors, timeouts, a closed pool
}

// Resumable is a live match this process took over, with its moves.
type Resumable struct {
	Record match.Record
	Moves  []match.StoredMove
}

// Claim takes over the live matches this process may run (its own,
// released ones, and those whose lease ran out while their owner is no
// cluster member) and loads them for match.Registry.Resume.
// It is called at start, after any spool was replayed.
func (j *Journal) Claim(ctx context.Context) ([]Resumable, error) {
	rows, err := j.pool.Query(ctx, `
		UPDATE matches m SET owner = $1, lease_until = now() + $2::interval
		FROM players p0, players p1
		WHERE m.status = 'live' AND (m.owner = $1 OR m.owner IS NULL OR (`+leaseLost+`))
			AND p0.id = m.seat0 AND p1.id = m.seat1
		RETURNING m.id, m.game, m.started_at, coalesce(m.rematch_of, ''), m.version, m.rated,
			p0.id, p0.name, p1.id, p1.name`, j.cfg.Owner, j.cfg.Lease)
	if err != nil {
		return nil, fmt.Errorf("claim live matches: %w", err)
	}
	var out []Resumable
	for rows.Next() {
		var r Resumable
		rec := &r.Record
		var rated bool
		if err := rows.Scan(&rec.ID, &rec.Game, &rec.Started, &rec.RematchOf, &rec.Version, &rated,
			&rec.Players[0].ID, &rec.Players[0].Name, &rec.Players[1].ID, &rec.Players[1].Name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim live matches: %w", err)
		}
		if !rated {
			// A live match is unrated only by the decision made at its
			// creation, and the pair limit is the one such reason (the
			// reason itself is not stored).
			rec.Unrated = match.UnratedPairLimit
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim live matches: %w", err)
	}
	for i := range out {
		rec := &out[i].Record
		for s := range rec.Players {
			rec.Players[s].Rating = leaderboard.DefaultRating
			err := j.pool.QueryRow(ctx, `SELECT rating FROM ratings WHERE player_id = $1 AND game = $2`,
				rec.Players[s].ID, rec.Game).Scan(&rec.Players[s].Rating)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("claim match %s: rating: %w", rec.ID, err)
			}
		}
		moves, err := j.loadMoves(ctx, rec.ID)
		if err != nil {
			return nil, err
		}
		out[i].Moves = moves
	}
	return out, nil
}

func (j *Journal) loadMoves(ctx context.Context, matchID string) ([]match.StoredMove, error) {
	rows, err := j.pool.Query(ctx, `SELECT seq, seat, move, at, coalesce(version, 0), deadline_at FROM match_moves WHERE match_id = $1 ORDER BY seq`, matchID)
	if err != nil {
		return nil, fmt.Errorf("load moves of %s: %w", matchID, err)
	}
	moves, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (match.StoredMove, error) {
		var mv match.StoredMove
		var seat int16
		var raw []byte
		var version int32
		var deadline *time.Time
		err := row.Scan(&mv.Seq, &seat, &raw, &mv.At, &version, &deadline)
		mv.Seat, mv.Move, mv.Version = int(seat), raw, int64(version)
		if deadline != nil {
			mv.Deadline = *deadline
		}
		return mv, err
	})
	if err != nil {
		return nil, fmt.Errorf("load moves of %s: %w", matchID, err)
	}
	return moves, nil
}
