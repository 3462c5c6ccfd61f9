package postgres

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/turnbase/turnbase/internal/pgtest"
	"github.com/turnbase/turnbase/leaderboard"
)

// newTestAccounts returns accounts at the given bcrypt cost on a fresh
// database, and the database's pool.
func newTestAccounts(t *testing.T, cost int) (*Accounts, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.NewDB(t)
	return NewAccounts(pool, slog.New(slog.DiscardHandler), AccountsConfig{BcryptCost: cost}), pool
}

func mustRegister(t *testing.T, a *Accounts, name, password string) leaderboard.Player {
	t.Helper()
	p, err := a.Register(t.Context(), name, password, "")
	if err != nil {
		t.Fatalf("Register(%q): %v", name, err)
	}
	return p
}

func mustGuest(t *testing.T, a *Accounts, name string) leaderboard.Player {
	t.Helper()
	p, err := a.CreateGuest(t.Context(), name, "")
	if err != nil {
		t.Fatalf("CreateGuest(%q): %v", name, err)
	}
	return p
}

func ban(t *testing.T, pool *pgxpool.Pool, id string) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), `UPDATE players SET banned_at = now(), ban_reason = 'test' WHERE id = $1`, id); err != nil {
		t.Fatalf("ban %s: %v", id, err)
	}
}

func TestValidName(t *testing.T) {
	tests := map[string]bool{
		"abc":                   true,
		"Alice":                 true,
		"a_b-c":                 true,
		"---":                   true,
		"player_2024":           true,
		"ABCDEFGHIJKLMNOPQRST":  true, // 20
		"ab":                    false,
		"":                      false,
		"ABCDEFGHIJKLMNOPQRSTU": false, // 21
		"with space":            false,
		"dot.name":              false,
		"émile":                 false, // letters are ASCII
		"ｆｕｌｌ":                  false,
		"tab\tname":             false,
		"nul\x00name":           false,
		"semi;colon":            false,
	}
	for name, ok := range tests {
		err := leaderboard.ValidName(name)
		if (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", name, err, ok)
		}
		if err != nil && !errors.Is(err, leaderboard.ErrBadRequest) {
			t.Errorf("ValidName(%q) = %v, want leaderboard.ErrBadRequest", name, err)
		}
	}
}

func TestValidPassword(t *testing.T) {
	tests := map[string]struct {
		pw string
		ok bool
	}{
		"8 ASCII":           {"12345678", true},
		"7 ASCII":           {"1234567", false},
		"empty":             {"", false},
		"128 ASCII":         {strings.Repeat("a", 128), true},
		"129 ASCII":         {strings.Repeat("a", 129), false},
		"8 runes, 16 bytes": {strings.Repeat("é", 8), true},
		"7 runes, 14 bytes": {strings.Repeat("é", 7), false},
		"128 4-byte runes":  {strings.Repeat("😀", 128), true},
		"129 4-byte runes":  {strings.Repeat("😀", 129), false},
		"spaces":            {"        ", true},
		"invalid UTF-8":     {"abcdefg\xff", false},
	}
	for name, tt := range tests {
		err := leaderboard.ValidPassword(tt.pw)
		if (err == nil) != tt.ok {
			t.Errorf("%s: leaderboard.ValidPassword = %v, want ok %v", name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, leaderboard.ErrBadRequest) {
			t.Errorf("%s: leaderboard.ValidPassword = %v, want leaderboard.ErrBadRequest", name, err)
		}
	}
}

func TestCreateGuest(t *testing.T) {
	t.Parallel()
	a, _ := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()

	p1 := mustGuest(t, a, "Wanderer")
	p2 := mustGuest(t, a, "wanderer") // guests share names
	for _, p := range []leaderboard.Player{p1, p2} {
		if len(p.ID) != 26 || strings.Trim(p.ID, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Errorf("id %q: want 26 characters of lowercase base32", p.ID)
		}
		if !p.Guest || p.CreatedAt.IsZero() {
			t.Errorf("guest = %+v", p)
		}
	}
	if p1.ID == p2.ID {
		t.Errorf("two guests got id %s", p1.ID)
	}
	got, err := a.Get(ctx, p1.ID)
	if err != nil || got != (leaderboard.Player{ID: p1.ID, Name: "Wanderer", Guest: true, CreatedAt: got.CreatedAt}) || !got.CreatedAt.Equal(p1.CreatedAt) {
		t.Errorf("Get = %+v, %v; want %+v", got, err, p1)
	}

	if _, err := a.CreateGuest(ctx, "no", ""); !errors.Is(err, leaderboard.ErrBadRequest) {
		t.Errorf("CreateGuest(%q) = %v, want leaderboard.ErrBadRequest", "no", err)
	}
}

func TestGuestCannotTakeRegisteredName(t *testing.T) {
	t.Parallel()
	a, _ := newTestAccounts(t, bcrypt.MinCost)
	mustRegister(t, a, "Alice", "password1")
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		if _, err := a.CreateGuest(t.Context(), name, ""); !errors.Is(err, leaderboard.ErrNameTaken) {
			t.Errorf("CreateGuest(%q) = %v, want leaderboard.ErrNameTaken", name, err)
		}
	}
}

