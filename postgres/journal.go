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

	// Owned by Run.
	spool    *spool
	spooling bool
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
	renew := time.NewTicker(j.cfg.Lease / 3)
	defer renew.Stop()

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
		case <-renew.C:
			if !j.spooling {
				j.renewLeases(ctx)
			}
			continue
		case o := <-j.ops:
			batch = append(batch[:0], o)
		}
	gather:
		for len(batch) < j.cfg.MaxBatch {
			select {
			case o := <-j.ops:
				batch = append(batch, o)
			default:
				break gather
			}
		}
		j.write(ctx, batch)
	}
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

// commit writes ops in one transaction.
func (j *Journal) commit(ctx context.Context, ops []*op) error {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.WriteTimeout)
	defer cancel()
	return j.apply(ctx, ops, false)
}

// apply writes ops in ONE round trip: the statements go to the server as a
// pipeline (a pgx batch), which PostgreSQL runs as one implicit
// transaction, so a batch commits whole or not at all, with one fsync.
// Every statement covers all the batch's ops of its kind (unnest arrays).
// Replaying (from the spool) tolerates writes that already landed and
// matches that have ended since.
func (j *Journal) apply(ctx context.Context, ops []*op, replaying bool) error {
	var (
		c  createCols
		mv moveCols
		f  finishCols
		vs versionCols
	)
	for _, o := range ops {
		switch o.Kind {
		case opCreate:
			c.add(o.Record)
		case opMove:
			mv.add(o)
		case opFinish:
			f.add(o.Result)
		case opVersion:
			vs.ids = append(vs.ids, o.MatchID)
			vs.versions = append(vs.versions, int32(o.Version))
		}
	}
	b := &pgx.Batch{}
	if len(c.ids) > 0 {
		// Players normally exist (accounts create them; hello refuses
		// unknown ones); a record from a test or an old spool may name
		// others, so make sure, as guests.
		b.Queue(`INSERT INTO players (id, name, guest)
			SELECT id, name, true FROM unnest($1::text[], $2::text[]) AS v(id, name)
			ON CONFLICT (id) DO NOTHING`, c.playerIDs, c.playerNames)
		b.Queue(`INSERT INTO matches (id, game, seat0, seat1, rated, rematch_of, started_at, owner, lease_until)
			SELECT id, game, s0, s1, rated, nullif(rm, ''), st, $7, now() + $8::interval
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $9::bool[]) AS v(id, game, s0, s1, rm, st, rated)
			ON CONFLICT (id) DO NOTHING`,
			c.ids, c.games, c.seat0, c.seat1, c.rematchOf, c.started, j.cfg.Owner, j.cfg.Lease, c.rated)
	}
	movesAt := -1 // the batch index of the moves statement
	if len(mv.ids) > 0 {
		movesAt = b.Len()
		// Lock the rows of the matches this process owns (while replaying:
		// of any) against a takeover until the batch commits, and store
		// their moves. FOR SHARE, not an UPDATE: no new row version per
		// batch (migration 0004). A move stored before (a retried write)
		// stays as it was. The statement returns the matches it covered:
		// a move of a match missing there was refused.
		b.Queue(`WITH v AS (
				SELECT * FROM unnest($1::text[], $2::int[], $3::smallint[], $4::text[], $5::timestamptz[], $8::int[], $9::timestamptz[]) AS v(id, seq, seat, mv, at, ver, dl)
			), own AS (
				SELECT m.id FROM matches m
				WHERE m.id IN (SELECT id FROM v) AND ($7 OR (m.owner = $6 AND m.status = 'live'))
				FOR SHARE
			), ins AS (
				INSERT INTO match_moves (match_id, seq, seat, move, at, version, deadline_at)
				SELECT v.id, v.seq, v.seat, v.mv::jsonb, v.at, nullif(v.ver, 0), v.dl FROM v JOIN own ON own.id = v.id
				ON CONFLICT (match_id, seq) DO NOTHING
			)
			SELECT id FROM own`,
			mv.ids, mv.seqs, mv.seats, mv.moves, mv.ats, j.cfg.Owner, replaying, mv.versions, mv.deadlines)
	}
	versionsAt := -1 // the batch index of the version ceilings statement
	if len(vs.ids) > 0 {
		versionsAt = b.Len()
		// Raise the ceilings of the live matches this process owns (while
		// replaying: of any live one); never lower one. The statement
		// returns the matches it covered, as the moves' does.
		b.Queue(`WITH v AS (
				SELECT id, max(ver) AS ver FROM unnest($1::text[], $2::int[]) AS v(id, ver) GROUP BY id
			), up AS (
				UPDATE matches m SET version = greatest(m.version, v.ver) FROM v
				WHERE m.id = v.id AND m.status = 'live' AND ($4 OR m.owner = $3)
				RETURNING m.id
			)
			SELECT id FROM up`,
			vs.ids, vs.versions, j.cfg.Owner, replaying)
	}
	if len(f.ids) > 0 {
		b.Queue(`UPDATE matches m SET status = v.status, ended_at = v.ended, winner = v.winner,
				reason = v.reason, rated = v.rated, owner = NULL, lease_until = NULL, deadline_at = NULL
			FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::smallint[], $5::text[], $6::bool[])
				AS v(id, status, ended, winner, reason, rated)
			WHERE m.id = v.id AND m.status = 'live' AND ($8 OR m.owner = $7)`,
			f.ids, f.statuses, f.ended, f.winners, f.reasons, f.rated, j.cfg.Owner, replaying)
	}
	endsAt := -1 // the batch index of the check that every end took
	if len(f.ids) > 0 && !replaying {
		// The UPDATE skips matches that ended already (a retried write:
		// fine) and matches another process owns (refused): those are
		// the ones still live after it, in this same transaction.
		endsAt = b.Len()
		b.Queue(`SELECT id FROM matches WHERE id = ANY($1) AND status = 'live'`, f.ids)
	}
	if b.Len() == 0 {
		return nil
	}
	br := j.pool.SendBatch(ctx, b)
	var refused, notEnded []string
	for i := 0; i < b.Len(); i++ {
		if i == endsAt {
			rows, err := br.Query()
			if err == nil {
				notEnded, err = pgx.CollectRows(rows, pgx.RowTo[string])
			}
			if err != nil {
				br.Close()
				return fmt.Errorf("check ended matches: %w", err)
			}
			continue
		}
		if i == movesAt || i == versionsAt {
			want, what := mv.ids, "store moves"
			if i == versionsAt {
				want, what = vs.ids, "store version ceilings"
			}
			owned, err := br.Query()
			if err != nil {
				br.Close()
				return fmt.Errorf("%s: %w", what, err)
			}
			ids, err := pgx.CollectRows(owned, pgx.RowTo[string])
			if err != nil {
				br.Close()
				return fmt.Errorf("%s: %w", what, err)
			}
			got := make(map[string]bool, len(ids))
			for _, id := range ids {
				got[id] = true
			}
			for _, id := range want {
				if !got[id] {
					refused = append(refused, id)
				}
			}
			continue
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("write journal batch: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("commit journal batch: %w", err)
	}
	if len(refused) > 0 && !replaying {
		// The batch committed; the refused moves' matches are no longer
		// ours (or have ended). write() retries the ops one by one, which
		// finds exactly which.
		return fmt.Errorf("store moves or version ceilings of %v: %w", refused, ErrNotOwner)
	}
	if len(notEnded) > 0 {
		return fmt.Errorf("end matches %v: %w", notEnded, ErrNotOwner)
	}
	return nil
}

// createCols are a batch's new matches as columns.
type createCols struct {
	ids, games, seat0, seat1, rematchOf []string
	started                             []time.Time
	rated                               []bool // decided at creation (Record.Unrated)
	playerIDs, playerNames              []string
}

func (c *createCols) add(rec *match.Record) {
	c.ids = append(c.ids, rec.ID)
	c.games = append(c.games, rec.Game)
	c.seat0 = append(c.seat0, rec.Players[0].ID)
	c.seat1 = append(c.seat1, rec.Players[1].ID)
	c.rematchOf = append(c.rematchOf, rec.RematchOf)
	c.started = append(c.started, rec.Started)
	c.rated = append(c.rated, rec.Unrated == "")
	for _, p := range rec.Players {
		c.playerIDs = append(c.playerIDs, p.ID)
		c.playerNames = append(c.playerNames, p.Name)
	}
}

// moveCols are a batch's moves as columns.
type moveCols struct {
	ids       []string
	seqs      []int32
	seats     []int16
	moves     []string
	ats       []time.Time
	versions  []int32      // 0: unknown (stored as null)
	deadlines []*time.Time // nil: none
}

func (m *moveCols) add(o *op) {
	m.ids = append(m.ids, o.MatchID)
	m.seqs = append(m.seqs, int32(o.Move.Seq))
	m.seats = append(m.seats, int16(o.Move.Seat))
	m.moves = append(m.moves, string(o.Move.Move))
	m.ats = append(m.ats, time.UnixMicro(o.MoveAt))
	m.versions = append(m.versions, int32(o.Move.Version))
	var dl *time.Time
	if o.MoveDL != 0 {
		t := time.UnixMicro(o.MoveDL)
		dl = &t
	}
	m.deadlines = append(m.deadlines, dl)
}

// versionCols are a batch's version ceilings as columns.
type versionCols struct {
	ids      []string
	versions []int32
}

// finishCols are a batch's match ends as columns.
type finishCols struct {
	ids, statuses, reasons []string
	ended                  []time.Time
	winners                []*int16
	rated                  []bool
}

func (f *finishCols) add(res *match.Result) {
	var winner *int16
	if res.Winner == 0 || res.Winner == 1 {
		w := int16(res.Winner)
		winner = &w
	}
	f.ids = append(f.ids, res.MatchID)
	f.statuses = append(f.statuses, res.Status)
	f.reasons = append(f.reasons, res.Reason)
	f.ended = append(f.ended, res.Ended)
	f.winners = append(f.winners, winner)
	f.rated = append(f.rated, res.Rated)
}

// Recover replays a spool left by an earlier run, before Run starts and
// before Claim loads live matches. It fails if the database does not answer.
func (j *Journal) Recover(ctx context.Context) error {
	if !j.spooling {
		return nil
	}
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

// renewLeases extends this process's hold on its live matches.
func (j *Journal) renewLeases(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.WriteTimeout)
	defer cancel()
	if _, err := j.pool.Exec(ctx, `
		UPDATE matches SET lease_until = now() + $2::interval
		WHERE owner = $1 AND status = 'live'`, j.cfg.Owner, j.cfg.Lease); err != nil {
		j.logger.Warn("renew match leases", "err", err)
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

// Claim takes over the live matches this process may run (its own, and
// those whose owner's lease ran out) and loads them for match.Registry.Resume.
// It is called at start, after any spool was replayed.
func (j *Journal) Claim(ctx context.Context) ([]Resumable, error) {
	rows, err := j.pool.Query(ctx, `
		UPDATE matches m SET owner = $1, lease_until = now() + $2::interval
		FROM players p0, players p1
		WHERE m.status = 'live' AND (m.owner = $1 OR m.owner IS NULL OR m.lease_until < now())
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
