// Package match runs matches: one goroutine per live match owns its game
// state (an ended match lingers without one, under its mutex); it
// validates every request, enforces deadlines and the disconnect grace
// period, and streams each subscriber the view it may see. It imports
// neither the transport nor the database: it declares the small interfaces
// it needs (Conn, Journal, Observer) and its callers satisfy them; the
// rater reports rating changes back through Registry.Rated.
package match

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors the registry and matches hand to reply functions. The transport
// (web/errors.go) maps them to wire codes.
var (
	ErrNotFound     = errors.New("no such match")
	ErrNotAPlayer   = errors.New("not a player in this match")
	ErrMatchOver    = errors.New("match is over")
	ErrInMatch      = errors.New("player is already in a live match")
	ErrBusy         = errors.New("match is busy")
	ErrShuttingDown = errors.New("server is shutting down")
	ErrUnsupported  = errors.New("unsupported game")
	ErrNoRematch    = errors.New("rematch not possible")
	// ErrUnavailable: the Journal cannot reach its database, so no new
	// match may start (matches in progress go on through its spool).
	ErrUnavailable = errors.New("storage unavailable")
	// ErrJournalClosed: the Journal has stopped.
	ErrJournalClosed = errors.New("journal closed")
	// ErrUnresumable: Resume could not rebuild a stored match (its game is
	// not offered, or its moves do not replay); it stored the match's end
	// as aborted (server_error) instead.
	ErrUnresumable = errors.New("match cannot be resumed")
	// ErrWatchLimit: the connection watches Config.MaxWatched matches
	// already.
	ErrWatchLimit = errors.New("watching too many matches")
	// Rule errors come from the game and are matched with errors.Is against
	// game.ErrNotYourTurn, game.ErrIllegalMove, game.ErrBadMove.
)

// Conn is one client connection as a match sees it. The transport
// implements it.
type Conn interface {
	// PlayerID is the authenticated player, or "" for a spectator-only
	// connection. Immutable.
	PlayerID() string
	// Send queues one encoded frame without blocking. False means the
	// connection could not keep up: it closes itself, and the match forgets
	// it. Safe to call from any goroutine. It must not call into the
	// Registry: a lingering match calls it holding its own lock.
	Send(frame []byte) bool
}

// ReplyFunc receives the verdict on a request: nil when it was accepted
// (the visible answer is the next match.state), else an error to report.
// It is called exactly once, from any goroutine, and must not block or
// call into the Registry (a lingering match calls it holding its lock).
type ReplyFunc func(err error)

// Player is a seated player as the match shows it.
type Player struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Rating float64 `json:"rating"`
}

// Config tunes matches. Zero fields take the defaults.
type Config struct {
	MoveTimeout time.Duration // a move or rps round; default 30s
	Grace       time.Duration // time to come back after all connections drop; default 30s
	Linger      time.Duration // a finished match stays this long for rematch and late watchers; default 2m
	InboxSize   int           // queued requests per match before ErrBusy; default 64
	// RatingWait bounds how long match.over waits for a rated result's
	// rating changes (Registry.Rated) before it goes out without them, as
	// when the database is down; default 5s.
	RatingWait time.Duration
	// SpectatorEvery coalesces changes of the spectator count: a match
	// broadcasts a new version for them at most once per SpectatorEvery
	// (a move or any other change carries the current count at once), so
	// that spectators coming and going cannot flood the players; default
	// 1s.
	SpectatorEvery time.Duration
	// MaxWatched is how many matches one connection may watch at once
	// (its own matches count); a watch beyond it is ErrWatchLimit;
	// default 16.
	MaxWatched int
}

