package lobby

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestChallengeCreateAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{}, func(r *recorder) { r.markPlaying = true })
		f.join(t, "a", "rps")
		f.join(t, "b", "tictactoe")
		start := time.Now()
		c := f.create(t, "a", "tictactoe")
		if !validCode(c.Code) {
			t.Errorf("code %q is not %d characters of %s", c.Code, codeLen, codeAlphabet)
		}
		if c.Game != "tictactoe" || c.Creator.PlayerID != "a" || !c.Creator.Since.Equal(start) {
			t.Errorf("challenge %+v", c)
		}
		if want := start.Add(DefaultChallengeTTL); !c.Expires.Equal(want) {
			t.Errorf("Expires %v, want %v", c.Expires, want)
		}

		time.Sleep(time.Minute)
		if err := f.l.AcceptChallenge(f.ctx, " "+strings.ToLower(c.Code)+" ", ticket("b", "rps")); err != nil {
			t.Fatalf("AcceptChallenge: %v", err)
		}
		synctest.Wait()
		got := f.rec.started()
		if len(got) != 1 {
			t.Fatalf("started %d pairs, want 1", len(got))
		}
		p := got[0]
		if p.Game != "tictactoe" || p.Challenge != c.Code || !slices.Equal(players(p), []string{"a", "b"}) {
			t.Errorf("pair %+v", p)
		}
		for _, pt := range p.Players {
			if pt.Game != "tictactoe" {
				t.Errorf("ticket of %s has game %q", pt.PlayerID, pt.Game)
			}
		}
		if s := f.l.Stats(); len(s) != 0 {
			t.Errorf("Stats = %v: accepting must empty both players' queues", s)
		}

		// Consumed: a third player finds nothing.
		err := f.l.AcceptChallenge(f.ctx, c.Code, ticket("c", ""))
		wantErr(t, "second AcceptChallenge", err, ErrNotFound)
	})
}

func TestChallengeErrors(t *testing.T) {
	tests := map[string]struct {
		setup    func(f *fixture) // after a's challenge exists
		code     string           // "" for a's code
		acceptor string
		want     error
	}{
		"unknown code":     {code: "ABCDEFGH", acceptor: "b", want: ErrNotFound},
		"empty code":       {code: " ", acceptor: "b", want: ErrNotFound},
		"own challenge":    {acceptor: "a", want: ErrOwnChallenge},
		"acceptor playing": {setup: func(f *fixture) { f.rec.setPlaying("b", true) }, acceptor: "b", want: ErrInMatch},
		"creator playing":  {setup: func(f *fixture) { f.rec.setPlaying("a", true) }, acceptor: "b", want: ErrInMatch},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, Config{}, nil)
				c := f.create(t, "a", "tictactoe")
				if tc.setup != nil {
					tc.setup(f)
				}
				code := tc.code
				if code == "" {
					code = c.Code
				}
				err := f.l.AcceptChallenge(f.ctx, code, ticket(tc.acceptor, ""))
				wantErr(t, "AcceptChallenge", err, tc.want)
				synctest.Wait()
				if p := f.rec.started(); len(p) != 0 {
					t.Errorf("started %v after a refused accept", p)
				}
				if n := f.openChallenges(t); n != 1 {
					t.Errorf("%d open challenges after a refused accept, want 1", n)
				}
			})
		})
	}
}

func TestCreateChallengeErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{}, nil)
		_, err := f.l.CreateChallenge(f.ctx, ticket("a", "chess"))
		wantErr(t, "CreateChallenge for an unknown game", err, ErrUnsupportedGame)
		f.rec.setPlaying("a", true)
		_, err = f.l.CreateChallenge(f.ctx, ticket("a", "rps"))
		wantErr(t, "CreateChallenge while playing", err, ErrInMatch)
		if n := f.openChallenges(t); n != 0 {
			t.Errorf("%d open challenges, want 0", n)
		}
	})
}

func TestChallengeExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Minute
		f := newFixture(t, Config{ChallengeTTL: ttl}, nil)
		c1 := f.create(t, "a", "tictactoe")
		time.Sleep(ttl / 2)
		c2 := f.create(t, "a", "rps")

		// c1 expires at ttl, then the sweep closes it without anyone asking.
		time.Sleep(ttl / 2)
		synctest.Wait()
		if n := f.openChallenges(t); n != 1 {
			t.Errorf("%d open challenges after the first expired, want 1", n)
		}
		err := f.l.AcceptChallenge(f.ctx, c1.Code, ticket("b", ""))
		wantErr(t, "AcceptChallenge after the TTL", err, ErrNotFound)

		time.Sleep(ttl/2 - time.Nanosecond)
		if err := f.l.AcceptChallenge(f.ctx, c2.Code, ticket("b", "")); err != nil {
			t.Fatalf("AcceptChallenge just before the TTL: %v", err)
		}

		// A cancelled challenge is gone at once, and the sweep timer does
		// not trip over it later.
		f.create(t, "c", "rps")
		f.l.CancelChallenges(f.ctx, "c")
		time.Sleep(time.Hour)
		if n := f.openChallenges(t); n != 0 {
			t.Errorf("%d open challenges, want 0", n)
		}
	})
}

func TestChallengeCapReplacesOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{MaxChallenges: 3}, nil)
		var codes []string
		for range 4 {
			codes = append(codes, f.create(t, "a", "rps").Code)
			time.Sleep(time.Second)
		}
		other := f.create(t, "b", "rps")
		if n := f.openChallenges(t); n != 4 {
			t.Errorf("%d open challenges, want 3 of a's and 1 of b's", n)
		}
		err := f.l.AcceptChallenge(f.ctx, codes[0], ticket("c", ""))
		wantErr(t, "AcceptChallenge of the replaced challenge", err, ErrNotFound)
		if err := f.l.AcceptChallenge(f.ctx, codes[3], ticket("c", "")); err != nil {
			t.Fatalf("AcceptChallenge of the newest: %v", err)
		}

		f.l.CancelChallenges(f.ctx, "a")
		for _, code := range codes[1:3] {
			err := f.l.AcceptChallenge(f.ctx, code, ticket("d", ""))
			wantErr(t, "AcceptChallenge of a cancelled challenge", err, ErrNotFound)
		}
		if n := f.openChallenges(t); n != 1 {
			t.Errorf("%d open challenges, want b's only", n)
		}
		if err := f.l.AcceptChallenge(f.ctx, other.Code, ticket("d", "")); err != nil {
			t.Fatalf("AcceptChallenge of b's: %v", err)
		}
	})
}

func TestNewCode(t *testing.T) {
	seen := make(map[string]bool)
	chars := make(map[rune]int)
	for range 2000 {
		code := newCode()
		if !validCode(code) {
			t.Fatalf("code %q is not %d characters of %s", code, codeLen, codeAlphabet)
		}
		if seen[code] {
			t.Fatalf("code %q drawn twice", code)
		}
		seen[code] = true
		for _, r := range code {
			chars[r]++
		}
	}
	if len(chars) != len(codeAlphabet) {
		t.Errorf("16000 characters used only %d of the alphabet: %v", len(chars), slices.Sorted(maps.Keys(chars)))
	}
	for _, r := range "0O1IL" {
		if strings.ContainsRune(codeAlphabet, r) {
			t.Errorf("alphabet holds the ambiguous %q", r)
		}
	}
}

func validCode(code string) bool {
	if len(code) != codeLen {
		return false
	}
	for _, r := range code {
		if !strings.ContainsRune(codeAlphabet, r) {
			return false
		}
	}
	return true
}

// TestAcceptChecksExpiry drives the loop's own functions by hand: a request
// that reaches the loop before the sweep timer does still sees the expiry.
func TestAcceptChecksExpiry(t *testing.T) {
	l := New(nil, func(context.Context, Pair) error { return nil }, hasGame,
		func(string) bool { return false }, Config{ChallengeTTL: time.Minute})
	now := time.Now()
	c, err := l.createChallenge(ticket("a", "rps"), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.acceptChallenge(c.Code, ticket("b", ""), now.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("accept at the TTL: error %v, want %v", err, ErrNotFound)
	}
	if len(l.challenges) != 0 || len(l.byCreator) != 0 {
		t.Errorf("expired challenge kept: %v %v", l.challenges, l.byCreator)
	}
}
