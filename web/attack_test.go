package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/turnbase/turnbase/match"
)

// An upgrade request whose headers never end is dropped at the
// ReadHeaderTimeout, whether it stalls or trickles a byte at a time, and
// never reaches the WebSocket handler.
func TestHalfSentUpgrade(t *testing.T) {
	cfg := testConfig()
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	ts := startServer(t, cfg, Deps{})
	head := "GET /ws HTTP/1.1\r\nHost: turnbase.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: "
	for _, trickle := range []bool{false, true} {
		name := map[bool]string{false: "stalled", true: "trickled"}[trickle]
		t.Run(name, func(t *testing.T) {
			nc, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			start := time.Now()
			if _, err := io.WriteString(nc, head); err != nil {
				t.Fatal(err)
			}
			writerDone := make(chan struct{})
			go func() {
				defer close(writerDone)
				if !trickle {
					return
				}
				// One more header byte every 50ms, until the server hangs up.
				for {
					time.Sleep(50 * time.Millisecond)
					nc.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := nc.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
			nc.SetReadDeadline(start.Add(cfg.ReadHeaderTimeout + 5*time.Second))
			answer, err := io.ReadAll(nc)
			elapsed := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v", elapsed)
			}
			if bytes.Contains(answer, []byte(" 101 ")) {
				t.Fatalf("upgraded: %q", answer)
			}
			if elapsed < cfg.ReadHeaderTimeout-50*time.Millisecond || elapsed > cfg.ReadHeaderTimeout+2*time.Second {
				t.Fatalf("closed after %v, want about ReadHeaderTimeout (%v)", elapsed, cfg.ReadHeaderTimeout)
			}
			t.Logf("closed after %v (%v), answer %q", elapsed, err, answer)
			nc.Close()
			<-writerDone
			if n := ts.openConns(); n != 0 {
				t.Fatalf("%d WebSocket connections registered", n)
			}
		})
	}
}

// A player whose client stops answering pings is shown as disconnected to
// the opponent within PongWait: whether the client stops reading
// altogether or reads on but never answers a ping.
func TestStackDeafPlayerDisconnected(t *testing.T) {
	for _, reads := range []bool{false, true} {
		name := map[bool]string{false: "stops reading", true: "never pongs"}[reads]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.PingPeriod, cfg.PongWait = 100*time.Millisecond, 600*time.Millisecond
			const grace = time.Minute
			ts, _ := startStackWith(t, cfg, match.Config{MoveTimeout: time.Minute, Grace: grace, Linger: time.Minute})
			seats, id := startMatch(t, ts, "tictactoe", "deaf_x", "live_o")
			deaf, live := seats[0].c, seats[1].c
			// The deaf client's last sign of life is now at the latest: it
			// answered pings only while startMatch read its frames.
			since := time.Now()
			if reads {
				deaf.SetPingHandler(func(string) error { return nil })
				follow(t, deaf, id)
			}
			f := stateWhere(t, live, func(f frameMap) bool {
				return !f["players"].([]any)[0].(map[string]any)["connected"].(bool)
			})
			elapsed := time.Since(since)
			t.Logf("disconnect shown after %v", elapsed)
			if elapsed > cfg.PongWait+2*time.Second {
				t.Fatalf("disconnect shown after %v, want within PongWait (%v) and slack", elapsed, cfg.PongWait)
			}
			players := f["players"].([]any)
			if !players[1].(map[string]any)["connected"].(bool) {
				t.Fatalf("the player who answers pings is shown disconnected too: %v", players)
			}
			graceMS, _ := players[0].(map[string]any)["grace_ms"].(float64)
			if end := time.UnixMilli(int64(graceMS)); end.Before(since.Add(grace)) || end.After(time.Now().Add(grace)) {
				t.Fatalf("grace_ms %v, want about %v from the disconnect", players[0], grace)
			}
			if f["status"] != "live" {
				t.Fatalf("state %v, want the match still live during the grace period", f)
			}
			waitFor(t, "the deaf connection to go", func() bool { return ts.openConns() == 1 })
		})
	}
}

