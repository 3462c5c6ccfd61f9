package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestGuest(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	var got struct {
		Token     string `json:"token"`
		ExpiresMS int64  `json:"expires_ms"`
		Player    struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Guest bool   `json:"guest"`
		} `json:"player"`
	}
	resp := httpDo(t, "POST", ts.url+"/api/auth/guest", strings.NewReader(`{"name":"Ada_99"}`), nil, &got)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201", resp.StatusCode)
	}
	if got.Token == "" || got.Player.ID == "" || got.Player.Name != "Ada_99" || !got.Player.Guest {
		t.Fatalf("answer %+v", got)
	}
	if exp := time.UnixMilli(got.ExpiresMS); exp.Before(time.Now().Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("expires %v, want in 24h", exp)
	}
	id, err := ts.tokens.Verify(got.Token)
	if err != nil || id.ID != got.Player.ID || id.Name != "Ada_99" || !id.Guest {
		t.Fatalf("Verify: %+v, %v", id, err)
	}

	// Another guest gets another id.
	var other struct {
		Player struct{ ID string } `json:"player"`
	}
	httpDo(t, "POST", ts.url+"/api/auth/guest", strings.NewReader(`{"name":"Ada_99"}`), nil, &other)
	if other.Player.ID == got.Player.ID {
		t.Fatal("two guests share an id")
	}

	// The token opens a player connection.
	c, w := ts.connect(t, got.Token)
	defer c.Close()
	p, _ := w["player"].(map[string]any)
	if p["id"] != got.Player.ID || p["name"] != "Ada_99" {
		t.Fatalf("welcome %v", w)
	}
}

func TestGuestNames(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tests := map[string]struct {
		body string
		want int
	}{
		"shortest":        {`{"name":"abc"}`, 201},
		"longest":         {`{"name":"` + strings.Repeat("a", 20) + `"}`, 201},
		"all kinds":       {`{"name":"A_b-9"}`, 201},
		"too short":       {`{"name":"ab"}`, 400},
		"too long":        {`{"name":"` + strings.Repeat("a", 21) + `"}`, 400},
		"space":           {`{"name":"ab cd"}`, 400},
		"slash":           {`{"name":"ab/cd"}`, 400},
		"non-ascii":       {`{"name":"naïve"}`, 400},
		"angle":           {`{"name":"<script>"}`, 400},
		"empty":           {`{"name":""}`, 400},
		"missing":         {`{}`, 400},
		"number":          {`{"name":123}`, 400},
		"not json":        {`name=abc`, 400},
		"empty body":      {``, 400},
		"unknown ignored": {`{"name":"abc","x":1}`, 201},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var e apiError
			resp := httpDo(t, "POST", ts.url+"/api/auth/guest", strings.NewReader(tt.body), nil, &e)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 400 && e.Error.Code != "bad_request" {
				t.Fatalf("error %+v, want bad_request", e)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	body := `{"name":"abc","pad":"` + strings.Repeat("x", 9000) + `"}`
	var e apiError
	resp := httpDo(t, "POST", ts.url+"/api/auth/guest", strings.NewReader(body), nil, &e)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large" {
		t.Fatalf("status %d, error %+v; want 413 too_large", resp.StatusCode, e)
	}
	// Just under the limit is read.
	body = `{"name":"abc","pad":"` + strings.Repeat("x", 8*1024-30) + `"}`
	if resp := httpDo(t, "POST", ts.url+"/api/auth/guest", strings.NewReader(body), nil, nil); resp.StatusCode != 201 {
		t.Fatalf("body of %d bytes: status %d, want 201", len(body), resp.StatusCode)
	}
	// Routes that read no body, or check the token first, refuse one over
	// the limit all the same: a valid token, none, or a bad one.
	tok, _ := ts.token(t, "Bodyless")
	big := strings.Repeat("x", 9000)
	for name, tc := range map[string]struct{ path, token string }{
		"refresh with a token":    {"/api/auth/refresh", tok},
		"upgrade without a token": {"/api/auth/upgrade", ""},
		"upgrade, a bad token":    {"/api/auth/upgrade", "not-a-token"},
		"an unknown route":        {"/api/nothing/here", ""},
	} {
		h := http.Header{}
		if tc.token != "" {
			h.Set("Authorization", "Bearer "+tc.token)
		}
		var e apiError
		resp := httpDo(t, "POST", ts.url+tc.path, strings.NewReader(big), h, &e)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large" {
			t.Errorf("%s: status %d, error %+v; want 413 too_large", name, resp.StatusCode, e)
		}
	}
}

// /metrics lives on the operator listener; on the public address it is
// an honest 404, not the client's page.
func TestMetricsNotOnPublicAddress(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	var e apiError
	resp := httpDo(t, "GET", ts.url+"/metrics", nil, nil, &e)
	if resp.StatusCode != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Fatalf("GET /metrics: status %d, error %+v; want 404 not_found", resp.StatusCode, e)
	}
}