// TestGuestWaitsForARegistrationOfItsName: a guest sign-up that arrives
// while the name is being registered waits for the registration's lock
// and then sees it committed.
func TestGuestWaitsForARegistrationOfItsName(t *testing.T) {
	t.Parallel()
	a, pool := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := lockName(ctx, tx, "Zoe"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.CreateGuest(ctx, "zoe", "")
		done <- err
	}()
	// Wait until the guest's statement is waiting for the lock.
	for {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("CreateGuest did not wait for the name's lock: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO players (id, name, guest, password_hash) VALUES ('zoe1', 'Zoe', false, 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, leaderboard.ErrNameTaken) {
		t.Errorf("CreateGuest after the registration committed = %v, want leaderboard.ErrNameTaken", err)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	a, pool := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	mustGuest(t, a, "Carol") // a guest's name can be registered

	steps := []struct {
		name, password string
		want           error
	}{
		{"Bob", "correct horse", nil},
		{"bob", "another password", leaderboard.ErrNameTaken},
		{"BOB", "another password", leaderboard.ErrNameTaken},
		{"Bob", "correct horse", leaderboard.ErrNameTaken},
		{"Carol", "password1", nil},
		{"carol", "password1", leaderboard.ErrNameTaken},
		{"Bo", "password1", leaderboard.ErrBadRequest},
		{"Dave!", "password1", leaderboard.ErrBadRequest},
		{"Dave", "short", leaderboard.ErrBadRequest},
		{"Dave", strings.Repeat("x", 129), leaderboard.ErrBadRequest},
		{"Dave", "password1", nil},
	}
	for _, s := range steps {
		p, err := a.Register(ctx, s.name, s.password, "")
		if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Errorf("Register(%q, %q) = %v, want %v", s.name, s.password, err, s.want)
			continue
		}
		if err != nil {
			continue
		}
		if p.Name != s.name || p.Guest || len(p.ID) != 26 || p.CreatedAt.IsZero() {
			t.Errorf("Register(%q) = %+v", s.name, p)
		}
		var hash string
		if err := pool.QueryRow(ctx, `SELECT password_hash FROM players WHERE id = $1`, p.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, passwordScheme+"$2a$") || strings.Contains(hash, s.password) {
			t.Errorf("stored hash %q", hash)
		}
	}
}

func TestRegisterConcurrentlyOneWins(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t)
	const n = 16
	// A line long enough for all of them: the race is the database's.
	a := NewAccounts(pool, slog.New(slog.DiscardHandler), AccountsConfig{BcryptCost: bcrypt.MinCost, HashQueue: 4 * n})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := "Racer"
			if i%2 == 1 {
				name = "rAcEr"
			}
			_, errs[i] = a.Register(t.Context(), name, "password1", "")
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, leaderboard.ErrNameTaken):
			t.Errorf("registration %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d registrations won, want 1", won)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	a, pool := newTestAccounts(t, bcrypt.MinCost)
	alice := mustRegister(t, a, "Alice", "alice's password")
	mallory := mustRegister(t, a, "Mallory", "mallory's password")
	ban(t, pool, mallory.ID)
	mustGuest(t, a, "Ghost")

	tests := map[string]struct {
		name, password string
		want           error
	}{
		"ok":                         {"Alice", "alice's password", nil},
		"ok, name in other case":     {"aLICE", "alice's password", nil},
		"wrong password":             {"Alice", "alice's passworD", leaderboard.ErrBadCredentials},
		"empty password":             {"Alice", "", leaderboard.ErrBadCredentials},
		"unknown name":               {"Nobody", "alice's password", leaderboard.ErrBadCredentials},
		"a guest's name":             {"Ghost", "whatever1", leaderboard.ErrBadCredentials},
		"banned":                     {"Mallory", "mallory's password", leaderboard.ErrBanned},
		"banned, wrong password":     {"Mallory", "wrong password", leaderboard.ErrBadCredentials},
		"malformed name":             {"a b", "alice's password", leaderboard.ErrBadRequest},
		"password over 512 bytes":    {"Alice", strings.Repeat("x", 513), leaderboard.ErrBadRequest},
		"password over 128 runes ok": {"Alice", strings.Repeat("x", 200), leaderboard.ErrBadCredentials},
	}
	for name, tt := range tests {
		p, err := a.Login(t.Context(), tt.name, tt.password)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Login(%q) = %v, want %v", name, tt.name, err, tt.want)
			continue
		}
		if err == nil && (p.ID != alice.ID || p.Name != "Alice" || p.Guest || !p.CreatedAt.Equal(alice.CreatedAt)) {
			t.Errorf("%s: Login = %+v, want %+v", name, p, alice)
		}
	}
}