// Junk where a token goes is refused: over HTTP with 401 while it fits the
// header limit, with 431 by the HTTP server beyond it (64 KiB); in hello
// with 4001 while it fits the 4 KiB frame limit, with 1009 beyond it. No
// connection gets a welcome; no player is registered.
func TestJunkTokens(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	r := rand.New(rand.NewPCG(1, 2))
	junk := func(n int) string {
		const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	// A JWT-shaped junk token: header.payload.signature.
	jwtLike := func(n int) string { return junk(20) + "." + junk(n-42) + "." + junk(20) }

	for name, tt := range map[string]struct {
		token  string
		status int
	}{
		"3 KiB junk":               {junk(3 << 10), http.StatusUnauthorized},
		"12 KiB junk":              {junk(12 << 10), http.StatusUnauthorized},
		"12 KiB JWT-shaped junk":   {jwtLike(12 << 10), http.StatusUnauthorized},
		"64 KiB junk":              {junk(64 << 10), http.StatusRequestHeaderFieldsTooLarge},
		"64 KiB JWT-shaped junk":   {jwtLike(64 << 10), http.StatusRequestHeaderFieldsTooLarge},
		"only dots":                {"...", http.StatusUnauthorized},
		"bearer twice":             {"Bearer x.y.z", http.StatusUnauthorized},
		"whitespace inside":        {"a.b .c", http.StatusUnauthorized},
		"long valid-looking parts": {jwtLike(5000), http.StatusUnauthorized},
	} {
		t.Run("HTTP "+name, func(t *testing.T) {
			for _, path := range []string{"/api/auth/refresh", "/api/me"} {
				method := map[string]string{"/api/auth/refresh": "POST", "/api/me": "GET"}[path]
				req, err := http.NewRequest(method, ts.url+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tt.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Fatalf("%s %s: status %d, want %d (%s)", method, path, resp.StatusCode, tt.status, body)
				}
				if tt.status == http.StatusUnauthorized && !bytes.Contains(body, []byte(`"code":"unauthorized"`)) {
					t.Fatalf("%s %s: body %s, want error unauthorized", method, path, body)
				}
			}
		})
	}

	for name, tt := range map[string]struct {
		token string
		code  int
	}{
		"3 KiB junk":           {junk(3 << 10), 4001},
		"JWT-shaped, 4000 B":   {jwtLike(4000), 4001},
		"64 KiB junk":          {junk(64 << 10), websocket.CloseMessageTooBig},
		"64 KiB JWT-shaped":    {jwtLike(64 << 10), websocket.CloseMessageTooBig},
		"control characters":   {"a\x01b\x7fc", 4001},
		"only dots":            {"...", 4001},
		"a token inside a JWT": {"eyJ" + junk(100), 4001},
	} {
		t.Run("hello "+name, func(t *testing.T) {
			c, _, err := ts.dial(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			writeJSONFrame(t, c, map[string]any{"type": "hello", "v": 1, "id": "h", "token": tt.token})
			// No frame at all, not even an error: the close.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, err := c.ReadMessage()
			if err == nil {
				t.Fatalf("frame %s before the close", data)
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code {
				t.Fatalf("read error %v, want close %d", err, tt.code)
			}
			if st := ts.Stats(); st.Players != 0 || st.Spectators != 0 {
				t.Fatalf("stats %+v: a refused hello was counted as a session", st)
			}
		})
	}
	if n := len(ts.matches.connections()); n != 0 {
		t.Fatalf("%d connections handed to the registry", n)
	}
	waitFor(t, "the refused connections to go", func() bool { return ts.openConns() == 0 })
}

// burst is some frames a client sends at once.
type burst struct {
	at     time.Duration // since the start
	frames int
}

// humanBursts returns a random client's sending over horizon: bursts of
// up to 10 frames, at most 5 frames a second on average (any span of d
// holds at most 10 + 5·d/s frames: a token bucket of 10 refilled at 5 a
// second). Gaps are sometimes nil (a double click), sometimes exactly what
// refills the bucket, so the bursts press against the envelope.
func humanBursts(r *rand.Rand, horizon time.Duration) []burst {
	const perSecond, size = 5.0, 10
	tokens := float64(size)
	var at time.Duration
	var out []burst
	for {
		var gap time.Duration
		switch r.IntN(4) {
		case 0:
		case 1:
			gap = time.Duration(r.Int64N(int64(400 * time.Millisecond)))
		case 2:
			gap = time.Duration(r.Int64N(int64(3 * time.Second)))
		case 3:
			gap = time.Duration(float64(time.Second) * (size - tokens) / perSecond)
		}
		at += gap
		if at > horizon {
			return out
		}
		tokens = min(size, tokens+gap.Seconds()*perSecond)
		n := int(tokens)
		if n == 0 {
			continue
		}
		k := 1 + r.IntN(n)
		if r.IntN(3) == 0 {
			k = n // as much as the envelope allows
		}
		tokens -= float64(k)
		out = append(out, burst{at: at, frames: k})
	}
}

// The limits a connection and a player are held to never limit a human:
// random bursts of up to 10 frames, at most 5 a second on average, from
// one to three tabs of one player, over a minute of fake time, with the
// default limits.
func TestFrameLimiterHumanBursts(t *testing.T) {
	cfg := Config{JWTSecret: testSecret}.withDefaults()
	start := time.Unix(1_700_000_000, 0)
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 0))
		tabs := 1 + r.IntN(3)
		player := rate.NewLimiter(rate.Limit(cfg.PlayerRate), cfg.PlayerBurst)
		type event struct {
			burst
			tab int
		}
		var events []event
		limiters := make([]*frameLimiter, tabs)
		for tab := range tabs {
			limiters[tab] = newFrameLimiter(&cfg, player)
			// The generator's own check: a human is a 5/s, 10-frame bucket.
			human := rate.NewLimiter(5, 10)
			total := 0
			for _, b := range humanBursts(r, time.Minute) {
				if !human.AllowN(start.Add(b.at), b.frames) {
					t.Fatalf("seed %d: generator broke its envelope at %v", seed, b.at)
				}
				total += b.frames
				events = append(events, event{b, tab})
			}
			if total > 10+5*60 {
				t.Fatalf("seed %d: %d frames in a minute", seed, total)
			}
		}
		slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
		for _, e := range events {
			for i := range e.frames {
				if ok, _ := limiters[e.tab].check(start.Add(e.at)); !ok {
					t.Fatalf("seed %d (%d tabs): tab %d limited at %v, frame %d of a burst of %d", seed, tabs, e.tab, e.at, i+1, e.frames)
				}
			}
		}
	}
}

