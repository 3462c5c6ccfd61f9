package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/match"
)

// How a batch of journal writes reaches the database.
//
// A batch is ONE round trip: its statements go to the server as a pipeline
// (a pgx batch), which PostgreSQL runs as one implicit transaction, so the
// batch commits whole or not at all, with one fsync. The pipeline holds
// one set-based statement per round: every create, move, end and version
// ceiling of the round in one statement (arrays through unnest), made of
// the parts its kinds need. A round holds at most one kind of write per
// match, so that no part of a statement needs to see another part's rows
// (all parts of a statement share one snapshot): a batch of live writes
// is nearly always one round (one statement), a spool replay of a
// match's whole life several.
//
// A statement writes moves and version ceilings only for live matches
// this process owns, and holds off a takeover of those matches until the
// batch commits: the moves' part locks the match rows FOR SHARE (no new
// row version: migration 0004), the ceilings' part updates them. It
// returns what it covered, as (kind, match id) rows: the matches whose
// moves and ceilings it stored (a move of a match missing there was
// refused: not ours, or ended), and the matches whose end it refused
// (still live, and not ours).

// The kinds of rows a round's statement returns.
const (
	coveredMove    = 1
	coveredVersion = 2
	refusedEnd     = 3
)

// apply writes ops in one round trip (see above). Replaying (from the
// spool) tolerates writes that already landed and matches that have ended
// since, and writes whoever owns the match now.
func (j *Journal) apply(ctx context.Context, ops []*op, replaying bool) error {
	rounds := splitRounds(ops)
	b := &pgx.Batch{}
	for _, r := range rounds {
		stmt := r.statement(j.cfg.Owner, j.cfg.Lease, replaying)
		b.Queue(stmt.sql.String(), stmt.args...)
	}
	out, err := j.send(ctx, b, len(rounds))
	if err != nil {
		return err
	}
	return out.verdict(rounds, replaying)
}

// commit writes ops in one transaction, within WriteTimeout.
func (j *Journal) commit(ctx context.Context, ops []*op) error {
	ctx, cancel := context.WithTimeout(ctx, j.cfg.WriteTimeout)
	defer cancel()
	return j.apply(ctx, ops, false)
}

// covered is what a batch's statements returned.
type covered struct {
	moves, versions map[string]bool // by match id
	refusedEnds     []string
}

