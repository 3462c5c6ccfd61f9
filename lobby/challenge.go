package lobby

import (
	"context"
	"crypto/rand"
	"slices"
	"time"
)

const (
	// codeAlphabet has no 0, O, 1, I or L, so a code read aloud or copied by
	// hand comes out right.
	codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
	codeLen      = 8
	// codeByteLimit is the largest multiple of len(codeAlphabet) up to 256:
	// random bytes at or above it are dropped so every character is equally
	// likely.
	codeByteLimit = 256 - 256%len(codeAlphabet)
)

// CreateChallenge opens a private challenge for creator.Game and returns it.
// Codes are unique among open challenges. A player holds at most
// Config.MaxChallenges open challenges; a new one replaces the oldest.
// Errors: ErrUnsupportedGame, ErrInMatch.
func (l *Lobby) CreateChallenge(ctx context.Context, creator Ticket) (Challenge, error) {
	if err := l.checkTicket(creator); err != nil {
		return Challenge{}, err
	}
	var (
		c   Challenge
		err error
	)
	if cerr := l.call(ctx, func(now time.Time) []Pair {
		c, err = l.createChallenge(creator, now)
		return nil
	}); cerr != nil {
		return Challenge{}, cerr
	}
	return c, err
}

// AcceptChallenge seats acceptor against the creator of the challenge with
// this code (matched ignoring case). On success the challenge is consumed,
// both players leave any queue and StartFunc gets the Pair. Errors:
// ErrNotFound (unknown or expired code), ErrOwnChallenge, ErrInMatch (either
// player plays or is being seated). acceptor.Game is ignored.
func (l *Lobby) AcceptChallenge(ctx context.Context, code string, acceptor Ticket) error {
	code = normalizeCode(code)
	var err error
	if cerr := l.call(ctx, func(now time.Time) []Pair {
		var p Pair
		if p, err = l.acceptChallenge(code, acceptor, now); err != nil {
			return nil
		}
		return []Pair{p}
	}); cerr != nil {
		return cerr
	}
	return err
}

// Challenge returns the open challenge with this code (matched ignoring
// case): ErrNotFound if there is none. It lets a caller build the
// acceptor's ticket for the challenge's game before accepting.
func (l *Lobby) Challenge(ctx context.Context, code string) (Challenge, error) {
	code = normalizeCode(code)
	var c Challenge
	err := ErrNotFound
	if cerr := l.call(ctx, func(now time.Time) []Pair {
		if ch, ok := l.challenges[code]; ok && now.Before(ch.Expires) {
			c, err = *ch, nil
		}
		return nil
	}); cerr != nil {
		return Challenge{}, cerr
	}
	return c, err
}

// CancelChallenges drops the player's open challenges, e.g. when they sign
// off. On a stopped lobby or a done ctx it does nothing.
func (l *Lobby) CancelChallenges(ctx context.Context, playerID string) {
	_ = l.call(ctx, func(time.Time) []Pair {
		for _, c := range slices.Clone(l.byCreator[playerID]) {
			l.removeChallenge(c)
		}
		return nil
	})
}

// createChallenge is CreateChallenge on the loop. Run only.
func (l *Lobby) createChallenge(creator Ticket, now time.Time) (Challenge, error) {
	if l.busy(creator.PlayerID) {
		return Challenge{}, ErrInMatch
	}
	if mine := l.byCreator[creator.PlayerID]; len(mine) >= l.cfg.MaxChallenges {
		l.removeChallenge(mine[0])
	}
	creator.Since = now
	c := &Challenge{
		Code:    l.unusedCode(),
		Game:    creator.Game,
		Creator: creator,
		Expires: now.Add(l.cfg.ChallengeTTL),
	}
	l.challenges[c.Code] = c
	l.byCreator[creator.PlayerID] = append(l.byCreator[creator.PlayerID], c)
	// The TTL is fixed and now never goes back, so appending keeps expiries
	// ordered.
	l.expiries = append(l.expiries, c)
	return *c, nil
}

// acceptChallenge is AcceptChallenge on the loop. Run only.
func (l *Lobby) acceptChallenge(code string, acceptor Ticket, now time.Time) (Pair, error) {
	c, ok := l.challenges[code]
	if !ok {
		return Pair{}, ErrNotFound
	}
	if !now.Before(c.Expires) {
		l.removeChallenge(c)
		return Pair{}, ErrNotFound
	}
	creator := c.Creator
	if creator.PlayerID == acceptor.PlayerID {
		return Pair{}, ErrOwnChallenge
	}
	if l.busy(acceptor.PlayerID) || l.busy(creator.PlayerID) {
		return Pair{}, ErrInMatch
	}
	l.removeChallenge(c)
	l.dequeue(creator.PlayerID, acceptor.PlayerID)
	acceptor.Game = c.Game
	acceptor.Since = now
	return Pair{Game: c.Game, Players: seat(creator, acceptor), Challenge: c.Code}, nil
}

// removeChallenge closes c. Its entry in expiries goes when it reaches the
// front. Run only.
func (l *Lobby) removeChallenge(c *Challenge) {
	delete(l.challenges, c.Code)
	id := c.Creator.PlayerID
	mine := slices.DeleteFunc(l.byCreator[id], func(o *Challenge) bool { return o == c })
	if len(mine) == 0 {
		delete(l.byCreator, id)
	} else {
		l.byCreator[id] = mine
	}
}

// sweep closes the challenges that expired by now. Run only.
func (l *Lobby) sweep(now time.Time) {
	for len(l.expiries) > 0 && !now.Before(l.expiries[0].Expires) {
		c := l.expiries[0]
		l.expiries[0] = nil
		l.expiries = l.expiries[1:]
		if l.challenges[c.Code] == c {
			l.removeChallenge(c)
		}
	}
}

// unusedCode returns a fresh code that no open challenge holds. Run only.
func (l *Lobby) unusedCode() string {
	for {
		code := newCode()
		if _, taken := l.challenges[code]; !taken {
			return code
		}
	}
}

// newCode returns codeLen characters of codeAlphabet drawn uniformly with
// crypto/rand.
func newCode() string {
	var (
		code [codeLen]byte
		buf  [2 * codeLen]byte
	)
	for n := 0; n < codeLen; {
		rand.Read(buf[:]) // never fails; crashes the program if it would
		for _, b := range buf {
			if int(b) >= codeByteLimit {
				continue
			}
			code[n] = codeAlphabet[int(b)%len(codeAlphabet)]
			if n++; n == codeLen {
				break
			}
		}
	}
	return string(code[:])
}
