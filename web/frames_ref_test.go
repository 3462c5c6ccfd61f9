package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeFrameReference is the first decodeFrame: encoding/json into a map,
// then each field decoded on its own. decodeFrame must answer every input
// exactly as it does (FuzzDecodeFrameMatchesReference).
func decodeFrameReference(data []byte) (request, error) {
	var req request
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return req, fmt.Errorf("%w: a frame is one JSON object", ErrBadRequest)
	}
	if raw, ok := fields["id"]; ok && !refIsNull(raw) {
		id, ok := refJSONString(raw)
		if !ok || utf8.RuneCountInString(id) > maxIDLen {
			return req, fmt.Errorf("%w: \"id\" is a string of at most %d characters", ErrBadRequest, maxIDLen)
		}
		if strings.ContainsRune(id, 0) {
			return req, fmt.Errorf("%w: field \"id\" holds a NUL character", ErrBadRequest)
		}
		req.ID, req.HasID = id, true
	}
	typ, err := refRequiredString(fields, "type")
	if err != nil {
		return req, err
	}
	req.Type = typ

	switch typ {
	case typeHello:
		raw, ok := fields["v"]
		if !ok || refIsNull(raw) {
			return req, fmt.Errorf("%w: missing field \"v\"", ErrBadRequest)
		}
		if err := json.Unmarshal(raw, &req.V); err != nil {
			return req, fmt.Errorf("%w: \"v\" is an integer", ErrBadRequest)
		}
		if raw, ok := fields["token"]; ok && !refIsNull(raw) {
			if req.Token, ok = refJSONString(raw); !ok {
				return req, fmt.Errorf("%w: \"token\" is a string", ErrBadRequest)
			}
			if strings.ContainsRune(req.Token, 0) {
				req.Token = ""
				return req, fmt.Errorf("%w: field \"token\" holds a NUL character", ErrBadRequest)
			}
		}
	case typeQueueJoin, typeChallengeCreate:
		req.Game, err = refRequiredString(fields, "game")
	case typeChallengeAccept:
		req.Code, err = refRequiredString(fields, "code")
	case typeMatchMove:
		if req.Match, err = refRequiredString(fields, "match"); err != nil {
			break
		}
		raw, ok := fields["move"]
		if !ok || refIsNull(raw) {
			return req, fmt.Errorf("%w: missing field \"move\"", ErrBadRequest)
		}
		req.Move = raw
	case typeMatchResign, typeMatchRematch, typeMatchWatch, typeMatchUnwatch:
		req.Match, err = refRequiredString(fields, "match")
	case typeQueueLeave, typePing:
	default:
		return req, fmt.Errorf("%w: unknown type %q", ErrBadRequest, truncate(typ, 40))
	}
	return req, err
}

// requiredString returns the non-empty string field name of fields.
func refRequiredString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok || refIsNull(raw) {
		return "", fmt.Errorf("%w: missing field %q", ErrBadRequest, name)
	}
	s, ok := refJSONString(raw)
	if !ok {
		return "", fmt.Errorf("%w: field %q is a string", ErrBadRequest, name)
	}
	if s == "" {
		return "", fmt.Errorf("%w: field %q is empty", ErrBadRequest, name)
	}
	if strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("%w: field %q holds a NUL character", ErrBadRequest, name)
	}
	return s, nil
}

func refJSONString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func refIsNull(raw json.RawMessage) bool {
	return bytes.Equal(raw, []byte("null"))
}

var referenceSeeds = []string{
	`{"type":"hello","v":1,"token":"abc"}`,
	`{"type":"queue.join","game":"tictactoe","id":"1"}`,
	`{"type":"match.move","match":"m1","move":{"cell":4},"id":"x"}`,
	`{"type":"match.move","match":"m1","move":[{"a":"}"},"]\""],"id":"x"}`,
	`{"type":"match.move","match":"m1","move":"rock"}`,
	`{"type":"match.move","match":"m1","move":-1.5e3 }`,
	`{"type":"match.move","match":"m1","move":null}`,
	`{"type":"challenge.accept","code":"ABCD2345"}`,
	`{"type":"ping"}`, ` { "type" : "ping" , "id" : "\u00e9\n" } `,
	`{"\u0074ype":"ping"}`, `{"TYPE":"ping"}`, `{"type":"ping","type":"queue.leave"}`,
	`{"type":"match.watch","match":"m"}`, `{"type":"match.watch","match":""}`,
	`{"type":"match.watch","match":"caf\u00e9 \ud83d\ude00"}`, "{\"type\":\"match.watch\",\"match\":\"caf\xc3\xa9\"}",
	"{\"type\":\"match.watch\",\"match\":\"bad\xff\"}",
	`{"id":"` + strings.Repeat("z", 40) + `"}`, `{"id":5,"type":"ping"}`, `{"id":null,"type":"ping"}`,
	`{"type":"hello","v":1.5}`, `{"type":"hello","v":"1"}`, `{"type":"hello","v":1,"token":7}`,
	`{"type":"\u0000"}`, `{"type":"ping","id":"a\u0000"}`, `{"type":"hello","v":1,"token":"t\u0000"}`,
	`{"type":"queue.join","game":"\u0000tictactoe"}`,
	`[]`, `null`, `"s"`, `{}`, `{"type":null}`, `{"type":"ping"`, `{"type":"ping"}x`, ``, `{"a":{"b":[1,2,{"c":"]"}]},"type":"ping"}`,
}

func TestDecodeFrameMatchesReference(t *testing.T) {
	for _, s := range referenceSeeds {
		checkAgainstReference(t, []byte(s))
	}
}

func FuzzDecodeFrameMatchesReference(f *testing.F) {
	for _, s := range referenceSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgainstReference)
}

func checkAgainstReference(t *testing.T, data []byte) {
	got, gotErr := decodeFrame(data)
	want, wantErr := decodeFrameReference(data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, reference %v", data, gotErr, wantErr)
	}
	if !bytes.Equal(got.Move, want.Move) {
		t.Fatalf("%q: move %q, reference %q", data, got.Move, want.Move)
	}
	got.Move, want.Move = nil, nil
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
		t.Fatalf("%q: %+v, reference %+v", data, got, want)
	}
}

var benchFrame = []byte(`{"type":"match.move","match":"m-7f3a9c21d4e8","move":{"cell":4},"id":"17"}`)

func BenchmarkDecodeFrame(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrame(benchFrame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrameReference(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrameReference(benchFrame); err != nil {
			b.Fatal(err)
		}
	}
}
