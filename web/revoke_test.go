package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Attack 7 of the outside test: after a guest upgrades, its guest token
// is worth nothing: no refresh, no me, no hello, no second upgrade.
func TestUpgradeRevokesGuestToken(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, guest := ts.post(t, "/api/auth/guest", `{"name":"Olga"}`, "", nil)
	resp, up := ts.post(t, "/api/auth/upgrade", `{"password":"olga's password"}`, guest.Token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	if resp, got := ts.post(t, "/api/auth/refresh", "", guest.Token, nil); resp.StatusCode != 401 || got.Error.Code != "unauthorized" {
		t.Fatalf("refresh with the guest token: %d %+v; want 401", resp.StatusCode, got)
	}
	if resp := httpDo(t, "GET", ts.url+"/api/me", nil, http.Header{"Authorization": {"Bearer " + guest.Token}}, nil); resp.StatusCode != 401 {
		t.Fatalf("me with the guest token: %d; want 401", resp.StatusCode)
	}
	c, _, err := ts.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeJSONFrame(t, c, map[string]any{"type": "hello", "v": 1, "token": guest.Token})
	expectClose(t, c, 4001)
	// The new token works, everywhere.
	if resp, got := ts.post(t, "/api/auth/refresh", "", up.Token, nil); resp.StatusCode != 200 || got.Player.Guest {
		t.Fatalf("refresh with the new token: %d %+v", resp.StatusCode, got)
	}
	c2, w := ts.connect(t, up.Token)
	defer c2.Close()
	if p, _ := w["player"].(map[string]any); p["id"] != guest.Player.ID {
		t.Fatalf("welcome %v", w)
	}
}

// A ban made in the database, by anyone, ends the player's sessions: the
// next queue.join is refused and closes all of the player's connections
// with 4001, and its tokens stay revoked after an unban.
func TestBanEndsSessions(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, mal := ts.post(t, "/api/auth/register", `{"name":"Mal","password":"password1"}`, "", nil)
	_, other := ts.post(t, "/api/auth/guest", `{"name":"Innocent"}`, "", nil)
	c1, _ := ts.connect(t, mal.Token)
	defer c1.Close()
	c2, _ := ts.connect(t, mal.Token)
	defer c2.Close()
	c3, _ := ts.connect(t, other.Token)
	defer c3.Close()
	waitFor(t, "three connections", func() bool { return len(ts.matches.connections()) == 3 })

	if _, err := ts.pool.Exec(t.Context(), `UPDATE players SET banned_at = now(), ban_reason = 'test' WHERE id = $1`, mal.Player.ID); err != nil {
		t.Fatal(err)
	}
	writeText(t, c1, `{"type":"queue.join","game":"tictactoe","id":"q1"}`)
	expectError(t, c1, "unauthorized", "q1")
	expectClose(t, c1, 4001)
	expectClose(t, c2, 4001)
	if n := ts.lobby.Stats()["tictactoe"]; n != 0 {
		t.Fatalf("the banned player joined the queue (%d tickets)", n)
	}
	// Others play on.
	writeText(t, c3, `{"type":"queue.join","game":"tictactoe","id":"q3"}`)
	if f := readFrame(t, c3); f["type"] != "queue.joined" {
		t.Fatalf("the other player's queue.join: %v", f)
	}

	// Unbanned, the player logs in again; the tokens from before stay dead.
	if _, err := ts.pool.Exec(t.Context(), `UPDATE players SET banned_at = NULL, ban_reason = NULL WHERE id = $1`, mal.Player.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := ts.post(t, "/api/auth/refresh", "", mal.Token, nil); resp.StatusCode != 401 {
		t.Fatalf("refresh with a token from before the ban: %d, want 401", resp.StatusCode)
	}
	resp, again := ts.post(t, "/api/auth/login", `{"name":"Mal","password":"password1"}`, "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login after the unban: %d", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/api/auth/refresh", "", again.Token, nil); resp.StatusCode != 200 {
		t.Fatalf("refresh with the new token: %d", resp.StatusCode)
	}
}

// KickPlayer closes every connection of one player with 4003 at once,
// and only that player's; a player who is not banned may come back.
func TestKickPlayer(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	tokA, idA := ts.token(t, "Kicked")
	tokB, _ := ts.token(t, "Stays")
	a1, _ := ts.connect(t, tokA)
	defer a1.Close()
	a2, _ := ts.connect(t, tokA)
	defer a2.Close()
	b, _ := ts.connect(t, tokB)
	defer b.Close()
	waitFor(t, "three connections", func() bool { return len(ts.matches.connections()) == 3 })

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	n, err := ts.KickPlayer(ctx, idA.ID)
	if err != nil || n != 2 {
		t.Fatalf("KickPlayer = %d, %v; want 2", n, err)
	}
	expectClose(t, a1, 4003)
	expectClose(t, a2, 4003)
	writeText(t, b, `{"type":"ping","id":"p"}`)
	if f := readFrame(t, b); f["type"] != "pong" {
		t.Fatalf("the other player's ping: %v", f)
	}
	if n, err := ts.KickPlayer(ctx, "nobody"); n != 0 || err != nil {
		t.Fatalf("KickPlayer of no one = %d, %v", n, err)
	}
	back, _ := ts.connect(t, tokA)
	back.Close()
}

// POST /api/auth/password replaces the password and revokes every token
// issued before.
func TestChangePassword(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, reg := ts.post(t, "/api/auth/register", `{"name":"Pat","password":"old password"}`, "", nil)
	_, guest := ts.post(t, "/api/auth/guest", `{"name":"Quinn"}`, "", nil)
	steps := []struct {
		name, body, token string
		status            int
		code              string
	}{
		{"no token", `{"password":"old password","new_password":"new password"}`, "", 401, "unauthorized"},
		{"wrong password", `{"password":"wrong password","new_password":"new password"}`, reg.Token, 401, "bad_credentials"},
		{"short", `{"password":"old password","new_password":"short"}`, reg.Token, 400, "bad_request"},
		{"guest", `{"password":"old password","new_password":"new password"}`, guest.Token, 400, "bad_request"},
	}
	for _, st := range steps {
		resp, got := ts.post(t, "/api/auth/password", st.body, st.token, nil)
		if resp.StatusCode != st.status || got.Error.Code != st.code {
			t.Fatalf("%s: %d %+v; want %d %s", st.name, resp.StatusCode, got.Error, st.status, st.code)
		}
	}
	resp, changed := ts.post(t, "/api/auth/password", `{"password":"old password","new_password":"new password"}`, reg.Token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("change: %d %+v", resp.StatusCode, changed.Error)
	}
	ts.checkAuth(t, changed, "Pat", false)
	if resp, _ := ts.post(t, "/api/auth/refresh", "", reg.Token, nil); resp.StatusCode != 401 {
		t.Fatalf("refresh with the old token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/api/auth/refresh", "", changed.Token, nil); resp.StatusCode != 200 {
		t.Fatalf("refresh with the new token: %d", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/api/auth/login", `{"name":"Pat","password":"old password"}`, "", nil); resp.StatusCode != 401 {
		t.Fatalf("login with the old password: %d", resp.StatusCode)
	}
	if resp, _ := ts.post(t, "/api/auth/login", `{"name":"Pat","password":"new password"}`, "", nil); resp.StatusCode != 200 {
		t.Fatalf("login with the new password: %d", resp.StatusCode)
	}
}

// Item 9 of the outside test: a guest cannot keep a name that an account
// registers later in another case. The guest is renamed ("name-xxxxx"),
// keeps its id and session, and sees its new name at its next refresh.
func TestRegisterRenamesGuest(t *testing.T) {
	ts := startServer(t, testConfig(), Deps{})
	_, guest := ts.post(t, "/api/auth/guest", `{"name":"rosa"}`, "", nil)
	if resp, _ := ts.post(t, "/api/auth/register", `{"name":"Rosa","password":"password1"}`, "", nil); resp.StatusCode != 201 {
		t.Fatalf("register Rosa: %d", resp.StatusCode)
	}
	resp, got := ts.post(t, "/api/auth/refresh", "", guest.Token, nil)
	if resp.StatusCode != 200 || got.Player.ID != guest.Player.ID || !got.Player.Guest ||
		!strings.HasPrefix(got.Player.Name, "rosa-") || len(got.Player.Name) != len("rosa-")+5 {
		t.Fatalf("the guest's refresh: %d %+v; want guest rosa-xxxxx", resp.StatusCode, got)
	}
	if resp, _ := ts.post(t, "/api/auth/guest", `{"name":"ROSA"}`, "", nil); resp.StatusCode != 409 {
		t.Fatalf("a new guest ROSA: %d, want 409", resp.StatusCode)
	}
}
