package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

func TestGames(t *testing.T) {
	cfg := testConfig()
	cfg.MoveTime = 20 * time.Second
	ts := startServer(t, cfg, Deps{})
	var got []gameInfo
	resp := httpDo(t, "GET", ts.url+"/api/games", nil, nil, &got)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := []gameInfo{
		{ID: "tictactoe", Name: "Tic-tac-toe", Players: 2, MoveMS: 20000,
			Bots: []game.BotLevel{{ID: "easy", Name: "Easy"}, {ID: "medium", Name: "Medium"}, {ID: "perfect", Name: "Perfect"}}},
		{ID: "rps", Name: got[1].Name, Players: 2, MoveMS: 20000,
			Bots: []game.BotLevel{{ID: "fair", Name: "Fair"}, {ID: "reader", Name: "Reader"}}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || got[1].Name == "" {
		t.Fatalf("games %+v, want %+v", got, want)
	}
}

func TestMatchesList(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	ts.matches.mu.Lock()
	for i := range 60 {
		g := "tictactoe"
		if i%3 == 0 {
			g = "rps"
		}
		ts.matches.summaries = append(ts.matches.summaries, match.Summary{ID: fmt.Sprint("m", i), Game: g, Status: "live", Players: []match.Player{}})
	}
	ts.matches.summaries = append(ts.matches.summaries, match.Summary{ID: "done", Game: "rps", Status: "finished"})
	ts.matches.mu.Unlock()
	tests := map[string]struct {
		query  string
		status int
		n      int
	}{
		"default":        {"", 200, 50},
		"live":           {"?status=live", 200, 50},
		"limit":          {"?limit=7", 200, 7},
		"limit 100":      {"?limit=100", 200, 60},
		"game":           {"?game=rps", 200, 20},
		"game and limit": {"?game=rps&limit=3", 200, 3},
		"unknown game":   {"?game=chess", 200, 0},
		"finished":       {"?status=finished", 200, 0}, // from the database, which is empty
		"limit 0":        {"?limit=0", 400, 0},
		"limit 101":      {"?limit=101", 400, 0},
		"limit text":     {"?limit=ten", 400, 0},
		"limit negative": {"?limit=-1", 400, 0},
		"bad status":     {"?status=aborted", 400, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var raw any
			resp := httpDo(t, "GET", ts.url+"/api/matches"+tt.query, nil, nil, &raw)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				if e, _ := raw.(map[string]any)["error"].(map[string]any); e["code"] != "bad_request" {
					t.Fatalf("body %v", raw)
				}
				return
			}
			list, ok := raw.([]any)
			if !ok || len(list) != tt.n {
				t.Fatalf("body %v, want a list of %d", raw, tt.n)
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	var notReady atomic.Pointer[error]
	ts := startServer(t, testConfig(), Deps{ReadyFunc: func(ctx context.Context) error {
		if err := notReady.Load(); err != nil {
			return *err
		}
		return nil
	}})
	if resp := httpDo(t, "GET", ts.url+"/healthz", nil, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	if resp := httpDo(t, "GET", ts.url+"/readyz", nil, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	down := errors.New("database: connection refused")
	notReady.Store(&down)
	var e apiError
	resp := httpDo(t, "GET", ts.url+"/readyz", nil, nil, &e)
	if resp.StatusCode != 503 || e.Error.Code != "not_ready" || !strings.Contains(e.Error.Message, "connection refused") {
		t.Fatalf("readyz %d %+v", resp.StatusCode, e)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tests := map[string]struct {
		method, path string
		status       int
		code         string
	}{
		"unknown api":     {"GET", "/api/nope", 404, "not_found"},
		"unknown nested":  {"POST", "/api/auth/nope", 404, "not_found"},
		"games post":      {"POST", "/api/games", 405, "method_not_allowed"},
		"guest get":       {"GET", "/api/auth/guest", 405, "method_not_allowed"},
		"matches delete":  {"DELETE", "/api/matches", 405, "method_not_allowed"},
		"healthz post":    {"POST", "/healthz", 405, "method_not_allowed"},
		"ws post":         {"POST", "/ws", 405, "method_not_allowed"},
		"ws not upgrade":  {"GET", "/ws", 400, "bad_request"},
		"static post":     {"POST", "/", 405, "method_not_allowed"},
		"missing js file": {"GET", "/js/missing.js", 404, ""},
		"static dir":      {"GET", "/js/", 404, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var e apiError
			resp := httpDo(t, tt.method, ts.url+tt.path, nil, nil, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.code == "" {
				return
			}
			resp = httpDo(t, tt.method, ts.url+tt.path, nil, nil, &e)
			if e.Error.Code != tt.code || e.Error.Message == "" {
				t.Fatalf("error %+v, want %s", e, tt.code)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

func TestStatic(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, index := get("/")
	if !strings.Contains(index, "<html") {
		t.Fatalf("index %q", index)
	}
	for _, path := range []string{"/", "/index.html", "/m/abc123", "/c/ABCD2345", "/leaderboard/rps", "/players/p1", "/leaderboard"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || body != index || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: status %d, type %q, index %v", path, resp.StatusCode, resp.Header.Get("Content-Type"), body == index)
		}
	}
	resp, _ := get("/favicon.svg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = get("/")
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "script-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") {
		t.Errorf("CSP %q names another host", csp)
	}
}

// The client files are served with their types, and reference no CDN.
func TestStaticFilesServed(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}
	var files []string
	var collect func(dir string)
	collect = func(dir string) {
		es, err := staticFiles.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			p := dir + "/" + e.Name()
			if e.IsDir() {
				collect(p)
			} else {
				files = append(files, strings.TrimPrefix(p, "static"))
			}
		}
	}
	collect("static")
	for _, f := range files {
		resp, err := http.Get(ts.url + f)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", f, resp.StatusCode)
		}
		ext := f[strings.LastIndex(f, "."):]
		if want, ok := types[ext]; ok && resp.Header.Get("Content-Type") != want {
			t.Errorf("%s: type %q, want %q", f, resp.Header.Get("Content-Type"), want)
		}
		for _, cdn := range []string{"cdn.", "unpkg.com", "jsdelivr", "googleapis"} {
			if strings.Contains(string(body), cdn) {
				t.Errorf("%s references %s", f, cdn)
			}
		}
	}
}

func TestHTTPRate(t *testing.T) {
	cfg := testConfig()
	cfg.HTTPRate, cfg.HTTPBurst = 0.5, 3
	ts := startServer(t, cfg, Deps{})
	for i := range 3 {
		if resp := httpDo(t, "GET", ts.url+"/api/games", nil, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	var e apiError
	resp := httpDo(t, "GET", ts.url+"/api/games", nil, nil, &e)
	if resp.StatusCode != 429 || e.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("status %d, error %+v, Retry-After %q", resp.StatusCode, e, resp.Header.Get("Retry-After"))
	}
	// Health checks and the client are not API calls.
	if resp := httpDo(t, "GET", ts.url+"/healthz", nil, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

func TestClientIP(t *testing.T) {
	db := newTestDB(t)
	s := New(nil, Deps{Games: game.NewRegistry(), Matches: newFakeMatches(), Lobby: &fakeLobby{}, Accounts: db.accounts, Records: db.ratings},
		Config{JWTSecret: testSecret, TrustedProxies: []string{"10.0.0.0/8", "::1"}})
	tests := map[string]struct {
		remote, xff, proto string
		ip, scheme         string
	}{
		"direct":                {"203.0.113.5:4000", "", "", "203.0.113.5", "http"},
		"direct ignores xff":    {"203.0.113.5:4000", "1.2.3.4", "https", "203.0.113.5", "http"},
		"proxy":                 {"10.1.2.3:4000", "198.51.100.7", "https", "198.51.100.7", "https"},
		"proxy chain":           {"10.1.2.3:4000", "6.6.6.6, 198.51.100.7, 10.9.9.9", "", "198.51.100.7", "http"},
		"proxy no xff":          {"10.1.2.3:4000", "", "", "10.1.2.3", "http"},
		"proxy garbage xff":     {"10.1.2.3:4000", "nonsense", "", "10.1.2.3", "http"},
		"ipv6 proxy":            {"[::1]:4000", "2001:db8::1", "https", "2001:db8::1", "https"},
		"mapped ipv4":           {"[::ffff:203.0.113.5]:4000", "", "", "203.0.113.5", "http"},
		"proxy bad proto":       {"10.1.2.3:4000", "", "gopher", "10.1.2.3", "http"},
		"all proxies in header": {"10.1.2.3:4000", "10.0.0.1, 10.0.0.2", "", "10.0.0.1", "http"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if got := s.clientIP(r); got != tt.ip {
				t.Errorf("clientIP %q, want %q", got, tt.ip)
			}
			if got := s.ownScheme(r); got != tt.scheme {
				t.Errorf("ownScheme %q, want %q", got, tt.scheme)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{JWTSecret: testSecret}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := map[string]func(*Config){
		"no secret":        func(c *Config) { c.JWTSecret = nil },
		"short secret":     func(c *Config) { c.JWTSecret = []byte("short") },
		"ping above pong":  func(c *Config) { c.PingPeriod, c.PongWait = time.Minute, time.Second },
		"negative rate":    func(c *Config) { c.ConnRate = -1 },
		"negative queue":   func(c *Config) { c.SendQueue = -1 },
		"origin with path": func(c *Config) { c.AllowedOrigins = []string{"https://a.example/x"} },
		"origin scheme":    func(c *Config) { c.AllowedOrigins = []string{"ftp://a.example"} },
		"origin null":      func(c *Config) { c.AllowedOrigins = []string{"null"} },
		"bad proxy":        func(c *Config) { c.TrustedProxies = []string{"somewhere"} },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			mod(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		err    error
		code   string
		status int
	}{
		"match not found":   {match.ErrNotFound, "not_found", 404},
		"not a player":      {fmt.Errorf("x: %w", match.ErrNotAPlayer), "not_a_player", 403},
		"match over":        {match.ErrMatchOver, "match_over", 409},
		"in match":          {match.ErrInMatch, "in_match", 409},
		"busy":              {match.ErrBusy, "server_busy", 503},
		"shutting down":     {match.ErrShuttingDown, "server_busy", 503},
		"unsupported":       {match.ErrUnsupported, "unsupported_game", 400},
		"no rematch":        {match.ErrNoRematch, "bad_request", 400},
		"not your turn":     {fmt.Errorf("apply: %w", game.ErrNotYourTurn), "not_your_turn", 409},
		"illegal":           {game.ErrIllegalMove, "illegal_move", 400},
		"bad move":          {game.ErrBadMove, "bad_request", 400},
		"game over":         {game.ErrGameOver, "match_over", 409},
		"already queued":    {lobby.ErrAlreadyQueued, "already_queued", 409},
		"lobby in match":    {lobby.ErrInMatch, "in_match", 409},
		"lobby unsupported": {lobby.ErrUnsupportedGame, "unsupported_game", 400},
		"no challenge":      {lobby.ErrNotFound, "not_found", 404},
		"own challenge":     {lobby.ErrOwnChallenge, "bad_request", 400},
		"lobby closed":      {lobby.ErrClosed, "server_busy", 503},
		"too big":           {&http.MaxBytesError{Limit: 8}, "too_large", 413},
		"bad name":          {fmt.Errorf("%w: name", leaderboard.ErrBadRequest), "bad_request", 400},
		"name taken":        {fmt.Errorf("%w: Ann", leaderboard.ErrNameTaken), "name_taken", 409},
		"bad credentials":   {leaderboard.ErrBadCredentials, "bad_credentials", 401},
		"banned":            {leaderboard.ErrBanned, "forbidden", 403},
		"registered":        {leaderboard.ErrNotGuest, "already_registered", 409},
		"no such player":    {fmt.Errorf("player p: %w", leaderboard.ErrNotFound), "not_found", 404},
		"gone player":       {goneIsUnauthorized(leaderboard.ErrNotFound), "unauthorized", 401},
		"unknown game":      {ErrUnknownGame, "unsupported_game", 404},
		"not ready":         {ErrNoNewMatches, "server_busy", 503},
		"db unavailable":    {fmt.Errorf("create match m: %w", match.ErrUnavailable), "server_busy", 503},
		"unexpected":        {errors.New("boom"), "internal", 500},
		"deadline":          {context.DeadlineExceeded, "internal", 500},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, status, known := classify(tt.err)
			if code != tt.code || status != tt.status || known != (tt.code != "internal") {
				t.Fatalf("classify: %s %d %v, want %s %d", code, status, known, tt.code, tt.status)
			}
		})
	}
}
