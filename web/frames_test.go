package web

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeFrame(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    request
		wantErr string // substring of the error; "" for success
	}{
		"hello":              {in: `{"type":"hello","v":1,"token":"t"}`, want: request{Type: "hello", V: 1, Token: "t"}},
		"hello spectator":    {in: `{"type":"hello","v":1}`, want: request{Type: "hello", V: 1}},
		"hello null token":   {in: `{"type":"hello","v":1,"token":null}`, want: request{Type: "hello", V: 1}},
		"hello other v":      {in: `{"type":"hello","v":2}`, want: request{Type: "hello", V: 2}},
		"hello no v":         {in: `{"type":"hello"}`, want: request{Type: "hello"}, wantErr: `missing field "v"`},
		"hello v string":     {in: `{"type":"hello","v":"1"}`, want: request{Type: "hello"}, wantErr: `"v" is an integer`},
		"hello token number": {in: `{"type":"hello","v":1,"token":5}`, want: request{Type: "hello", V: 1}, wantErr: `"token" is a string`},
		"ping with id":       {in: `{"type":"ping","id":"p1"}`, want: request{Type: "ping", ID: "p1", HasID: true}},
		"empty id":           {in: `{"type":"ping","id":""}`, want: request{Type: "ping", ID: "", HasID: true}},
		"null id":            {in: `{"type":"ping","id":null}`, want: request{Type: "ping"}},
		"queue.join":         {in: `{"type":"queue.join","game":"rps"}`, want: request{Type: "queue.join", Game: "rps"}},
		"queue.leave":        {in: `{"type":"queue.leave"}`, want: request{Type: "queue.leave"}},
		"challenge.create":   {in: `{"type":"challenge.create","game":"rps","id":"x"}`, want: request{Type: "challenge.create", Game: "rps", ID: "x", HasID: true}},
		"challenge.accept":   {in: `{"type":"challenge.accept","code":"ABCD"}`, want: request{Type: "challenge.accept", Code: "ABCD"}},
		"move":               {in: `{"type":"match.move","match":"m","move":{"cell":4}}`, want: request{Type: "match.move", Match: "m", Move: json.RawMessage(`{"cell":4}`)}},
		"resign":             {in: `{"type":"match.resign","match":"m"}`, want: request{Type: "match.resign", Match: "m"}},
		"rematch":            {in: `{"type":"match.rematch","match":"m"}`, want: request{Type: "match.rematch", Match: "m"}},
		"watch":              {in: `{"type":"match.watch","match":"m"}`, want: request{Type: "match.watch", Match: "m"}},
		"unwatch":            {in: `{"type":"match.unwatch","match":"m"}`, want: request{Type: "match.unwatch", Match: "m"}},
		"unknown fields":     {in: `{"type":"ping","extra":[1,2]}`, want: request{Type: "ping"}},
		"32 char id":         {in: `{"type":"ping","id":"` + strings.Repeat("é", 32) + `"}`, want: request{Type: "ping", ID: strings.Repeat("é", 32), HasID: true}},

		"not json":          {in: `{"type":`, wantErr: "one JSON object"},
		"array":             {in: `[1]`, wantErr: "one JSON object"},
		"null":              {in: `null`, wantErr: "one JSON object"},
		"trailing":          {in: `{"type":"ping"} {}`, wantErr: "one JSON object"},
		"no type":           {in: `{"id":"a"}`, want: request{ID: "a", HasID: true}, wantErr: `missing field "type"`},
		"type number":       {in: `{"type":1,"id":"a"}`, want: request{ID: "a", HasID: true}, wantErr: `field "type" is a string`},
		"unknown type":      {in: `{"type":"nope","id":"a"}`, want: request{Type: "nope", ID: "a", HasID: true}, wantErr: `unknown type "nope"`},
		"id too long":       {in: `{"type":"ping","id":"` + strings.Repeat("x", 33) + `"}`, wantErr: `"id" is a string`},
		"id number":         {in: `{"type":"ping","id":7}`, wantErr: `"id" is a string`},
		"join no game":      {in: `{"type":"queue.join","id":"a"}`, want: request{Type: "queue.join", ID: "a", HasID: true}, wantErr: `missing field "game"`},
		"join empty game":   {in: `{"type":"queue.join","game":""}`, want: request{Type: "queue.join"}, wantErr: `field "game" is empty`},
		"join game number":  {in: `{"type":"queue.join","game":3}`, want: request{Type: "queue.join"}, wantErr: `field "game" is a string`},
		"create no game":    {in: `{"type":"challenge.create"}`, want: request{Type: "challenge.create"}, wantErr: `missing field "game"`},
		"accept no code":    {in: `{"type":"challenge.accept"}`, want: request{Type: "challenge.accept"}, wantErr: `missing field "code"`},
		"move no match":     {in: `{"type":"match.move","move":{}}`, want: request{Type: "match.move"}, wantErr: `missing field "match"`},
		"move no move":      {in: `{"type":"match.move","match":"m"}`, want: request{Type: "match.move", Match: "m"}, wantErr: `missing field "move"`},
		"move null move":    {in: `{"type":"match.move","match":"m","move":null}`, want: request{Type: "match.move", Match: "m"}, wantErr: `missing field "move"`},
		"resign null match": {in: `{"type":"match.resign","match":null}`, want: request{Type: "match.resign"}, wantErr: `missing field "match"`},
		"watch match array": {in: `{"type":"match.watch","match":["m"]}`, want: request{Type: "match.watch"}, wantErr: `field "match" is a string`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeFrame([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("error %v does not wrap ErrBadRequest", err)
				}
			}
			if got.Type != tt.want.Type || got.ID != tt.want.ID || got.HasID != tt.want.HasID ||
				got.V != tt.want.V || got.Token != tt.want.Token || got.Game != tt.want.Game ||
				got.Code != tt.want.Code || got.Match != tt.want.Match || string(got.Move) != string(tt.want.Move) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDecodeFrameHostileValues: NUL characters in any string field and
// numbers out of range or not integers are bad_request, with messages that
// speak of the protocol's fields, never of Go types.
func TestDecodeFrameHostileValues(t *testing.T) {
	tests := map[string]string{
		"NUL in id":           `{"type":"ping","id":"a\u0000b"}`,
		"NUL in type":         `{"type":"ping\u0000"}`,
		"NUL in game":         `{"type":"queue.join","game":"rps\u0000"}`,
		"NUL in code":         `{"type":"challenge.accept","code":"\u0000"}`,
		"NUL in match":        `{"type":"match.watch","match":"m\u0000"}`,
		"NUL in move's match": `{"type":"match.move","match":"\u0000","move":{"cell":1}}`,
		"NUL in token":        `{"type":"hello","v":1,"token":"t\u0000"}`,
		"raw NUL":             "{\"type\":\"ping\",\"id\":\"a\x00\"}",
		"v 1e1000000":         `{"type":"hello","v":1e1000000}`,
		"v -1e1000000":        `{"type":"hello","v":-1e1000000}`,
		"v 1e999":             `{"type":"hello","v":1e999}`,
		"v 1.5":               `{"type":"hello","v":1.5}`,
		"v huge integer":      `{"type":"hello","v":99999999999999999999999999}`,
		"id 1e1000000":        `{"type":"ping","id":1e1000000}`,
		"match 1e1000000":     `{"type":"match.watch","match":1e1000000}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeFrame([]byte(in))
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%s: %v, want bad_request", in, err)
			}
			if msg := err.Error(); strings.Contains(msg, "Go ") || strings.Contains(msg, "unmarshal") || strings.Contains(msg, "of type") {
				t.Fatalf("message names Go types: %s", msg)
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","v":1,"token":"abc"}`,
		`{"type":"queue.join","game":"tictactoe","id":"1"}`,
		`{"type":"match.move","match":"m1","move":{"cell":4},"id":"x"}`,
		`{"type":"challenge.accept","code":"ABCD2345"}`,
		`{"type":"ping"}`,
		`{"type":"match.watch","match":"m"}`,
		`{"id":"` + strings.Repeat("z", 40) + `"}`,
		`[]`, `null`, `"s"`, `{}`, `{"type":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeFrame(data)
		if req.HasID && utf8.RuneCountInString(req.ID) > maxIDLen {
			t.Fatalf("id %q longer than %d", req.ID, maxIDLen)
		}
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			if msg := err.Error(); strings.Contains(msg, "Go ") || strings.Contains(msg, "unmarshal") {
				t.Fatalf("message names Go types: %s", msg)
			}
			return
		}
		for _, s := range []string{req.ID, req.Token, req.Type, req.Game, req.Code, req.Match} {
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("accepted a NUL character: %+v", req)
			}
		}
		switch req.Type {
		case typeQueueJoin, typeChallengeCreate:
			if req.Game == "" {
				t.Fatal("accepted without game")
			}
		case typeChallengeAccept:
			if req.Code == "" {
				t.Fatal("accepted without code")
			}
		case typeMatchMove:
			if req.Match == "" || len(req.Move) == 0 || string(req.Move) == "null" || !json.Valid(req.Move) {
				t.Fatalf("move accepted with match %q move %q", req.Match, req.Move)
			}
		case typeMatchResign, typeMatchRematch, typeMatchWatch, typeMatchUnwatch:
			if req.Match == "" {
				t.Fatal("accepted without match")
			}
		case typeHello, typeQueueLeave, typePing:
		default:
			t.Fatalf("accepted unknown type %q", req.Type)
		}
		// An accepted frame re-encodes to one that decodes the same.
		out := map[string]any{"type": req.Type}
		if req.HasID {
			out["id"] = req.ID
		}
		switch req.Type {
		case typeHello:
			out["v"], out["token"] = req.V, req.Token
		case typeQueueJoin, typeChallengeCreate:
			out["game"] = req.Game
		case typeChallengeAccept:
			out["code"] = req.Code
		case typeMatchMove:
			out["match"], out["move"] = req.Match, req.Move
		case typeMatchResign, typeMatchRematch, typeMatchWatch, typeMatchUnwatch:
			out["match"] = req.Match
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("re-encoded %s: %v", b, err)
		}
		if again.Type != req.Type || again.ID != req.ID || again.HasID != req.HasID || again.Game != req.Game ||
			again.Code != req.Code || again.Match != req.Match || again.V != req.V || again.Token != req.Token {
			t.Fatalf("re-decoded %+v, first %+v", again, req)
		}
	})
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h…" {
		t.Fatalf("got %q", got)
	}
	if got := truncate("abc", 5); got != "abc" {
		t.Fatalf("got %q", got)
	}
}