func TestRefresh(t *testing.T) {
	clock := newTestClock(time.Now())
	ts := startServer(t, testConfig(), Deps{NowFunc: clock.Now})
	tok, id := ts.token(t, "Bob")
	clock.Add(time.Hour) // so that the new token differs
	now := clock.Now()
	var got struct {
		Token     string `json:"token"`
		ExpiresMS int64  `json:"expires_ms"`
		Player    struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Guest bool   `json:"guest"`
		} `json:"player"`
	}
	resp := httpDo(t, "POST", ts.url+"/api/auth/refresh", nil, http.Header{"Authorization": {"Bearer " + tok}}, &got)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got.Token == tok || got.Player.ID != id.ID || got.Player.Name != "Bob" || !got.Player.Guest {
		t.Fatalf("answer %+v", got)
	}
	if got.ExpiresMS != now.Truncate(time.Second).Add(24*time.Hour).UnixMilli() {
		t.Fatalf("expires_ms %d", got.ExpiresMS)
	}
	// A refresh in the same second as the token it refreshes still
	// gives a new token (PROTOCOL: "new token").
	var again struct {
		Token string `json:"token"`
	}
	if resp := httpDo(t, "POST", ts.url+"/api/auth/refresh", nil, http.Header{"Authorization": {"Bearer " + got.Token}}, &again); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh at once: status %d", resp.StatusCode)
	}
	if again.Token == "" || again.Token == got.Token {
		t.Fatalf("refresh in the same second gave the same token")
	}

	for name, h := range map[string]http.Header{
		"no header":  nil,
		"basic":      {"Authorization": {"Basic YWJjOmRlZg=="}},
		"empty":      {"Authorization": {"Bearer "}},
		"lower case": {"Authorization": {"bearer garbage"}},
	} {
		var e apiError
		resp := httpDo(t, "POST", ts.url+"/api/auth/refresh", nil, h, &e)
		if resp.StatusCode != 401 || e.Error.Code != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: status %d, error %+v", name, resp.StatusCode, e)
		}
	}
}

// badTokens are tokens the server must refuse, over HTTP and in hello.
func badTokens(t *testing.T, now time.Time) map[string]string {
	t.Helper()
	sign := func(method jwt.SigningMethod, key any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := func(mod func(*claims)) claims {
		c := claims{Name: "Eve", Guest: true, RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "p1",
			Issuer:    "turnbase",
			Audience:  jwt.ClaimStrings{"turnbase"},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	hs := jwt.SigningMethodHS256
	return map[string]string{
		"alg none":         sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(nil)),
		"alg HS512":        sign(jwt.SigningMethodHS512, testSecret, good(nil)),
		"alg HS384":        sign(jwt.SigningMethodHS384, testSecret, good(nil)),
		"bad signature":    sign(hs, []byte("another secret of at least 32 bytes!!"), good(nil)),
		"no exp":           sign(hs, testSecret, good(func(c *claims) { c.ExpiresAt = nil })),
		"expired":          sign(hs, testSecret, good(func(c *claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-31 * time.Second)) })),
		"issued in future": sign(hs, testSecret, good(func(c *claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"wrong iss":        sign(hs, testSecret, good(func(c *claims) { c.Issuer = "someone" })),
		"no iss":           sign(hs, testSecret, good(func(c *claims) { c.Issuer = "" })),
		"wrong aud":        sign(hs, testSecret, good(func(c *claims) { c.Audience = jwt.ClaimStrings{"other"} })),
		"no aud":           sign(hs, testSecret, good(func(c *claims) { c.Audience = nil })),
		"no sub":           sign(hs, testSecret, good(func(c *claims) { c.Subject = "" })),
		"bad name":         sign(hs, testSecret, good(func(c *claims) { c.Name = "a b" })),
		"huge":             sign(hs, testSecret, good(func(c *claims) { c.ID = strings.Repeat("x", 2500) })),
		"garbage":          "not.a.token",
		"truncated":        sign(hs, testSecret, good(nil))[:40],
	}
}

func TestTokenRefusals(t *testing.T) {
	now := time.Now()
	cfg := testConfig()
	cfg.MaxTokenLen = 2048 // below the frame limit, so that hello can carry a longer one
	ts := startServer(t, cfg, Deps{NowFunc: func() time.Time { return now }})

	// Within the leeway an expired token still works.
	_, eve := ts.token(t, "Eve")
	ok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Name: "Eve", RegisteredClaims: jwt.RegisteredClaims{
		Subject: eve.ID, Issuer: "turnbase", Audience: jwt.ClaimStrings{"turnbase"},
		ExpiresAt: jwt.NewNumericDate(now.Add(-20 * time.Second)),
	}})
	okToken, err := ok.SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if resp := httpDo(t, "POST", ts.url+"/api/auth/refresh", nil, http.Header{"Authorization": {"Bearer " + okToken}}, nil); resp.StatusCode != 200 {
		t.Fatalf("token expired within the leeway: status %d, want 200", resp.StatusCode)
	}

	for name, tok := range badTokens(t, now) {
		t.Run(name, func(t *testing.T) {
			var e apiError
			resp := httpDo(t, "POST", ts.url+"/api/auth/refresh", nil, http.Header{"Authorization": {"Bearer " + tok}}, &e)
			if resp.StatusCode != 401 || e.Error.Code != "unauthorized" {
				t.Fatalf("HTTP: status %d, error %+v; want 401 unauthorized", resp.StatusCode, e)
			}
			c, _, err := ts.dial(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			writeJSONFrame(t, c, map[string]any{"type": "hello", "v": 1, "token": tok})
			expectClose(t, c, 4001)
		})
	}
}
