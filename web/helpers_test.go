package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/catalog"
	"github.com/turnbase/turnbase/game/rps"
	"github.com/turnbase/turnbase/game/tictactoe"
	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
	"github.com/turnbase/turnbase/postgres"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m))
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// testConfig is a Config with short durations for tests.
func testConfig() Config {
	return Config{
		JWTSecret:       testSecret,
		HelloTimeout:    2 * time.Second,
		PingPeriod:      500 * time.Millisecond,
		PongWait:        2 * time.Second,
		WriteWait:       time.Second,
		CloseWait:       300 * time.Millisecond,
		ShutdownTimeout: 3 * time.Second,
		HTTPRate:        1000,
		HTTPBurst:       1000,
		HandshakeRate:   1000,
		HandshakeBurst:  1000,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tWriter sends log lines to t.Log, so they show only for failing tests.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testDB is a test's own migrated database and the leaderboard types on it.
type testDB struct {
	pool     *pgxpool.Pool
	accounts *postgres.Accounts
	ratings  *postgres.Ratings
}

// newTestDB returns a fresh database for t, dropped when t ends.
func newTestDB(t *testing.T) *testDB {
	t.Helper()
	pool, _ := pgtest.NewDB(t)
	logger := testLogger(t)
	return &testDB{
		pool:     pool,
		accounts: postgres.NewAccounts(pool, logger, postgres.AccountsConfig{BcryptCost: bcrypt.MinCost}),
		ratings:  postgres.NewRatings(pool, logger, postgres.RatingsConfig{Games: catalog.New()}),
	}
}

// testServer is a Server running Serve on a loopback listener.
type testServer struct {
	*Server
	*testDB
	url     string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port/ws
	matches *fakeMatches
	lobby   *fakeLobby
	stop    func() error // cancels Serve and returns its error; idempotent
}

// startServer serves a Server until the test ends, with fake matches and
// lobby unless deps sets them, and accounts and records on a database of
// the test's own unless deps sets them (with db).
func startServer(t *testing.T, cfg Config, deps Deps) *testServer {
	t.Helper()
	return startServerDB(t, newTestDB(t), cfg, deps)
}

// startServerDB is startServer on db.
func startServerDB(t *testing.T, db *testDB, cfg Config, deps Deps) *testServer {
	t.Helper()
	ts := &testServer{testDB: db}
	if deps.Accounts == nil {
		deps.Accounts = db.accounts
	}
	if deps.Records == nil {
		deps.Records = db.ratings
	}
	if deps.Games == nil {
		deps.Games = game.NewRegistry(tictactoe.Game{}, rps.Game{})
	}
	if deps.Matches == nil {
		ts.matches = newFakeMatches()
		deps.Matches = ts.matches
	}
	if deps.Lobby == nil {
		ts.lobby = &fakeLobby{}
		deps.Lobby = ts.lobby
	}
	ts.Server = New(testLogger(t), deps, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.url = "http://" + ln.Addr().String()
	ts.wsURL = "ws://" + ln.Addr().String() + "/ws"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(10 * time.Second):
				serveErr = errors.New("Serve did not return")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// token stores a new guest named name and issues a token for it.
func (ts *testServer) token(t *testing.T, name string) (string, Identity) {
	t.Helper()
	p, err := ts.accounts.CreateGuest(t.Context(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{ID: p.ID, Name: p.Name, Guest: true}
	tok, _, err := ts.tokens.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return tok, id
}

// dial opens a WebSocket with the given request headers.
func (ts *testServer) dial(t *testing.T, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(ts.wsURL, h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return c, resp, err
}

// connect dials and says hello with token ("" for a spectator), and
// returns the connection and the welcome.
func (ts *testServer) connect(t *testing.T, token string) (*websocket.Conn, frameMap) {
	t.Helper()
	c, _, err := ts.dial(t, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	hello := map[string]any{"type": "hello", "v": 1}
	if token != "" {
		hello["token"] = token
	}
	writeJSONFrame(t, c, hello)
	w := readFrame(t, c)
	if w["type"] != "welcome" {
		t.Fatalf("first frame %v, want welcome", w)
	}
	return c, w
}

// frameMap is a decoded server frame.
type frameMap map[string]any

func writeJSONFrame(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	if err := c.WriteJSON(v); err != nil {
		t.Fatalf("write %v: %v", v, err)
	}
}

func writeText(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// readFrame reads one text frame, failing the test after 3 seconds.
func readFrame(t *testing.T, c *websocket.Conn) frameMap {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", typ)
	}
	var f frameMap
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return f
}

// readType reads frames until one of type typ, skipping others.
func readType(t *testing.T, c *websocket.Conn, typ string) frameMap {
	t.Helper()
	for range 50 {
		if f := readFrame(t, c); f["type"] == typ {
			return f
		}
	}
	t.Fatalf("no %s frame in 50", typ)
	return nil
}

// expectClose reads until the connection ends and checks its close code.
func expectClose(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err == nil {
			t.Logf("frame before close: %s", data)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read error %v, want close %d", err, code)
		}
		if ce.Code != code {
			t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
		}
		return
	}
}

// expectError reads the next frame and checks it is an error with code
// answering re ("" for none).
func expectError(t *testing.T, c *websocket.Conn, code, re string) frameMap {
	t.Helper()
	f := readFrame(t, c)
	if f["type"] != "error" || f["code"] != code {
		t.Fatalf("got %v, want error %s", f, code)
	}
	got, has := f["re"]
	switch {
	case re == "" && has:
		t.Fatalf("error %v has re, want none", f)
	case re != "" && got != re:
		t.Fatalf("error %v: re %v, want %q", f, got, re)
	}
	return f
}

// httpDo sends a request and decodes a JSON answer into out (if not nil).
func httpDo(t *testing.T, method, url string, body io.Reader, h http.Header, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, url, data, err)
		}
	}
	return resp
}

// apiError is the JSON error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// waitFor polls cond for up to 3 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeMatches records what the transport asks of the registry. Requests
// are answered with the error in replies[type] (nil: accepted).
type fakeMatches struct {
	mu          sync.Mutex
	connected   []match.Conn
	disconnects []match.Conn
	calls       []string // "move m1", "watch m1", ...
	replies     map[string]error
	active      map[string][]string
	inMatch     map[string]bool
	summaries   []match.Summary
}

func newFakeMatches() *fakeMatches {
	return &fakeMatches{replies: map[string]error{}, active: map[string][]string{}, inMatch: map[string]bool{}}
}

func (f *fakeMatches) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeMatches) answer(kind string, reply match.ReplyFunc) {
	f.mu.Lock()
	err := f.replies[kind]
	f.mu.Unlock()
	reply(err)
}

func (f *fakeMatches) Connect(c match.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = append(f.connected, c)
}
func (f *fakeMatches) Disconnect(c match.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnects = append(f.disconnects, c)
}
func (f *fakeMatches) Watch(c match.Conn, id string, reply match.ReplyFunc) {
	f.record("watch " + id)
	f.answer("watch", reply)
}
func (f *fakeMatches) Unwatch(c match.Conn, id string) { f.record("unwatch " + id) }
func (f *fakeMatches) Move(c match.Conn, id string, mv json.RawMessage, reply match.ReplyFunc) {
	f.record("move " + id + " " + string(mv))
	f.answer("move", reply)
}
func (f *fakeMatches) Resign(c match.Conn, id string, reply match.ReplyFunc) {
	f.record("resign " + id)
	f.answer("resign", reply)
}
func (f *fakeMatches) Rematch(c match.Conn, id string, reply match.ReplyFunc) {
	f.record("rematch " + id)
	f.answer("rematch", reply)
}
func (f *fakeMatches) StartComputer(ctx context.Context, gameID, level string, p match.Player) (string, error) {
	f.record("computer " + gameID + " " + level + " " + p.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	return "m-computer", f.replies["computer"]
}
func (f *fakeMatches) Active(playerID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active[playerID]
}
func (f *fakeMatches) InMatch(playerID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inMatch[playerID]
}
func (f *fakeMatches) Get(id string) (match.Summary, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.summaries {
		if s.ID == id {
			return s, true
		}
	}
	return match.Summary{}, false
}
func (f *fakeMatches) List(status string) []match.Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []match.Summary
	for _, s := range f.summaries {
		if s.Status == status {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeMatches) connections() []match.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]match.Conn(nil), f.connected...)
}

func (f *fakeMatches) disconnected(c match.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.disconnects {
		if d == c {
			return true
		}
	}
	return false
}

func (f *fakeMatches) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fakeLobby records calls; err, when set, fails them.
type fakeLobby struct {
	mu        sync.Mutex
	err       error
	joined    []lobby.Ticket
	left      []string
	cancelled []string
	accepted  []string
}

func (l *fakeLobby) Join(ctx context.Context, t lobby.Ticket) (lobby.Ticket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return lobby.Ticket{}, l.err
	}
	t.Since = time.UnixMilli(1_700_000_000_000)
	l.joined = append(l.joined, t)
	return t, nil
}

// Stats counts the tickets joined and not left, per game.
func (l *fakeLobby) Stats() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, t := range l.joined {
		out[t.Game]++
	}
	return out
}

func (l *fakeLobby) Leave(ctx context.Context, playerID string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.left = append(l.left, playerID)
	return true, l.err
}
func (l *fakeLobby) CreateChallenge(ctx context.Context, t lobby.Ticket) (lobby.Challenge, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return lobby.Challenge{}, l.err
	}
	return lobby.Challenge{Code: "ABCD2345", Game: t.Game, Creator: t, Expires: time.UnixMilli(1_700_000_600_000)}, nil
}
func (l *fakeLobby) Challenge(ctx context.Context, code string) (lobby.Challenge, error) {
	return lobby.Challenge{Code: code, Game: "tictactoe"}, nil
}
func (l *fakeLobby) AcceptChallenge(ctx context.Context, code string, t lobby.Ticket) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted = append(l.accepted, code)
	return l.err
}
func (l *fakeLobby) CancelChallenges(ctx context.Context, playerID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancelled = append(l.cancelled, playerID)
}

func (l *fakeLobby) snapshot() (left, cancelled []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.left...), append([]string(nil), l.cancelled...)
}

// testClock is a settable clock, safe for concurrent use.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
