package match

import (
	"encoding/json"
	"math"
	"time"

	"github.com/turnbase/turnbase/game"
)

// The frames a match writes. Field names and order follow PROTOCOL.md;
// fields marked "extension" are additions the protocol allows.

type wirePlayer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Rating int64  `json:"rating"`
}

type wireSeat struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Rating    int64  `json:"rating"`
	Connected bool   `json:"connected"`
	GraceMS   *int64 `json:"grace_ms,omitempty"` // extension: when a disconnected player's grace period ends
}

type foundFrame struct {
	Type    string        `json:"type"`
	Match   string        `json:"match"`
	Game    string        `json:"game"`
	Players [2]wirePlayer `json:"players"`
	You     int           `json:"you"`
}

type stateFrame struct {
	Type       string      `json:"type"`
	Match      string      `json:"match"`
	Game       string      `json:"game"`
	Version    int64       `json:"version"`
	Status     string      `json:"status"`
	Players    [2]wireSeat `json:"players"`
	You        *int        `json:"you"`
	Turn       *int        `json:"turn"`
	DeadlineMS *int64      `json:"deadline_ms"`
	State      any         `json:"state"`
	Spectators int         `json:"spectators"`
	ServerMS   int64       `json:"server_ms"` // extension: lets clients correct deadline_ms for clock skew
}

type overFrame struct {
	Type    string         `json:"type"`
	Match   string         `json:"match"`
	Result  string         `json:"result"`
	Winner  *int           `json:"winner"`
	Reason  string         `json:"reason"`
	Ratings []RatingChange `json:"ratings"`
}

type rematchFrame struct {
	Type  string `json:"type"`
	Match string `json:"match"`
	By    int    `json:"by"` // the seat that asked
}

func roundRating(r float64) int64 { return int64(math.Round(r)) }

func wirePlayers(ps [2]Player) [2]wirePlayer {
	var out [2]wirePlayer
	for i, p := range ps {
		out[i] = wirePlayer{ID: p.ID, Name: p.Name, Rating: roundRating(p.Rating)}
	}
	return out
}

func seatPtr(seat int) *int {
	if seat == game.NoSeat {
		return nil
	}
	return &seat
}

func msPtr(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

// mustEncode marshals a frame built from our own types. Those cannot fail
// to encode unless a game's View returns something unencodable, which is a
// bug in that game: it panics, and the match's recover aborts the match.
func mustEncode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("match: encode frame: " + err.Error())
	}
	return b
}

// rounded is p with its rating rounded to whole points, as player lists
// show it.
func (p Player) rounded() Player {
	p.Rating = math.Round(p.Rating)
	return p
}