func (c Config) withDefaults() Config {
	if c.MoveTimeout <= 0 {
		c.MoveTimeout = 30 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	if c.Linger <= 0 {
		c.Linger = 2 * time.Minute
	}
	if c.InboxSize <= 0 {
		c.InboxSize = 64
	}
	if c.RatingWait <= 0 {
		c.RatingWait = 5 * time.Second
	}
	if c.SpectatorEvery <= 0 {
		c.SpectatorEvery = time.Second
	}
	if c.MaxWatched <= 0 {
		c.MaxWatched = 16
	}
	return c
}

// Status of a match on the wire.
const (
	StatusLive     = "live"
	StatusFinished = "finished"
	StatusAborted  = "aborted"
)

// UnratedPairLimit is Record.Unrated (and the wire unrated_reason) of a
// match created when its two players already had as many rated results
// together as the pair limit allows in its window.
const UnratedPairLimit = "pair_limit"

// ReasonServerError is the reason of a match aborted because the server
// could not continue it.
const ReasonServerError = "server_error"

// Summary is a match as listed by the HTTP API (PROTOCOL.md MatchSummary).
type Summary struct {
	ID         string   `json:"id"`
	Game       string   `json:"game"`
	Status     string   `json:"status"`
	Players    []Player `json:"players"`
	Winner     *int     `json:"winner"`
	Reason     string   `json:"reason"`
	StartedMS  int64    `json:"started_ms"`
	EndedMS    *int64   `json:"ended_ms"`
	Spectators int      `json:"spectators"`
	// Voided: an operator voided the match; it counts for no one. An
	// addition to PROTOCOL.md, present only when true.
	Voided bool `json:"voided,omitempty"`
}

// Result is the end of a match, handed to the Journal.
type Result struct {
	MatchID string
	Game    string
	Players [2]Player
	Status  string // StatusFinished or StatusAborted
	Winner  int    // a seat, or game.NoSeat for a draw or an abort
	Reason  string
	Rated   bool
	Started time.Time
	Ended   time.Time
	Moves   int
}

// RatingChange is one player's rating before and after a match.
type RatingChange struct {
	PlayerID string  `json:"player"`
	Before   float64 `json:"before"`
	After    float64 `json:"after"`
}

// Journal makes matches durable: a match is recorded before anyone sees
// it, each accepted move before it is broadcast, and the end before the
// final state goes out. Each call returns once what it was given is
// durable; an error means it is not, and the match refuses what it was
// doing. Implementations batch concurrent calls (group commit).
type Journal interface {
	CreateMatch(ctx context.Context, rec Record) error
	AppendMove(ctx context.Context, matchID string, mv StoredMove) error
	FinishMatch(ctx context.Context, res Result) error
	// RaiseVersion makes version the match's durable version ceiling
	// (unless it has one as high already): after a restart, the match
	// continues above it. A match calls it before it would send a version
	// above the ceiling its stored moves give (see VersionHeadroom).
	RaiseVersion(ctx context.Context, matchID string, version int64) error
}

// VersionHeadroom is how many versions a live match may send above the
// version of its last stored move without a write of its own. Together the
// journal's stored moves (StoredMove.Version) and RaiseVersion keep a
// durable ceiling: every version a match has sent is at most
// max(last RaiseVersion, last stored move's Version + VersionHeadroom).
// A resumed match starts above that ceiling (Record.Version is the
// RaiseVersion part), so a client that saw any version before a crash or
// restart takes the resumed match's states as newer. Moves carry their
// version anyway; only a run of more than VersionHeadroom other changes
// (connections, spectators) between two moves costs a write.
const VersionHeadroom = 64

// ResumeMinimum is the least time a resumed match gives the player to
// move: a turn whose deadline passed while the server was down ends
// ResumeMinimum (at most MoveTimeout) after the resume, not at once.
const ResumeMinimum = 10 * time.Second

// Record is a match's identity as stored.
type Record struct {
	ID        string
	Game      string
	Players   [2]Player
	Started   time.Time
	RematchOf string // "" unless this match is a rematch
	// Unrated says why the match's result will not move ratings, decided
	// when it is created (Deps.RatedFunc), e.g. UnratedPairLimit; "": it
	// will (unless the match is aborted, which never does).
	Unrated string
	// Version is the match's durable version ceiling as RaiseVersion last
	// made it (0: never), for Resume; CreateMatch ignores it.
	Version int64
}

// StoredMove is one accepted move as stored: Seq counts from 1 within the
// match, with no gaps.
type StoredMove struct {
	Seq  int             `json:"seq"`
	Seat int             `json:"seat"`
	Move json.RawMessage `json:"move"`
	At   time.Time       `json:"-"`
	// Version is the match.state version the move produced (0: unknown,
	// a move stored before migration 0005).
	Version int64 `json:"ver,omitempty"`
	// Deadline is the turn deadline the players were shown after the
	// move; zero when none runs (the move ended the match) or unknown.
	Deadline time.Time `json:"-"`
}

// Observer receives what matches measure, for metrics. cmd implements it
// with Prometheus; its methods are called from match goroutines and must
// not block.
type Observer interface {
	// MoveAccepted: a move was applied, stored and broadcast; d runs from
	// its arrival at the registry to the last subscriber's Send.
	MoveAccepted(game string, d time.Duration)
	// MoveRejected: a move was refused; reason is the error's wire code.
	MoveRejected(game string, err error)
	MatchStarted(game string)
	MatchEnded(game, status, reason string)
	// SubscriberDropped: a connection could not keep up and was dropped.
	SubscriberDropped()
}

// nopObserver is the Observer of a registry given none.
type nopObserver struct{}

func (nopObserver) MoveAccepted(string, time.Duration) {}
func (nopObserver) MoveRejected(string, error)         {}
func (nopObserver) MatchStarted(string)                {}
func (nopObserver) MatchEnded(string, string, string)  {}
func (nopObserver) SubscriberDropped()                 {}
