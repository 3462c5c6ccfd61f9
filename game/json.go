package game

import (
	"encoding/json"
	"unicode/utf8"
)

// ViewAppender is a State that writes the JSON of its own View, without
// encoding/json's reflection. It is optional: AppendView falls back to
// encoding/json for a State without it.
type ViewAppender interface {
	// AppendView appends to dst exactly the bytes that
	// json.Marshal(s.View(viewer)) returns, and returns the extended slice.
	AppendView(dst []byte, viewer int) []byte
}

// AppendView appends the JSON of s.View(viewer) to dst: by the state's own
// AppendView when it has one, else by encoding/json.
func AppendView(dst []byte, s State, viewer int) ([]byte, error) {
	if a, ok := s.(ViewAppender); ok {
		return a.AppendView(dst, viewer), nil
	}
	b, err := json.Marshal(s.View(viewer))
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// AppendString appends s as a JSON string, byte for byte as encoding/json
// writes it: `"` and `\` escaped, control characters as \b \f \n \r \t or
// \u00XX, <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 escaped,
// and each byte of invalid UTF-8 replaced by \ufffd.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, <, > and &
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
