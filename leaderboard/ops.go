package leaderboard

import (
	"encoding/json"
	"time"
)

// What operators see and do (the /api/ops endpoints). The types are the
// JSON the endpoints answer.

// Actor is who performs an operator action: an operator, or the server
// itself (ID empty, Name "server") or the command line.
type Actor struct {
	ID   string
	Name string
}

// Operator is an account with the operator role.
type Operator struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// Ban filters of the operators' leaderboard.
const (
	FilterAll         = "all"
	FilterEstablished = "established" // the public default: established, not banned
	FilterProvisional = "provisional"
	FilterBanned      = "banned"
	FilterFlagged     = "flagged"
)

// OpsBoardEntry is a line of the operators' leaderboard.
type OpsBoardEntry struct {
	Player      PlayerRef  `json:"player"`
	Rating      float64    `json:"rating"`
	RD          float64    `json:"rd"`
	Provisional bool       `json:"provisional"`
	Games       int        `json:"games"`
	Wins        int        `json:"wins"`
	Losses      int        `json:"losses"`
	Draws       int        `json:"draws"`
	LastPlayed  *time.Time `json:"last_played"`
	Banned      bool       `json:"banned"`
	Flags       int        `json:"flags"`
}

// OpsPlayer is everything an operator sees about a player.
type OpsPlayer struct {
	ID             string                    `json:"id"`
	Name           string                    `json:"name"`
	Guest          bool                      `json:"guest"`
	Operator       bool                      `json:"operator"`
	CreatedAt      time.Time                 `json:"created_at"`
	LastSeenAt     *time.Time                `json:"last_seen_at"`
	BannedAt       *time.Time                `json:"banned_at"`
	BannedUntil    *time.Time                `json:"banned_until"`
	BanReason      *string                   `json:"ban_reason"`
	FirstAddrBlock *string                   `json:"first_addr_block"`
	Ratings        map[string]PlayerRating   `json:"ratings"`
	History        map[string][]HistoryPoint `json:"history"`
	Recent         []OpsMatch                `json:"recent"`
	Opponents      []OpponentCount           `json:"opponents"`
	Flags          []Flag                    `json:"flags"`
}

// HistoryPoint is a player's rating after one rated, unvoided match.
type HistoryPoint struct {
	MatchID string    `json:"match_id"`
	At      time.Time `json:"at"`
	Rating  float64   `json:"rating"`
	RD      float64   `json:"rd"`
}

// OpsMatch is a stored match as operators list it.
type OpsMatch struct {
	ID         string     `json:"id"`
	Game       string     `json:"game"`
	Status     string     `json:"status"`
	Reason     *string    `json:"reason"`
	Rated      bool       `json:"rated"`
	Opponent   PlayerRef  `json:"opponent"`
	Result     string     `json:"result"` // win, loss, draw, aborted, live: for the player
	Moves      int        `json:"moves"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	Voided     bool       `json:"voided"`
	VoidReason *string    `json:"void_reason"`
	Change     *float64   `json:"change"` // rating change, for rated matches
}

// OpponentCount is how a player fared against one opponent.
type OpponentCount struct {
	Opponent PlayerRef `json:"opponent"`
	Games    int       `json:"games"`
	Wins     int       `json:"wins"`
	Losses   int       `json:"losses"`
	Draws    int       `json:"draws"`
	Voided   int       `json:"voided"`
}

// Flag is one integrity signal raised for a player, with its evidence.
type Flag struct {
	PlayerID string          `json:"player_id"`
	Signal   string          `json:"signal"`
	Severity float64         `json:"severity"`
	Summary  string          `json:"summary"`
	Evidence json.RawMessage `json:"evidence"`
	Key      string          `json:"key"`    // fingerprint of the evidence
	Status   string          `json:"status"` // open, reviewed (dismissed ones are not listed)
}

// FlaggedPlayer is a line of the review queue: a player and their flags,
// most severe first.
type FlaggedPlayer struct {
	Player   PlayerRef `json:"player"`
	Banned   bool      `json:"banned"`
	Severity float64   `json:"severity"`
	Flags    []Flag    `json:"flags"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID           int64           `json:"id"`
	At           time.Time       `json:"at"`
	OperatorID   *string         `json:"operator_id"`
	OperatorName string          `json:"operator_name"`
	Action       string          `json:"action"`
	TargetKind   string          `json:"target_kind"`
	TargetID     string          `json:"target_id"`
	Reason       string          `json:"reason"`
	Before       json.RawMessage `json:"before"`
	After        json.RawMessage `json:"after"`
}

// AuditFilter selects audit log lines; empty fields select all.
type AuditFilter struct {
	Action   string
	Operator string // operator name
	Target   string // target id
	Limit    int
}

// VoidResult is what voiding matches did to ratings: each touched
// player's rating in the game before and after.
type VoidResult struct {
	Voided  []string        `json:"voided"`
	Changes []RatingRestore `json:"changes"`
}

// RatingRestore is one player's rating before and after a void.
type RatingRestore struct {
	PlayerID string  `json:"player_id"`
	Game     string  `json:"game"`
	Before   float64 `json:"before"`
	After    float64 `json:"after"`
	RDBefore float64 `json:"rd_before"`
	RDAfter  float64 `json:"rd_after"`
}
