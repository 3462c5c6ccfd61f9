package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// authAnswer is the answer of the endpoints that hand out tokens.
type authAnswer struct {
	Token     string `json:"token"`
	ExpiresMS int64  `json:"expires_ms"`
	Player    struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Guest bool   `json:"guest"`
	} `json:"player"`
	apiError
}

// post sends a JSON body (and a bearer token unless "") and decodes the
// answer.
func (ts *testServer) post(t *testing.T, path, body, token string, h http.Header) (*http.Response, authAnswer) {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	var got authAnswer
	resp := httpDo(t, "POST", ts.url+path, strings.NewReader(body), h, &got)
	return resp, got
}

// checkAuth checks an answer that hands out a token for the player it
// names.
func (ts *testServer) checkAuth(t *testing.T, got authAnswer, name string, guest bool) {
	t.Helper()
	if got.Token == "" || got.Player.ID == "" || got.Player.Name != name || got.Player.Guest != guest {
		t.Fatalf("answer %+v, want player %s guest %v", got, name, guest)
	}
	if exp := time.UnixMilli(got.ExpiresMS); exp.Before(time.Now().Add(23 * time.Hour)) {
		t.Fatalf("expires_ms %d", got.ExpiresMS)
	}
	id, err := ts.tokens.Verify(got.Token)
	if err != nil || id.ID != got.Player.ID || id.Name != name || id.Guest != guest {
		t.Fatalf("token says %+v, %v", id, err)
	}
}

func TestRegisterAndLogin(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	if resp, _ := ts.post(t, "/api/auth/register", `{"name":"Alice","password":"correct horse"}`, "", nil); resp.StatusCode != 201 {
		t.Fatalf("register Alice: %d", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/api/auth/guest", `{"name":"gwen"}`, "", nil); resp.StatusCode != 201 {
		t.Fatalf("guest gwen: %d", resp.StatusCode)
	}
	// In order: some steps depend on the ones before.
	tests := []struct {
		name, path, body string
		status           int
		code             string // for errors
		player           string // for answers with a token
		guest            bool
	}{
		{"register", "/api/auth/register", `{"name":"Bob_1","password":"password1"}`, 201, "", "Bob_1", false},
		{"register unicode password", "/api/auth/register", `{"name":"Cy-2","password":"pässwörd"}`, 201, "", "Cy-2", false},
		{"register taken", "/api/auth/register", `{"name":"Alice","password":"password1"}`, 409, "name_taken", "", false},
		{"register taken other case", "/api/auth/register", `{"name":"aLICE","password":"password1"}`, 409, "name_taken", "", false},
		{"register a guest's name", "/api/auth/register", `{"name":"Gwen","password":"password1"}`, 201, "", "Gwen", false},
		{"register short password", "/api/auth/register", `{"name":"Dan","password":"1234567"}`, 400, "bad_request", "", false},
		{"register long password", "/api/auth/register", `{"name":"Dan","password":"` + strings.Repeat("x", 129) + `"}`, 400, "bad_request", "", false},
		{"register no password", "/api/auth/register", `{"name":"Dan"}`, 400, "bad_request", "", false},
		{"register bad name", "/api/auth/register", `{"name":"D n","password":"password1"}`, 400, "bad_request", "", false},
		{"register not json", "/api/auth/register", `name=Dan`, 400, "bad_request", "", false},
		{"guest takes registered name", "/api/auth/guest", `{"name":"alice"}`, 409, "name_taken", "", false},
		{"guest shares a guest's name", "/api/auth/guest", `{"name":"bob_2"}`, 201, "", "bob_2", true},
		{"guest twice", "/api/auth/guest", `{"name":"bob_2"}`, 201, "", "bob_2", true},
		{"login", "/api/auth/login", `{"name":"Alice","password":"correct horse"}`, 200, "", "Alice", false},
		{"login other case", "/api/auth/login", `{"name":"ALICE","password":"correct horse"}`, 200, "", "Alice", false},
		{"login unicode", "/api/auth/login", `{"name":"cy-2","password":"pässwörd"}`, 200, "", "Cy-2", false},
		{"login wrong password", "/api/auth/login", `{"name":"Alice","password":"Correct horse"}`, 401, "bad_credentials", "", false},
		{"login unknown name", "/api/auth/login", `{"name":"Zed","password":"correct horse"}`, 401, "bad_credentials", "", false},
		{"login a guest", "/api/auth/login", `{"name":"bob_2","password":""}`, 401, "bad_credentials", "", false},
		{"login bad name", "/api/auth/login", `{"name":"a","password":"correct horse"}`, 400, "bad_request", "", false},
		{"login huge password", "/api/auth/login", `{"name":"Alice","password":"` + strings.Repeat("x", 600) + `"}`, 400, "bad_request", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, got := ts.post(t, tt.path, tt.body, "", nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%+v), want %d", resp.StatusCode, got.Error, tt.status)
			}
			if tt.code != "" {
				if got.Error.Code != tt.code || got.Error.Message == "" {
					t.Fatalf("error %+v, want %s", got.Error, tt.code)
				}
				if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				return
			}
			ts.checkAuth(t, got, tt.player, tt.guest)
		})
	}

	// A login names the registered player, whose id does not change.
	_, a1 := ts.post(t, "/api/auth/login", `{"name":"Alice","password":"correct horse"}`, "", nil)
	_, a2 := ts.post(t, "/api/auth/login", `{"name":"alice","password":"correct horse"}`, "", nil)
	if a1.Player.ID == "" || a1.Player.ID != a2.Player.ID {
		t.Fatalf("logins give ids %q and %q", a1.Player.ID, a2.Player.ID)
	}
}

