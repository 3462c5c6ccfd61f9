package game_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/turnbase/turnbase/game"
)

// appendStringCases are strings a player name (user input) may hold.
var appendStringCases = []string{
	"", "Alice", "bob_42-x", `quo"te`, `back\slash`, "<script>&amp;</script>",
	"tab\there", "nl\ncr\rff\fbs\b", "\x00\x01\x1f\x7f", "héllo wörld", "日本語", "emoji 😀",
	"line\u2028sep\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", "trailing \xe2\x82",
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got := game.AppendString([]byte("prefix"), s)
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got[len("prefix"):], want)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range appendStringCases {
		checkAppendString(t, s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		checkAppendString(t, string(b))
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range appendStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkAppendString(t, s) })
}

// TestAppendViewFallback: a state without AppendView is encoded by
// encoding/json.
func TestAppendViewFallback(t *testing.T) {
	var s game.State = countState(7)
	if _, fast := s.(game.ViewAppender); fast {
		t.Fatal("countState should have no fast path")
	}
	got, err := game.AppendView([]byte(`{"state":`), s, game.Spectator)
	if err != nil || string(got) != `{"state":7` {
		t.Fatalf("AppendView = %s, %v", got, err)
	}
}
