package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

func (ts *testServer) openConns() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.open)
}

func TestOrigin(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedOrigins = []string{"https://play.example.com", "http://localhost:5173"}
	ts := startServer(t, cfg, Deps{})
	own := strings.TrimPrefix(ts.url, "http://")
	_, port, _ := net.SplitHostPort(own)
	tests := map[string]struct {
		origin []string // nil: no Origin header
		host   string   // "" keeps the dialed host
		ok     bool
	}{
		"none":                  {nil, "", true},
		"own":                   {[]string{ts.url}, "", true},
		"own upper case":        {[]string{strings.ToUpper(ts.url)}, "", true},
		"own via Host":          {[]string{"http://turnbase.test"}, "turnbase.test", true},
		"own via Host port 80":  {[]string{"http://turnbase.test:80"}, "turnbase.test", true},
		"configured":            {[]string{"https://play.example.com"}, "", true},
		"configured with 443":   {[]string{"https://play.example.com:443"}, "", true},
		"configured port":       {[]string{"http://localhost:5173"}, "", true},
		"foreign":               {[]string{"https://evil.example"}, "", false},
		"null":                  {[]string{"null"}, "", false},
		"own host other port":   {[]string{"http://127.0.0.1:1"}, "", false},
		"own host as https":     {[]string{"https://" + own}, "", false},
		"configured as http":    {[]string{"http://play.example.com"}, "", false},
		"suffix of configured":  {[]string{"https://evil-play.example.com"}, "", false},
		"configured subdomain":  {[]string{"https://x.play.example.com"}, "", false},
		"own port as localhost": {[]string{"http://localhost:" + port}, "", false},
		"two origins":           {[]string{ts.url, ts.url}, "", false},
		"garbage":               {[]string{"::::"}, "", false},
		"with path":             {[]string{ts.url + "/x"}, "", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != nil {
				h["Origin"] = tt.origin
			}
			if tt.host != "" {
				h.Set("Host", tt.host)
			}
			c, resp, err := ts.dial(t, h)
			if tt.ok {
				if err != nil {
					t.Fatalf("dial: %v (status %v)", err, resp)
				}
				c.Close()
				waitFor(t, "the connection to go", func() bool { return ts.openConns() == 0 })
				return
			}
			if err == nil {
				t.Fatal("connection allowed")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("response %v, want 403", resp)
			}
			if n := ts.openConns(); n != 0 {
				t.Fatalf("%d connections registered after a refused origin", n)
			}
		})
	}
}

func TestNoCompression(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	d := websocket.Dialer{EnableCompression: true}
	c, resp, err := d.Dial(ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("extensions negotiated: %q", ext)
	}
}

func TestMessageTooBig(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	c, _ := ts.connect(t, "")
	// A frame of exactly the limit is read.
	ping := `{"type":"ping","id":"big"}`
	writeText(t, c, ping+strings.Repeat(" ", 4096-len(ping)))
	if f := readFrame(t, c); f["type"] != "pong" || f["re"] != "big" {
		t.Fatalf("got %v, want pong", f)
	}
	writeText(t, c, ping+strings.Repeat(" ", 4097-len(ping)))
	expectClose(t, c, websocket.CloseMessageTooBig)
	waitFor(t, "the connection to go", func() bool { return ts.openConns() == 0 })
}

// A client that keeps sending a huge message still receives 1009.
func TestMessageTooBigStreaming(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	c, _ := ts.connect(t, "")
	w, err := c.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := bytes.Repeat([]byte("x"), 1024)
		for range 1024 { // up to 1 MiB, until the server hangs up
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Close()
	}()
	expectClose(t, c, websocket.CloseMessageTooBig)
	c.Close()
	<-done
}

func TestInvalidUTF8(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	for name, hello := range map[string]bool{"before hello": false, "after hello": true} {
		t.Run(name, func(t *testing.T) {
			var c *websocket.Conn
			if hello {
				c, _ = ts.connect(t, "")
			} else {
				var err error
				if c, _, err = ts.dial(t, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte("{\"type\":\"ping\",\"id\":\"\xff\xfe\"}")); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c, websocket.CloseInvalidFramePayloadData)
		})
	}
}

func TestHelloTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.HelloTimeout = 200 * time.Millisecond
	ts := startServer(t, cfg, Deps{})
	c, _, err := ts.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expectClose(t, c, 4001)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
	waitFor(t, "the connection to go", func() bool { return ts.openConns() == 0 })
}

