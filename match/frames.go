package match

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/turnbase/turnbase/game"
)

// The frames a match writes. Field names and order follow PROTOCOL.md;
// fields marked "extension" are additions the protocol allows.

type wirePlayer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Rating int64  `json:"rating"`
	Bot    string `json:"bot,omitempty"` // extension: a computer seat's level
}

type wireSeat struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Rating    int64  `json:"rating"`
	Bot       string `json:"bot,omitempty"` // extension: a computer seat's level
	Connected bool   `json:"connected"`
	GraceMS   *int64 `json:"grace_ms,omitempty"` // extension: when a disconnected player's grace period ends
}

type foundFrame struct {
	Type    string        `json:"type"`
	Match   string        `json:"match"`
	Game    string        `json:"game"`
	Players [2]wirePlayer `json:"players"`
	You     int           `json:"you"`
	Rated   bool          `json:"rated"`                    // extension: whether a finished result moves ratings
	Unrated string        `json:"unrated_reason,omitempty"` // extension: why not, when rated is false
}

// stateFrame is match.state as one viewer sees it. appendJSON writes it;
// the json tags give the wire names, and the tests check appendJSON against
// encoding/json with State set to the view.
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
	State      any         `json:"state"` // unused by appendJSON, which is given the game state
	Spectators int         `json:"spectators"`
	ServerMS   int64       `json:"server_ms"`                // extension: lets clients correct deadline_ms for clock skew
	Rated      bool        `json:"rated"`                    // extension: as in match.found
	Unrated    string      `json:"unrated_reason,omitempty"` // extension: as in match.found
}

// appendHead opens a match frame: {"type":…,"match":…,"game":…
func appendHead(b []byte, typ, matchID, gameID string) []byte {
	b = append(b, `{"type":`...)
	b = game.AppendString(b, typ)
	b = append(b, `,"match":`...)
	b = game.AppendString(b, matchID)
	b = append(b, `,"game":`...)
	return game.AppendString(b, gameID)
}

// appendJSON appends the frame as encoding/json would write it, with s as
// viewer sees it for "state", without reflection (unless the game has no
// AppendView).
func (f *stateFrame) appendJSON(b []byte, s game.State, viewer int) ([]byte, error) {
	b = appendHead(b, f.Type, f.Match, f.Game)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, f.Version, 10)
	b = append(b, `,"status":`...)
	b = game.AppendString(b, f.Status)
	b = append(b, `,"players":[`...)
	for i, p := range f.Players {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPlayer(b, wirePlayer{ID: p.ID, Name: p.Name, Rating: p.Rating, Bot: p.Bot})
		b = append(b, `,"connected":`...)
		b = strconv.AppendBool(b, p.Connected)
		if p.GraceMS != nil {
			b = append(b, `,"grace_ms":`...)
			b = strconv.AppendInt(b, *p.GraceMS, 10)
		}
		b = append(b, '}')
	}
	b = append(b, `],"you":`...)
	b = appendIntPtr(b, f.You)
	b = append(b, `,"turn":`...)
	b = appendIntPtr(b, f.Turn)
	b = append(b, `,"deadline_ms":`...)
	if f.DeadlineMS == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *f.DeadlineMS, 10)
	}
	b = append(b, `,"state":`...)
	b, err := game.AppendView(b, s, viewer)
	if err != nil {
		return b, err
	}
	b = append(b, `,"spectators":`...)
	b = strconv.AppendInt(b, int64(f.Spectators), 10)
	b = append(b, `,"server_ms":`...)
	b = strconv.AppendInt(b, f.ServerMS, 10)
	return append(appendRated(b, f.Rated, f.Unrated), '}'), nil
}

// appendRated appends the rated and unrated_reason members.
func appendRated(b []byte, rated bool, unrated string) []byte {
	b = append(b, `,"rated":`...)
	b = strconv.AppendBool(b, rated)
	if unrated != "" {
		b = append(b, `,"unrated_reason":`...)
		b = game.AppendString(b, unrated)
	}
	return b
}

// appendJSON appends the frame as encoding/json would write it.
func (f *foundFrame) appendJSON(b []byte) []byte {
	b = appendHead(b, f.Type, f.Match, f.Game)
	b = append(b, `,"players":[`...)
	for i, p := range f.Players {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendPlayer(b, p), '}')
	}
	b = append(b, `],"you":`...)
	b = strconv.AppendInt(b, int64(f.You), 10)
	return append(appendRated(b, f.Rated, f.Unrated), '}')
}

// appendPlayer appends a player object without its closing brace, so that
// a wireSeat can add its fields.
func appendPlayer(b []byte, p wirePlayer) []byte {
	b = append(b, `{"id":`...)
	b = game.AppendString(b, p.ID)
	b = append(b, `,"name":`...)
	b = game.AppendString(b, p.Name)
	b = append(b, `,"rating":`...)
	b = strconv.AppendInt(b, p.Rating, 10)
	if p.Bot != "" {
		b = append(b, `,"bot":`...)
		b = game.AppendString(b, p.Bot)
	}
	return b
}

func appendIntPtr(b []byte, n *int) []byte {
	if n == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(*n), 10)
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

// rematchStartedFrame tells a finished match's subscribers that its players
// play again, in match Next (an extension of the protocol).
type rematchStartedFrame struct {
	Type  string `json:"type"`
	Match string `json:"match"` // the finished match
	Next  string `json:"next"`  // the rematch
}

func roundRating(r float64) int64 { return int64(math.Round(r)) }

func wirePlayers(ps [2]Player) [2]wirePlayer {
	var out [2]wirePlayer
	for i, p := range ps {
		out[i] = wirePlayer{ID: p.ID, Name: p.Name, Rating: roundRating(p.Rating), Bot: p.Bot}
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