// The same over the wire: two tabs of one player play random human bursts
// for a minute of the server's (fake) clock, with the default limits, and
// every frame is answered, none limited.
func TestHumanBurstsNotLimited(t *testing.T) {
	clock := newTestClock(time.Now())
	ts := startServer(t, testConfig(), Deps{NowFunc: clock.Now}) // testConfig keeps the frame limits' defaults
	tok, _ := ts.token(t, "human")
	tabs := []*websocket.Conn{}
	for range 2 {
		c, _ := ts.connect(t, tok)
		tabs = append(tabs, c)
	}
	r := rand.New(rand.NewPCG(7, 7))
	type event struct {
		burst
		tab int
	}
	var events []event
	for tab := range tabs {
		for _, b := range humanBursts(r, time.Minute) {
			events = append(events, event{b, tab})
		}
	}
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	var now time.Duration
	frames := 0
	for n, e := range events {
		clock.Add(e.at - now)
		now = e.at
		c := tabs[e.tab]
		for i := range e.frames {
			writeText(t, c, fmt.Sprintf(`{"type":"ping","id":"%d-%d"}`, n, i))
		}
		for i := range e.frames {
			if f := readFrame(t, c); f["type"] != "pong" || f["re"] != fmt.Sprintf("%d-%d", n, i) {
				t.Fatalf("burst %d at %v (tab %d, %d frames): got %v, want pong", n, e.at, e.tab, e.frames, f)
			}
		}
		frames += e.frames
	}
	if st := ts.Stats(); st.FramesLimited != 0 {
		t.Fatalf("%d frames limited", st.FramesLimited)
	}
	t.Logf("%d frames in %d bursts over %v of fake time", frames, len(events), now)
}