func TestBadHello(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tests := map[string]struct {
		frame string
		re    string
	}{
		"not hello":     {`{"type":"ping","id":"p"}`, "p"},
		"version 2":     {`{"type":"hello","v":2,"id":"h"}`, "h"},
		"no version":    {`{"type":"hello","id":"h"}`, "h"},
		"malformed":     {`{"type":"hello"`, ""},
		"unknown type":  {`{"type":"hi","v":1,"id":"h"}`, "h"},
		"token number":  {`{"type":"hello","v":1,"token":1,"id":"h"}`, "h"},
		"id too long":   {`{"type":"hello","v":1,"id":"` + strings.Repeat("i", 33) + `"}`, ""},
		"binary":        {"", ""},
		"empty object":  {`{}`, ""},
		"queue first":   {`{"type":"queue.join","game":"rps","id":"q"}`, "q"},
		"watch first":   {`{"type":"match.watch","match":"m","id":"w"}`, "w"},
		"array":         {`[{"type":"hello","v":1}]`, ""},
		"string":        {`"hello"`, ""},
		"spaces":        {`   `, ""},
		"number v text": {`{"type":"hello","v":"1","id":"h"}`, "h"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, _, err := ts.dial(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.frame == "" {
				err = c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"hello","v":1}`))
			} else {
				err = c.WriteMessage(websocket.TextMessage, []byte(tt.frame))
			}
			if err != nil {
				t.Fatal(err)
			}
			expectError(t, c, "bad_request", tt.re)
			expectClose(t, c, 4001)
		})
	}
}

func TestWelcome(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tok, id := ts.token(t, "Cleo")
	ts.matches.mu.Lock()
	ts.matches.active[id.ID] = []string{"m1", "m2"}
	ts.matches.mu.Unlock()

	c, _, err := ts.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, c, `{"type":"hello","v":1,"id":"h1","token":"`+tok+`"}`)
	w := readFrame(t, c)
	if w["type"] != "welcome" || w["v"] != float64(1) || w["re"] != "h1" {
		t.Fatalf("welcome %v", w)
	}
	if ms, _ := w["server_ms"].(float64); ms < float64(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Fatalf("server_ms %v", w["server_ms"])
	}
	if fmt.Sprint(w["active"]) != "[m1 m2]" {
		t.Fatalf("active %v", w["active"])
	}
	if p := w["player"].(map[string]any); p["id"] != id.ID || p["name"] != "Cleo" {
		t.Fatalf("player %v", p)
	}
	waitFor(t, "Connect", func() bool { return len(ts.matches.connections()) == 1 })
	if got := ts.matches.connections()[0].PlayerID(); got != id.ID {
		t.Fatalf("connected %q", got)
	}

	// A second hello is refused without closing.
	writeText(t, c, `{"type":"hello","v":1,"id":"h2"}`)
	expectError(t, c, "bad_request", "h2")
	writeText(t, c, `{"type":"ping","id":"p"}`)
	if f := readFrame(t, c); f["type"] != "pong" || f["re"] != "p" {
		t.Fatalf("got %v", f)
	}

	// A spectator's welcome has no player and no active matches, and it
	// is not connected to the registry.
	s, w := ts.connect(t, "")
	defer s.Close()
	if w["player"] != nil || fmt.Sprint(w["active"]) != "[]" {
		t.Fatalf("spectator welcome %v", w)
	}
	if n := len(ts.matches.connections()); n != 1 {
		t.Fatalf("%d connections connected, want the player's only", n)
	}
}

// Every client message with a missing or wrong field is answered with
// bad_request carrying the request's id, and the connection stays open.
func TestBadFields(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tok, _ := ts.token(t, "Dora")
	c, _ := ts.connect(t, tok)
	tests := map[string]struct {
		frame string
		re    string
	}{
		"queue.join no game":         {`{"type":"queue.join","id":"1"}`, "1"},
		"queue.join game number":     {`{"type":"queue.join","id":"2","game":7}`, "2"},
		"queue.join empty game":      {`{"type":"queue.join","id":"3","game":""}`, "3"},
		"challenge.create no game":   {`{"type":"challenge.create","id":"4"}`, "4"},
		"challenge.create game null": {`{"type":"challenge.create","id":"5","game":null}`, "5"},
		"challenge.accept no code":   {`{"type":"challenge.accept","id":"6"}`, "6"},
		"challenge.accept code obj":  {`{"type":"challenge.accept","id":"7","code":{}}`, "7"},
		"match.move no match":        {`{"type":"match.move","id":"8","move":{"cell":1}}`, "8"},
		"match.move no move":         {`{"type":"match.move","id":"9","match":"m"}`, "9"},
		"match.move null move":       {`{"type":"match.move","id":"10","match":"m","move":null}`, "10"},
		"match.resign no match":      {`{"type":"match.resign","id":"11"}`, "11"},
		"match.rematch match number": {`{"type":"match.rematch","id":"12","match":5}`, "12"},
		"match.watch empty match":    {`{"type":"match.watch","id":"13","match":""}`, "13"},
		"match.unwatch no match":     {`{"type":"match.unwatch","id":"14"}`, "14"},
		"unknown type":               {`{"type":"match.undo","id":"15","match":"m"}`, "15"},
		"no type":                    {`{"id":"16"}`, "16"},
		"type number":                {`{"type":3,"id":"17"}`, "17"},
		"hello again":                {`{"type":"hello","v":1,"id":"18"}`, "18"},
		"malformed":                  {`{"type":"ping","id":"19"`, ""},
		"array":                      {`[]`, ""},
		"id too long":                {`{"type":"ping","id":"` + strings.Repeat("x", 33) + `"}`, ""},
		"id number":                  {`{"type":"ping","id":33}`, ""},
		"unsupported game":           {`{"type":"queue.join","id":"20","game":"chess"}`, "20"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			writeText(t, c, tt.frame)
			code := "bad_request"
			if name == "unsupported game" {
				code = "unsupported_game"
			}
			expectError(t, c, code, tt.re)
		})
	}
	t.Run("binary", func(t *testing.T) {
		if err := c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		expectError(t, c, "bad_request", "")
	})
	// Still open.
	writeText(t, c, `{"type":"ping","id":"last"}`)
	if f := readFrame(t, c); f["type"] != "pong" || f["re"] != "last" {
		t.Fatalf("got %v", f)
	}
	if calls := ts.matches.callLog(); len(calls) != 0 {
		t.Fatalf("registry called: %v", calls)
	}
}

func TestRequests(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tok, id := ts.token(t, "Eli")
	c, _ := ts.connect(t, tok)

	writeText(t, c, `{"type":"queue.join","id":"j","game":"rps"}`)
	f := readFrame(t, c)
	if f["type"] != "queue.joined" || f["re"] != "j" || f["game"] != "rps" || f["since_ms"] != float64(1_700_000_000_000) {
		t.Fatalf("got %v", f)
	}
	ts.lobby.mu.Lock()
	got := ts.lobby.joined[0]
	ts.lobby.mu.Unlock()
	if got.PlayerID != id.ID || got.Name != "Eli" || got.Rating != 1500 || got.Game != "rps" {
		t.Fatalf("ticket %+v", got)
	}
	writeText(t, c, `{"type":"queue.leave","id":"l"}`)
	if f := readFrame(t, c); f["type"] != "queue.left" || f["re"] != "l" {
		t.Fatalf("got %v", f)
	}
	writeText(t, c, `{"type":"queue.leave"}`)
	if f := readFrame(t, c); f["type"] != "queue.left" || f["re"] != nil {
		t.Fatalf("got %v", f)
	}
	writeText(t, c, `{"type":"challenge.create","id":"c","game":"tictactoe"}`)
	f = readFrame(t, c)
	if f["type"] != "challenge.created" || f["re"] != "c" || f["code"] != "ABCD2345" || f["game"] != "tictactoe" || f["expires_ms"] != float64(1_700_000_600_000) {
		t.Fatalf("got %v", f)
	}
	writeText(t, c, `{"type":"challenge.accept","id":"a","code":"WXYZ2345"}`)
	// Accepting answers nothing itself: the next frame is the pong.
	writeText(t, c, `{"type":"ping","id":"p"}`)
	if f := readFrame(t, c); f["type"] != "pong" || f["re"] != "p" {
		t.Fatalf("got %v", f)
	}

	writeText(t, c, `{"type":"match.move","id":"m","match":"m1","move":{"cell":4}}`)
	writeText(t, c, `{"type":"match.resign","match":"m1"}`)
	writeText(t, c, `{"type":"match.rematch","match":"m1"}`)
	writeText(t, c, `{"type":"match.watch","match":"m2"}`)
	writeText(t, c, `{"type":"match.unwatch","match":"m2"}`)
	writeText(t, c, `{"type":"ping"}`)
	if f := readFrame(t, c); f["type"] != "pong" || f["re"] != nil {
		t.Fatalf("got %v", f)
	}
	want := `[move m1 {"cell":4} resign m1 rematch m1 watch m2 unwatch m2]`
	if got := fmt.Sprint(ts.matches.callLog()); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}

	// Refusals come back as errors answering the request.
	ts.matches.mu.Lock()
	ts.matches.replies["move"] = fmt.Errorf("apply: %w", game.ErrNotYourTurn)
	ts.matches.replies["resign"] = match.ErrNotAPlayer
	ts.matches.replies["watch"] = match.ErrNotFound
	ts.matches.replies["rematch"] = errors.New("disk on fire")
	ts.matches.mu.Unlock()
	writeText(t, c, `{"type":"match.move","id":"m","match":"m1","move":{"cell":4}}`)
	expectError(t, c, "not_your_turn", "m")
	writeText(t, c, `{"type":"match.resign","id":"r","match":"m1"}`)
	expectError(t, c, "not_a_player", "r")
	writeText(t, c, `{"type":"match.watch","id":"w","match":"zz"}`)
	expectError(t, c, "not_found", "w")
	writeText(t, c, `{"type":"match.rematch","id":"x","match":"m1"}`)
	if f := expectError(t, c, "internal", "x"); strings.Contains(fmt.Sprint(f["message"]), "disk") {
		t.Fatalf("internal error text leaked: %v", f)
	}

	ts.lobby.mu.Lock()
	ts.lobby.err = lobby.ErrAlreadyQueued
	ts.lobby.mu.Unlock()
	writeText(t, c, `{"type":"queue.join","id":"j2","game":"rps"}`)
	expectError(t, c, "already_queued", "j2")

	ts.matches.mu.Lock()
	ts.matches.inMatch[id.ID] = true
	ts.matches.mu.Unlock()
	writeText(t, c, `{"type":"challenge.accept","id":"a2","code":"WXYZ2345"}`)
	expectError(t, c, "in_match", "a2")
}

func TestSpectatorMayOnlyWatch(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	c, _ := ts.connect(t, "")
	for i, frame := range []string{
		`{"type":"match.move","id":"0","match":"m1","move":{"cell":4}}`,
		`{"type":"match.resign","id":"1","match":"m1"}`,
		`{"type":"match.rematch","id":"2","match":"m1"}`,
		`{"type":"queue.join","id":"3","game":"rps"}`,
		`{"type":"queue.leave","id":"4"}`,
		`{"type":"challenge.create","id":"5","game":"rps"}`,
		`{"type":"challenge.accept","id":"6","code":"ABCD"}`,
	} {
		writeText(t, c, frame)
		expectError(t, c, "unauthorized", fmt.Sprint(i))
	}
	writeText(t, c, `{"type":"match.watch","match":"m1","id":"w"}`)
	writeText(t, c, `{"type":"match.unwatch","match":"m1"}`)
	writeText(t, c, `{"type":"ping","id":"p"}`)
	if f := readFrame(t, c); f["type"] != "pong" {
		t.Fatalf("got %v", f)
	}
	if got := fmt.Sprint(ts.matches.callLog()); got != "[watch m1 unwatch m1]" {
		t.Fatalf("calls %s", got)
	}
}

func TestCloseReleasesPlayer(t *testing.T) {
	cfg := testConfig()
	cfg.PongWait = time.Minute // b does not read, so it does not answer pings
	ts := startServer(t, cfg, Deps{})
	tok, id := ts.token(t, "Finn")
	a, _ := ts.connect(t, tok)
	b, _ := ts.connect(t, tok)
	writeText(t, a, `{"type":"queue.join","game":"rps"}`)
	readType(t, a, "queue.joined")

	a.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	expectClose(t, a, websocket.CloseNormalClosure)
	waitFor(t, "disconnect", func() bool {
		n := 0
		for _, c := range ts.matches.connections() {
			if ts.matches.disconnected(c) {
				n++
			}
		}
		return n == 1
	})
	waitFor(t, "queue leave", func() bool { left, _ := ts.lobby.snapshot(); return len(left) == 1 })
	if _, cancelled := ts.lobby.snapshot(); len(cancelled) != 0 {
		t.Fatalf("challenges cancelled while another tab is open: %v", cancelled)
	}

	b.Close()
	waitFor(t, "challenges cancelled", func() bool { _, c := ts.lobby.snapshot(); return len(c) == 1 })
	left, cancelled := ts.lobby.snapshot()
	if len(left) != 1 || cancelled[0] != id.ID {
		t.Fatalf("left %v cancelled %v", left, cancelled)
	}
	waitFor(t, "connections to go", func() bool { return ts.openConns() == 0 })
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.players) != 0 || len(ts.perIP) != 0 {
		t.Fatalf("players %v perIP %v kept", ts.players, ts.perIP)
	}
}

func TestConnsPerIP(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnsPerIP = 2
	ts := startServer(t, cfg, Deps{})
	a, _ := ts.connect(t, "")
	ts.connect(t, "")
	_, resp, err := ts.dial(t, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: %v %v, want 429 with Retry-After", err, resp)
	}
	a.Close()
	waitFor(t, "a slot", func() bool { return ts.openConns() == 1 })
	ts.connect(t, "")
}

func TestHandshakeRate(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeRate, cfg.HandshakeBurst = 0.5, 2
	ts := startServer(t, cfg, Deps{})
	ts.connect(t, "")
	ts.connect(t, "")
	_, resp, err := ts.dial(t, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third handshake: %v %v, want 429", err, resp)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Fatalf("Retry-After %q, want 2", ra)
	}
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.ConnRate, cfg.ConnBurst = 1, 5
	cfg.MaxLimited, cfg.LimitedWindow = 3, time.Minute
	ts := startServer(t, cfg, Deps{})
	tok, _ := ts.token(t, "Gus")
	c, _ := ts.connect(t, tok)
	for i := range 20 {
		writeText(t, c, fmt.Sprintf(`{"type":"ping","id":"%d"}`, i))
	}
	for i := range 5 {
		if f := readFrame(t, c); f["type"] != "pong" || f["re"] != fmt.Sprint(i) {
			t.Fatalf("frame %d: %v", i, f)
		}
	}
	for i := 5; i < 8; i++ {
		expectError(t, c, "rate_limited", fmt.Sprint(i))
	}
	expectClose(t, c, 4008)
}

// The frames a real player sends at once, and then a steady 5 a second,
// are never limited with the default limits.
func TestRealPlayerNotLimited(t *testing.T) {
	cfg := testConfig()
	cfg.ConnRate, cfg.ConnBurst, cfg.PlayerRate, cfg.PlayerBurst = 0, 0, 0, 0 // defaults
	ts := startServer(t, cfg, Deps{})
	tok, _ := ts.token(t, "Hal")
	a, _ := ts.connect(t, tok)
	b, _ := ts.connect(t, tok)
	send := func(c *websocket.Conn, n int, tag string) {
		for i := range n {
			writeText(t, c, fmt.Sprintf(`{"type":"ping","id":"%s%d"}`, tag, i))
		}
		for range n {
			if f := readFrame(t, c); f["type"] != "pong" {
				t.Fatalf("got %v", f)
			}
		}
	}
	send(a, 15, "a") // reconnect: watches, a ping, a double click
	send(b, 15, "b")
	for sec := range 3 {
		send(a, 5, fmt.Sprint("a", sec, "-"))
		send(b, 5, fmt.Sprint("b", sec, "-"))
		time.Sleep(time.Second)
	}
}

// A client that stops reading is dropped once its queue is full, and the
// server carries on.
func TestSlowReader(t *testing.T) {
	cfg := testConfig()
	cfg.SendQueue = 4
	ts := startServer(t, cfg, Deps{})
	tok, _ := ts.token(t, "Ivy")
	// A small receive buffer so that the socket fills quickly.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := d.Dial(ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	writeJSONFrame(t, slow, map[string]any{"type": "hello", "v": 1, "token": tok})
	readFrame(t, slow)
	waitFor(t, "Connect", func() bool { return len(ts.matches.connections()) == 1 })
	conn := ts.matches.connections()[0]

	frame := []byte(`{"type":"match.state","pad":"` + strings.Repeat("x", 16<<10) + `"}`)
	var sent atomic.Int64
	deadline := time.Now().Add(10 * time.Second)
	for conn.Send(frame) {
		sent.Add(1)
		if time.Now().After(deadline) {
			t.Fatalf("still accepting frames after %d", sent.Load())
		}
		time.Sleep(200 * time.Microsecond) // slower than the write pump, were the client reading
	}
	t.Logf("dropped after %d frames", sent.Load())
	if conn.Send([]byte(`{}`)) {
		t.Fatal("Send accepted a frame after the drop")
	}
	waitFor(t, "disconnect", func() bool { return ts.matches.disconnected(conn) })

	// Others are served meanwhile and after.
	c, _ := ts.connect(t, "")
	writeText(t, c, `{"type":"ping","id":"p"}`)
	if f := readFrame(t, c); f["type"] != "pong" {
		t.Fatalf("got %v", f)
	}
	if resp := httpDo(t, "GET", ts.url+"/healthz", nil, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	waitFor(t, "the slow connection to go", func() bool { return ts.openConns() == 1 })
}

func TestShutdownClosesSockets(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tok, _ := ts.token(t, "Joy")
	player, _ := ts.connect(t, tok)
	spectator, _ := ts.connect(t, "")
	// A socket that never said hello is closed too.
	silent, _, err := ts.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three connections", func() bool { return ts.openConns() == 3 })

	errc := make(chan error, 1)
	go func() { errc <- ts.stop() }()
	for _, c := range []*websocket.Conn{player, spectator, silent} {
		expectClose(t, c, websocket.CloseGoingAway)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, _, err := ts.dial(t, nil); err == nil {
		t.Fatal("dial succeeded after shutdown")
	}
}

// A client that does not answer the close handshake does not hold up the
// shutdown beyond CloseWait.
func TestShutdownDeafClient(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	nc, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	waitFor(t, "the connection", func() bool { return ts.openConns() == 1 })
	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

func TestPingKeepsAlive(t *testing.T) {
	cfg := testConfig()
	cfg.PingPeriod, cfg.PongWait = 100*time.Millisecond, 500*time.Millisecond
	ts := startServer(t, cfg, Deps{})
	c, _ := ts.connect(t, "")
	// gorilla answers pings while we read; wait well past PongWait.
	c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("unexpected frame")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("connection lost: %v", err)
	}
}

func TestPongTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.PingPeriod, cfg.PongWait = 50*time.Millisecond, 200*time.Millisecond
	ts := startServer(t, cfg, Deps{})
	c, _ := ts.connect(t, "")
	c.SetPingHandler(func(string) error { return nil }) // a client that never pongs
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("close frame %v, want the connection dropped", ce)
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("still connected after PongWait")
			}
			break
		}
	}
	waitFor(t, "the connection to go", func() bool { return ts.openConns() == 0 })
}

// Pongs do not keep a connection that never says hello.
func TestPongBeforeHello(t *testing.T) {
	cfg := testConfig()
	cfg.HelloTimeout = 300 * time.Millisecond
	ts := startServer(t, cfg, Deps{})
	c, _, err := ts.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}
	}()
	start := time.Now()
	expectClose(t, c, closeBadToken)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// WebSocket pings and pongs count against the connection's frame rate: a
// client flooding them, before or after its hello, is closed with 4008,
// as for data frames. (Before, 8 sockets sent 144,000 pings a second and
// were never closed.)
func TestControlFrameFlood(t *testing.T) {
	cfg := testConfig()
	cfg.ConnRate, cfg.ConnBurst = 20, 40
	cfg.MaxLimited, cfg.LimitedWindow = 20, 10*time.Second
	ts := startServer(t, cfg, Deps{})
	for _, tc := range []struct {
		name  string
		hello bool
		kind  int
	}{{"pings after hello", true, websocket.PingMessage}, {"pongs after hello", true, websocket.PongMessage}, {"pings before hello", false, websocket.PingMessage}} {
		t.Run(tc.name, func(t *testing.T) {
			var c *websocket.Conn
			if tc.hello {
				c, _ = ts.connect(t, "")
			} else {
				var err error
				if c, _, err = ts.dial(t, nil); err != nil {
					t.Fatal(err)
				}
			}
			pongs := 0
			c.SetPongHandler(func(string) error { pongs++; return nil })
			flood := make(chan int, 1)
			go func() {
				n := 0
				for ; n < 100_000; n++ {
					if c.WriteControl(tc.kind, []byte("x"), time.Now().Add(time.Second)) != nil {
						break
					}
				}
				flood <- n
			}()
			expectClose(t, c, 4008)
			c.Close()
			n := <-flood
			t.Logf("closed after %d control frames were written, %d pongs", n, pongs)
			if tc.kind == websocket.PingMessage && pongs > cfg.ConnBurst+cfg.MaxLimited {
				t.Errorf("%d pings answered; the budget allows about %d", pongs, cfg.ConnBurst)
			}
		})
	}
	waitFor(t, "the connections to go", func() bool { return ts.openConns() == 0 })
}
