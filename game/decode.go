package game

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeObject reads move strictly as one JSON object of scalar members and
// calls member for each member in order, with its key and its value: a
// string, a json.Number, a bool or nil (JSON null). Every game decodes its
// moves through it, so that what a match stores, replays and plays live is
// read by one set of rules:
//
//   - move is valid UTF-8 without NUL bytes, and one JSON object with
//     nothing after it but white space;
//   - every key is one of keys, spelled exactly (a key that differs only in
//     case is refused too), and appears once;
//   - every value is a scalar: an array or object value is refused.
//
// Every error, member's included, wraps ErrBadMove. Messages name JSON
// things (keys, numbers, strings), never Go types.
func DecodeObject(move json.RawMessage, keys []string, member func(key string, value json.Token) error) error {
	if !utf8.Valid(move) {
		return fmt.Errorf("%w: not valid UTF-8", ErrBadMove)
	}
	if bytes.IndexByte(move, 0) >= 0 {
		return fmt.Errorf("%w: NUL byte", ErrBadMove)
	}
	dec := json.NewDecoder(bytes.NewReader(move))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return badJSON(err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%w: want a JSON object", ErrBadMove)
	}
	var seen uint64 // bit i: keys[i] was read; a move has few keys
	if len(keys) > 64 {
		panic("game: DecodeObject with more than 64 keys")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badJSON(err)
		}
		key := tok.(string) // the decoder only returns strings as keys
		i := slices.Index(keys, key)
		switch {
		case i < 0 && slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, key) }):
			return fmt.Errorf("%w: key %s is not spelled as the game spells it", ErrBadMove, quote(key))
		case i < 0:
			return fmt.Errorf("%w: unknown key %s", ErrBadMove, quote(key))
		case seen&(1<<i) != 0:
			return fmt.Errorf("%w: key %s appears twice", ErrBadMove, quote(key))
		}
		seen |= 1 << i
		val, err := dec.Token()
		if err != nil {
			return badJSON(err)
		}
		if _, nested := val.(json.Delim); nested {
			return fmt.Errorf("%w: key %s holds an array or object, want a number or string", ErrBadMove, quote(key))
		}
		if err := member(key, val); err != nil {
			if !errors.Is(err, ErrBadMove) {
				err = fmt.Errorf("%w: %w", ErrBadMove, err)
			}
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return badJSON(err)
	}
	switch _, err := dec.Token(); {
	case err == io.EOF:
		return nil
	case err != nil:
		return badJSON(err)
	default:
		return fmt.Errorf("%w: data after the object", ErrBadMove)
	}
}

// badJSON wraps a syntax error of encoding/json, whose messages speak of
// JSON only ("invalid character 'x' looking for beginning of value").
func badJSON(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: JSON ends too soon", ErrBadMove)
	}
	return fmt.Errorf("%w: %w", ErrBadMove, err)
}

// quote returns key as a JSON string, cut short if long, for messages.
func quote(key string) string {
	const limit = 32
	if len(key) > limit {
		if r := []rune(key); len(r) > limit {
			key = string(r[:limit]) + "…"
		}
	}
	return string(AppendString(nil, key))
}

// IntValue returns value, the value of key in a move, as an int. It must be
// a JSON integer: no fraction, no exponent (not even 4e0), and within the
// range of int. Errors wrap ErrBadMove.
func IntValue(key string, value json.Token) (int, error) {
	num, ok := value.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%w: %s must be an integer", ErrBadMove, quote(key))
	}
	if strings.ContainsAny(string(num), ".eE") {
		return 0, fmt.Errorf("%w: %s must be an integer, not %.24s", ErrBadMove, quote(key), num)
	}
	n, err := strconv.Atoi(string(num))
	if err != nil { // only out of range: the decoder checked the syntax
		return 0, fmt.Errorf("%w: %s is out of range", ErrBadMove, quote(key))
	}
	return n, nil
}

// StringValue returns value, the value of key in a move, as a string. It
// must be a JSON string without NUL characters (\u0000 included). Errors
// wrap ErrBadMove.
func StringValue(key string, value json.Token) (string, error) {
	s, ok := value.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string", ErrBadMove, quote(key))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("%w: %s holds a NUL character", ErrBadMove, quote(key))
	}
	return s, nil
}