// send runs the pipeline on the writer's connection and collects what
// its rounds covered. It returns once the batch committed or failed.
func (j *Journal) send(ctx context.Context, b *pgx.Batch, rounds int) (covered, error) {
	out := covered{moves: map[string]bool{}, versions: map[string]bool{}}
	conn, err := j.writerConn(ctx)
	if err != nil {
		return out, err
	}
	br := conn.SendBatch(ctx, b)
	for range rounds {
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return out, fmt.Errorf("write journal batch: %w", err)
		}
		var kind int16
		var id string
		_, err = pgx.ForEachRow(rows, []any{&kind, &id}, func() error {
			switch kind {
			case coveredMove:
				out.moves[id] = true
			case coveredVersion:
				out.versions[id] = true
			case refusedEnd:
				out.refusedEnds = append(out.refusedEnds, id)
			}
			return nil
		})
		if err != nil {
			br.Close()
			return out, fmt.Errorf("write journal batch: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return out, fmt.Errorf("commit journal batch: %w", err)
	}
	return out, nil
}

// verdict turns what a committed batch covered into the batch's error: a
// move, version ceiling or end the database refused (the match is no
// longer ours, or has ended) makes the whole batch's answer ErrNotOwner,
// and write() then retries its ops one by one to find which.
func (out covered) verdict(rounds []*round, replaying bool) error {
	if len(out.refusedEnds) > 0 {
		return fmt.Errorf("end matches %v: %w", out.refusedEnds, ErrNotOwner)
	}
	if replaying {
		return nil
	}
	var refused []string
	for _, r := range rounds {
		for _, id := range r.mv.ids {
			if !out.moves[id] {
				refused = append(refused, id)
			}
		}
		for _, id := range r.vs.ids {
			if !out.versions[id] {
				refused = append(refused, id)
			}
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("store moves or version ceilings of %v: %w", refused, ErrNotOwner)
	}
	return nil
}

// round is the part of a batch one statement writes: at most one kind of
// write per match.
type round struct {
	c  createCols
	mv moveCols
	f  finishCols
	vs versionCols
}

// splitRounds puts each op in the first round after its match's previous
// op, or in the same round when both are moves (rps: both seats' moves)
// or both version ceilings: a statement's parts cannot see each other's
// rows, so a match's create, moves and end must come in separate
// statements, in order.
func splitRounds(ops []*op) []*round {
	type last struct {
		round int
		kind  opKind
	}
	seen := make(map[string]last, len(ops))
	var rounds []*round
	for _, o := range ops {
		id := o.MatchID
		if o.Kind == opCreate {
			id = o.Record.ID
		}
		r := 0
		if prev, ok := seen[id]; ok {
			r = prev.round + 1
			if prev.kind == o.Kind && (o.Kind == opMove || o.Kind == opVersion) {
				r = prev.round
			}
		}
		seen[id] = last{r, o.Kind}
		for len(rounds) <= r {
			rounds = append(rounds, &round{})
		}
		rounds[r].add(o)
	}
	return rounds
}

func (r *round) add(o *op) {
	switch o.Kind {
	case opCreate:
		r.c.add(o.Record)
	case opMove:
		r.mv.add(o)
	case opFinish:
		r.f.add(o.Result)
	case opVersion:
		r.vs.ids = append(r.vs.ids, o.MatchID)
		r.vs.versions = append(r.vs.versions, int32(o.Version))
	}
}

// stmt is a statement being composed: its text and its arguments.
type stmt struct {
	sql  strings.Builder
	args []any
	ctes int
	outs []string
}

// arg adds an argument and returns its placeholder.
func (s *stmt) arg(v any) string {
	s.args = append(s.args, v)
	return "$" + strconv.Itoa(len(s.args))
}

// cte adds "name AS (body)" to the statement's WITH list.
func (s *stmt) cte(name, body string) {
	if s.ctes == 0 {
		s.sql.WriteString("WITH ")
	} else {
		s.sql.WriteString(",\n")
	}
	s.ctes++
	s.sql.WriteString(name + " AS (" + body + ")")
}

// statement composes the round's one statement from the parts its kinds
// need. Every part finds match rows by key only: the conditions on owner
// and status are wrapped (IS TRUE) so that the planner cannot serve them
// from an index on status, which it did on a fresh database (an index
// scan of every live match, filtered by id, for each move). The same kinds give the same text, so each shape is prepared once
// per connection. mine is the ownership condition on matches m: this
// node's live match (any match while replaying, whose ops may have been
// written before, or outlived the match's end).
func (r *round) statement(owner string, lease time.Duration, replaying bool) *stmt {
	s := &stmt{}
	var me string
	ownedBy := func(alias string) string {
		if replaying {
			return "true"
		}
		if me == "" {
			me = s.arg(owner)
		}
		return "(" + alias + ".owner = " + me + "::text AND " + alias + ".status = 'live') IS TRUE"
	}
	if c := &r.c; len(c.ids) > 0 {
		// Players normally exist (accounts create them; hello refuses
		// unknown ones); a record from a test or an old spool may name
		// others, so make sure, as guests. The matches' foreign keys are
		// checked at the end of the statement, when these rows are in.
		// A computer player ('bot:…') exists from migration 0008 unless its
		// level is newer: then it is made here, marked bot.
		s.cte("new_players", `INSERT INTO players (id, name, guest, bot)
			SELECT id, name, true, id LIKE 'bot:%' FROM unnest(`+s.arg(c.playerIDs)+`::text[], `+s.arg(c.playerNames)+`::text[]) AS v(id, name)
			ON CONFLICT (id) DO NOTHING`)
		s.cte("new_matches", `INSERT INTO matches (id, game, seat0, seat1, rated, rematch_of, started_at, owner, lease_until)
			SELECT id, game, s0, s1, rated, nullif(rm, ''), st, `+s.arg(owner)+`::text, now() + `+s.arg(lease)+`::interval
			FROM unnest(`+s.arg(c.ids)+`::text[], `+s.arg(c.games)+`::text[], `+s.arg(c.seat0)+`::text[], `+s.arg(c.seat1)+`::text[], `+
			s.arg(c.rematchOf)+`::text[], `+s.arg(c.started)+`::timestamptz[], `+s.arg(c.rated)+`::bool[]) AS v(id, game, s0, s1, rm, st, rated)
			ON CONFLICT (id) DO NOTHING`)
	}
	if mv := &r.mv; len(mv.ids) > 0 {
		// The moves of matches this node owns; a move stored before (a
		// retried write) stays as it was.
		s.cte("mv", `SELECT * FROM unnest(`+s.arg(mv.ids)+`::text[], `+s.arg(mv.seqs)+`::int[], `+s.arg(mv.seats)+`::smallint[], `+
			s.arg(mv.moves)+`::text[], `+s.arg(mv.ats)+`::timestamptz[], `+s.arg(mv.versions)+`::int[], `+s.arg(mv.deadlines)+`::timestamptz[])
			AS v(id, seq, seat, mv, at, ver, dl)`)
		// Each match row by its key, whatever the planner thinks of the
		// table's size (the lateral subquery is not flattened).
		s.cte("mv_own", `SELECT o.id FROM (SELECT DISTINCT id FROM mv) AS v CROSS JOIN LATERAL (
				SELECT m.id FROM matches m WHERE m.id = v.id AND `+ownedBy("m")+` OFFSET 0 FOR SHARE) AS o`)
		s.cte("mv_ins", `INSERT INTO match_moves (match_id, seq, seat, move, at, version, deadline_at)
			SELECT mv.id, mv.seq, mv.seat, mv.mv::jsonb, mv.at, nullif(mv.ver, 0), mv.dl FROM mv JOIN mv_own o ON o.id = mv.id
			ON CONFLICT (match_id, seq) DO NOTHING`)
		s.outs = append(s.outs, `SELECT 1::int2, id FROM mv_own`)
	}
	if vs := &r.vs; len(vs.ids) > 0 {
		// Raise the ceilings of live matches this node owns; never lower
		// one.
		s.cte("vs", `SELECT id, max(ver) AS ver FROM unnest(`+s.arg(vs.ids)+`::text[], `+s.arg(vs.versions)+`::int[]) AS v(id, ver) GROUP BY id`)
		live := ownedBy("m")
		if replaying {
			live = "(m.status = 'live') IS TRUE"
		}
		s.cte("vs_up", `UPDATE matches m SET version = greatest(m.version, vs.ver) FROM vs
			WHERE m.id = vs.id AND `+live+` RETURNING m.id`)
		s.outs = append(s.outs, `SELECT 2::int2, id FROM vs_up`)
	}
	if f := &r.f; len(f.ids) > 0 {
		ids := s.arg(f.ids)
		live := ownedBy("m")
		if replaying {
			live = "(m.status = 'live') IS TRUE"
		}
		s.cte("ends", `UPDATE matches m SET status = v.status, ended_at = v.ended, winner = v.winner,
				reason = v.reason, rated = v.rated, owner = NULL, lease_until = NULL, deadline_at = NULL
			FROM unnest(`+ids+`::text[], `+s.arg(f.statuses)+`::text[], `+s.arg(f.ended)+`::timestamptz[], `+
			s.arg(f.winners)+`::smallint[], `+s.arg(f.reasons)+`::text[], `+s.arg(f.rated)+`::bool[])
				AS v(id, status, ended, winner, reason, rated)
			WHERE m.id = v.id AND `+live+` RETURNING m.id`)
		if !replaying {
			// The UPDATE skips matches that ended already (a retried
			// write: fine) and matches another process owns (refused):
			// those were live before it and it did not end them.
			s.outs = append(s.outs, `SELECT 3::int2, m.id FROM matches m
				WHERE m.id = ANY(`+ids+`::text[]) AND (m.status = 'live') IS TRUE AND m.id NOT IN (SELECT id FROM ends)`)
		}
	}
	if len(s.outs) == 0 {
		s.outs = append(s.outs, `SELECT 0::int2, ''::text WHERE false`)
	}
	s.sql.WriteString("\n" + strings.Join(s.outs, "\nUNION ALL\n"))
	return s
}

// createCols are a round's new matches as columns.
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

// moveCols are a round's moves as columns.
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

// versionCols are a round's version ceilings as columns.
type versionCols struct {
	ids      []string
	versions []int32
}

// finishCols are a round's match ends as columns.
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
