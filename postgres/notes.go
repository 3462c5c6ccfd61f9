package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnbase/turnbase/leaderboard"
)

// Notes between the nodes of a cluster about what the rater and the
// operators changed, so that every node's rank counts and ticket ratings
// follow within a notification's delay rather than at the next reload.
// They are sent in the transaction that makes the change (pg_notify), so
// they go out exactly when it commits; a note lost while a listener
// reconnects is made good by the periodic reload (RankRefresh) and the
// ticket cache's TTL. Only a cluster node sends them (RatingsConfig.Node).

const (
	// ChannelRanks carries each rating batch's rank deltas and new
	// ratings: "<xid> <rankNote JSON>", xid the batch's transaction.
	ChannelRanks = "turnbase_ranks"
	// ChannelOps carries operators' actions that other nodes act on
	// (OpsNote JSON).
	ChannelOps = "turnbase_ops"
)

// maxNote bounds a note's JSON, under NOTIFY's 8000 bytes with the
// transaction id in front.
const maxNote = 7700

// rankNote is one payload of ChannelRanks (after the transaction id).
type rankNote struct {
	Node    string       `json:"n"`
	Deltas  []noteDelta  `json:"d,omitempty"`
	Tickets []noteTicket `json:"t,omitempty"`
}

type notePos struct {
	Counted     bool  `json:"c,omitempty"`
	Established bool  `json:"e,omitempty"`
	Bucket      int64 `json:"b,omitempty"`
}

type noteDelta struct {
	Game string  `json:"g"`
	From notePos `json:"f"`
	To   notePos `json:"t"`
}

type noteTicket struct {
	Player string  `json:"p"`
	Game   string  `json:"g"`
	Rating float64 `json:"r"`
}

// rankNotes encodes a batch's deltas and new ratings as ChannelRanks
// payloads (without the transaction id), each under maxNote bytes; nil
// when this is no cluster node.
func (s *Ratings) rankNotes(b ratedBatch) []string {
	if s.cfg.Node == "" {
		return nil
	}
	var notes []string
	note := rankNote{Node: s.cfg.Node}
	size := 0
	flush := func() {
		if len(note.Deltas)+len(note.Tickets) > 0 {
			notes = append(notes, string(mustJSON(note)))
		}
		note, size = rankNote{Node: s.cfg.Node}, 0
	}
	room := maxNote - 40 - len(s.cfg.Node) // the note's envelope
	add := func(n int) {
		if size+n > room {
			flush()
		}
		size += n
	}
	for _, d := range b.deltas {
		nd := noteDelta{Game: d.Game, From: notePos(d.From), To: notePos(d.To)}
		add(len(mustJSON(nd)) + 1)
		note.Deltas = append(note.Deltas, nd)
	}
	for _, id := range b.ids {
		for _, ch := range b.changes[id] {
			nt := noteTicket{Player: ch.PlayerID, Game: b.games[id], Rating: ch.After}
			add(len(mustJSON(nt)) + 1)
			note.Tickets = append(note.Tickets, nt)
		}
	}
	flush()
	return notes
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("postgres: encode note: " + err.Error()) // plain structs
	}
	return b
}

// queueRankNotes adds the notes to the rating batch's statements: each is
// sent when the transaction commits, behind its id.
func queueRankNotes(b *pgx.Batch, notes []string) {
	for _, n := range notes {
		b.Queue(`SELECT pg_notify($1, pg_current_xact_id()::text || ' ' || $2)`, ChannelRanks, n)
	}
}

// ApplyRanksNote takes in another node's rating batch (a ChannelRanks
// payload): its deltas move the rank counts (unless a reload saw them
// already), and its new ratings go into the ticket cache. A node's own
// notes are ignored: it took them in when it committed. It never blocks.
func (s *Ratings) ApplyRanksNote(payload string) error {
	xidText, body, ok := strings.Cut(payload, " ")
	xid, err := strconv.ParseUint(xidText, 10, 64)
	if !ok || err != nil {
		return errors.New("ranks note: no transaction id")
	}
	var note rankNote
	if err := json.Unmarshal([]byte(body), &note); err != nil {
		return fmt.Errorf("ranks note: %w", err)
	}
	if note.Node == s.cfg.Node {
		return nil
	}
	for _, d := range note.Deltas {
		s.ranks.Apply(leaderboard.RankDelta{Game: d.Game, TxID: xid, From: leaderboard.RankPos(d.From), To: leaderboard.RankPos(d.To)})
	}
	now := time.Now()
	for _, t := range note.Tickets {
		s.tickets.putAt(t.Player, t.Game, t.Rating, now, xid)
	}
	return nil
}

// OpsNote is a ChannelOps payload: an operator's action other nodes act
// on. Op is "ban" (close the players' sockets; ranks too), "ranks" (the
// rank counts and the players' ratings changed: a reset, a void, an
// unban), or "abort" (a live match, sent by the node whose operator
// aborted it, for the node that runs it).
type OpsNote struct {
	Op      string   `json:"op"`
	Node    string   `json:"n"`
	Players []string `json:"p,omitempty"`
	All     bool     `json:"all,omitempty"` // every player's rating may have changed
	Match   string   `json:"m,omitempty"`
}

// Operations of OpsNote.
const (
	OpsBan   = "ban"
	OpsRanks = "ranks"
	OpsAbort = "abort"
)

// Encode returns the note as a payload, players left out (All set) when
// they would not fit.
func (n OpsNote) Encode() string {
	b := mustJSON(n)
	if len(b) > maxNote && len(n.Players) > 0 {
		n.Players, n.All = nil, true
		b = mustJSON(n)
	}
	return string(b)
}

// ParseOpsNote decodes a ChannelOps payload.
func ParseOpsNote(payload string) (OpsNote, error) {
	var n OpsNote
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return OpsNote{}, fmt.Errorf("ops note: %w", err)
	}
	return n, nil
}

// notifyOps sends an operator's note in tx, from a cluster node only.
func (o *Ops) notifyOps(ctx context.Context, tx pgx.Tx, n OpsNote) error {
	if o.ratings == nil || o.ratings.cfg.Node == "" {
		return nil
	}
	n.Node = o.ratings.cfg.Node
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ChannelOps, n.Encode())
	return err
}

// ApplyOpsNote takes in another node's operator action on the ratings:
// the rank counts are loaded again at their next use, and the players'
// ticket ratings (all of them with All) are read again. It never blocks;
// a node's own notes are ignored (it did so itself).
func (s *Ratings) ApplyOpsNote(n OpsNote) {
	if n.Node == s.cfg.Node || (n.Op != OpsBan && n.Op != OpsRanks) {
		return
	}
	s.ranks.Invalidate()
	if n.All {
		s.tickets.forgetAll()
		return
	}
	for _, p := range n.Players {
		s.tickets.forget(p)
	}
}
