package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// opsCall is one request for the authorization table.
func opsCall(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// account registers (or logs in) name and returns its token and id.
func (s *server) account(path, name string) (token, id string) {
	s.t.Helper()
	code, b := opsCall(s.t, "POST", s.base+path, "", `{"name":"`+name+`","password":"correct horse battery"}`)
	if code != 200 && code != 201 {
		s.t.Fatalf("%s %s: %d %s", path, name, code, b)
	}
	var body struct {
		Token  string `json:"token"`
		Player struct {
			ID       string `json:"id"`
			Operator bool   `json:"operator"`
		} `json:"player"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		s.t.Fatal(err)
	}
	return body.Token, body.Player.ID
}

// cli runs "turnbase operator ARGS" on the same database as s.
func cli(t *testing.T, dsn string, args ...string) (string, error) {
	t.Helper()
	out := &lockedBuffer{}
	vars := map[string]string{"DATABASE_URL": dsn, "TURNBASE_DATA": t.TempDir()}
	err := run(context.Background(), append([]string{"operator"}, args...), func(k string) string { return vars[k] }, out)
	return out.String(), err
}

// opsEndpoints is every operator endpoint, with a body good enough to
// pass authorization.
var opsEndpoints = []struct{ method, path, body string }{
	{"GET", "/api/ops/me", ""},
	{"GET", "/api/ops/overview", ""},
	{"GET", "/api/ops/flags", ""},
	{"POST", "/api/ops/flags/PLAYER/same_opponent", `{"status":"dismissed","key":"k","reason":"r"}`},
	{"GET", "/api/ops/leaderboard/tictactoe", ""},
	{"GET", "/api/ops/leaderboard/tictactoe?format=csv", ""},
	{"GET", "/api/ops/players?q=bo", ""},
	{"GET", "/api/ops/players/PLAYER", ""},
	{"POST", "/api/ops/players/PLAYER/rename", `{"name":"Bobby","reason":"r"}`},
	{"POST", "/api/ops/players/PLAYER/reset", `{"game":"tictactoe","reason":"r"}`},
	{"POST", "/api/ops/players/PLAYER/ban", `{"reason":"r"}`},
	{"POST", "/api/ops/players/PLAYER/unban", `{"reason":"r"}`},
	{"GET", "/api/ops/matches/live", ""},
	{"POST", "/api/ops/matches/void", `{"ids":["nope"],"reason":"r"}`},
	{"POST", "/api/ops/matches/nope/abort", `{"reason":"r"}`},
	{"GET", "/api/ops/audit", ""},
	{"GET", "/api/ops/audit?format=csv", ""},
}

// TestOperatorAuthorization: every operator endpoint refuses no token, an
// altered or expired token (401), a guest, a player, and an operator
// whose token predates the role or whose role was revoked (403); an
// operator gets through. The CLI grants and revokes.
//
// Not parallel: registering hashes passwords with bcrypt's default cost,
// which under -race and the package's other servers can outlast the
// database timeout.
func TestOperatorAuthorization(t *testing.T) {
	const secret = "an operator test secret of at least 32 characters"
	dsn := testDatabase(t)
	s := startServer(t, map[string]string{"DATABASE_URL": dsn, "TURNBASE_JWT_SECRET": secret, "TURNBASE_HTTP_RATE": "1000", "TURNBASE_HTTP_BURST": "1000"})
	oldToken, _ := s.account("/api/auth/register", "alice")
	playerToken, bobID := s.account("/api/auth/register", "bob")
	guestToken, _ := s.guest("carol")

	// The CLI: unknown names and guests cannot be operators.
	if _, err := cli(t, dsn, "grant", "nobody"); err == nil {
		t.Fatal("granted an unknown name")
	}
	if _, err := cli(t, dsn, "grant", "carol"); err == nil {
		t.Fatal("granted a guest")
	}
	if _, err := cli(t, dsn, "grant"); err == nil {
		t.Fatal("grant without a name succeeded")
	}
	if out, err := cli(t, dsn, "grant", "Alice"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("grant: %q %v", out, err)
	}
	if out, err := cli(t, dsn, "list"); err != nil || !strings.Contains(out, "alice") || strings.Contains(out, "bob") {
		t.Fatalf("list: %q %v", out, err)
	}
	opToken, _ := s.account("/api/auth/login", "alice")

	expired := func() string {
		c := jwt.MapClaims{"sub": "x", "name": "alice", "op": true, "iss": "turnbase", "aud": "turnbase",
			"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()
	// An altered token: the player's own, with "op": true put in the
	// claims and the old signature kept.
	altered := func() string {
		parts := strings.Split(playerToken, ".")
		var c map[string]any
		raw, _ := jwt.NewParser().DecodeSegment(parts[1])
		json.Unmarshal(raw, &c)
		c["op"] = true
		b, _ := json.Marshal(c)
		return parts[0] + "." + strings.TrimRight(jwtEncode(b), "=") + "." + parts[2]
	}()

	for _, e := range opsEndpoints {
		path := strings.ReplaceAll(e.path, "PLAYER", bobID)
		for _, tc := range []struct {
			who   string
			token string
			want  int
		}{
			{"no token", "", 401},
			{"altered token", altered, 401},
			{"expired token", expired, 401},
			{"guest", guestToken, 403},
			{"player", playerToken, 403},
			{"operator with a token from before the grant", oldToken, 403},
		} {
			code, b := opsCall(t, e.method, s.base+path, tc.token, e.body)
			if code != tc.want || !strings.Contains(string(b), `"error"`) {
				t.Errorf("%s %s as %s: %d %s, want %d", e.method, e.path, tc.who, code, b, tc.want)
			}
		}
		code, b := opsCall(t, e.method, s.base+path, opToken, e.body)
		if code == 401 || code == 403 || code >= 500 {
			t.Errorf("%s %s as operator: %d %s", e.method, e.path, code, b)
		}
	}
	// A reason is required.
	if code, _ := opsCall(t, "POST", s.base+"/api/ops/players/"+bobID+"/ban", opToken, `{"reason":""}`); code != 400 {
		t.Errorf("ban without a reason: %d", code)
	}
	// A revoke takes effect at the next request, with the same token.
	if out, err := cli(t, dsn, "revoke", "alice"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if code, b := opsCall(t, "GET", s.base+"/api/ops/overview", opToken, ""); code != 403 {
		t.Errorf("after revoke: %d %s", code, b)
	}
	if out, _ := cli(t, dsn, "list"); !strings.Contains(out, "no operators") {
		t.Errorf("list after revoke: %q", out)
	}
}

func jwtEncode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