func TestLoginRehashesAtNewCost(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t)
	logger := slog.New(slog.DiscardHandler)
	old := NewAccounts(pool, logger, AccountsConfig{BcryptCost: bcrypt.MinCost})
	p := mustRegister(t, old, "Erin", "password1")
	a := NewAccounts(pool, logger, AccountsConfig{BcryptCost: bcrypt.MinCost + 1})
	if _, err := a.Login(t.Context(), "Erin", "password1"); err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := pool.QueryRow(t.Context(), `SELECT password_hash FROM players WHERE id = $1`, p.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(strings.TrimPrefix(hash, passwordScheme))); err != nil || cost != bcrypt.MinCost+1 {
		t.Errorf("cost after login = %d, %v; want %d", cost, err, bcrypt.MinCost+1)
	}
	if _, err := a.Login(t.Context(), "Erin", "password1"); err != nil {
		t.Errorf("login after rehash: %v", err)
	}
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	a, pool := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	g := mustGuest(t, a, "Frank")
	if _, err := pool.Exec(ctx, `INSERT INTO ratings (player_id, game) VALUES ($1, 'tictactoe')`, g.ID); err != nil {
		t.Fatal(err)
	}

	if _, err := a.Upgrade(ctx, g.ID, "short"); !errors.Is(err, leaderboard.ErrBadRequest) {
		t.Errorf("Upgrade with a short password = %v, want leaderboard.ErrBadRequest", err)
	}
	p, err := a.Upgrade(ctx, g.ID, "frank's password")
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if p.ID != g.ID || p.Name != "Frank" || p.Guest || !p.CreatedAt.Equal(g.CreatedAt) {
		t.Errorf("Upgrade = %+v, want %+v registered", p, g)
	}
	if got, err := a.Get(ctx, g.ID); err != nil || got.Guest {
		t.Errorf("Get after upgrade = %+v, %v", got, err)
	}
	if got, err := a.Login(ctx, "frank", "frank's password"); err != nil || got.ID != g.ID {
		t.Errorf("Login after upgrade = %+v, %v", got, err)
	}
	var ratings int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ratings WHERE player_id = $1`, g.ID).Scan(&ratings); err != nil || ratings != 1 {
		t.Errorf("ratings after upgrade: %d, %v", ratings, err)
	}
	if _, err := a.CreateGuest(ctx, "FRANK", ""); !errors.Is(err, leaderboard.ErrNameTaken) {
		t.Errorf("CreateGuest of an upgraded name = %v, want leaderboard.ErrNameTaken", err)
	}

	if _, err := a.Upgrade(ctx, g.ID, "another password"); !errors.Is(err, leaderboard.ErrNotGuest) {
		t.Errorf("second Upgrade = %v, want leaderboard.ErrNotGuest", err)
	}
	if _, err := a.Upgrade(ctx, "nosuchplayer", "password1"); !errors.Is(err, leaderboard.ErrNotFound) {
		t.Errorf("Upgrade of an unknown id = %v, want leaderboard.ErrNotFound", err)
	}
	banned := mustGuest(t, a, "Grace")
	ban(t, pool, banned.ID)
	if _, err := a.Upgrade(ctx, banned.ID, "password1"); !errors.Is(err, leaderboard.ErrBanned) {
		t.Errorf("Upgrade of a banned guest = %v, want leaderboard.ErrBanned", err)
	}
}

// A registration renames the guests holding its name, ignoring case, so
// that no guest keeps a registered name; the guest's upgrade then keeps
// its new name.
func TestRegisterRenamesGuests(t *testing.T) {
	t.Parallel()
	a, _ := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	heidis := []leaderboard.Player{mustGuest(t, a, "Heidi"), mustGuest(t, a, "heidi"), mustGuest(t, a, "HEIDI")}
	other := mustGuest(t, a, "Heidi2")
	long := mustGuest(t, a, "Abcdefghijklmnopqrst")
	registered := mustRegister(t, a, "hEiDi", "password1")
	mustRegister(t, a, "abcdefghijklmnopqrst", "password1")

	seen := map[string]bool{}
	for _, g := range heidis {
		got, err := a.Get(ctx, g.ID)
		if err != nil || !got.Guest || got.ID != g.ID {
			t.Fatalf("Get(%s) = %+v, %v", g.ID, got, err)
		}
		if !regexp.MustCompile(`^`+g.Name+`-[0-9a-f]{5}$`).MatchString(got.Name) || seen[got.Name] {
			t.Errorf("guest %q renamed to %q, want %q-xxxxx, each its own", g.Name, got.Name, g.Name)
		}
		seen[got.Name] = true
		if got.TokenGen != g.TokenGen {
			t.Errorf("renaming changed the token generation of %s: %d", g.ID, got.TokenGen)
		}
	}
	if got, _ := a.Get(ctx, other.ID); got.Name != "Heidi2" {
		t.Errorf("guest Heidi2 is now %q", got.Name)
	}
	if got, _ := a.Get(ctx, long.ID); !regexp.MustCompile(`^Abcdefghijklmn-[0-9a-f]{5}$`).MatchString(got.Name) {
		t.Errorf("guest Abcdefghijklmnopqrst is now %q", got.Name)
	}
	if got, _ := a.Get(ctx, registered.ID); got.Name != "hEiDi" || got.Guest {
		t.Errorf("registered player %+v", got)
	}

	// The same for an upgrade: the other guests of the name give way.
	g1, g2 := mustGuest(t, a, "Ivan"), mustGuest(t, a, "IVAN")
	up, err := a.Upgrade(ctx, g1.ID, "password2")
	if err != nil || up.Name != "Ivan" {
		t.Fatalf("Upgrade = %+v, %v", up, err)
	}
	if got, _ := a.Get(ctx, g2.ID); !strings.HasPrefix(got.Name, "IVAN-") {
		t.Errorf("the other guest of an upgraded name is %q", got.Name)
	}
	// A renamed guest upgrades under its new name.
	renamed, _ := a.Get(ctx, heidis[0].ID)
	if up, err := a.Upgrade(ctx, heidis[0].ID, "password3"); err != nil || up.Name != renamed.Name || up.Guest {
		t.Errorf("Upgrade of a renamed guest = %+v, %v; want %s", up, err, renamed.Name)
	}
}

// The token generation: 0 for a new player; an upgrade, a password change
// and a ban raise it; an unban and a rehash do not.
func TestTokenGen(t *testing.T) {
	t.Parallel()
	a, pool := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	gen := func(id string) int64 {
		t.Helper()
		var g int64
		if err := pool.QueryRow(ctx, `SELECT token_gen FROM players WHERE id = $1`, id).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := mustGuest(t, a, "Judy")
	r := mustRegister(t, a, "Ken", "password1")
	if g.TokenGen != 0 || r.TokenGen != 0 {
		t.Fatalf("new players' generations %d, %d", g.TokenGen, r.TokenGen)
	}
	if up, err := a.Upgrade(ctx, g.ID, "password1"); err != nil || up.TokenGen != 1 || gen(g.ID) != 1 {
		t.Fatalf("Upgrade = %+v, %v; stored %d", up, err, gen(g.ID))
	}
	if p, err := a.Login(ctx, "judy", "password1"); err != nil || p.TokenGen != 1 {
		t.Fatalf("Login = %+v, %v", p, err)
	}

	if _, err := a.ChangePassword(ctx, r.ID, "wrong-password", "password2"); !errors.Is(err, leaderboard.ErrBadCredentials) {
		t.Errorf("ChangePassword with a wrong password = %v", err)
	}
	if _, err := a.ChangePassword(ctx, r.ID, "password1", "short"); !errors.Is(err, leaderboard.ErrBadRequest) {
		t.Errorf("ChangePassword to a short password = %v", err)
	}
	guest := mustGuest(t, a, "Liam")
	if _, err := a.ChangePassword(ctx, guest.ID, "password1", "password2"); !errors.Is(err, leaderboard.ErrBadRequest) {
		t.Errorf("ChangePassword of a guest = %v", err)
	}
	if _, err := a.ChangePassword(ctx, "nosuchplayer", "password1", "password2"); !errors.Is(err, leaderboard.ErrNotFound) {
		t.Errorf("ChangePassword of no one = %v", err)
	}
	p, err := a.ChangePassword(ctx, r.ID, "password1", "password2")
	if err != nil || p.TokenGen != 1 || p.Name != "Ken" || gen(r.ID) != 1 {
		t.Fatalf("ChangePassword = %+v, %v", p, err)
	}
	if _, err := a.Login(ctx, "Ken", "password1"); !errors.Is(err, leaderboard.ErrBadCredentials) {
		t.Errorf("Login with the old password = %v", err)
	}
	if p, err := a.Login(ctx, "Ken", "password2"); err != nil || p.TokenGen != 1 {
		t.Errorf("Login with the new password = %+v, %v", p, err)
	}

	ban(t, pool, r.ID)
	if gen(r.ID) != 2 {
		t.Errorf("generation after a ban: %d, want 2", gen(r.ID))
	}
	if _, err := a.ChangePassword(ctx, r.ID, "password2", "password3"); !errors.Is(err, leaderboard.ErrBanned) {
		t.Errorf("ChangePassword of a banned player = %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE players SET ban_reason = 'again' WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE players SET banned_at = NULL, ban_reason = NULL WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Get(ctx, r.ID); err != nil || p.TokenGen != 2 {
		t.Errorf("after an unban: %+v, %v; want generation 2", p, err)
	}
}

func TestAccountsGetRecordsLastSeen(t *testing.T) {
	t.Parallel()
	a, pool := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	if _, err := a.Get(ctx, "nosuchplayer"); !errors.Is(err, leaderboard.ErrNotFound) {
		t.Errorf("Get of an unknown id = %v, want leaderboard.ErrNotFound", err)
	}
	p := mustGuest(t, a, "Ivan")
	if _, err := pool.Exec(ctx, `UPDATE players SET last_seen_at = NULL WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, p.ID); err != nil || got.Name != "Ivan" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	var seen *time.Time
	if err := pool.QueryRow(ctx, `SELECT last_seen_at FROM players WHERE id = $1`, p.ID).Scan(&seen); err != nil || seen == nil {
		t.Errorf("last_seen_at after Get = %v, %v", seen, err)
	}
	// Within a minute, Get does not write again.
	if _, err := pool.Exec(ctx, `UPDATE players SET last_seen_at = now() - interval '30 seconds' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	a.Get(ctx, p.ID)
	var fresh bool
	pool.QueryRow(ctx, `SELECT last_seen_at < now() - interval '20 seconds' FROM players WHERE id = $1`, p.ID).Scan(&fresh)
	if !fresh {
		t.Error("Get rewrote last_seen_at within a minute")
	}
	ban(t, pool, p.ID)
	if _, err := a.Get(ctx, p.ID); !errors.Is(err, leaderboard.ErrBanned) {
		t.Errorf("Get of a banned player = %v, want leaderboard.ErrBanned", err)
	}
}

// bcrypt reads only 72 bytes; the pre-hash makes every byte count.
func TestPasswordLongerThan72Bytes(t *testing.T) {
	t.Parallel()
	a, _ := newTestAccounts(t, bcrypt.MinCost)
	ctx := t.Context()
	head := strings.Repeat("p", 80)
	mustRegister(t, a, "Judy", head+"-one")
	if _, err := a.Login(ctx, "Judy", head+"-one"); err != nil {
		t.Errorf("Login with the password: %v", err)
	}
	if _, err := a.Login(ctx, "Judy", head+"-two"); !errors.Is(err, leaderboard.ErrBadCredentials) {
		t.Errorf("Login with a different tail = %v, want leaderboard.ErrBadCredentials", err)
	}
	if _, err := a.Login(ctx, "Judy", head); !errors.Is(err, leaderboard.ErrBadCredentials) {
		t.Errorf("Login with the first 80 bytes = %v, want leaderboard.ErrBadCredentials", err)
	}

	long := strings.Repeat("😀", leaderboard.MaxPasswordLen) // 512 bytes
	mustRegister(t, a, "Kim", long)
	if _, err := a.Login(ctx, "Kim", long); err != nil {
		t.Errorf("Login with 128 four-byte runes: %v", err)
	}
	if _, err := a.Login(ctx, "Kim", long[:len(long)-4]+"😁"); !errors.Is(err, leaderboard.ErrBadCredentials) {
		t.Errorf("Login with another last rune = %v, want leaderboard.ErrBadCredentials", err)
	}
}

// An unknown name costs as much as a wrong password, so that timing does
// not tell which names exist. Not parallel: it measures time.
func TestLoginTimingUnknownNameLikeWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("measures logins at the default bcrypt cost")
	}
	a, _ := newTestAccounts(t, 0) // bcrypt.DefaultCost
	ctx := t.Context()
	mustRegister(t, a, "Lena", "lena's password")

	login := func(name, password string) time.Duration {
		start := time.Now()
		_, err := a.Login(ctx, name, password)
		d := time.Since(start)
		if !errors.Is(err, leaderboard.ErrBadCredentials) {
			t.Fatalf("Login(%q) = %v, want leaderboard.ErrBadCredentials", name, err)
		}
		return d
	}
	// Ten runs each; fewer (at least three) where one login takes long,
	// as under the race detector, which slows bcrypt about fifteenfold.
	warm := login("Nobody", "x") // also warms the pool and the caches
	runs := min(10, max(3, int(3*time.Second/warm)))
	var unknown, wrong time.Duration
	for range runs { // interleaved, so that drift hits both alike
		unknown += login("Nobody", "wrong password")
		wrong += login("Lena", "wrong password")
	}
	n := time.Duration(runs)
	ratio := float64(unknown) / float64(wrong)
	t.Logf("mean of %d logins: unknown name %v, wrong password %v, ratio %.2f", runs, unknown/n, wrong/n, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Errorf("unknown name takes %v, wrong password %v: ratio %.2f, want 0.5..2", unknown/n, wrong/n, ratio)
	}
}

// TestAsyncCommitHoldsForThePipeline: asyncCommit, first in a pipeline,
// sets synchronous_commit off for the statements after it (one implicit
// transaction) and for nothing after the pipeline.
func TestAsyncCommitHoldsForThePipeline(t *testing.T) {
	pool, _ := pgtest.NewDB(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var before, inside, after string
	// The test cluster runs with synchronous_commit off: make it on for
	// the session, as a real server runs.
	if err := conn.QueryRow(ctx, `SELECT set_config('synchronous_commit', 'on', false)`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	b.Queue(`SELECT current_setting('synchronous_commit')`).QueryRow(func(row pgx.Row) error { return row.Scan(&inside) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if inside != "off" || after != before {
		t.Fatalf("synchronous_commit in the pipeline %q, after it %q; want off, then %q", inside, after, before)
	}
}
