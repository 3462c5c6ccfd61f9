package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Client frame types (PROTOCOL.md, "Client to server").
const (
	typeHello           = "hello"
	typeQueueJoin       = "queue.join"
	typeQueueLeave      = "queue.leave"
	typeChallengeCreate = "challenge.create"
	typeChallengeAccept = "challenge.accept"
	typeMatchMove       = "match.move"
	typeMatchResign     = "match.resign"
	typeMatchRematch    = "match.rematch"
	typeMatchWatch      = "match.watch"
	typeMatchUnwatch    = "match.unwatch"
	typePing            = "ping"
)

// protocolVersion is the only "v" a hello may carry.
const protocolVersion = 1

// maxIDLen is the longest request id, in characters.
const maxIDLen = 32

// request is one decoded client frame. Only the fields of its Type are set.
type request struct {
	Type  string
	ID    string // the request id, when HasID
	HasID bool
	V     int             // hello
	Token string          // hello; "" opens a spectator connection
	Game  string          // queue.join, challenge.create
	Code  string          // challenge.accept
	Match string          // match.*
	Move  json.RawMessage // match.move; never empty or null
}

// re is the value of the "re" field answering r: nil when r had no id.
func (r request) re() *string {
	if !r.HasID {
		return nil
	}
	id := r.ID
	return &id
}

// decodeFrame parses one text frame. Errors wrap ErrBadRequest; the request
// returned with an error still carries the id when one was readable, so that
// the error can answer it. Fields a type does not use are ignored.
func decodeFrame(data []byte) (request, error) {
	var req request
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return req, fmt.Errorf("%w: a frame is one JSON object", ErrBadRequest)
	}
	if raw, ok := fields["id"]; ok && !isNull(raw) {
		id, ok := jsonString(raw)
		if !ok || utf8.RuneCountInString(id) > maxIDLen {
			return req, fmt.Errorf("%w: \"id\" is a string of at most %d characters", ErrBadRequest, maxIDLen)
		}
		req.ID, req.HasID = id, true
	}
	typ, err := requiredString(fields, "type")
	if err != nil {
		return req, err
	}
	req.Type = typ

	switch typ {
	case typeHello:
		raw, ok := fields["v"]
		if !ok || isNull(raw) {
			return req, fmt.Errorf("%w: missing field \"v\"", ErrBadRequest)
		}
		if err := json.Unmarshal(raw, &req.V); err != nil {
			return req, fmt.Errorf("%w: \"v\" is an integer", ErrBadRequest)
		}
		if raw, ok := fields["token"]; ok && !isNull(raw) {
			if req.Token, ok = jsonString(raw); !ok {
				return req, fmt.Errorf("%w: \"token\" is a string", ErrBadRequest)
			}
		}
	case typeQueueJoin, typeChallengeCreate:
		req.Game, err = requiredString(fields, "game")
	case typeChallengeAccept:
		req.Code, err = requiredString(fields, "code")
	case typeMatchMove:
		if req.Match, err = requiredString(fields, "match"); err != nil {
			break
		}
		raw, ok := fields["move"]
		if !ok || isNull(raw) {
			return req, fmt.Errorf("%w: missing field \"move\"", ErrBadRequest)
		}
		req.Move = raw
	case typeMatchResign, typeMatchRematch, typeMatchWatch, typeMatchUnwatch:
		req.Match, err = requiredString(fields, "match")
	case typeQueueLeave, typePing:
	default:
		return req, fmt.Errorf("%w: unknown type %q", ErrBadRequest, truncate(typ, 40))
	}
	return req, err
}

// requiredString returns the non-empty string field name of fields.
func requiredString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return "", fmt.Errorf("%w: missing field %q", ErrBadRequest, name)
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", fmt.Errorf("%w: field %q is a string", ErrBadRequest, name)
	}
	if s == "" {
		return "", fmt.Errorf("%w: field %q is empty", ErrBadRequest, name)
	}
	return s, nil
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(raw, []byte("null"))
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Server frames this package writes. Match frames come from package match.

type wireIdentity struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type welcomeFrame struct {
	Type     string        `json:"type"`
	Re       *string       `json:"re,omitempty"`
	V        int           `json:"v"`
	Player   *wireIdentity `json:"player"`
	ServerMS int64         `json:"server_ms"`
	Active   []string      `json:"active"`
}

type errorFrame struct {
	Type    string  `json:"type"`
	Re      *string `json:"re,omitempty"`
	Code    string  `json:"code"`
	Message string  `json:"message"`
}

type queueJoinedFrame struct {
	Type    string  `json:"type"`
	Re      *string `json:"re,omitempty"`
	Game    string  `json:"game"`
	SinceMS int64   `json:"since_ms"`
}

type queueLeftFrame struct {
	Type string  `json:"type"`
	Re   *string `json:"re,omitempty"`
}

type challengeCreatedFrame struct {
	Type      string  `json:"type"`
	Re        *string `json:"re,omitempty"`
	Code      string  `json:"code"`
	Game      string  `json:"game"`
	ExpiresMS int64   `json:"expires_ms"`
}

type pongFrame struct {
	Type     string  `json:"type"`
	Re       *string `json:"re,omitempty"`
	ServerMS int64   `json:"server_ms"`
}

// encodeFrame marshals one of the frame types above. They hold only strings,
// numbers and slices of strings, so encoding cannot fail.
func encodeFrame(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("web: encode frame: " + err.Error())
	}
	return b
}
