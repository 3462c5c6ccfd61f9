package leaderboard

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Errors of the accounts. Those meant for the client are wrapped with
// detail a client may see: fmt.Errorf("%w: ...", ErrBadRequest).
var (
	// ErrBadRequest: a malformed name or password.
	ErrBadRequest = errors.New("bad request")
	// ErrNameTaken: a registered player holds the name, ignoring case.
	ErrNameTaken = errors.New("name taken")
	// ErrBadCredentials: an unknown name or a wrong password; which one is
	// not told.
	ErrBadCredentials = errors.New("wrong name or password")
	// ErrNotFound: no player has that id.
	ErrNotFound = errors.New("not found")
	// ErrNotGuest: the player has registered already.
	ErrNotGuest = errors.New("player is registered already")
	// ErrBanned: an operator banned the player.
	ErrBanned = errors.New("player is banned")
	// ErrBusy: too many passwords are being checked at once; the client
	// may try again in a moment.
	ErrBusy = errors.New("busy")
)

// Name and password rules (PROTOCOL.md, "Names" and "Passwords").
const (
	MinNameLen     = 3
	MaxNameLen     = 20
	MinPasswordLen = 8   // runes
	MaxPasswordLen = 128 // runes
	// MaxPasswordBytes bounds the bytes of a password, checked before
	// anything else looks at it: 128 runes of 4 bytes at most.
	MaxPasswordBytes = 512
)

// Player is an account: a guest (no password, a name it may share with
// other guests) or a registered player (a password and a name unique
// ignoring case).
type Player struct {
	ID        string
	Name      string
	Guest     bool
	CreatedAt time.Time
	// TokenGen is the player's token generation: tokens issued at an
	// older one are revoked. An upgrade, a password change and a ban
	// raise it.
	TokenGen int64
}

// ValidName returns an error wrapping ErrBadRequest unless name is 3 to 20
// ASCII letters, digits, '_' or '-'.
func ValidName(name string) error {
	ok := len(name) >= MinNameLen && len(name) <= MaxNameLen
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: a name is %d to %d letters, digits, '_' or '-'", ErrBadRequest, MinNameLen, MaxNameLen)
	}
	return nil
}

// ValidPassword returns an error wrapping ErrBadRequest unless pw is valid
// UTF-8 of 8 to 128 characters (runes).
func ValidPassword(pw string) error {
	if len(pw) > MaxPasswordBytes || !utf8.ValidString(pw) {
		return fmt.Errorf("%w: a password is %d to %d characters of UTF-8", ErrBadRequest, MinPasswordLen, MaxPasswordLen)
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("%w: a password is %d to %d characters", ErrBadRequest, MinPasswordLen, MaxPasswordLen)
	}
	return nil
}
