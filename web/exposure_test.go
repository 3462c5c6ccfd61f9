package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// serveRecorded runs one request through the server's handler.
func serveRecorded(t *testing.T, ts *testServer, r *http.Request) (*httptest.ResponseRecorder, apiError) {
	t.Helper()
	w := httptest.NewRecorder()
	ts.Handler().ServeHTTP(w, r)
	var body apiError
	if w.Code >= 400 {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: %d %q: %v", r.Method, r.URL, w.Code, w.Body, err)
		}
	}
	return w, body
}

// A path or query that is not printable UTF-8 (a NUL, invalid UTF-8) is
// 400 bad_request, before it reaches the database. (Before, the database
// refused it and the client got a 500, the log an ERROR.)
func TestPathNotText(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	for _, target := range []string{
		"/api/matches/%00", "/api/matches/%ff%fe", "/api/matches/a%0Ab",
		"/api/players/%00", "/api/players/%c3%28",
		"/api/matches?status=finished&game=%00", "/api/matches?status=finished&game=%ff",
		"/api/leaderboard/%00",
	} {
		w, body := serveRecorded(t, ts, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusBadRequest || body.Error.Code != codeBadRequest {
			t.Errorf("GET %s: %d %+v, want 400 bad_request", target, w.Code, body)
		}
	}
	// Ordinary unknown ids are still 404.
	w, body := serveRecorded(t, ts, httptest.NewRequest(http.MethodGet, "/api/matches/nosuchmatch", nil))
	if w.Code != http.StatusNotFound || body.Error.Code != codeNotFound {
		t.Errorf("unknown match: %d %+v", w.Code, body)
	}
}

// Every response to a request over HTTPS carries HSTS; plain HTTP does
// not, and a negative HSTSMaxAge turns it off.
func TestHSTS(t *testing.T) {
	cfg := testConfig()
	cfg.TrustedProxies = []string{"192.0.2.0/24"}
	ts := startServer(t, cfg, Deps{})
	for _, tc := range []struct {
		target, proto string
		want          string
	}{
		{"https://example.com/healthz", "", "max-age=31536000"},
		{"https://example.com/api/games", "", "max-age=31536000"},
		{"http://example.com/healthz", "https", "max-age=31536000"}, // behind a TLS proxy
		{"http://example.com/healthz", "", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		w, _ := serveRecorded(t, ts, r)
		if got := w.Header().Get("Strict-Transport-Security"); got != tc.want {
			t.Errorf("%s (proto %q): HSTS %q, want %q", tc.target, tc.proto, got, tc.want)
		}
	}
	cfg.HSTSMaxAge = -1
	off := startServer(t, cfg, Deps{})
	w, _ := serveRecorded(t, off, httptest.NewRequest(http.MethodGet, "https://example.com/healthz", nil))
	if got := w.Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS %q with HSTSMaxAge -1", got)
	}
}

// With PublicOrigin set, a page of another name pointed at the server (DNS
// rebinding: Host and Origin agree, but are not the server's) may neither
// open /ws nor call the API; the public origin may, and the health checks
// answer any host. (Before, the Host header made any such page the
// server's own origin.)
func TestPublicOrigin(t *testing.T) {
	cfg := testConfig()
	cfg.PublicOrigin = "https://play.example.com"
	ts := startServer(t, cfg, Deps{})
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"evil.example:8080", "http://evil.example:8080", http.StatusForbidden}, // rebinding
		{"play.example.com", "http://evil.example", http.StatusForbidden},
		{"play.example.com", "https://play.example.com", http.StatusSwitchingProtocols},
		{"play.example.com:443", "https://play.example.com", http.StatusSwitchingProtocols},
		{"play.example.com", "", http.StatusSwitchingProtocols},
		{"127.0.0.1", "", http.StatusForbidden},
	} {
		h := http.Header{"Host": {tc.host}}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := ts.dial(t, h)
		if resp == nil {
			t.Fatalf("host %s origin %s: %v", tc.host, tc.origin, err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("host %s origin %s: %d, want %d", tc.host, tc.origin, resp.StatusCode, tc.want)
		}
		if c != nil {
			c.Close()
		}
	}
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"evil.example", "/api/games", http.StatusForbidden},
		{"play.example.com", "/api/games", http.StatusOK},
		{"10.1.2.3:8080", "/healthz", http.StatusOK},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		r.Host = tc.host
		if w, body := serveRecorded(t, ts, r); w.Code != tc.want {
			t.Errorf("GET %s for %s: %d %+v, want %d", tc.path, tc.host, w.Code, body, tc.want)
		}
	}
	waitFor(t, "the sockets to go", func() bool { return ts.openConns() == 0 })
}

// Per-address limits count an IPv6 client by its /64: one subscriber
// cannot multiply its budgets by its 2^64 addresses.
func TestIPv6Prefix(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnsPerIP = 2
	cfg.HTTPRate, cfg.HTTPBurst = 1, 2
	cfg.TrustedProxies = []string{"127.0.0.1"}
	ts := startServer(t, cfg, Deps{})
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::2"} {
		if _, resp, err := ts.dial(t, from(a)); err != nil {
			t.Fatalf("%s: %v %v", a, err, resp)
		}
	}
	if _, resp, err := ts.dial(t, from("2001:db8:1:2::3")); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third socket from the same /64: %v %v, want 429", err, resp)
	}
	if _, resp, err := ts.dial(t, from("2001:db8:1:3::1")); err != nil {
		t.Fatalf("another /64: %v %v", err, resp)
	}
	// HTTP: the burst of 2 is shared by the /64.
	for i, a := range []string{"2001:db8:9:9::1", "2001:db8:9:9::2", "2001:db8:9:9::3"} {
		r := httptest.NewRequest(http.MethodGet, "/api/games", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", a)
		w, _ := serveRecorded(t, ts, r)
		if want := map[bool]int{true: http.StatusOK, false: http.StatusTooManyRequests}[i < 2]; w.Code != want {
			t.Errorf("request %d from %s: %d, want %d", i, a, w.Code, want)
		}
	}
}

// The server holds at most MaxConns WebSockets; beyond, an upgrade is 503
// server_busy with Retry-After. (Before, 2,455 sockets from 61 addresses
// were accepted.)
func TestMaxConns(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 3
	cfg.TrustedProxies = []string{"127.0.0.1"}
	ts := startServer(t, cfg, Deps{})
	var first interface{ Close() error }
	for i := range 3 {
		c, resp, err := ts.dial(t, http.Header{"X-Forwarded-For": {"192.0.2." + string(rune('1'+i))}})
		if err != nil {
			t.Fatalf("socket %d: %v %v", i, err, resp)
		}
		if i == 0 {
			first = c
		}
	}
	_, resp, err := ts.dial(t, http.Header{"X-Forwarded-For": {"198.51.100.7"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth socket: %v %v, want 503 with Retry-After", err, resp)
	}
	first.Close()
	waitFor(t, "a slot", func() bool { return ts.openConns() == 2 })
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, _, err := ts.dial(t, nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no socket after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
