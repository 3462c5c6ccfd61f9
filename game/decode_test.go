package game_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/turnbase/turnbase/game"
)

// decodeAB decodes move with the keys "a" and "b" and returns the members
// it was called with: "a" must be an integer, "b" a string. A call for any
// other key, or a second call for one, is a bug in DecodeObject: a panic.
func decodeAB(move string) (map[string]any, error) {
	got := make(map[string]any)
	err := game.DecodeObject(json.RawMessage(move), []string{"a", "b"}, func(key string, v json.Token) error {
		if _, dup := got[key]; dup {
			panic("member called twice for " + key)
		}
		var err error
		switch key {
		case "a":
			got[key], err = game.IntValue(key, v)
		case "b":
			got[key], err = game.StringValue(key, v)
		default:
			panic("unknown key " + key)
		}
		return err
	})
	return got, err
}

func TestDecodeObject(t *testing.T) {
	tests := map[string]struct {
		move string
		want map[string]any // nil: an error wrapping ErrBadMove
		msg  string         // in the error message
	}{
		"both":               {`{"a":1,"b":"x"}`, map[string]any{"a": 1, "b": "x"}, ""},
		"reordered":          {`{"b":"x","a":-7}`, map[string]any{"a": -7, "b": "x"}, ""},
		"white space":        {" \t\n{ \"a\" : 0 }\r\n ", map[string]any{"a": 0}, ""},
		"empty object":       {`{}`, map[string]any{}, ""},
		"escaped key":        {`{"\u0061":2}`, map[string]any{"a": 2}, ""},
		"escaped string":     {`{"b":"\u00e9\n"}`, map[string]any{"b": "é\n"}, ""},
		"max int":            {`{"a":9223372036854775807}`, map[string]any{"a": 9223372036854775807}, ""},
		"min int":            {`{"a":-9223372036854775808}`, map[string]any{"a": -9223372036854775808}, ""},
		"unknown key":        {`{"a":1,"c":2}`, nil, `unknown key "c"`},
		"case variant":       {`{"a":1,"A":2}`, nil, `key "A" is not spelled`},
		"case only":          {`{"B":"x"}`, nil, `key "B" is not spelled`},
		"duplicate":          {`{"a":1,"a":1}`, nil, `key "a" appears twice`},
		"escaped duplicate":  {`{"a":1,"\u0061":2}`, nil, `key "a" appears twice`},
		"duplicate string":   {`{"b":"x","b":"y"}`, nil, "twice"},
		"exponent":           {`{"a":1e1000000}`, nil, "must be an integer"},
		"small exponent":     {`{"a":4e0}`, nil, "must be an integer"},
		"fraction":           {`{"a":1.0}`, nil, "must be an integer"},
		"overflow":           {`{"a":9223372036854775808}`, nil, "out of range"},
		"underflow":          {`{"a":-99999999999999999999}`, nil, "out of range"},
		"string for int":     {`{"a":"1"}`, nil, `"a" must be an integer`},
		"int for string":     {`{"b":1}`, nil, `"b" must be a string`},
		"null value":         {`{"a":null}`, nil, "must be an integer"},
		"bool value":         {`{"b":true}`, nil, "must be a string"},
		"array value":        {`{"a":[1]}`, nil, "array or object"},
		"object value":       {`{"b":{"c":1}}`, nil, "array or object"},
		"nul escape":         {`{"b":"x\u0000"}`, nil, "NUL"},
		"nul byte in string": {"{\"b\":\"x\x00\"}", nil, "NUL"},
		"nul byte after":     {"{\"a\":1}\x00", nil, "NUL"},
		"invalid utf8":       {"{\"b\":\"\xc3\x28\"}", nil, "UTF-8"},
		"invalid utf8 key":   {"{\"\xff\":1}", nil, "UTF-8"},
		"trailing garbage":   {`{"a":1}x`, nil, "invalid character"},
		"trailing object":    {`{"a":1}{}`, nil, "data after"},
		"trailing comma":     {`{"a":1,}`, nil, "invalid character"},
		"unclosed":           {`{"a":1`, nil, "ends too soon"},
		"empty":              {``, nil, "ends too soon"},
		"array":              {`[1]`, nil, "want a JSON object"},
		"null":               {`null`, nil, "want a JSON object"},
		"number":             {`1`, nil, "want a JSON object"},
		"long unknown key":   {`{"` + strings.Repeat("k", 100) + `":1}`, nil, strings.Repeat("k", 32) + "…"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeAB(tt.move)
			if tt.want != nil {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("DecodeObject(%q) = %v, %v; want %v", tt.move, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, game.ErrBadMove) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("DecodeObject(%q): error %v, want ErrBadMove with %q", tt.move, err, tt.msg)
			}
			checkMessage(t, err)
		})
	}
}

// TestDecodeObjectMemberError: an error from member is wrapped in
// ErrBadMove unless it already is, and stops the decoding.
func TestDecodeObjectMemberError(t *testing.T) {
	calls := 0
	err := game.DecodeObject(json.RawMessage(`{"a":1,"b":2}`), []string{"a", "b"}, func(string, json.Token) error {
		calls++
		return errors.New("no thanks")
	})
	if !errors.Is(err, game.ErrBadMove) || err.Error() != "malformed move: no thanks" || calls != 1 {
		t.Fatalf("error %v after %d calls", err, calls)
	}
}

// checkMessage fails if an error message speaks of Go rather than JSON.
func checkMessage(t testing.TB, err error) {
	t.Helper()
	msg := err.Error()
	for _, bad := range []string{"Go ", "struct", "unmarshal", "int64", "float64", "json.", "reflect"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("error message %q shows %q", msg, bad)
		}
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x"}`, `{"a":1,"a":2}`, `{"A":1}`, `{"a":1e9}`, `{"b":"\u0000"}`,
		`{"a":-0}`, `{"a":[1,{"b":2}]}`, `{"b":"\ud800"}`, `{"a":1} `, `{"a":1}x`, "{\"b\":\"\xff\"}",
		`{"\u0061":1,"b":"\"\\"}`, `{}`, ``, `[`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, move string) {
		got, err := decodeAB(move)
		if err != nil {
			if !errors.Is(err, game.ErrBadMove) {
				t.Fatalf("DecodeObject(%q): error %v does not wrap ErrBadMove", move, err)
			}
			checkMessage(t, err)
			return
		}
		// Accepted: then encoding/json, lenient as it is, reads the same
		// members, and the input has none of what strictness refuses.
		if !utf8.ValidString(move) || strings.IndexByte(move, 0) >= 0 || !json.Valid([]byte(move)) {
			t.Fatalf("DecodeObject accepted %q", move)
		}
		var loose map[string]any
		dec := json.NewDecoder(strings.NewReader(move))
		dec.UseNumber()
		if err := dec.Decode(&loose); err != nil || loose == nil {
			t.Fatalf("encoding/json refuses %q (%v), DecodeObject gave %v", move, err, got)
		}
		if len(loose) != len(got) {
			t.Fatalf("%q: encoding/json reads %v, DecodeObject %v", move, loose, got)
		}
		for k, v := range got {
			lv := loose[k]
			if n, ok := lv.(json.Number); ok {
				lv = fmt.Sprint(n)
				v = fmt.Sprint(v)
				if lv != v && lv != "-0" {
					t.Fatalf("%q: key %q is %v, DecodeObject says %v", move, k, lv, v)
				}
				continue
			}
			if lv != v {
				t.Fatalf("%q: key %q is %#v, DecodeObject says %#v", move, k, lv, v)
			}
		}
	})
}
