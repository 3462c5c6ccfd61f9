package leaderboard

import (
	"encoding/json"
	"math"

	"github.com/turnbase/turnbase/match"
)

// Limits of the read API (PROTOCOL.md).
const (
	DefaultBoardLimit = 50
	MaxBoardLimit     = 100
	// MaxBoardOffset bounds leaderboard paging. A page at offset n walks n
	// index entries (about 1 ms per thousand at a million players; see
	// docs/benchmarks.md), so deeper pages are refused rather than served
	// slowly. The order (rating, then player id) is unique, so keyset
	// paging ("after this rating and id") can be added when deeper pages
	// are wanted.
	MaxBoardOffset = 10000

	DefaultMatchesLimit = 50
	MaxMatchesLimit     = 100
	// RecentMatches is how many matches a player page lists.
	RecentMatches = 20
)

// PlayerRating is a rating as the API shows it (PROTOCOL.md Rating).
// Rating is rounded to whole points, halves up, as ratings are everywhere
// on the wire; RD is rounded up to whole points, so that a rating is
// provisional exactly when its shown RD is above 110.
type PlayerRating struct {
	Rating      float64 `json:"rating"`
	RD          float64 `json:"rd"`
	Provisional bool    `json:"provisional"`
	Wins        int     `json:"wins"`
	Losses      int     `json:"losses"`
	Draws       int     `json:"draws"`
	Games       int     `json:"games"`
}

// NewPlayerRating is a stored rating as the API shows it.
func NewPlayerRating(rating, rd float64, wins, losses, draws, games int) PlayerRating {
	return PlayerRating{
		Rating: ShownRating(rating), RD: math.Ceil(rd), Provisional: rd > ProvisionalRD,
		Wins: wins, Losses: losses, Draws: draws, Games: games,
	}
}

// RankedRating is a PlayerRating with the player's rank in the game
// (see Rank); Rank is 0, and left out of the JSON, for a provisional
// rating or a banned player.
type RankedRating struct {
	PlayerRating
	Rank int `json:"rank,omitempty"`
}

// PlayerRef is a player as a leaderboard lists it.
type PlayerRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// PlayerInfo is a player as a player page shows it.
type PlayerInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Guest bool   `json:"guest"`
}

// Board is one page of a game's leaderboard (GET /api/leaderboard/{game}).
type Board struct {
	Game string `json:"game"`
	// Total is how many players the whole leaderboard holds. It comes
	// from the rank counts, so other processes' changes of the last
	// RankRefresh may be missing.
	Total   int          `json:"total"`
	Entries []BoardEntry `json:"entries"`
}

// BoardEntry is one leaderboard line.
type BoardEntry struct {
	Rank   int       `json:"rank"`
	Player PlayerRef `json:"player"`
	PlayerRating
}

// PlayerPage is GET /api/players/{id}.
type PlayerPage struct {
	Player  PlayerInfo              `json:"player"`
	Ratings map[string]RankedRating `json:"ratings"`
	Recent  []match.Summary         `json:"recent"` // newest first
}

// MatchDetail is GET /api/matches/{id}: the summary and the moves anyone
// may see.
type MatchDetail struct {
	match.Summary
	Moves []MoveEntry `json:"moves"`
}

// MoveEntry is one stored move.
type MoveEntry struct {
	Seq  int             `json:"seq"`
	Seat int             `json:"seat"`
	Move json.RawMessage `json:"move"`
	AtMS int64           `json:"at_ms"`
}