func TestUpgrade(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, guest := ts.post(t, "/api/auth/guest", `{"name":"Gail"}`, "", nil)
	ts.checkAuth(t, guest, "Gail", true)

	steps := []struct {
		name   string
		body   string
		token  string
		status int
		code   string
	}{
		{"no token", `{"password":"hunter2hunter2"}`, "", 401, "unauthorized"},
		{"short password", `{"password":"hunter2"}`, guest.Token, 400, "bad_request"},
		{"no password", `{}`, guest.Token, 400, "bad_request"},
		{"upgrade", `{"password":"hunter2hunter2"}`, guest.Token, 200, ""},
		// The upgrade revoked the guest's token.
		{"again", `{"password":"hunter2hunter2"}`, guest.Token, 401, "unauthorized"},
		{"again with the new token", `{"password":"hunter2hunter2"}`, "", 409, "already_registered"},
	}
	var upgraded authAnswer
	for _, st := range steps {
		if st.name == "again with the new token" {
			st.token = upgraded.Token
		}
		resp, got := ts.post(t, "/api/auth/upgrade", st.body, st.token, nil)
		if resp.StatusCode != st.status || got.Error.Code != st.code {
			t.Fatalf("%s: status %d, error %+v; want %d %q", st.name, resp.StatusCode, got.Error, st.status, st.code)
		}
		if st.code == "" {
			upgraded = got
		}
	}
	ts.checkAuth(t, upgraded, "Gail", false)
	if upgraded.Player.ID != guest.Player.ID {
		t.Fatalf("upgrade changed the id from %s to %s", guest.Player.ID, upgraded.Player.ID)
	}

	// The old guest token is revoked; the new one refreshes.
	if resp, got := ts.post(t, "/api/auth/refresh", "", guest.Token, nil); resp.StatusCode != 401 || got.Error.Code != "unauthorized" {
		t.Fatalf("refresh with the guest token: %d %+v", resp.StatusCode, got.Error)
	}
	resp, refreshed := ts.post(t, "/api/auth/refresh", "", upgraded.Token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	ts.checkAuth(t, refreshed, "Gail", false)
	if refreshed.Player.ID != guest.Player.ID {
		t.Fatal("refresh changed the id")
	}
	// The password logs in to the same player; the name is registered now.
	if resp, got := ts.post(t, "/api/auth/login", `{"name":"gail","password":"hunter2hunter2"}`, "", nil); resp.StatusCode != 200 || got.Player.ID != guest.Player.ID {
		t.Fatalf("login: %d, %+v", resp.StatusCode, got)
	}
	if resp, got := ts.post(t, "/api/auth/guest", `{"name":"GAIL"}`, "", nil); resp.StatusCode != 409 || got.Error.Code != "name_taken" {
		t.Fatalf("guest with the upgraded name: %d %+v", resp.StatusCode, got.Error)
	}
	var me meAnswer
	httpDo(t, "GET", ts.url+"/api/me", nil, http.Header{"Authorization": {"Bearer " + upgraded.Token}}, &me)
	if me.Player.ID != guest.Player.ID || me.Player.Guest {
		t.Fatalf("me %+v", me)
	}
	if resp := httpDo(t, "GET", ts.url+"/api/me", nil, http.Header{"Authorization": {"Bearer " + guest.Token}}, nil); resp.StatusCode != 401 {
		t.Fatalf("me with the guest token: %d", resp.StatusCode)
	}

	// A guest whose name was registered meanwhile was renamed, and
	// upgrades under its new name.
	_, hank := ts.post(t, "/api/auth/guest", `{"name":"Hank"}`, "", nil)
	if resp, _ := ts.post(t, "/api/auth/register", `{"name":"hank","password":"password1"}`, "", nil); resp.StatusCode != 201 {
		t.Fatalf("register hank: %d", resp.StatusCode)
	}
	resp, got := ts.post(t, "/api/auth/upgrade", `{"password":"password1"}`, hank.Token, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(got.Player.Name, "Hank-") || got.Player.ID != hank.Player.ID {
		t.Fatalf("upgrade Hank: %d %+v", resp.StatusCode, got)
	}
}

// meAnswer is GET /api/me.
type meAnswer struct {
	Player struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Guest bool   `json:"guest"`
	} `json:"player"`
	Ratings map[string]map[string]any `json:"ratings"`
	Ranks   map[string]int            `json:"ranks"`
	apiError
}

func TestMe(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, reg := ts.post(t, "/api/auth/register", `{"name":"Mia","password":"password1"}`, "", nil)
	auth := http.Header{"Authorization": {"Bearer " + reg.Token}}
	var raw map[string]any
	if resp := httpDo(t, "GET", ts.url+"/api/me", nil, auth, &raw); resp.StatusCode != 200 {
		t.Fatalf("me: %d %v", resp.StatusCode, raw)
	}
	if got := sortedKeys(raw); got != "player ranks ratings" {
		t.Fatalf("me keys %s", got)
	}
	var me meAnswer
	httpDo(t, "GET", ts.url+"/api/me", nil, auth, &me)
	if me.Player.ID != reg.Player.ID || me.Player.Name != "Mia" || me.Player.Guest || len(me.Ratings) != 0 || len(me.Ranks) != 0 {
		t.Fatalf("me %+v", me)
	}
	for name, h := range map[string]http.Header{
		"no token":  nil,
		"bad token": {"Authorization": {"Bearer nope"}},
	} {
		var e apiError
		if resp := httpDo(t, "GET", ts.url+"/api/me", nil, h, &e); resp.StatusCode != 401 || e.Error.Code != "unauthorized" {
			t.Errorf("%s: %d %+v", name, resp.StatusCode, e)
		}
	}
}

// A token of a player the database does not hold, or of a banned
// player, is worth nothing: no refresh, no me, no upgrade, no hello; a
// banned player cannot log in either.
func TestGoneAndBannedPlayers(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, mallory := ts.post(t, "/api/auth/register", `{"name":"Mallory","password":"password1"}`, "", nil)
	_, trudy := ts.post(t, "/api/auth/guest", `{"name":"Trudy"}`, "", nil)
	ghost, _, err := ts.tokens.Issue(Identity{ID: "no-such-player", Name: "Ghost", Guest: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.pool.Exec(t.Context(), `UPDATE players SET banned_at = now(), ban_reason = 'test' WHERE id IN ($1, $2)`,
		mallory.Player.ID, trudy.Player.ID); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		method, path, body, token string
		status                    int
		code                      string
	}{
		"login banned":         {"POST", "/api/auth/login", `{"name":"Mallory","password":"password1"}`, "", 403, "forbidden"},
		"login banned wrong":   {"POST", "/api/auth/login", `{"name":"Mallory","password":"password2"}`, "", 401, "bad_credentials"},
		"refresh banned":       {"POST", "/api/auth/refresh", "", mallory.Token, 403, "forbidden"},
		"refresh banned guest": {"POST", "/api/auth/refresh", "", trudy.Token, 403, "forbidden"},
		"me banned":            {"GET", "/api/me", "", mallory.Token, 403, "forbidden"},
		"upgrade banned":       {"POST", "/api/auth/upgrade", `{"password":"password1"}`, trudy.Token, 403, "forbidden"},
		"refresh gone":         {"POST", "/api/auth/refresh", "", ghost, 401, "unauthorized"},
		"me gone":              {"GET", "/api/me", "", ghost, 401, "unauthorized"},
		"upgrade gone":         {"POST", "/api/auth/upgrade", `{"password":"password1"}`, ghost, 401, "unauthorized"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			var e apiError
			resp := httpDo(t, tt.method, ts.url+tt.path, strings.NewReader(tt.body), h, &e)
			if resp.StatusCode != tt.status || e.Error.Code != tt.code {
				t.Fatalf("status %d, error %+v; want %d %s", resp.StatusCode, e, tt.status, tt.code)
			}
		})
	}
	for name, tok := range map[string]string{"banned": mallory.Token, "banned guest": trudy.Token, "gone": ghost} {
		t.Run("hello "+name, func(t *testing.T) {
			c, _, err := ts.dial(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			writeJSONFrame(t, c, map[string]any{"type": "hello", "v": 1, "token": tok})
			expectClose(t, c, 4001)
		})
	}
}

// The welcome names the player as stored, not as the token says: here a
// guest renamed by a registration of its name.
func TestHelloReadsPlayer(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tok, id := ts.token(t, "Rae")
	if _, err := ts.accounts.Register(t.Context(), "RAE", "password1", ""); err != nil {
		t.Fatal(err)
	}
	stored, err := ts.accounts.Get(t.Context(), id.ID)
	if err != nil || !strings.HasPrefix(stored.Name, "Rae-") {
		t.Fatalf("guest after the registration: %+v, %v", stored, err)
	}
	c, w := ts.connect(t, tok)
	defer c.Close()
	if p, _ := w["player"].(map[string]any); p["id"] != id.ID || p["name"] != stored.Name {
		t.Fatalf("welcome %v, want %s", w, stored.Name)
	}
	// The welcome goes out before Connect (so a match starting meanwhile
	// is caught): wait for it.
	waitFor(t, "Connect", func() bool { return len(ts.matches.connections()) == 1 })
	conns := ts.matches.connections()
	if got := conns[0].(*conn).id; got != (Identity{ID: id.ID, Name: stored.Name, Guest: true}) {
		t.Fatalf("connection identity %+v", got)
	}
}

func TestLoginLimits(t *testing.T) {
	clock := newTestClock(time.Now())
	cfg := testConfig()
	cfg.TrustedProxies = []string{"127.0.0.1"} // X-Forwarded-For names the client
	cfg.LoginIPRate, cfg.LoginIPBurst = 1.0/60, 4
	cfg.LoginNameRate, cfg.LoginNameBurst = 1.0/60, 3
	cfg.LoginFreshAfter = 10 * time.Minute
	ts := startServer(t, cfg, Deps{NowFunc: clock.Now})
	for _, name := range []string{"Alice", "Bob", "Carol"} {
		if resp, _ := ts.post(t, "/api/auth/register", `{"name":"`+name+`","password":"password1"}`, "", nil); resp.StatusCode != 201 {
			t.Fatalf("register %s: %d", name, resp.StatusCode)
		}
	}
	login := func(ip, name, password string) (int, string, string) {
		t.Helper()
		resp, got := ts.post(t, "/api/auth/login", `{"name":"`+name+`","password":"`+password+`"}`, "",
			http.Header{"X-Forwarded-For": {ip}})
		return resp.StatusCode, got.Error.Code, resp.Header.Get("Retry-After")
	}
	want := func(ip, name, password string, status int) {
		t.Helper()
		got, code, retry := login(ip, name, password)
		if n, _ := strconv.Atoi(retry); got != status || status == 429 && (code != "rate_limited" || n < 1 || n > 600) {
			t.Fatalf("%s on %s from %s: %d %s Retry-After %q; want %d", password, name, ip, got, code, retry, status)
		}
	}

	// Per name: the budget of three attempts on Alice, whatever the case,
	// from any addresses; Bob is not concerned.
	want("198.51.100.1", "Alice", "wrong-password", 401)
	want("198.51.100.2", "alice", "wrong-password", 401)
	want("198.51.100.3", "ALICE", "wrong-password", 401)
	// Spent: an address that has tried may not again, right or wrong.
	want("198.51.100.1", "Alice", "wrong-password", 429)
	want("198.51.100.2", "Alice", "password1", 429)
	// An address that has not tried may, once.
	want("198.51.100.4", "Alice", "wrong-password", 401)
	want("198.51.100.4", "Alice", "password1", 429)
	// So the owner gets in from anywhere new.
	want("198.51.100.5", "Alice", "password1", 200)
	want("198.51.100.6", "Bob", "password1", 200)
	// Refilled one attempt a minute; an address is fresh again after
	// LoginFreshAfter.
	clock.Add(time.Minute)
	want("198.51.100.1", "Alice", "wrong-password", 401)
	want("198.51.100.1", "Alice", "wrong-password", 429)
	clock.Add(10 * time.Minute)
	for i := range 3 {
		want("198.51.100.1", "Alice", "wrong-password", 401)
		if i == 0 {
			clock.Add(time.Minute) // back to the per-name budget
		}
	}

	// Per address: four attempts from one address, on any names, malformed
	// ones included; then none from it, while other addresses go on.
	ip := "203.0.113.9"
	for i, name := range []string{"Bob", "Carol", "x", "Nobody"} {
		if status, _, _ := login(ip, name, "wrong-password"); status == 429 {
			t.Fatalf("attempt %d from %s: 429", i, ip)
		}
	}
	status, code, retry := login(ip, "Carol", "password1")
	if status != 429 || code != "rate_limited" || retry == "" {
		t.Fatalf("fifth attempt from %s: %d %s Retry-After %q", ip, status, code, retry)
	}
	if status, _, _ := login("203.0.113.10", "Carol", "password1"); status != 200 {
		t.Fatalf("Carol from elsewhere: %d", status)
	}
	// Other endpoints are not login attempts.
	if resp, _ := ts.post(t, "/api/auth/guest", `{"name":"Dave"}`, "", http.Header{"X-Forwarded-For": {ip}}); resp.StatusCode != 201 {
		t.Fatalf("guest from %s: %d", ip, resp.StatusCode)
	}
}

// Attack 6 of the outside test, with the default limits: 25 addresses
// guess one name's password, one guess each at once, then about 5 times a
// minute for an hour. The owner, from a new address, logs in at once
// every time it tries, and the attackers get at most the documented
// guesses: the name's budget (LoginNameBurst + an hour of LoginNameRate =
// 10 + 10) plus one per address per LoginFreshAfter (an hour): 45.
func TestLoginOwnerNotLockedOut(t *testing.T) {
	clock := newTestClock(time.Now())
	cfg := testConfig()
	cfg.TrustedProxies = []string{"127.0.0.1"}
	ts := startServer(t, cfg, Deps{NowFunc: clock.Now})
	if resp, _ := ts.post(t, "/api/auth/register", `{"name":"Owner","password":"owner's password"}`, "", nil); resp.StatusCode != 201 {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	login := func(ip, password string) int {
		t.Helper()
		resp, _ := ts.post(t, "/api/auth/login", `{"name":"owner","password":"`+password+`"}`, "",
			http.Header{"X-Forwarded-For": {ip}})
		return resp.StatusCode
	}
	const addresses = 25
	guesses, owner := 0, 0
	guess := func(i int) {
		t.Helper()
		switch status := login(fmt.Sprintf("198.51.100.%d", 1+i%addresses), fmt.Sprintf("guess-%04d", i)); status {
		case 401:
			guesses++
		case 429:
		default:
			t.Fatalf("guess %d: status %d", i, status)
		}
	}
	for i := range addresses {
		guess(i)
	}
	for i := range 300 { // one guess every 12 s: an hour
		guess(addresses + i)
		if i%25 == 5 { // every 5 minutes, from an address of its own
			if status := login(fmt.Sprintf("192.0.2.%d", 1+owner), "owner's password"); status != 200 {
				t.Fatalf("the owner at minute %d: status %d, want 200", i/5, status)
			}
			owner++
		}
		clock.Add(12 * time.Second)
	}
	if limit := 10 + 10 + addresses; guesses > limit {
		t.Fatalf("the attackers made %d guesses in an hour, want at most %d", guesses, limit)
	}
	t.Logf("%d of %d guesses went through in an hour", guesses, addresses+300)
}

func TestLoginLimitDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.LoginNameRate*3600 != 10 || c.LoginNameBurst != 10 || c.LoginFreshAfter != time.Hour ||
		c.LoginIPRate*60 != 20 || c.LoginIPBurst != 20 || c.SignupIPRate*3600 != 10 || c.SignupIPBurst != 10 {
		t.Fatalf("defaults: name %v/h burst %d fresh after %v, IP %v/min burst %d, sign-ups %v/h burst %d",
			c.LoginNameRate*3600, c.LoginNameBurst, c.LoginFreshAfter, c.LoginIPRate*60, c.LoginIPBurst,
			c.SignupIPRate*3600, c.SignupIPBurst)
	}
}

// A new account keeps the address block it came from (the operators'
// addr_block signal reads it), stored with the account itself.
func TestSignupsKeepAddressBlock(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	for _, tc := range []struct{ path, body string }{
		{"/api/auth/guest", `{"name":"blockguest"}`},
		{"/api/auth/register", `{"name":"blockreg","password":"password1"}`},
	} {
		resp, got := ts.post(t, tc.path, tc.body, "", nil)
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %d", tc.path, resp.StatusCode)
		}
		var block *string
		if err := ts.pool.QueryRow(t.Context(), `SELECT first_addr_block FROM players WHERE id = $1`, got.Player.ID).Scan(&block); err != nil {
			t.Fatal(err)
		}
		if block == nil || *block != "127.0.0.0/24" {
			t.Errorf("%s: first_addr_block %v, want 127.0.0.0/24", tc.path, block)
		}
	}
}
