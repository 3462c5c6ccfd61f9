package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
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
// the error can answer it. Fields a type does not use are ignored. Keys
// match exactly, and a repeated key counts once, its last value.
func decodeFrame(data []byte) (request, error) {
	var req request
	var buf [8]frameField
	fields, ok := objectFields(data, buf[:0])
	if !ok {
		return req, fmt.Errorf("%w: a frame is one JSON object", ErrBadRequest)
	}
	if raw, ok := fields.get("id"); ok && !isNull(raw) {
		id, ok := jsonString(raw)
		if !ok || utf8.RuneCountInString(id) > maxIDLen {
			return req, fmt.Errorf("%w: \"id\" is a string of at most %d characters", ErrBadRequest, maxIDLen)
		}
		if hasNUL(id) {
			return req, errNUL("id")
		}
		req.ID, req.HasID = id, true
	}
	typ, err := fields.requiredString("type")
	if err != nil {
		return req, err
	}
	req.Type = typ

	switch typ {
	case typeHello:
		raw, ok := fields.get("v")
		if !ok || isNull(raw) {
			return req, fmt.Errorf("%w: missing field \"v\"", ErrBadRequest)
		}
		if err := json.Unmarshal(raw, &req.V); err != nil {
			// Not err's text: it names Go types ("cannot unmarshal number
			// 1e999 into Go value of type int").
			return req, fmt.Errorf("%w: \"v\" is an integer", ErrBadRequest)
		}
		if raw, ok := fields.get("token"); ok && !isNull(raw) {
			if req.Token, ok = jsonString(raw); !ok {
				return req, fmt.Errorf("%w: \"token\" is a string", ErrBadRequest)
			}
			if hasNUL(req.Token) {
				req.Token = ""
				return req, errNUL("token")
			}
		}
	case typeQueueJoin, typeChallengeCreate:
		req.Game, err = fields.requiredString("game")
	case typeChallengeAccept:
		req.Code, err = fields.requiredString("code")
	case typeMatchMove:
		if req.Match, err = fields.requiredString("match"); err != nil {
			break
		}
		raw, ok := fields.get("move")
		if !ok || isNull(raw) {
			return req, fmt.Errorf("%w: missing field \"move\"", ErrBadRequest)
		}
		req.Move = bytes.Clone(raw) // not the whole frame's buffer
	case typeMatchResign, typeMatchRematch, typeMatchWatch, typeMatchUnwatch:
		req.Match, err = fields.requiredString("match")
	case typeQueueLeave, typePing:
	default:
		return req, fmt.Errorf("%w: unknown type %q", ErrBadRequest, truncate(typ, 40))
	}
	return req, err
}

// frameFields are the members of a frame's top-level object in order, each
// value the raw JSON of its member (a slice of the frame).
type frameFields []frameField

type frameField struct {
	key []byte // unescaped
	raw []byte
}

// objectFields splits a JSON object into its members without decoding
// their values: the frame decoder's hot path, with no reflection and no
// allocation for small frames (members are appended to fields). It reports
// false for anything that is not one valid JSON object.
func objectFields(data []byte, fields frameFields) (frameFields, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return nil, false // null, an array, a string, a number
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return fields, true
	}
	for {
		// data is valid JSON, so a member is a string, a colon and a
		// value, followed by a comma or the closing brace.
		end := stringEnd(data, i)
		key := data[i+1 : end-1]
		if !isPlain(key) {
			k, ok := jsonString(data[i:end])
			if !ok {
				return nil, false
			}
			key = []byte(k)
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // the colon
		end = valueEnd(data, i)
		fields = append(fields, frameField{key: key, raw: data[i:end]})
		i = skipSpace(data, end)
		if data[i] == '}' {
			return fields, true
		}
		i = skipSpace(data, i+1) // the comma
	}
}

// get returns the raw value of the last member named key.
func (f frameFields) get(key string) ([]byte, bool) {
	for i := len(f) - 1; i >= 0; i-- {
		if string(f[i].key) == key {
			return f[i].raw, true
		}
	}
	return nil, false
}

// requiredString returns the non-empty string member name.
func (f frameFields) requiredString(name string) (string, error) {
	raw, ok := f.get(name)
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
	if hasNUL(s) {
		return "", errNUL(name)
	}
	return s, nil
}

// hasNUL reports whether s holds a NUL character (in a frame, only as the
// escape \u0000: a raw one is not valid JSON). No field of the protocol may
// hold one: it would reach logs, the database (which refuses it in text)
// and other clients.
func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func errNUL(name string) error {
	return fmt.Errorf("%w: field %q holds a NUL character", ErrBadRequest, name)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string that starts at data[i]
// (a quote), in valid JSON.
func stringEnd(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}

// valueEnd returns the index just past the value that starts at data[i],
// in valid JSON.
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = stringEnd(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(data)
	default: // a number, true, false or null
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return len(data)
	}
}

// jsonString decodes raw if it is a JSON string. Strings without escapes
// (nearly all) are copied as they are; encoding/json decodes the rest.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if inner := raw[1 : len(raw)-1]; isPlain(inner) {
		if s, ok := frameTypes[string(inner)]; ok {
			return s, true // no copy for the names of types
		}
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// isPlain reports whether the inside of a JSON string is its value: ASCII
// with no escapes.
func isPlain(inner []byte) bool {
	for _, b := range inner {
		if b == '\\' || b == '"' || b < 0x20 || b >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// frameTypes holds the client frame types, so that decoding one allocates
// nothing.
var frameTypes = map[string]string{}

func init() {
	for _, t := range []string{typeHello, typeQueueJoin, typeQueueLeave, typeChallengeCreate, typeChallengeAccept,
		typeMatchMove, typeMatchResign, typeMatchRematch, typeMatchWatch, typeMatchUnwatch, typePing} {
		frameTypes[t] = t
	}
}

func isNull(raw []byte) bool {
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
